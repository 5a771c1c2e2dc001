/* Unit tests: bounce_log (bounce/, defer/, trace/ records): round trips,
 * hashed places, replace vs append, torn and hostile files, bad names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounce_log.h"
#include "config.h"
#include "strbuf.h"
#include "strlist.h"

static char qdir[64];

static void load(const char *text)
{
    strbuf err = STRBUF_INIT;
    if (config_load_text("/etc/postfix/main.cf", text, strlen(text), &err) < 0)
        fail_msg("config: %s", err.s);
    strbuf_release(&err);
}

static int setup(void **state)
{
    /* defer hashed two deep, trace flat: both places are exercised. */
    load("hash_queue_names = defer, bounce\nhash_queue_depth = 2\n");
    snprintf(qdir, sizeof(qdir), "/tmp/bl-test-XXXXXX");
    assert_non_null(mkdtemp(qdir));
    char p[128];
    snprintf(p, sizeof(p), "%s/active", qdir);
    assert_int_equal(mkdir(p, 0700), 0);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", qdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* Every record as "rcpt|orig|offset|orcpt|notify|status|action|reason". */
static void collect(void *ctx, const struct bounce_log_entry *e)
{
    strbuf b = STRBUF_INIT;
    strbuf_printf(&b, "%s|%s|%s|%s|%s|%s|%s|%s", e->recipient,
                  e->orig_recipient ? e->orig_recipient : "-", e->offset ? e->offset : "-",
                  e->dsn_orig_rcpt ? e->dsn_orig_rcpt : "-", e->dsn_notify ? e->dsn_notify : "-",
                  e->status ? e->status : "-", e->action, e->reason ? e->reason : "-");
    strlist_push(ctx, b.s);
    strbuf_release(&b);
}

static char *slurp(const char *rel)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", qdir, rel);
    FILE *fp = fopen(p, "r");
    if (!fp)
        return NULL;
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = 0;
    fclose(fp);
    return buf;
}

static void append_and_read_trace(void **state)
{
    strbuf err = STRBUF_INIT;
    struct bounce_log_entry e = {.recipient = "a@x",
                                 .orig_recipient = "list@x",
                                 .status = "2.0.0",
                                 .action = "deliverable",
                                 .reason = "delivers\nto\rmailbox"};
    assert_int_equal(bounce_log_append(qdir, BOUNCE_LOG_TRACE, "1E240ABCDEF", &e, &err), 0);
    e = (struct bounce_log_entry){
        .recipient = "b@x", .status = "5.1.1", .action = "undeliverable", .reason = "unknown"};
    assert_int_equal(bounce_log_append(qdir, BOUNCE_LOG_TRACE, "1E240ABCDEF", &e, &err), 0);
    /* trace is not hashed here: a flat file, exact format. */
    assert_string_equal(slurp("trace/1E240ABCDEF"),
                        "recipient=a@x\noriginal_recipient=list@x\nstatus=2.0.0\n"
                        "action=deliverable\nreason=delivers to mailbox\n\n"
                        "recipient=b@x\nstatus=5.1.1\naction=undeliverable\nreason=unknown\n\n");
    strlist got = STRLIST_INIT;
    assert_int_equal(bounce_log_read(qdir, BOUNCE_LOG_TRACE, "1E240ABCDEF", collect, &got, &err),
                     0);
    assert_int_equal(got.n, 2);
    assert_string_equal(got.v[0], "a@x|list@x|-|-|-|2.0.0|deliverable|delivers to mailbox");
    assert_string_equal(got.v[1], "b@x|-|-|-|-|5.1.1|undeliverable|unknown");
    strlist_release(&got);
    assert_int_equal(bounce_log_remove(qdir, BOUNCE_LOG_TRACE, "1E240ABCDEF"), 0);
    assert_null(slurp("trace/1E240ABCDEF"));
    assert_int_equal(bounce_log_remove(qdir, BOUNCE_LOG_TRACE, "1E240ABCDEF"), 0); /* gone: ok */
    /* A missing log is no records. */
    assert_int_equal(bounce_log_read(qdir, BOUNCE_LOG_TRACE, "1E240ABCDEF", collect, &got, &err),
                     0);
    assert_int_equal(got.n, 0);
    strbuf_release(&err);
}

