/* smtpd_data - DATA and BDAT: content through smtpd/smtpd_data_scan to cleanup.
 *
 * Content is read one line (at most line_length_limit bytes) at a time and
 * fed, terminator included, to the smtp_data state machine, which alone
 * decides where the message ends (only <CR><LF>.<CR><LF>): nothing is
 * buffered beyond one line, and input after the end stays in the stream
 * for the command loop. BDAT chunks are read in bounded pieces.
 */
#include <string.h>

#include "address.h"
#include "config.h"
#include "mem.h"
#include "mail_date.h"
#include "msg.h"
#include "smtpd.h"

#define BDAT_PIECE 65536

static int data_line(void *ctx, const char *line, size_t len, bool complete)
{
    struct smtpd_state *s = ctx;
    if (!s->cc)
        return 0;
    smtpd_milter_content(s, line, len, complete);
    return cleanup_client_content(s->cc, line, len, complete) < 0 ? 1 : 0;
}

/* A line smtpd adds itself (PREPEND, Received:): the milters see it too,
 * as they see the queue file in Postfix. */
static void own_line(struct smtpd_state *s, const char *p, size_t len)
{
    if (!s->cc)
        return; /* no queue file (smtpd_queue_id failed): nothing is kept */
    smtpd_milter_content(s, p, len, true);
    cleanup_client_content(s->cc, p, len, true);
}

/* Postfix's layout:
 *   Received: from helo (name [addr])
 *   \tby myhostname (Postfix) with ESMTP id QUEUEID
 *   \tfor <rcpt>; date            (one recipient), or
 *   \tby ... id QUEUEID; date     (several) */
static void received_header(struct smtpd_state *s)
{
    const char *id = smtpd_queue_id(s);
    if (!id)
        return; /* the open failed: finish() answers with its reason */
    strbuf h = STRBUF_INIT;
    strbuf_printf(&h, "Received: from %s (%s [%s])",
                  s->helo.len ? strbuf_str(&s->helo) : strbuf_str(&s->name), strbuf_str(&s->name),
                  strbuf_str(&s->rfc_addr));
    own_line(s, h.s, h.len);
    /* Optional comment lines (TLS details, authenticated sender), each
     * sent as its own header line. */
    strbuf extra = STRBUF_INIT;
    smtpd_tls_received(s, &extra);
    if (smtpd_params.sasl_authenticated_header && smtpd_sasl_authenticated(s)) {
        if (extra.len)
            strbuf_putc(&extra, '\n');
        strbuf_printf(&extra, "\t(Authenticated sender: %s)", strbuf_str(&s->sasl_username));
    }
    for (const char *p = extra.s; p && *p;) {
        size_t l = strcspn(p, "\n");
        own_line(s, p, l);
        p += l;
        p += *p == '\n';
    }
    strbuf_release(&extra);
    strbuf_reset(&h);
    strbuf_printf(&h, "\tby %s (%s) with %s id %s", smtpd_params.myhostname,
                  config_get("mail_name"), s->protocol, id);
    if (s->rcpt_count == 1) {
        own_line(s, h.s, h.len);
        strbuf_reset(&h);
        strbuf tmp = STRBUF_INIT;
        addr_externalize(&tmp, s->last_rcpt.s ? s->last_rcpt.s : "", s->last_rcpt.len);
        strbuf_printf(&h, "\tfor <%s>; ", strbuf_str(&tmp));
        strbuf_release(&tmp);
    } else {
        strbuf_puts(&h, "; ");
    }
    mail_date_append(&h, s->arrival.tv_sec);
    own_line(s, h.s, h.len);
    strbuf_release(&h);
}

static void begin(struct smtpd_state *s, enum smtp_data_mode mode)
{
    smtp_data_opts o = {
        .line_length_limit = smtpd_params.line_limit,
        .message_size_limit = smtpd_params.message_size_limit,
        .forbid_bare_newline = smtpd_params.forbid_bare_reject && !s->stand_alone,
        .lf_line_ends = s->stand_alone,
    };
    smtp_data_begin(&s->data, &o, mode, data_line, s);
    s->data_bytes = 0;
    /* Postfix puts access-table PREPEND headers before its Received:. The
     * text was sanitized when parsed: no line breaks inside. */
    for (const char *p = s->prepend.s; p && *p;) {
        size_t l = strcspn(p, "\n");
        own_line(s, p, l);
        p += l;
        p += *p == '\n';
    }
    received_header(s);
}

/* Before DATA's 354 or the first BDAT chunk (`first`). DATA-stage
 * restrictions and milters may log or pass on the queue ID, so they wait
 * for cleanup's answer to the open; otherwise Received: at the start of the
 * content is the first to need it, and the file is created while the
 * client turns around. The reply of an open that failed, or NULL. */
static const char *open_refusal(struct smtpd_state *s, bool first)
{
    if (first && (s->milters || smtpd_check_data_configured()))
        (void)smtpd_queue_id(s);
    return s->open_error.len ? strbuf_str(&s->open_error) : NULL;
}

