/* input_transp - receive_override_options (see the header). */
#include <strings.h>

#include "cleanup_client.h"
#include "config.h"
#include "input_transp.h"
#include "msg.h"
#include "strlist.h"

int input_transp_parse(const char *text, unsigned *out, strbuf *bad)
{
    static const char *const names[] = {"no_unknown_recipient_checks", "no_address_mappings",
                                        "no_header_body_checks", "no_milters", NULL};
    static const unsigned bits[] = {INPUT_TRANSP_UNKNOWN_RCPT, INPUT_TRANSP_ADDRESS_MAPPING,
                                    INPUT_TRANSP_HEADER_BODY, INPUT_TRANSP_MILTER};
    strlist w = STRLIST_INIT;
    const char *e = NULL;
    int rc = 0;
    *out = 0;
    if (strlist_split(&w, text ? text : "", ", \t\r\n", &e) < 0) {
        strbuf_set(bad, text);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < w.n; i++) {
        size_t k = 0;
        while (names[k] && strcasecmp(names[k], w.v[i]) != 0)
            k++;
        if (!names[k]) {
            strbuf_set(bad, w.v[i]);
            rc = -1;
        } else {
            *out |= bits[k];
        }
    }
    strlist_release(&w);
    return rc;
}

unsigned input_transp_flags(void)
{
    static bool parsed;
    static unsigned flags;
    if (!parsed) {
        strbuf bad = STRBUF_INIT;
        if (input_transp_parse(config_get("receive_override_options"), &flags, &bad) < 0) {
            const char *o = config_origin("receive_override_options");
            msg_fatal("%s%sunknown receive_override_options value \"%s\"", o ? o : "",
                      o ? ": " : "", strbuf_str(&bad));
        }
        strbuf_release(&bad);
        parsed = true;
    }
    return flags;
}

int input_transp_cleanup_flags(void)
{
    unsigned f = input_transp_flags();
    int out = CLEANUP_FLAG_NONE;
    if (f & INPUT_TRANSP_ADDRESS_MAPPING)
        out |= CLEANUP_FLAG_NO_MAPS;
    if (f & INPUT_TRANSP_HEADER_BODY)
        out |= CLEANUP_FLAG_NO_HBC;
    if (f & INPUT_TRANSP_MILTER)
        out |= CLEANUP_FLAG_NO_MILTERS;
    return out;
}
