/* Unit tests: mem (zero-filled allocation, copies, overflow is fatal). */
#include <setjmp.h>
#include <stdarg.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mem.h"
#include "msg.h"

static void zero_filled_and_copies(void **state)
{
    (void)state;
    unsigned char *p = xmalloc(4096);
    for (size_t i = 0; i < 4096; i++)
        assert_int_equal(p[i], 0);
    free(p);
    p = xcalloc(16, 16);
    for (size_t i = 0; i < 256; i++)
        assert_int_equal(p[i], 0);
    p = xreallocarray(p, 32, 16);
    memset(p, 'x', 512);
    free(p);
    char *s = xstrdup("hello");
    assert_string_equal(s, "hello");
    free(s);
    s = xstrndup("hello", 3);
    assert_string_equal(s, "hel");
    free(s);
    s = xstrndup("hi", 100); /* n beyond the string: stops at its NUL */
    assert_string_equal(s, "hi");
    free(s);
    char *m = xmemdup("a\0b", 3);
    assert_memory_equal(m, "a\0b", 3);
    XFREE(m);
    assert_null(m);
    void *z = xmalloc(0); /* a valid, freeable pointer */
    assert_non_null(z);
    free(z);
}

/* Run fn in a child; true when it failed: a non-zero exit (msg_fatal) or
 * an abort (msg_panic, for overflowing sizes: a caller's bug). */
static bool dies(void (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGABRT, SIG_DFL); /* not cmocka's handler */
        msg_init("test_mem", false);
        fn();
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return (WIFEXITED(status) && WEXITSTATUS(status) != 0) ||
           (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

static void calloc_overflow(void)
{
    (void)xcalloc(SIZE_MAX / 2, 4);
}

static void reallocarray_overflow(void)
{
    (void)xreallocarray(NULL, SIZE_MAX / 8, 16);
}

static void huge_malloc(void)
{
    (void)xmalloc(SIZE_MAX - 16);
}

static void overflow_is_fatal(void **state)
{
    (void)state;
    assert_true(dies(calloc_overflow));
    assert_true(dies(reallocarray_overflow));
    assert_true(dies(huge_malloc));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zero_filled_and_copies),
        cmocka_unit_test(overflow_is_fatal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