/* After the last byte: hand the verdict to the client. */
static void finish(struct smtpd_state *s, const char *stage, bool bdat, uint64_t bdat_total)
{
    enum smtp_data_result r = smtp_data_result(&s->data);
    strbuf reply = STRBUF_INIT;
    int code;
    (void)smtpd_queue_id(s);
    if (!s->cc && s->open_error.len) {
        /* cleanup could not make the file (answered after the 354). */
        strbuf_set(&reply, strbuf_str(&s->open_error));
        code = s->open_code;
    } else if (r != SMTP_DATA_OK && r != SMTP_DATA_CALLBACK) {
        const char *dsn, *text;
        smtp_data_reply(r, smtpd_params.bare_code, &code, &dsn, &text);
        strbuf_printf(&reply, "%d %s %s", code, dsn, text);
        cleanup_client_abort(&s->cc);
        if (r == SMTP_DATA_TOO_BIG)
            msg_info("%s: reject: size limit exceeded from %s; from=<%s> proto=%s helo=<%s>",
                     strbuf_str(&s->queue_id), strbuf_str(&s->namaddr), strbuf_str(&s->sender),
                     s->protocol, strbuf_str(&s->helo));
        else
            smtpd_log_reject(s, stage, strbuf_str(&reply), NULL);
    } else if ((code = smtpd_check_eod(s, &reply)) != 0) {
        cleanup_client_abort(&s->cc); /* logged by smtpd_check, with the queue ID */
    } else if (smtpd_milter_eom(s, &reply) < 0) {
        cleanup_client_abort(&s->cc);
        code = reply.len && reply.s[0] == '4' ? 451 : 550;
        /* A multi-line milter reply: CRLF between its lines. */
        strbuf crlf = STRBUF_INIT;
        for (size_t i = 0; i < reply.len; i++) {
            if (reply.s[i] == '\n')
                strbuf_putc(&crlf, '\r');
            strbuf_putc(&crlf, reply.s[i]);
        }
        strbuf_set(&reply, strbuf_str(&crlf));
        strbuf_release(&crlf);
    } else {
        smtpd_check_send_actions(s);
        code = cleanup_client_finish(&s->cc, &reply);
        if (code == 250 && bdat) {
            strbuf_reset(&reply);
            strbuf_printf(&reply, "250 2.0.0 Ok: %llu bytes queued as %s",
                          (unsigned long long)bdat_total, strbuf_str(&s->queue_id));
        }
        if (code != 250)
            msg_info("%s: reject: %s from %s: %s; from=<%s> proto=%s helo=<%s>",
                     strbuf_str(&s->queue_id), stage, strbuf_str(&s->namaddr), strbuf_str(&reply),
                     strbuf_str(&s->sender), s->protocol, strbuf_str(&s->helo));
    }
    if (code == 250)
        s->cnt_ok[bdat ? CNT_BDAT : CNT_DATA]++;
    smtpd_reply(s, "%s", strbuf_str(&reply));
    strbuf_release(&reply);
    smtpd_reset(s);
}

/* Arm the request deadline and the minimum data rate for content. */
static void arm_deadline(struct smtpd_state *s)
{
    if (smtpd_params.per_request_deadline) {
        stream_set_deadline_in(s->st, smtpd_params.timeout_s * 1000);
        stream_set_min_rate(s->st, smtpd_params.min_data_rate);
    }
}

static void lost(struct smtpd_state *s, int rc, const char *stage)
{
    if (rc == STREAM_TIMEOUT) {
        msg_info("timeout after %s (%llu bytes) from %s", stage, (unsigned long long)s->data_bytes,
                 strbuf_str(&s->namaddr));
        smtpd_reply(s, "421 4.4.2 %s Error: timeout exceeded", smtpd_params.myhostname);
    } else {
        msg_info("lost connection after %s (%llu bytes) from %s", stage,
                 (unsigned long long)s->data_bytes, strbuf_str(&s->namaddr));
    }
    cleanup_client_abort(&s->cc);
    s->quit = true;
}

