/* postfix_lab - the lab checklist of `postfix check`.
 *
 * CONTRACT
 *  - Each check looks at one thing the lab's "mail does not arrive" list
 *    names, and for each problem adds a finding: what is wrong, and one
 *    line saying how to fix it. Findings are advisory (postfix.c says them
 *    as "lab check:" lines, logged as information, apart from the
 *    "warning:" lines about the configuration files): Postfix's own
 *    `postfix check` passes such a system, so ours does not fail.
 *  - Checks (in this order): myhostname resolves and is this host's name;
 *    mydestination includes $mydomain; with home_mailbox set, each login
 *    account's (uid >= 1000) mailbox can be written by that account;
 *    smtpd_sasl_type = dovecot with SASL enabled has a listening socket at
 *    smtpd_sasl_path (main.cf or a master.cf -o); no other process holds
 *    the address of a master.cf inet service (only when our master is not
 *    running: then it is ours); $mydomain has an MX or an A record.
 *  - Read-only: nothing is created, changed or started; DNS lookups go
 *    through lib/global/dns, sockets are only bound to test and closed.
 *  - The pure parts (postfix_lab_mydestination, postfix_lab_mailbox) take
 *    their inputs as arguments so unit tests can give them hostile values.
 */
#ifndef MTA_POSTFIX_LAB_H
#define MTA_POSTFIX_LAB_H
#include <stdbool.h>
#include <sys/types.h>

#include "master_cf.h"
#include "strlist.h"

struct lab_findings {
    strlist problems; /* one line each */
    strlist fixes;    /* fixes.v[i] is the fix for problems.v[i] */
};
#define LAB_FINDINGS_INIT                                                                          \
    {                                                                                              \
        STRLIST_INIT, STRLIST_INIT                                                                 \
    }

void lab_findings_release(struct lab_findings *f);

/* Run every check (configuration already loaded). */
void postfix_lab_check(const master_cf *cf, bool master_running, struct lab_findings *out);

/* mydestination (expanded) lists `mydomain`, or mail for it is meant to be
 * handled elsewhere: it is in `other_domains` (virtual_alias_domains,
 * virtual_mailbox_domains, relay_domains, expanded). An empty mydestination
 * is a deliberate null client: fine. */
bool postfix_lab_mydestination(const char *mydestination, const char *mydomain,
                               const char *other_domains);

/* Can account `uid` (primary group `gid`) deliver into `home`/`mailbox`
 * (a Maildir when mailbox ends in "/", else an mbox file)? true, or false
 * with the reason in `why`. A missing Maildir or mbox is fine when its
 * directory is the account's to write (local(8) creates it). */
bool postfix_lab_mailbox(const char *home, const char *mailbox, uid_t uid, gid_t gid, strbuf *why);

#endif
