/* smtp_sasl_client (sasl_client_*) - the client side of SMTP AUTH: PLAIN, LOGIN and CRAM-MD5,
 * implemented directly (no libsasl2: these three are a few lines each, and
 * Cyrus' client would need a config file and plugins at run time for the
 * same result).
 *
 * Contract:
 * - sasl_client_filter() keeps the mechanisms of an EHLO AUTH list that
 *   pass a filter (Postfix's smtp_sasl_mechanism_filter: items compared
 *   case-insensitively, "!" negates, the first matching item decides, no
 *   match excludes; an empty filter passes everything). The result is
 *   space-separated, in the server's order.
 * - sasl_client_new() picks the mechanism from an offered list the way
 *   Cyrus' client does for these three: only mechanisms whose properties
 *   satisfy every requested XSASL_SEC_* flag (PLAIN and LOGIN send the
 *   password as is, so "noplaintext" excludes them; nodictionary, noactive,
 *   mutual_auth and forward_secrecy exclude all three), the strongest
 *   wins (CRAM-MD5 over PLAIN and LOGIN), equals in the server's order.
 *   NULL with err = "no mechanism available" when nothing is left.
 * - sasl_client_first() gives the mechanism name and the base64 initial
 *   response ("" when the mechanism waits for a challenge);
 *   sasl_client_next() turns one base64 server challenge (the text after
 *   "334 ") into the base64 response. Malformed challenges, challenges
 *   longer than SASL_CLIENT_CHALLENGE_MAX and more steps than the
 *   mechanism has are errors (-1, reason in err): a hostile server cannot
 *   make us loop or allocate without bound.
 * - Reasons never contain the password or encoded blobs; the password is
 *   wiped from memory when the client is freed.
 */
#ifndef MTA_SASL_CLIENT_H
#define MTA_SASL_CLIENT_H
#include <stddef.h>

#include "strbuf.h"
#include "strlist.h"

#define SASL_CLIENT_CHALLENGE_MAX 2048 /* decoded challenge bytes */

typedef struct sasl_client sasl_client;

void sasl_client_filter(const char *offered, const strlist *filter, strbuf *out);

sasl_client *sasl_client_new(const char *offered, unsigned sec_flags, const char *user,
                             const char *password, strbuf *err);
/* The chosen mechanism ("PLAIN"). */
const char *sasl_client_mech(const sasl_client *c);
void sasl_client_first(sasl_client *c, strbuf *initial);
int sasl_client_next(sasl_client *c, const char *challenge, size_t len, strbuf *response,
                     strbuf *err);
void sasl_client_free(sasl_client **cp);

#endif