void smtpd_data(struct smtpd_state *s)
{
    strbuf line = STRBUF_INIT;
    s->cnt_all[CNT_DATA]++;
    s->where = "DATA";
    if (!s->have_mail) {
        smtpd_reply(s, "503 5.5.1 Error: need RCPT command");
        return;
    }
    if (s->bdat_active) {
        smtpd_reply(s, "503 5.5.1 Error: DATA after BDAT");
        return;
    }
    const char *refused = s->rcpt_count > 0 ? open_refusal(s, true) : NULL;
    if (refused) {
        smtpd_reply(s, "%s", refused);
        return;
    }
    if (s->rcpt_count == 0 || !s->cc) {
        smtpd_reply(s, "554 5.5.1 Error: no valid recipients");
        return;
    }
    strbuf refusal = STRBUF_INIT;
    if (smtpd_check_data(s, "DATA", &refusal) != 0) {
        smtpd_reply(s, "%s", strbuf_str(&refusal));
        strbuf_release(&refusal);
        return;
    }
    strbuf_release(&refusal);
    if (!smtpd_milter_data(s, "DATA"))
        return;
    /* RFC 2920: DATA ends a command group; content before 354 is
     * pipelining nobody offered (the smuggling pattern). */
    if (smtpd_params.forbid_unauth_pipelining && !s->stand_alone &&
        stream_input_pending(s->st) > 0) {
        msg_info("improper command pipelining after DATA from %s", strbuf_str(&s->namaddr));
        smtpd_reply(s, "554 5.5.0 Error: SMTP protocol synchronization");
        cleanup_client_abort(&s->cc);
        s->quit = true;
        return;
    }
    smtpd_reply(s, "354 End data with <CR><LF>.<CR><LF>");
    if (smtpd_flush(s) < 0) {
        cleanup_client_abort(&s->cc);
        s->quit = true;
        return;
    }
    begin(s, SMTP_DATA_MODE_DATA);
    arm_deadline(s);
    while (!smtp_data_done(&s->data)) {
        int rc = stream_read_line(s->st, &line, smtpd_params.line_limit);
        if (rc < 0 || rc == STREAM_LINE_PARTIAL) {
            lost(s, rc == STREAM_LINE_PARTIAL ? STREAM_EOF : rc, "DATA");
            goto out;
        }
        if (rc == STREAM_LINE_CRLF)
            strbuf_append(&line, "\r\n", 2);
        else if (rc == STREAM_LINE_LF)
            strbuf_putc(&line, '\n');
        s->data_bytes += line.len;
        size_t used = smtp_data_feed(&s->data, line.s, line.len);
        if (used != line.len && !smtp_data_done(&s->data))
            msg_panic("smtp_data consumed %zu of %zu bytes", used, line.len);
    }
    stream_clear_deadline(s->st);
    finish(s, "END-OF-MESSAGE", false, 0);
out:
    stream_clear_deadline(s->st);
    strbuf_release(&line);
}

/* Read and (when good) feed `size` chunk bytes. */
static int read_chunk(struct smtpd_state *s, uint64_t size, bool feed)
{
    char *buf = xmalloc(BDAT_PIECE);
    int rc = 0;
    while (size > 0) {
        size_t want = size > BDAT_PIECE ? BDAT_PIECE : (size_t)size;
        ssize_t n = stream_read(s->st, buf, want);
        if (n < 0) {
            rc = (int)n;
            break;
        }
        s->data_bytes += (uint64_t)n;
        if (feed)
            smtp_data_feed(&s->data, buf, (size_t)n);
        size -= (uint64_t)n;
    }
    free(buf);
    return rc;
}

void smtpd_bdat(struct smtpd_state *s, const smtp_cmd *cmd)
{
    s->cnt_all[CNT_BDAT]++;
    s->where = "BDAT";
    const char *error = NULL;
    if (!s->have_mail)
        error = "503 5.5.1 Error: need MAIL command";
    else if (s->rcpt_count > 0 && (error = open_refusal(s, !s->bdat_active)) != NULL)
        ;
    else if (s->rcpt_count == 0 || !s->cc)
        error = "554 5.5.1 Error: no valid recipients";
    strbuf refusal = STRBUF_INIT;
    if (!error && !s->bdat_active && smtpd_check_data(s, "BDAT", &refusal) != 0)
        error = strbuf_str(&refusal);
    if (!error && !s->bdat_active && !smtpd_milter_data(s, "BDAT")) {
        /* Answered already; the chunk is still read to keep in sync. */
        int rc = read_chunk(s, cmd->bdat_size, false);
        if (rc < 0)
            lost(s, rc, "BDAT");
        strbuf_release(&refusal);
        return;
    }
    bool feed = error == NULL;
    if (feed && !s->bdat_active) {
        s->bdat_active = true;
        begin(s, SMTP_DATA_MODE_BDAT);
        s->bdat_total = 0;
    }
    arm_deadline(s);
    int rc = read_chunk(s, cmd->bdat_size, feed);
    stream_clear_deadline(s->st);
    if (rc < 0) {
        lost(s, rc, "BDAT");
        strbuf_release(&refusal);
        return;
    }
    if (error) {
        /* The chunk was read and dropped, so the stream stays in sync. */
        smtpd_reply(s, "%s", error);
        strbuf_release(&refusal);
        return;
    }
    strbuf_release(&refusal);
    s->bdat_total += cmd->bdat_size;
    if (!cmd->bdat_last) {
        s->cnt_ok[CNT_BDAT]++;
        smtpd_reply(s, "250 2.0.0 Ok: %llu bytes", (unsigned long long)cmd->bdat_size);
        return;
    }
    smtp_data_finish(&s->data);
    finish(s, "END-OF-MESSAGE", true, s->bdat_total);
}
