/* Unit tests: config_implemented (the table of honoured parameters). The
 * source scan that keeps it in step with the programs is the ctest
 * config_implemented_drift (tools/check_config_implemented.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "config_implemented.h"
#include "msg.h"

/* Every entry names a Postfix parameter, once. */
static void entries_are_parameters(void **state)
{
    size_t n;
    const struct config_implemented *t = config_implemented_table(&n);
    assert_true(n > 200);
    for (size_t i = 0; i < n; i++) {
        if (t[i].name[0] != '*' && !config_default_find(t[i].name))
            fail_msg("%s is not a Postfix parameter", t[i].name);
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(t[i].name, t[j].name) == 0)
                fail_msg("%s is listed twice", t[i].name);
        if (t[i].only && t[i].how != CONFIG_HONOUR_INERT)
            fail_msg("%s: a fixed value means no program reads it", t[i].name);
    }
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Does `text` reference $name, ${name...} or $(name...)? */
static bool references(const char *text, const char *name)
{
    for (const char *p = text; (p = strchr(p, '$')) != NULL;) {
        p++;
        if (*p == '{' || *p == '(')
            p++;
        const char *start = p;
        while (is_name_char(*p))
            p++;
        if ((size_t)(p - start) == strlen(name) && strncmp(start, name, strlen(name)) == 0)
            return true;
    }
    return false;
}

/* Does the default of some honoured parameter (other than `name`)
 * reference it? */
static bool building_block(const struct config_implemented *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        const struct config_default *d = config_default_find(t[i].name);
        if (d && d->value && strcmp(t[i].name, name) != 0 && references(d->value, name))
            return true;
    }
    return false;
}

/* An EXPANDED entry earns its place: an honoured default is built from it. */
static void expanded_entries_are_building_blocks(void **state)
{
    size_t n;
    const struct config_implemented *t = config_implemented_table(&n);
    size_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i].how != CONFIG_HONOUR_EXPANDED)
            continue;
        seen++;
        if (!building_block(t, n, t[i].name))
            fail_msg("%s is EXPANDED, but no honoured default references it", t[i].name);
    }
    assert_true(seen >= 3);
    /* The check itself can fail: an unlisted building block is found, a
     * name nothing references is not. */
    assert_true(building_block(t, n, "mydomain"));
    assert_false(building_block(t, n, "smtpd_milters"));
}

static void find_exact_and_per_transport(void **state)
{
    const struct config_implemented *e = config_implemented_find("myorigin", false);
    assert_non_null(e);
    assert_int_equal(e->how, CONFIG_HONOUR_READ);
    assert_null(e->only);
    assert_null(config_implemented_find("smtpd_milters", false));
    assert_null(config_implemented_find("smtpd_proxy_filter", false));
    e = config_implemented_find("biff", false);
    assert_non_null(e);
    assert_string_equal(e->only, "no");
    /* relay_destination_concurrency_limit exists when master.cf has relay. */
    assert_non_null(config_implemented_find("relay_destination_concurrency_limit", true));
    assert_null(config_implemented_find("relay_destination_concurrency_limit", false));
    assert_null(config_implemented_find("relay_delivery_slot_cost", true));
    /* pipe(8) reads <transport>_time_limit. */
    assert_non_null(config_implemented_find("maildrop_time_limit", true));
    assert_null(config_implemented_find("maildrop_time_limit", false));
}

/* Every "*suffix" is a per-transport parameter config.c creates (for an
 * smtp service, or a pipe service: *_time_limit). */
static void suffixes_are_service_parameters(void **state)
{
    strbuf err = STRBUF_INIT;
    assert_int_equal(config_load_text("main.cf", "", 0, &err), 0);
    config_add_service("relay", "unix", "smtp");
    config_add_service("maildrop", "unix", "pipe");
    size_t n;
    const struct config_implemented *t = config_implemented_table(&n);
    for (size_t i = 0; i < n; i++) {
        if (t[i].name[0] != '*')
            continue;
        char name[200], piped[200];
        snprintf(name, sizeof(name), "relay%s", t[i].name + 1);
        snprintf(piped, sizeof(piped), "maildrop%s", t[i].name + 1);
        if (!config_default_value(name) && !config_default_value(piped))
            fail_msg("%s: master.cf creates no %s", t[i].name, name);
    }
    strbuf_release(&err);
}

int main(void)
{
    msg_init("test_config_implemented", true);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(entries_are_parameters),
        cmocka_unit_test(expanded_entries_are_building_blocks),
        cmocka_unit_test(find_exact_and_per_transport),
        cmocka_unit_test(suffixes_are_service_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
