/* mail_log - logging set up from main.cf (see mail_log.h). */
#include "mail_log.h"

#include <errno.h>

#include "config.h"
#include "msg.h"

int mail_log_setup(enum mail_log_failure on_failure)
{
    const char *file = config_get("maillog_file");
    if (msg_configure(config_get("syslog_name"), config_get("syslog_facility"), file,
                      config_get("myhostname")) == 0)
        return 0;
    int saved = errno;
    if (on_failure == MAIL_LOG_WARN)
        msg_warn("open maillog_file %s: %m", file);
    else if (on_failure == MAIL_LOG_QUIET)
        msg_debug("open maillog_file %s: %m", file);
    errno = saved;
    return -1;
}
