/* tls_config - TLS settings from main.cf. See tls_config.h. */
#include "tls_config.h"

#include "config.h"

struct tls_grade_lists tls_config_grades(void)
{
    return (struct tls_grade_lists){
        .high = config_get("tls_high_cipherlist"),
        .medium = config_get("tls_medium_cipherlist"),
        .low = config_get("tls_low_cipherlist"),
        .export = config_get("tls_export_cipherlist"),
        .null = config_get("tls_null_cipherlist"),
    };
}
