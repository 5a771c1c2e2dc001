/* virtual_mailbox - turn virtual(8) table results into a mailbox path and ids.
 *
 * The virtual delivery agent looks the recipient up in virtual_mailbox_maps,
 * virtual_uid_maps and virtual_gid_maps; the LOOKUP KEY is the sender's
 * address, so nothing here ever sees it: a path is built only from the
 * administrator's table RESULT, and even that is checked, because a table
 * (ldap, sql, a regexp with $1) can hand back text derived from the key.
 *
 * virtual_mailbox_path: base (virtual_mailbox_base, absolute) + "/" +
 * result. A result ending in "/" names a Maildir (*maildir = true), else an
 * mbox file. Refused (-1, reason in *err): an empty base or result, a base
 * that is not absolute, an absolute result, any ".." path component,
 * control characters, and a result that is nothing but slashes.
 *
 * virtual_mailbox_id: a virtual_uid_maps/virtual_gid_maps result: decimal
 * digits only (no sign, no spaces), within uid_t. Returns 0, -1 malformed,
 * -2 below `minimum` (virtual_minimum_uid: the caller defers with a
 * warning, as Postfix does). *err says why.
 */
#ifndef MTA_VIRTUAL_MAILBOX_H
#define MTA_VIRTUAL_MAILBOX_H
#include <stdbool.h>
#include <sys/types.h>

#include "strbuf.h"

int virtual_mailbox_path(const char *base, const char *result, strbuf *path, bool *maildir,
                         strbuf *err);
int virtual_mailbox_id(const char *value, unsigned long minimum, unsigned long *id, strbuf *err);

#endif
