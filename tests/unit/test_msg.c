/* Unit tests: msg (the maillog_file timestamp and line format, reopening a
 * rotated maillog_file). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "msg.h"
#include "strbuf.h"

static int use_utc(void **state)
{
    setenv("TZ", "UTC", 1);
    tzset();
    return 0;
}

static void single_digit_day_is_space_padded(void **state)
{
    strbuf sb = STRBUF_INIT;
    /* 2026-12-02 10:00:00 UTC */
    msg_log_stamp(&sb, 1796205600);
    assert_string_equal(strbuf_str(&sb), "Dec  2 10:00:00");
    strbuf_reset(&sb);
    /* 2026-03-09 07:05:04 UTC */
    msg_log_stamp(&sb, 1773039904);
    assert_string_equal(strbuf_str(&sb), "Mar  9 07:05:04");
    strbuf_release(&sb);
}

static void two_digit_day_unchanged(void **state)
{
    strbuf sb = STRBUF_INIT;
    /* 2026-11-24 22:03:10 UTC */
    msg_log_stamp(&sb, 1795557790);
    assert_string_equal(strbuf_str(&sb), "Nov 24 22:03:10");
    strbuf_reset(&sb);
    /* 2024-02-29 23:59:59 UTC */
    msg_log_stamp(&sb, 1709251199);
    assert_string_equal(strbuf_str(&sb), "Feb 29 23:59:59");
    strbuf_release(&sb);
}

static void follows_local_time_zone(void **state)
{
    strbuf sb = STRBUF_INIT;
    setenv("TZ", "Europe/Berlin", 1);
    tzset();
    /* 2026-12-01 23:30:00 UTC is 00:30 on the 2nd in Berlin. */
    msg_log_stamp(&sb, 1796167800);
    assert_string_equal(strbuf_str(&sb), "Dec  2 00:30:00");
    setenv("TZ", "UTC", 1);
    tzset();
    strbuf_release(&sb);
}

/* A line written to maillog_file starts with the stamp of the moment it was
 * logged: "Mmm dd HH:MM:SS host ident[pid]: text". */
static void maillog_line_format(void **state)
{
    char path[] = "/tmp/test_msg_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    msg_init("tester", false);
    time_t before = time(NULL);
    assert_int_equal(msg_configure("postfix", "mail", path, "host.example"), 0);
    msg_info("hello %d", 7);
    time_t after = time(NULL);
    assert_int_equal(msg_configure("postfix", "mail", "", NULL), 0);
    char buf[512] = {0};
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    unlink(path);
    assert_true(n > 16);
    strbuf want = STRBUF_INIT, stamp = STRBUF_INIT;
    bool matched = false;
    for (time_t t = before; t <= after && !matched; t++) {
        strbuf_reset(&stamp);
        msg_log_stamp(&stamp, t);
        strbuf_reset(&want);
        strbuf_printf(&want, "%s host postfix/tester[%ld]: hello 7\n", strbuf_str(&stamp),
                      (long)getpid());
        matched = strcmp(buf, strbuf_str(&want)) == 0;
    }
    if (!matched)
        fail_msg("unexpected log line: \"%s\"", buf);
    strbuf_release(&want);
    strbuf_release(&stamp);
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return strdup("");
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return strdup(buf);
}

/* A maillog_file renamed away (postfix logrotate) is reopened by name
 * within a second; until then lines go to the renamed file. */
static void rotated_file_reopened(void **state)
{
    char dir[] = "/tmp/test_msg_rot_XXXXXX";
    assert_non_null(mkdtemp(dir));
    strbuf path = STRBUF_INIT, old = STRBUF_INIT;
    strbuf_printf(&path, "%s/maillog", dir);
    strbuf_printf(&old, "%s/maillog.1", dir);
    msg_init("tester", false);
    assert_int_equal(msg_configure("postfix", "mail", strbuf_str(&path), "host"), 0);
    msg_info("first");
    assert_int_equal(rename(strbuf_str(&path), strbuf_str(&old)), 0);
    /* A new file appears (the rotating command opens it). */
    int fd = open(strbuf_str(&path), O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
    sleep(1);
    usleep(100000);
    msg_info("second");
    assert_int_equal(msg_configure("postfix", "mail", "", NULL), 0);
    char *a = slurp(strbuf_str(&old)), *b = slurp(strbuf_str(&path));
    assert_non_null(strstr(a, "first"));
    assert_null(strstr(a, "second"));
    assert_non_null(strstr(b, "second"));
    free(a);
    free(b);
    unlink(strbuf_str(&path));
    unlink(strbuf_str(&old));
    rmdir(dir);
    strbuf_release(&path);
    strbuf_release(&old);
}

/* The cached pid is the process's own, in a forked child too (a child
 * that logs before exec must not name its parent). */
static void pid_cached_and_renewed_after_fork(void **state)
{
    assert_int_equal(msg_pid(), (long)getpid());
    assert_int_equal(msg_pid(), (long)getpid());
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        long seen[2] = {msg_pid(), (long)getpid()};
        ssize_t n = write(pipefd[1], seen, sizeof(seen));
        _exit(n == (ssize_t)sizeof(seen) ? 0 : 1);
    }
    close(pipefd[1]);
    long seen[2] = {0, 0};
    assert_int_equal(read(pipefd[0], seen, sizeof(seen)), (ssize_t)sizeof(seen));
    close(pipefd[0]);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_int_equal(seen[0], (long)child);
    assert_int_equal(seen[1], (long)child);
    assert_int_equal(msg_pid(), (long)getpid());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_digit_day_is_space_padded),
        cmocka_unit_test(two_digit_day_unchanged),
        cmocka_unit_test(follows_local_time_zone),
        cmocka_unit_test(maillog_line_format),
        cmocka_unit_test(rotated_file_reopened),
        cmocka_unit_test(pid_cached_and_renewed_after_fork),
    };
    return cmocka_run_group_tests(tests, use_utc, NULL);
}
