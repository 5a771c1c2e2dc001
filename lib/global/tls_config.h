/* tls_config - the TLS settings shared by every program that reads them
 * from main.cf, so that lib/global/tls stays free of configuration: the
 * OpenSSL cipher list of each grade (tls_<grade>_cipherlist), for
 * tls_cipherlist(). Strings are config_get's (valid until the next load).
 */
#ifndef MTA_TLS_CONFIG_H
#define MTA_TLS_CONFIG_H
#include "tls.h"

struct tls_grade_lists tls_config_grades(void);

#endif
