/* Unit tests: content_filter (the receivers' content_filter value). Each
 * case runs in a child: the value is checked once per process, and a bad
 * one is fatal (the exit status says which). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "content_filter.h"
#include "strbuf.h"

/* In a child: load main.cf `text`, ask for the value. Exit 0 when it is
 * `want` (NULL: none), 3 when it is not, 1 (msg_fatal) when refused. */
static int child(const char *text, const char *want)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr))
            _exit(4);
        strbuf err = STRBUF_INIT;
        if (config_load_text("main.cf", text, strlen(text), &err) < 0)
            _exit(5);
        const char *v = content_filter_value();
        bool same = want ? v && strcmp(v, want) == 0 : v == NULL;
        _exit(same ? 0 : 3);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}

static void empty_is_none(void **state)
{
    (void)state;
    assert_int_equal(child("", NULL), 0);
    assert_int_equal(child("content_filter =\n", NULL), 0);
}

static void transport_and_nexthop(void **state)
{
    (void)state;
    assert_int_equal(child("content_filter = scan:[127.0.0.1]:10025\n", "scan:[127.0.0.1]:10025"),
                     0);
    /* No nexthop: qmgr uses default_filter_nexthop or the recipient's domain. */
    assert_int_equal(child("content_filter = amavis:\n", "amavis:"), 0);
    assert_int_equal(child("f = lmtp-in.x\ncontent_filter = ${f}:inet:localhost:10024\n",
                           "lmtp-in.x:inet:localhost:10024"),
                     0);
}

/* What cleanup would refuse never reaches it: the process stops. */
static void bad_values_are_fatal(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "content_filter = scan\n",           /* no colon (Postfix: ignored per message) */
        "content_filter = :10025\n",         /* no transport */
        "content_filter = sc/an:x\n",        /* a path, not a service name */
        "content_filter = ../private/x:y\n", /* idem */
        "content_filter = scan:a\x01"
        "b\n", /* a control character in the nexthop */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (child(bad[i], NULL) != 1)
            fail_msg("accepted: %s", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_is_none),
        cmocka_unit_test(transport_and_nexthop),
        cmocka_unit_test(bad_values_are_fatal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
