/* Unit tests: the milter client (lib/global/milter*): the packet decoder
 * with hostile input, and whole sessions against a scripted milter on a
 * UNIX socket (a child process): negotiation and skipped steps, replies
 * mapped to verdicts, modifications handed over in order, macros, broken
 * and silent milters falling back to the default action. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "milter.h"
#include "strbuf.h"

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static int parse(int cmd, const void *data, size_t len, struct milter_packet *p, strbuf *err)
{
    strbuf_reset(err);
    return milter_packet_parse(cmd, data, len, p, err);
}

static void packet_good(void **state)
{
    (void)state;
    struct milter_packet p = {0};
    strbuf err = STRBUF_INIT;
    assert_int_equal(parse(SMFIR_ADDHEADER, "X-Spam\0Yes\0", 11, &p, &err), 0);
    assert_string_equal(p.name.s, "X-Spam");
    assert_string_equal(p.value.s, "Yes");
    unsigned char ins[64];
    put32(ins, 3);
    memcpy(ins + 4, "DKIM-Signature\0 v=1;\n\tb=x\0", 26);
    assert_int_equal(parse(SMFIR_INSHEADER, ins, 30, &p, &err), 0);
    assert_int_equal(p.index, 3);
    assert_string_equal(p.value.s, " v=1;\n\tb=x");
    assert_int_equal(parse(SMFIR_REPLYCODE, "554 5.7.1 Gtube pattern\0", 24, &p, &err), 0);
    assert_string_equal(p.value.s, "554 5.7.1 Gtube pattern");
    const char multi[] = "451-4.7.1 first\r\n451 4.7.1 second";
    assert_int_equal(parse(SMFIR_REPLYCODE, multi, sizeof(multi), &p, &err), 0);
    assert_string_equal(p.value.s, "451-4.7.1 first\n451 4.7.1 second");
    assert_int_equal(parse(SMFIR_CHGFROM, "<a@b>\0SIZE=1\0", 13, &p, &err), 0);
    assert_string_equal(p.name.s, "<a@b>");
    assert_string_equal(p.value.s, "SIZE=1");
    assert_int_equal(parse(SMFIR_REPLBODY, "new\r\n", 5, &p, &err), 0);
    assert_int_equal(p.body_len, 5);
    unsigned char opt[40];
    put32(opt, 6);
    put32(opt + 4, SMFIF_ADDHDRS);
    put32(opt + 8, SMFIP_NOHELO);
    put32(opt + 12, MILTER_M_MAIL);
    memcpy(opt + 16, "{mail_addr} i\0", 14);
    assert_int_equal(parse(SMFIC_OPTNEG, opt, 30, &p, &err), 0);
    assert_int_equal(p.version, 6);
    assert_true(p.have_macros[MILTER_M_MAIL]);
    assert_string_equal(p.macros[MILTER_M_MAIL].s, "{mail_addr} i");
    assert_int_equal(parse(SMFIR_CONTINUE, "", 0, &p, &err), 0);
    milter_packet_release(&p);
    strbuf_release(&err);
}

static void packet_hostile(void **state)
{
    (void)state;
    struct milter_packet p = {0};
    strbuf err = STRBUF_INIT;
    /* Strings without their NUL, or cut short. */
    assert_int_equal(parse(SMFIR_ADDHEADER, "X-Spam\0Yes", 10, &p, &err), -1);
    assert_true(err.len > 0);
    assert_int_equal(parse(SMFIR_ADDHEADER, "X-Spam", 6, &p, &err), -1);
    assert_int_equal(parse(SMFIR_ADDHEADER, "", 0, &p, &err), -1);
    assert_int_equal(parse(SMFIR_DELRCPT, "", 0, &p, &err), -1);
    assert_int_equal(parse(SMFIR_DELRCPT, "\0", 1, &p, &err), -1);
    assert_int_equal(parse(SMFIR_QUARANTINE, "why", 3, &p, &err), -1);
    /* Header names that would break the header section. */
    assert_int_equal(parse(SMFIR_ADDHEADER, "\0v\0", 3, &p, &err), -1);
    assert_int_equal(parse(SMFIR_ADDHEADER, "X:Y\0v\0", 6, &p, &err), -1);
    assert_int_equal(parse(SMFIR_ADDHEADER, "X Y\0v\0", 6, &p, &err), -1);
    assert_int_equal(parse(SMFIR_ADDHEADER, "X\nY\0v\0", 6, &p, &err), -1);
    assert_int_equal(parse(SMFIR_ADDHEADER, "X\xffY\0v\0", 6, &p, &err), -1);
    /* Header index packets shorter than the index. */
    assert_int_equal(parse(SMFIR_CHGHEADER, "\0\0\0", 3, &p, &err), -1);
    unsigned char big[32];
    put32(big, 0x80000000u);
    memcpy(big + 4, "X\0v\0", 4);
    assert_int_equal(parse(SMFIR_INSHEADER, big, 8, &p, &err), -1);
    /* Reply codes that are no SMTP rejection. */
    const char *bad[] = {"250 2.0.0 ok",
                         "55",
                         "5x0 no",
                         "550 5.7.1 a\r\n551 5.7.1 b",
                         "550-a",
                         "450 5.7.1 class mismatch",
                         "550 text\rwith CR",
                         "550x",
                         "550-a\r\n",
                         "650 6.0.0 x",
                         ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse(SMFIR_REPLYCODE, bad[i], strlen(bad[i]) + 1, &p, &err) != -1)
            fail_msg("accepted bad reply \"%s\"", bad[i]);
    assert_int_equal(parse(SMFIR_REPLYCODE, "550 no NUL", 10, &p, &err), -1);
    /* Negotiation: short, bad macro stage, unterminated list. */
    unsigned char opt[32] = {0};
    assert_int_equal(parse(SMFIC_OPTNEG, opt, 11, &p, &err), -1);
    put32(opt + 12, 9);
    memcpy(opt + 16, "i\0", 2);
    assert_int_equal(parse(SMFIC_OPTNEG, opt, 18, &p, &err), -1);
    put32(opt + 12, 1);
    assert_int_equal(parse(SMFIC_OPTNEG, opt, 17, &p, &err), -1);
    assert_int_equal(parse(SMFIC_OPTNEG, opt, 14, &p, &err), -1);
    /* Unknown commands. */
    assert_int_equal(parse('Z', "", 0, &p, &err), -1);
    assert_int_equal(parse(0, "", 0, &p, &err), -1);
    assert_non_null(strstr(err.s, "0x00"));
    milter_packet_release(&p);
    strbuf_release(&err);
}

