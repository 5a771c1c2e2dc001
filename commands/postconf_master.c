/* postconf_master - master.cf display for postconf (-M, -F, -P). */
#include <sysexits.h>

#include "msg.h"
#include "postconf.h"

int postconf_show_master(const char *dir, int mode, int flags, bool expand, bool no_names,
                         char **names, int nnames)
{
    msg_fatal_status(EX_SOFTWARE, "-%c is not supported yet: this build has no master.cf parser",
                     mode);
}

void postconf_mark_master_used(const char *dir)
{
}
