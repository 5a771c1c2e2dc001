/* config_implemented - the one list of Postfix parameters this
 * implementation honours.
 *
 * Every parameter Postfix 3.7 documents has a default (config_defaults.c)
 * and is accepted in main.cf and in master.cf "-o name=value", but only the
 * parameters listed in config_implemented.c change what our programs do.
 * Everything else behaves as if it had its default value, so a setting to
 * any other value is warned about by `postfix check` and `postfix start`
 * (config_fidelity.h) instead of being silently ignored.
 *
 * An entry says how the parameter is honoured:
 *   CONFIG_HONOUR_READ     a program reads it by this literal name (or,
 *                          in smtp/, as "smtp_"/"lmtp_" + a literal);
 *   CONFIG_HONOUR_DYNAMIC  a program reads it under a name it builds
 *                          (tls_<grade>_cipherlist, <transport>_...);
 *   CONFIG_HONOUR_EXPANDED only through $name in the default value of a
 *                          parameter that is honoured (compatibility_level);
 *   CONFIG_HONOUR_INERT    no program needs it, and that is faithful:
 *                          Postfix's daemons don't use it either
 *                          (readme_directory), or our fixed behaviour is
 *                          the one value `only` (biff = no).
 * `only`, when not NULL, is the single value we behave as: any other value,
 * the default included, is warned about.
 *
 * A name starting with '*' is a suffix of the per-transport parameters that
 * master.cf creates for each delivery agent (config.h, "Service-defined
 * parameters"): "*_destination_concurrency_limit" covers
 * relay_destination_concurrency_limit.
 *
 * tools/check_config_implemented.py (run by ctest) fails when a program
 * reads a parameter by a literal name that is not listed here, and when a
 * READ entry is read nowhere; tests/unit/test_config_implemented.c checks
 * that every name is a Postfix parameter and every EXPANDED one really is a
 * building block of an honoured default.
 */
#ifndef MTA_CONFIG_IMPLEMENTED_H
#define MTA_CONFIG_IMPLEMENTED_H
#include <stdbool.h>
#include <stddef.h>

enum config_honour {
    CONFIG_HONOUR_READ,
    CONFIG_HONOUR_DYNAMIC,
    CONFIG_HONOUR_EXPANDED,
    CONFIG_HONOUR_INERT,
};

struct config_implemented {
    const char *name; /* parameter name, or "*suffix" */
    enum config_honour how;
    const char *only; /* NULL: every value is honoured */
};

/* The whole table (for tests and documentation). */
const struct config_implemented *config_implemented_table(size_t *count);

/* The entry for parameter `name`, or NULL when we do not implement it.
 * `service_defined`: the name is a per-transport parameter created by a
 * master.cf entry (config_add_service), so "*suffix" entries apply. */
const struct config_implemented *config_implemented_find(const char *name, bool service_defined);

#endif