/* ---- sessions against a scripted milter ------------------------------- */

struct step {
    int expect;        /* command the milter waits for (macros are skipped) */
    const char *reply; /* packets to send: "<cmd><payload>" separated by '|' ... */
    size_t reply_len;
};

static char sock_path[108];

/* Reply packets are given as a list of (cmd, payload, len). */
struct pkt {
    int cmd;
    const char *data;
    size_t len;
};

static int send_pkt(int fd, int cmd, const void *data, size_t len)
{
    unsigned char h[5];
    put32(h, (uint32_t)len + 1);
    h[4] = (unsigned char)cmd;
    if (write(fd, h, 5) != 5 || (len && write(fd, data, len) != (ssize_t)len))
        return -1;
    return 0;
}

static int read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Reads one packet; returns the command, payload in buf (static). */
static int recv_pkt(int fd, unsigned char *buf, size_t *len)
{
    unsigned char h[4];
    if (read_full(fd, h, 4) < 0)
        return -1;
    uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    if (n < 1 || n > 70000)
        return -1;
    unsigned char c;
    if (read_full(fd, &c, 1) < 0 || read_full(fd, buf, n - 1) < 0)
        return -1;
    *len = n - 1;
    return c;
}

struct script {
    uint32_t actions, proto;
    /* per step: the command expected, then its replies (NULL-terminated) */
    struct {
        int expect;
        struct pkt replies[8];    /* ends at cmd 0 */
        const char *must_contain; /* in the payload of the command or its macros */
    } steps[12];
};

/* The child: accept one connection, play the script, exit with the number
 * of the step that went wrong (0 = all fine). */
