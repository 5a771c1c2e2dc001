/* maildrop - see maildrop.h for the contract. */
#include "maildrop.h"

#include <string.h>

#include "mem.h"
#include "queue_file.h"

/* Addresses and names end up in log lines, headers and SMTP commands: a
 * control character there would let a submitter forge structure. */
static bool field_ok(const strbuf *sb, bool allow_empty)
{
    if (sb->len > MAILDROP_FIELD_MAX || (!allow_empty && sb->len == 0))
        return false;
    for (size_t i = 0; i < sb->len; i++) {
        unsigned char c = (unsigned char)sb->s[i];
        if (c == 0 || c == '\r' || c == '\n')
            return false;
    }
    return true;
}

static int fail(strbuf *err, const char *reason)
{
    strbuf_set(err, reason);
    return -1;
}

static strbuf *attr_slot(struct maildrop_msg *m, const char *name)
{
    if (strcmp(name, MAILDROP_ATTR_ENVID) == 0)
        return &m->envid;
    if (strcmp(name, MAILDROP_ATTR_RET) == 0)
        return &m->ret;
    if (strcmp(name, MAILDROP_ATTR_BODY) == 0)
        return &m->body;
    return NULL;
}

static int check_record(struct maildrop_msg *m, const queue_file_record *rec, bool *have_time,
                        bool *have_sender, bool *in_extract, size_t max_rcpt, strbuf *err)
{
    switch (rec->type) {
    case QF_REC_SIZE:
        if (rec->size.flags & ~(uint64_t)MAILDROP_FLAGS)
            return fail(err, "unexpected queue file flags");
        m->flags = rec->size.flags;
        return 0;
    case QF_REC_CONTENT:
    case QF_REC_LINE:
    case QF_REC_PART:
        return 0;
    case QF_REC_EXTRACT:
        *in_extract = true;
        return 0;
    case QF_REC_TIME:
        if (*have_time)
            return fail(err, "duplicate time record");
        *have_time = true;
        m->arrival = rec->time;
        return 0;
    case QF_REC_SENDER:
        if (*have_sender)
            return fail(err, "duplicate sender record");
        *have_sender = true;
        if (!field_ok(&rec->data, true))
            return fail(err, "bad sender address");
        strbuf_set(&m->sender, strbuf_str(&rec->data));
        return 0;
    case QF_REC_FULLNAME:
        if (m->have_fullname)
            return fail(err, "duplicate full name record");
        if (!field_ok(&rec->data, true))
            return fail(err, "bad full name");
        m->have_fullname = true;
        strbuf_set(&m->fullname, strbuf_str(&rec->data));
        return 0;
    case QF_REC_ATTR: {
        /* postdrop writes envelope attributes only; anything else (a uid,
         * a client name, a rewrite context) would be a forged claim. */
        strbuf *slot = *in_extract ? NULL : attr_slot(m, strbuf_str(&rec->name));
        if (!slot)
            return fail(err, "attribute not allowed in a maildrop file");
        if (slot->len > 0)
            return fail(err, "duplicate attribute record");
        if (!field_ok(&rec->value, false))
            return fail(err, "bad attribute value");
        strbuf_set(slot, strbuf_str(&rec->value));
        return 0;
    }
    case QF_REC_RCPT:
        if (*in_extract)
            return fail(err, "recipient in the extracted segment");
        if (rec->status != QF_RCPT_TODO)
            return fail(err, "recipient already marked done");
        if (!field_ok(&rec->address, false) || !field_ok(&rec->orcpt, true) ||
            !field_ok(&rec->orig_rcpt, true))
            return fail(err, "bad recipient address");
        if (m->nrcpt >= max_rcpt)
            return fail(err, "too many recipients");
        m->rcpt = xreallocarray(m->rcpt, m->nrcpt + 1, sizeof(*m->rcpt));
        m->rcpt[m->nrcpt].address = xstrdup(strbuf_str(&rec->address));
        m->rcpt[m->nrcpt].orcpt = rec->orcpt.len ? xstrdup(strbuf_str(&rec->orcpt)) : NULL;
        m->rcpt[m->nrcpt].notify = rec->notify;
        m->nrcpt++;
        return 0;
    default:
        return fail(err, "record type not allowed in a maildrop file");
    }
}

int maildrop_load(int fd, size_t record_limit, size_t max_rcpt, struct maildrop_msg *m, strbuf *err)
{
    strbuf_reset(err);
    queue_file_reader *r = queue_file_reader_open(fd, record_limit, err);
    if (!r)
        return -1;
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    bool have_time = false, have_sender = false, in_extract = false;
    int n, rc = 0;
    while ((n = queue_file_reader_next(r, &rec, err)) > 0) {
        if (check_record(m, &rec, &have_time, &have_sender, &in_extract, max_rcpt, err) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && n < 0)
        rc = -1;
    if (rc == 0 && (!have_time || !have_sender))
        rc = fail(err, "missing time or sender record");
    if (rc == 0 && m->nrcpt == 0)
        rc = fail(err, "no recipients");
    queue_file_record_release(&rec);
    queue_file_reader_free(&r);
    return rc;
}

void maildrop_msg_release(struct maildrop_msg *m)
{
    for (size_t i = 0; i < m->nrcpt; i++) {
        free(m->rcpt[i].address);
        free(m->rcpt[i].orcpt);
    }
    XFREE(m->rcpt);
    m->nrcpt = 0;
    strbuf_release(&m->sender);
    strbuf_release(&m->fullname);
    strbuf_release(&m->envid);
    strbuf_release(&m->ret);
    strbuf_release(&m->body);
    m->have_fullname = false;
}

int maildrop_content(int fd, size_t record_limit, maildrop_content_fn fn, void *ctx, strbuf *err)
{
    strbuf_reset(err);
    queue_file_reader *r = queue_file_reader_open(fd, record_limit, err);
    if (!r)
        return -1;
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    int n, rc = 0;
    while ((n = queue_file_reader_next(r, &rec, err)) > 0) {
        if (rec.type == QF_REC_LINE || rec.type == QF_REC_PART) {
            rc = fn(ctx, rec.data.s ? rec.data.s : "", rec.data.len, rec.type == QF_REC_LINE);
            if (rc != 0)
                break;
        }
    }
    if (rc == 0 && n < 0)
        rc = -1;
    queue_file_record_release(&rec);
    queue_file_reader_free(&r);
    return rc;
}