static void replace_defer_hashed(void **state)
{
    strbuf err = STRBUF_INIT;
    struct bounce_log_entry e[2] = {
        {.recipient = "a@x",
         .offset = "120",
         .dsn_orig_rcpt = "rfc822;a@x",
         .dsn_notify = "6",
         .status = "4.4.1",
         .action = "delayed",
         .reason = "connection refused"},
        {.recipient = "b@x",
         .offset = "200",
         .status = "4.0.0",
         .action = "delayed",
         .reason = "later"},
    };
    assert_int_equal(bounce_log_replace(qdir, BOUNCE_LOG_DEFER, "1E240ABCDEF", e, 2, &err), 0);
    assert_string_equal(
        slurp("defer/1/E/1E240ABCDEF"),
        "recipient=a@x\noffset=120\ndsn_orig_rcpt=rfc822;a@x\ndsn_notify=6\n"
        "status=4.4.1\naction=delayed\nreason=connection refused\n\n"
        "recipient=b@x\noffset=200\nstatus=4.0.0\naction=delayed\nreason=later\n\n");
    /* Replace, not append: the next pass's log alone remains. */
    assert_int_equal(bounce_log_replace(qdir, BOUNCE_LOG_DEFER, "1E240ABCDEF", e + 1, 1, &err), 0);
    strlist got = STRLIST_INIT;
    assert_int_equal(bounce_log_read(qdir, BOUNCE_LOG_DEFER, "1E240ABCDEF", collect, &got, &err),
                     0);
    assert_int_equal(got.n, 1);
    assert_string_equal(got.v[0], "b@x|-|200|-|-|4.0.0|delayed|later");
    strlist_release(&got);
    /* No temporary file left behind in the hash directory. */
    assert_null(slurp("defer/1/E/1E240ABCDEF.tmp"));
    char p[256];
    snprintf(p, sizeof(p), "ls %s/defer/1/E | grep -vx 1E240ABCDEF", qdir);
    assert_int_not_equal(system(p), 0);
    strbuf_release(&err);
}

static void torn_and_hostile_files(void **state)
{
    strbuf err = STRBUF_INIT;
    char p[256];
    snprintf(p, sizeof(p), "%s/bounce/2/F", qdir);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s", p);
    assert_int_equal(system(cmd), 0);
    snprintf(p, sizeof(p), "%s/bounce/2/F/2F000ABC", qdir);
    FILE *fp = fopen(p, "w");
    /* a record without an action, junk lines, a complete record, a torn one */
    fputs("recipient=noaction@x\nreason=r\n\n"
          "garbage without equals\n=\nrecipient=ok@x\naction=failed\nunknown=field\n\n"
          "recipient=torn@x\naction=failed\nreason=cut",
          fp);
    fclose(fp);
    strlist got = STRLIST_INIT;
    assert_int_equal(bounce_log_read(qdir, BOUNCE_LOG_BOUNCE, "2F000ABC", collect, &got, &err), 0);
    assert_int_equal(got.n, 1);
    assert_string_equal(got.v[0], "ok@x|-|-|-|-|-|failed|-");
    strlist_release(&got);

    /* Over BOUNCE_LOG_MAX: an error, not a memory blow-up. */
    fp = fopen(p, "w");
    for (size_t i = 0; i < BOUNCE_LOG_MAX / 64 + 2; i++)
        fputs("recipient=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx@x\n\n", fp);
    fclose(fp);
    assert_int_equal(bounce_log_read(qdir, BOUNCE_LOG_BOUNCE, "2F000ABC", collect, &got, &err), -1);
    assert_non_null(strstr(err.s, "longer than"));
    assert_int_equal(got.n, 0);

    /* A symlink planted as a log is not followed. */
    unlink(p);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    strbuf_reset(&err);
    assert_int_equal(bounce_log_read(qdir, BOUNCE_LOG_BOUNCE, "2F000ABC", collect, &got, &err), -1);
    struct bounce_log_entry e = {
        .recipient = "a@x", .status = "5.0.0", .action = "failed", .reason = "r"};
    assert_int_equal(bounce_log_append(qdir, BOUNCE_LOG_BOUNCE, "2F000ABC", &e, &err), -1);
    strbuf_release(&err);
}

static void bad_names_and_ids(void **state)
{
    strbuf err = STRBUF_INIT;
    struct bounce_log_entry e = {
        .recipient = "a@x", .status = "5.0.0", .action = "failed", .reason = "r"};
    const char *bad_logs[] = {"", "active", "../defer", "defer/..", "DEFER", NULL};
    for (size_t i = 0; i < sizeof(bad_logs) / sizeof(bad_logs[0]); i++) {
        strbuf_reset(&err);
        assert_int_equal(bounce_log_append(qdir, bad_logs[i], "1E240ABCDEF", &e, &err), -1);
        assert_non_null(strstr(err.s, "bad log name"));
        assert_false(bounce_log_name_valid(bad_logs[i]));
    }
    const char *bad_ids[] = {"", "../../etc/passwd", "a/b", "..", "1E240ABCDEF\n", NULL};
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        strbuf_reset(&err);
        assert_int_equal(bounce_log_append(qdir, BOUNCE_LOG_DEFER, bad_ids[i], &e, &err), -1);
        assert_non_null(strstr(err.s, "bad queue ID"));
        assert_int_equal(bounce_log_replace(qdir, BOUNCE_LOG_DEFER, bad_ids[i], &e, 1, &err), -1);
        assert_int_equal(bounce_log_read(qdir, BOUNCE_LOG_DEFER, bad_ids[i], collect, NULL, &err),
                         -1);
        assert_int_equal(bounce_log_remove(qdir, BOUNCE_LOG_DEFER, bad_ids[i]), -1);
    }
    /* No active/ (not a queue directory): refused, nothing created. */
    strbuf_reset(&err);
    assert_int_equal(
        bounce_log_append("/nonexistent-queue", BOUNCE_LOG_DEFER, "1E240ABCDEF", &e, &err), -1);
    assert_non_null(strstr(err.s, "active"));
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(append_and_read_trace),
        cmocka_unit_test(replace_defer_hashed),
        cmocka_unit_test(torn_and_hostile_files),
        cmocka_unit_test(bad_names_and_ids),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
