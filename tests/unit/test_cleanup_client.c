/* Unit tests: cleanup_client (the client half of the cleanup protocol),
 * against a scripted fake cleanup server in a child process. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "attr.h"
#include "cleanup_client.h"
#include "sock.h"
#include "stream.h"
#include "strbuf.h"

static char dir[] = "/tmp/cc-test-XXXXXX";
/* The action requests the fake server must see, as "kind[=value]@content;"
 * where content is the content bytes received before it (NULL: none). */
static const char *expect_actions;

/* Fake server: answers open with ID "ABC123", reads everything up to end,
 * checks what it got and answers end with `final` (NULL: close without a
 * reply). Exit status 0 when the stream was as expected. */
static pid_t fake_server(const char *final, int open_status)
{
    strbuf path = STRBUF_INIT, err = STRBUF_INIT;
    char pub[64];
    snprintf(pub, sizeof(pub), "%s/public", dir);
    mkdir(pub, 0755);
    sock_unix_path(dir, CLEANUP_SERVICE, &path, &err);
    int lfd = sock_unix_listen(strbuf_str(&path), 0666, 5, &err);
    assert_true(lfd >= 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0) {
        close(lfd);
        strbuf_release(&path);
        strbuf_release(&err);
        return pid;
    }
    sock_set_nonblock(lfd, false);
    int fd = accept(lfd, NULL, NULL);
    stream *st = stream_open(fd);
    stream_set_timeout(st, 5000);
    attr_list al = ATTR_LIST_INIT, out = ATTR_LIST_INIT;
    int bad = 0;
    size_t content = 0, max_piece = 0, lines = 0, rcpts = 0;
    strbuf acts = STRBUF_INIT;
    if (attr_recv(st, &cleanup_attr_limits, &al, &err) != ATTR_OK)
        _exit(10);
    if (open_status) {
        attr_add_int(&out, "status", open_status);
        attr_add_str(&out, "reason", "452 4.3.1 Insufficient system storage");
        attr_send(st, &out, &err);
        _exit(0);
    }
    attr_add_int(&out, "status", 0);
    attr_add_str(&out, "queue_id", "ABC123");
    attr_send(st, &out, &err);
    for (;;) {
        if (attr_recv(st, &cleanup_attr_limits, &al, &err) != ATTR_OK)
            _exit(final ? 11 : 0);
        const attr *req = attr_find(&al, "request");
        if (!req)
            _exit(12);
        if (strcmp(req->value, "envelope") == 0) {
            const attr *s = attr_find(&al, "sender");
            bad |= !s || strcmp(s->value, "a@example.org") != 0;
        } else if (strcmp(req->value, "rcpt") == 0) {
            rcpts++;
        } else if (strcmp(req->value, "content") == 0) {
            for (size_t i = 1; i < attr_list_count(&al); i++) {
                const attr *a = attr_list_at(&al, i);
                content += a->value_len;
                if (a->value_len > max_piece)
                    max_piece = a->value_len;
                if (a->name[0] == 'N')
                    lines++;
            }
        } else if (strcmp(req->value, "action") == 0) {
            const attr *k = attr_find(&al, "kind"), *v = attr_find(&al, "value");
            strbuf_printf(&acts, "%s%s%s@%zu;", k ? k->value : "?", v ? "=" : "", v ? v->value : "",
                          content);
        } else if (strcmp(req->value, "milter") == 0) {
            const attr *k = attr_find(&al, "kind"), *n = attr_find(&al, "name"),
                       *v = attr_find(&al, "value");
            int64_t index = 0;
            attr_get_int(&al, "index", &index, NULL);
            strbuf_printf(&acts, "milter:%s:%lld:%s:%zu%s@%zu;", k ? k->value : "?",
                          (long long)index, n ? n->value : "", v ? v->value_len : 0,
                          attr_find(&al, "leadspc") ? "+" : "", content);
        } else if (strcmp(req->value, "end") == 0) {
            break;
        }
    }
    /* 2 lines + one 300000-byte line, split but never bigger than a chunk */
    bad |= rcpts != 2 || lines != 3 || content != 300000 + 10 || max_piece > CLEANUP_CHUNK;
    bad |= strcmp(strbuf_str(&acts), expect_actions ? expect_actions : "") != 0;
    if (!final)
        _exit(bad);
    attr_list_reset(&out);
    attr_add_int(&out, "status", strncmp(final, "250", 3) == 0 ? 0 : 1);
    attr_add_str(&out, "reason", final);
    attr_send(st, &out, &err);
    _exit(bad);
}

