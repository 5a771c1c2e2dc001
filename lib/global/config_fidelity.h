/* config_fidelity - say what an administrator configured that this
 * implementation would not honour.
 *
 * Call after config_load() and master_cf_register_config(cf) (which makes
 * the per-transport parameters known), as `postfix check` does and master
 * does on every start and reload.
 *
 * Parameters (config_implemented.h). Every main.cf setting and every
 * master.cf "-o name=value" of a Postfix parameter that we do not
 * implement, and whose value differs from the default, gets one warning:
 *   warning: /etc/postfix/main.cf, line 12: parameter header_checks: not
 *     implemented in this version; the setting has no effect
 *   warning: /etc/postfix/master.cf, line 30: service submission/inet:
 *     parameter header_checks: not implemented ...
 * Values are compared expanded, in the name space the programs see (main.cf,
 * or the master.cf entry with its -o settings and service_name on top),
 * and as the parameter's type (yes/YES, 3600s/1h are equal): stock
 * configurations spell defaults differently ("virtual_alias_maps =" for
 * "$virtual_maps"), and expansion is what the programs act on. A parameter
 * honoured only as one value (biff = no) is warned about for any other.
 * Names that are not Postfix parameters are config_warn_unused()'s job.
 *
 * Restrictions (smtpd_restriction.h). Every item of an smtpd restriction
 * list that smtpd cannot evaluate -- as main.cf gives the list, and as each
 * master.cf smtpd entry sees it through its -o settings -- is reported
 * once, as an error when `restrictions_are_errors` (postfix check), else
 * as a warning (master):
 *   error: /etc/postfix/main.cf, line 14: parameter
 *     smtpd_recipient_restrictions: restriction check_sasl_access: not
 *     implemented in this version; smtpd answers 451 4.3.5 when evaluation
 *     gets there
 * master.cf messages name the entry's first line (Postfix's convention).
 */
#ifndef MTA_CONFIG_FIDELITY_H
#define MTA_CONFIG_FIDELITY_H
#include <stdbool.h>
#include <stddef.h>

#include "master_cf.h"

struct config_fidelity_counts {
    size_t parameters;   /* parameter warnings */
    size_t restrictions; /* restriction reports (errors or warnings) */
};

/* `cf` may be NULL (main.cf only). */
struct config_fidelity_counts config_fidelity_check(const master_cf *cf,
                                                    bool restrictions_are_errors);

#endif