static void play(int lfd, const struct script *sc)
{
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        _exit(100);
    unsigned char buf[70000];
    size_t len;
    int c = recv_pkt(fd, buf, &len);
    if (c != SMFIC_OPTNEG || len != 12)
        _exit(101);
    unsigned char opt[12];
    put32(opt, 6);
    put32(opt + 4, sc->actions);
    put32(opt + 8, sc->proto);
    send_pkt(fd, SMFIC_OPTNEG, opt, 12);
    strbuf seen = STRBUF_INIT;
    for (int i = 0; sc->steps[i].expect; i++) {
        strbuf_reset(&seen);
        for (;;) {
            c = recv_pkt(fd, buf, &len);
            if (c < 0)
                _exit(i + 1);
            for (size_t k = 0; k < len; k++)
                strbuf_putc(&seen, buf[k] ? (char)buf[k] : ' ');
            if (c != SMFIC_MACRO)
                break;
        }
        if (c != sc->steps[i].expect)
            _exit(i + 1);
        if (sc->steps[i].must_contain && !strstr(strbuf_str(&seen), sc->steps[i].must_contain))
            _exit(50 + i);
        for (int r = 0; sc->steps[i].replies[r].cmd; r++) {
            const struct pkt *p = &sc->steps[i].replies[r];
            if (p->cmd == 'S') { /* "stall": never answer */
                pause();
                _exit(0);
            }
            send_pkt(fd, p->cmd, p->data, p->len);
        }
    }
    _exit(0);
}

static pid_t start_milter(const struct script *sc)
{
    snprintf(sock_path, sizeof(sock_path), "/tmp/test_milter.%ld.sock", (long)getpid());
    unlink(sock_path);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        play(lfd, sc);
    close(lfd);
    return pid;
}