static int wait_child(pid_t pid)
{
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

static void send_message(cleanup_client *cc)
{
    struct cleanup_envelope env = {.sender = "a@example.org", .uid = -1};
    assert_int_equal(cleanup_client_envelope(cc, &env), 0);
    cleanup_client_rcpt(cc, "b@example.org", NULL, "rfc822;b@example.org", 2);
    cleanup_client_rcpt(cc, "c@example.org", NULL, NULL, 0);
    cleanup_client_line(cc, "Subject: x");
    cleanup_client_line(cc, "");
    char *big = malloc(300000);
    memset(big, 'y', 300000);
    cleanup_client_content(cc, big, 100000, false);
    cleanup_client_content(cc, big, 200000, true);
    free(big);
}

static void queued(void **state)
{
    pid_t pid = fake_server("250 2.0.0 Ok: queued as ABC123", 0);
    strbuf id = STRBUF_INIT, reply = STRBUF_INIT;
    cleanup_client *cc = cleanup_client_open(dir, 0, 5000, &id, &reply);
    assert_non_null(cc);
    assert_string_equal(strbuf_str(&id), "ABC123");
    send_message(cc);
    assert_int_equal(cleanup_client_finish(&cc, &reply), 250);
    assert_null(cc);
    assert_string_equal(strbuf_str(&reply), "250 2.0.0 Ok: queued as ABC123");
    assert_int_equal(wait_child(pid), 0);
    strbuf_release(&id);
    strbuf_release(&reply);
}

/* Actions go out in order with the content: whatever content came before
 * is flushed first. */
static void actions_sent(void **state)
{
    (void)state;
    expect_actions = "hold@300010;redirect=r@example.org@300010;filter=scan:[127.0.0.1]:10025@"
                     "300010;bcc=x@example.org@300010;discard@300010;";
    pid_t pid = fake_server("250 2.0.0 Ok: queued as ABC123", 0);
    strbuf id = STRBUF_INIT, reply = STRBUF_INIT;
    cleanup_client *cc = cleanup_client_open(dir, 0, 5000, &id, &reply);
    assert_non_null(cc);
    send_message(cc);
    assert_int_equal(cleanup_client_action(cc, CLEANUP_ACT_HOLD, NULL), 0);
    assert_int_equal(cleanup_client_action(cc, CLEANUP_ACT_REDIRECT, "r@example.org"), 0);
    assert_int_equal(cleanup_client_action(cc, CLEANUP_ACT_FILTER, "scan:[127.0.0.1]:10025"), 0);
    assert_int_equal(cleanup_client_action(cc, CLEANUP_ACT_BCC, "x@example.org"), 0);
    assert_int_equal(cleanup_client_action(cc, CLEANUP_ACT_DISCARD, NULL), 0);
    assert_int_equal(cleanup_client_finish(&cc, &reply), 250);
    assert_int_equal(wait_child(pid), 0);
    expect_actions = NULL;
    strbuf_release(&id);
    strbuf_release(&reply);
}

/* Milter modifications go out in order after the content; a body larger
 * than one message is split into CLEANUP_CHUNK pieces. */
static void milter_edits_sent(void **state)
{
    (void)state;
    expect_actions = "milter:addheader:0:X-A:3@300010;milter:replbody:0::65536@300010;"
                     "milter:replbody:0::65536@300010;milter:replbody:0::18928@300010;"
                     "milter:chgheader:2:Subject:0+@300010;milter:delrcpt:0:<b@example.org>:0@"
                     "300010;";
    pid_t pid = fake_server("250 2.0.0 Ok: queued as ABC123", 0);
    strbuf id = STRBUF_INIT, reply = STRBUF_INIT;
    cleanup_client *cc = cleanup_client_open(dir, 0, 5000, &id, &reply);
    assert_non_null(cc);
    send_message(cc);
    struct milter_edit add = {.kind = MILTER_EDIT_ADDHEADER, .name = "X-A", .value = "yes"};
    assert_int_equal(cleanup_client_milter_edit(cc, &add), 0);
    unsigned char *body = calloc(1, 150000);
    struct milter_edit rb = {.kind = MILTER_EDIT_REPLBODY, .body = body, .body_len = 150000};
    assert_int_equal(cleanup_client_milter_edit(cc, &rb), 0);
    free(body);
    struct milter_edit chg = {
        .kind = MILTER_EDIT_CHGHEADER, .index = 2, .name = "Subject", .value = "", .leadspc = true};
    assert_int_equal(cleanup_client_milter_edit(cc, &chg), 0);
    struct milter_edit del = {.kind = MILTER_EDIT_DELRCPT, .name = "<b@example.org>"};
    assert_int_equal(cleanup_client_milter_edit(cc, &del), 0);
    assert_int_equal(cleanup_client_finish(&cc, &reply), 250);
    assert_int_equal(wait_child(pid), 0);
    expect_actions = NULL;
    /* Every kind has a protocol word, and back. */
    for (int k = MILTER_EDIT_ADDHEADER; k <= MILTER_EDIT_QUARANTINE; k++)
        assert_int_equal(cleanup_milter_edit_parse(cleanup_milter_edit_name(k)), k);
    assert_int_equal(cleanup_milter_edit_parse("rmheader"), -1);
    assert_int_equal(cleanup_milter_edit_parse(NULL), -1);
    strbuf_release(&id);
    strbuf_release(&reply);
}

/* The value rules the server enforces, with hostile values. */
static void action_values(void **state)
{
    (void)state;
    for (int k = CLEANUP_ACT_HOLD; k <= CLEANUP_ACT_BCC; k++)
        assert_int_equal(cleanup_action_parse(cleanup_action_name((enum cleanup_action)k)), k);
    assert_int_equal(cleanup_action_parse("HOLD"), -1); /* the wire word is lower case */
    assert_int_equal(cleanup_action_parse("hol"), -1);
    assert_int_equal(cleanup_action_parse(""), -1);
    assert_int_equal(cleanup_action_parse(NULL), -1);
    assert_true(cleanup_action_value_ok(CLEANUP_ACT_HOLD, NULL));
    assert_true(cleanup_action_value_ok(CLEANUP_ACT_DISCARD, "ignored"));
    assert_true(cleanup_action_value_ok(CLEANUP_ACT_REDIRECT, "u@example.org"));
    assert_true(cleanup_action_value_ok(CLEANUP_ACT_BCC, "user"));
    assert_false(cleanup_action_value_ok(CLEANUP_ACT_REDIRECT, NULL));
    assert_false(cleanup_action_value_ok(CLEANUP_ACT_REDIRECT, ""));
    assert_false(cleanup_action_value_ok(CLEANUP_ACT_REDIRECT, "a@b\nc@d"));
    assert_false(cleanup_action_value_ok(CLEANUP_ACT_REDIRECT, "a@b c@d"));
    assert_false(cleanup_action_value_ok(CLEANUP_ACT_BCC, "a@b\x7f"));
    char longv[2000];
    memset(longv, 'a', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = 0;
    assert_false(cleanup_action_value_ok(CLEANUP_ACT_BCC, longv));
    assert_true(cleanup_action_value_ok(CLEANUP_ACT_FILTER, "smtp:[127.0.0.1]:10025"));
    assert_true(cleanup_action_value_ok(CLEANUP_ACT_FILTER, "my-filter.v2_x:"));
    assert_false(cleanup_action_value_ok(CLEANUP_ACT_FILTER, NULL));
    assert_false(cleanup_action_value_ok(CLEANUP_ACT_FILTER, "smtp"));
    assert_false(cleanup_action_value_ok(CLEANUP_ACT_FILTER, ":host"));
    assert_false(cleanup_action_value_ok(CLEANUP_ACT_FILTER, "../x:host"));
    assert_false(cleanup_action_value_ok(CLEANUP_ACT_FILTER, "sm tp:host"));
    assert_false(cleanup_action_value_ok(CLEANUP_ACT_FILTER, "smtp:host\r\n"));
    assert_false(cleanup_action_value_ok((enum cleanup_action)42, "x"));
}

static void storage_error_at_end(void **state)
{
    pid_t pid = fake_server("452 4.3.1 Insufficient system storage", 0);
    strbuf id = STRBUF_INIT, reply = STRBUF_INIT;
    cleanup_client *cc = cleanup_client_open(dir, 0, 5000, &id, &reply);
    assert_non_null(cc);
    send_message(cc);
    assert_int_equal(cleanup_client_finish(&cc, &reply), 452);
    assert_string_equal(strbuf_str(&reply), "452 4.3.1 Insufficient system storage");
    assert_int_equal(wait_child(pid), 0);
    strbuf_release(&id);
    strbuf_release(&reply);
}

static void server_vanishes(void **state)
{
    pid_t pid = fake_server(NULL, 0);
    strbuf id = STRBUF_INIT, reply = STRBUF_INIT;
    cleanup_client *cc = cleanup_client_open(dir, 0, 5000, &id, &reply);
    assert_non_null(cc);
    send_message(cc);
    /* no reply, connection closed: never 250 */
    assert_int_equal(cleanup_client_finish(&cc, &reply), 451);
    assert_string_equal(strbuf_str(&reply), "451 4.3.0 Error: queue file write error");
    wait_child(pid);
    strbuf_release(&id);
    strbuf_release(&reply);
}

static void open_refused(void **state)
{
    pid_t pid = fake_server(NULL, 1);
    strbuf id = STRBUF_INIT, reply = STRBUF_INIT;
    assert_null(cleanup_client_open(dir, 0, 5000, &id, &reply));
    assert_string_equal(strbuf_str(&reply), "452 4.3.1 Insufficient system storage");
    assert_int_equal(wait_child(pid), 0);
    strbuf_release(&id);
    strbuf_release(&reply);
}

/* begin + streaming before the answer (smtpd's RCPT): the ID comes with
 * opened, or finish waits for it itself; the message is queued as with
 * open. */
static void pipelined_open(void **state)
{
    (void)state;
    for (int via_finish = 0; via_finish < 2; via_finish++) {
        pid_t pid = fake_server("250 2.0.0 Ok: queued as ABC123", 0);
        strbuf reply = STRBUF_INIT;
        cleanup_client *cc = cleanup_client_begin(dir, 0, 5000, &reply);
        assert_non_null(cc);
        assert_true(cleanup_client_open_pending(cc));
        assert_string_equal(cleanup_client_queue_id(cc), "");
        send_message(cc);
        if (!via_finish) {
            assert_int_equal(cleanup_client_opened(cc, &reply), 0);
            assert_false(cleanup_client_open_pending(cc));
            assert_string_equal(cleanup_client_queue_id(cc), "ABC123");
            assert_int_equal(cleanup_client_opened(cc, &reply), 0); /* once; the same verdict */
        }
        assert_int_equal(cleanup_client_finish(&cc, &reply), 250);
        assert_string_equal(strbuf_str(&reply), "250 2.0.0 Ok: queued as ABC123");
        assert_int_equal(wait_child(pid), 0);
        strbuf_release(&reply);
    }
}

/* A refused open after streaming: cleanup's reason, from opened or from
 * finish, never a 250. */
static void pipelined_open_refused(void **state)
{
    (void)state;
    for (int via_finish = 0; via_finish < 2; via_finish++) {
        pid_t pid = fake_server(NULL, 1);
        strbuf reply = STRBUF_INIT;
        cleanup_client *cc = cleanup_client_begin(dir, 0, 5000, &reply);
        assert_non_null(cc);
        send_message(cc);
        if (via_finish) {
            assert_int_equal(cleanup_client_finish(&cc, &reply), 452);
        } else {
            assert_int_equal(cleanup_client_opened(cc, &reply), 452);
            /* Later calls fail too, with the generic reply. */
            strbuf again = STRBUF_INIT;
            assert_int_equal(cleanup_client_opened(cc, &again), 451);
            assert_string_equal(strbuf_str(&again), "451 4.3.0 Error: queue file write error");
            strbuf_release(&again);
            cleanup_client_abort(&cc);
        }
        assert_null(cc);
        assert_string_equal(strbuf_str(&reply), "452 4.3.1 Insufficient system storage");
        assert_int_equal(wait_child(pid), 0);
        strbuf_release(&reply);
    }
}

static void no_server(void **state)
{
    strbuf id = STRBUF_INIT, reply = STRBUF_INIT;
    assert_null(cleanup_client_open("/nonexistent-dir", 0, 1000, &id, &reply));
    assert_string_equal(strbuf_str(&reply), "451 4.3.0 Error: queue file write error");
    strbuf_release(&id);
    strbuf_release(&reply);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(queued),
        cmocka_unit_test(actions_sent),
        cmocka_unit_test(action_values),
        cmocka_unit_test(milter_edits_sent),
        cmocka_unit_test(storage_error_at_end),
        cmocka_unit_test(server_vanishes),
        cmocka_unit_test(open_refused),
        cmocka_unit_test(no_server),
        cmocka_unit_test(pipelined_open),
        cmocka_unit_test(pipelined_open_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return rc;
}
