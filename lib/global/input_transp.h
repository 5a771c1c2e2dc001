/* input_transp - receive_override_options (Postfix's input_transp).
 *
 * Words: no_unknown_recipient_checks, no_address_mappings,
 * no_header_body_checks, no_milters. Set on a listener (smtpd -o, pickup
 * -o) the receiving program passes the cleanup-relevant ones to cleanup in
 * its open request (CLEANUP_FLAG_NO_*); set on a cleanup service they
 * apply to everything it receives. An unknown word is a fatal
 * configuration error naming where the value came from.
 */
#ifndef MTA_INPUT_TRANSP_H
#define MTA_INPUT_TRANSP_H
#include "strbuf.h"

#define INPUT_TRANSP_UNKNOWN_RCPT 0x01
#define INPUT_TRANSP_ADDRESS_MAPPING 0x02
#define INPUT_TRANSP_HEADER_BODY 0x04
#define INPUT_TRANSP_MILTER 0x08

/* Parse a value; -1 on an unknown word (*bad set to it). */
int input_transp_parse(const char *text, unsigned *out, strbuf *bad);
/* This process's receive_override_options (parsed once; fatal if bad). */
unsigned input_transp_flags(void);
/* The CLEANUP_FLAG_NO_* bits for cleanup_client_open from those flags. */
int input_transp_cleanup_flags(void);

#endif