static int finish_milter(pid_t pid)
{
    int st = 0;
    waitpid(pid, &st, 0);
    unlink(sock_path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 200;
}

static milter_set *make_set(const char *extra)
{
    strbuf v = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_printf(&v, "{ unix:%s%s }", sock_path, extra);
    milter_set *ms = milter_set_create("smtpd_milters", strbuf_str(&v), &err);
    assert_non_null(ms);
    strbuf_release(&v);
    strbuf_release(&err);
    return ms;
}

static const char *macro(void *ctx, const char *name)
{
    (void)ctx;
    if (strcmp(name, "i") == 0)
        return "QUEUEID1";
    if (strcmp(name, "mail_addr") == 0)
        return "s@example.org";
    if (strcmp(name, "j") == 0)
        return "mx.example.org";
    return NULL;
}

struct edits {
    strbuf log;
};

static int record_edit(void *ctx, const struct milter_edit *e)
{
    struct edits *ed = ctx;
    strbuf_printf(&ed->log, "%d:%ld:%s:%s;", (int)e->kind, e->index, e->name ? e->name : "",
                  e->kind == MILTER_EDIT_REPLBODY ? "(body)" : (e->value ? e->value : ""));
    return 0;
}

static strlist argv1(const char *a)
{
    strlist l = STRLIST_INIT;
    strlist_push(&l, a);
    return l;
}

static void session_full(void **state)
{
    (void)state;
    unsigned char chg[16];
    put32(chg, 1);
    memcpy(chg + 4, "Subject\0\0", 9);
    struct script sc = {
        .actions = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_CHGBODY | SMFIF_DELRCPT,
        .proto = SMFIP_NOHELO | SMFIP_NR_HDR,
        .steps = {
            {SMFIC_CONNECT, {{SMFIR_CONTINUE, "", 0}}, "mx.example.org"},
            /* HELO is skipped (SMFIP_NOHELO). */
            {SMFIC_MAIL, {{SMFIR_PROGRESS, "", 0}, {SMFIR_CONTINUE, "", 0}}, "s@example.org"},
            {SMFIC_RCPT, {{SMFIR_REPLYCODE, "550 5.1.1 No such user\0", 23}}, "<bad@x>"},
            {SMFIC_RCPT, {{SMFIR_CONTINUE, "", 0}}, "QUEUEID1"},
            {SMFIC_DATA, {{SMFIR_CONTINUE, "", 0}}, NULL},
            /* Headers need no reply (SMFIP_NR_HDR); folded lines joined. */
            {SMFIC_HEADER, {{0}}, "Subject hello"},
            {SMFIC_HEADER, {{0}}, "X-Long a\n b"},
            {SMFIC_EOH, {{SMFIR_CONTINUE, "", 0}}, NULL},
            {SMFIC_BODY, {{SMFIR_CONTINUE, "", 0}}, "line 1\r\n"},
            {SMFIC_BODYEOB,
             {{SMFIR_ADDHEADER, "X-Milter\0yes\0", 13},
              {SMFIR_CHGHEADER, (const char *)chg, 13},
              {SMFIR_QUARANTINE, "spam\0", 5},
              {SMFIR_REPLBODY, "new\r\n", 5},
              {SMFIR_DELRCPT, "<r@x>\0", 6},
              {SMFIR_ACCEPT, "", 0}},
             NULL},
        }};
    pid_t pid = start_milter(&sc);
    milter_set *ms = make_set("");
    milter_set_macros(ms, macro, NULL);
    strbuf reply = STRBUF_INIT;
    assert_int_equal(milter_connect_event(ms, "client.example", "192.0.2.1", 25, '4', &reply),
                     MILTER_CONTINUE);
    assert_int_equal(milter_helo_event(ms, "client.example", &reply), MILTER_CONTINUE);
    strlist a = argv1("<s@example.org>");
    assert_int_equal(milter_mail_event(ms, &a, &reply), MILTER_CONTINUE);
    strlist_release(&a);
    a = argv1("<bad@x>");
    assert_int_equal(milter_rcpt_event(ms, &a, &reply), MILTER_REJECT);
    assert_string_equal(reply.s, "550 5.1.1 No such user");
    strlist_release(&a);
    a = argv1("<r@x>");
    assert_int_equal(milter_rcpt_event(ms, &a, &reply), MILTER_CONTINUE);
    strlist_release(&a);
    assert_int_equal(milter_data_event(ms, &reply), MILTER_CONTINUE);
    milter_content(ms, "Subject: hello", 14, true);
    milter_content(ms, "X-Long: a", 9, true);
    milter_content(ms, " b", 2, false); /* a line in two pieces */
    milter_content(ms, "", 0, true);
    milter_content(ms, "", 0, true);
    milter_content(ms, "line 1", 6, true);
    struct edits ed = {STRBUF_INIT};
    assert_int_equal(milter_eom_event(ms, record_edit, &ed, &reply), MILTER_CONTINUE);
    assert_string_equal(ed.log.s,
                        "0:0:X-Milter:yes;2:1:Subject:;8:0::spam;7:0::(body);5:0:<r@x>:;");
    milter_disconnect(ms);
    milter_set_free(&ms);
    assert_int_equal(finish_milter(pid), 0);
    strbuf_release(&ed.log);
    strbuf_release(&reply);
}

static void session_modification_not_negotiated(void **state)
{
    (void)state;
    struct script sc = {.actions = 0,
                        .proto = SMFIP_NOHELO | SMFIP_NOMAIL | SMFIP_NORCPT | SMFIP_NOHDRS |
                                 SMFIP_NOEOH | SMFIP_NOBODY | SMFIP_NODATA,
                        .steps = {{SMFIC_CONNECT, {{SMFIR_CONTINUE, "", 0}}, NULL},
                                  {SMFIC_BODYEOB, {{SMFIR_ADDHEADER, "X\0y\0", 4}}, NULL}}};
    pid_t pid = start_milter(&sc);
    milter_set *ms = make_set(", default_action=reject");
    strbuf reply = STRBUF_INIT;
    assert_int_equal(milter_connect_event(ms, "c", "192.0.2.1", 25, '4', &reply), MILTER_CONTINUE);
    milter_content(ms, "Subject: x", 10, true);
    struct edits ed = {STRBUF_INIT};
    /* An edit it did not ask for breaks the protocol: default action. */
    assert_int_equal(milter_eom_event(ms, record_edit, &ed, &reply), MILTER_REJECT);
    assert_string_equal(reply.s, "550 5.7.1 Command rejected");
    assert_int_equal(ed.log.len, 0);
    /* ... and stays so for the session. */
    strlist a = argv1("<s@x>");
    assert_int_equal(milter_mail_event(ms, &a, &reply), MILTER_REJECT);
    strlist_release(&a);
    milter_set_free(&ms);
    assert_int_equal(finish_milter(pid), 0);
    strbuf_release(&ed.log);
    strbuf_release(&reply);
}

static void session_silent_milter_times_out(void **state)
{
    (void)state;
    struct script sc = {.actions = 0, .proto = 0, .steps = {{SMFIC_CONNECT, {{'S', "", 0}}, NULL}}};
    pid_t pid = start_milter(&sc);
    milter_set *ms = make_set(", command_timeout=1s, default_action=tempfail");
    strbuf reply = STRBUF_INIT;
    assert_int_equal(milter_connect_event(ms, "c", "192.0.2.1", 25, '4', &reply), MILTER_REJECT);
    assert_string_equal(reply.s, "451 4.7.1 Service unavailable - try again later");
    milter_set_free(&ms);
    kill(pid, SIGTERM);
    finish_milter(pid);
    strbuf_release(&reply);
}

static void session_accept_and_discard(void **state)
{
    (void)state;
    struct script sc = {.actions = 0,
                        .proto = SMFIP_NOHELO,
                        .steps = {{SMFIC_CONNECT, {{SMFIR_CONTINUE, "", 0}}, NULL},
                                  {SMFIC_MAIL, {{SMFIR_ACCEPT, "", 0}}, NULL},
                                  /* accepted: nothing more for that message */
                                  {SMFIC_MAIL, {{SMFIR_DISCARD, "", 0}}, NULL}}};
    pid_t pid = start_milter(&sc);
    milter_set *ms = make_set("");
    strbuf reply = STRBUF_INIT;
    assert_int_equal(milter_connect_event(ms, "c", "192.0.2.1", 25, '4', &reply), MILTER_CONTINUE);
    strlist a = argv1("<s@x>");
    assert_int_equal(milter_mail_event(ms, &a, &reply), MILTER_CONTINUE);
    assert_int_equal(milter_rcpt_event(ms, &a, &reply), MILTER_CONTINUE);
    milter_content(ms, "Subject: x", 10, true);
    assert_int_equal(milter_eom_event(ms, record_edit, NULL, &reply), MILTER_CONTINUE);
    assert_int_equal(milter_mail_event(ms, &a, &reply), MILTER_DISCARD);
    strlist_release(&a);
    milter_set_free(&ms);
    assert_int_equal(finish_milter(pid), 0);
    strbuf_release(&reply);
}

static void bad_settings(void **state)
{
    (void)state;
    strbuf err = STRBUF_INIT;
    const char *bad[] = {"tcp:127.0.0.1:1",
                         "{ inet:127.0.0.1:1, default_action=maybe }",
                         "{ inet:127.0.0.1:1, command_timeout=x }",
                         "{ inet:127.0.0.1:1, colour=red }",
                         "{ inet:127.0.0.1:1, protocol=5 }",
                         "{ inet:127.0.0.1:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strbuf_reset(&err);
        assert_null(milter_set_create("smtpd_milters", bad[i], &err));
        assert_non_null(strstr(err.s, "smtpd_milters"));
    }
    milter_set *ms = milter_set_create("smtpd_milters", "", &err);
    assert_true(milter_set_empty(ms));
    milter_set_free(&ms);
    strbuf_release(&err);
}

static int setup(void **state)
{
    (void)state;
    strbuf err = STRBUF_INIT;
    const char *cf = "milter_command_timeout = 5s\n";
    int rc = config_load_text("/etc/postfix/main.cf", cf, strlen(cf), &err);
    strbuf_release(&err);
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(packet_good),
        cmocka_unit_test(packet_hostile),
        cmocka_unit_test(session_full),
        cmocka_unit_test(session_modification_not_negotiated),
        cmocka_unit_test(session_silent_milter_times_out),
        cmocka_unit_test(session_accept_and_discard),
        cmocka_unit_test(bad_settings),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
