/* Unit tests: queue_file (format round trips, in-place marks, corruption,
 * incomplete files, moves, disk full, injected I/O failures).
 *
 * Fault injection uses the linker, not hooks in production code: this
 * binary is linked with -Wl,--wrap=fsync -Wl,--wrap=write (tests/CMakeLists),
 * so every fsync()/write() the library makes goes through __wrap_* below,
 * which pass through to the real calls unless a test arms a failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fsutil.h"
#include "mem.h"
#include "msg.h"
#include "queue_file.h"
#include "queue_id.h"
#include "strbuf.h"
#include "strlist.h"

/* ---- fault injection ---------------------------------------------------- */

int __real_fsync(int fd);
ssize_t __real_write(int fd, const void *buf, size_t n);

static int fsync_calls;
static int fsync_fail_at;     /* 1-based call number to fail; 0 = never */
static int write_fail_errno;  /* 0 = off */
static int write_short_first; /* first armed write is short, then fail */

int __wrap_fsync(int fd)
{
    if (fsync_fail_at && ++fsync_calls == fsync_fail_at) {
        errno = EIO;
        return -1;
    }
    return __real_fsync(fd);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    if (write_fail_errno && fd > 2) {
        if (write_short_first && n > 1) {
            write_short_first = 0;
            return __real_write(fd, buf, n / 2);
        }
        errno = write_fail_errno;
        return -1;
    }
    return __real_write(fd, buf, n);
}

static void faults_off(void)
{
    fsync_calls = fsync_fail_at = write_fail_errno = write_short_first = 0;
}

/* ---- fixtures ----------------------------------------------------------- */

#define LIMIT 4096

static char qdir[256];

static void mkq(const char *base, const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", base, name);
    if (mkdir(p, 0700) < 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", p, strerror(errno));
}

static int setup(void **state)
{
    snprintf(qdir, sizeof(qdir), "/tmp/test_queue_file.XXXXXX");
    if (mkdtemp(qdir) == NULL)
        return -1;
    static const char *queues[] = {"incoming", "active", "deferred", "hold", "corrupt", "maildrop"};
    for (size_t i = 0; i < sizeof(queues) / sizeof(queues[0]); i++)
        mkq(qdir, queues[i]);
    faults_off();
    return 0;
}

static int teardown(void **state)
{
    char cmd[600];
    faults_off();
    /* A failed disk-full test may leave its tmpfs mounted. */
    snprintf(cmd, sizeof(cmd), "%s/small", qdir);
    (void)umount2(cmd, MNT_DETACH);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", qdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Number of entries (other than . and ..) in dir, recursively. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        if (e->d_type == DT_DIR) {
            char sub[1024];
            snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
            n += count_entries(sub);
        }
    }
    closedir(d);
    return n;
}

static int qcount(const char *queue)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", qdir, queue);
    return count_entries(p);
}

/* What a reader saw. Lines are reassembled from their pieces. */
struct seen {
    strbuf sender, fullname;
    strlist attrs; /* "name=value", values without NUL only */
    strlist rcpts;
    strlist origs, orcpts;
    char *status;
    int *notify;
    off_t *rcpt_off;
    size_t nrcpt;
    strbuf *lines;
    size_t nlines;
    struct timeval time;
    struct queue_file_size size;
    strbuf binattr; /* value of attribute "bin" */
};

static void seen_release(struct seen *s)
{
    strbuf_release(&s->sender);
    strbuf_release(&s->fullname);
    strbuf_release(&s->binattr);
    strlist_release(&s->attrs);
    strlist_release(&s->rcpts);
    strlist_release(&s->origs);
    strlist_release(&s->orcpts);
    XFREE(s->status);
    XFREE(s->notify);
    XFREE(s->rcpt_off);
    for (size_t i = 0; i < s->nlines; i++)
        strbuf_release(&s->lines[i]);
    XFREE(s->lines);
}

static int read_all(int fd, size_t limit, struct seen *s, strbuf *err)
{
    memset(s, 0, sizeof(*s));
    queue_file_reader *r = queue_file_reader_open(fd, limit, err);
    if (r == NULL)
        return -1;
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    bool line_open = false;
    int n;
    while ((n = queue_file_reader_next(r, &rec, err)) > 0) {
        switch (rec.type) {
        case QF_REC_SIZE:
            s->size = rec.size;
            break;
        case QF_REC_TIME:
            s->time = rec.time;
            break;
        case QF_REC_SENDER:
            strbuf_append(&s->sender, rec.data.s, rec.data.len);
            break;
        case QF_REC_FULLNAME:
            strbuf_append(&s->fullname, rec.data.s, rec.data.len);
            break;
        case QF_REC_ATTR:
            if (strcmp(rec.name.s, "bin") == 0)
                strbuf_append(&s->binattr, rec.value.s, rec.value.len);
            else
                strlist_push(&s->attrs, rec.data.s);
            break;
        case QF_REC_RCPT:
            s->status = xrealloc(s->status, s->nrcpt + 1);
            s->notify = xreallocarray(s->notify, s->nrcpt + 1, sizeof(int));
            s->rcpt_off = xreallocarray(s->rcpt_off, s->nrcpt + 1, sizeof(off_t));
            s->status[s->nrcpt] = (char)rec.status;
            s->notify[s->nrcpt] = rec.notify;
            s->rcpt_off[s->nrcpt] = rec.offset;
            s->nrcpt++;
            strlist_push(&s->rcpts, strbuf_str(&rec.address));
            strlist_push(&s->origs, strbuf_str(&rec.orig_rcpt));
            strlist_push(&s->orcpts, strbuf_str(&rec.orcpt));
            break;
        case QF_REC_LINE:
        case QF_REC_PART:
            if (!line_open) {
                s->lines = xreallocarray(s->lines, s->nlines + 1, sizeof(strbuf));
                memset(&s->lines[s->nlines++], 0, sizeof(strbuf));
            }
            strbuf_append(&s->lines[s->nlines - 1], rec.data.s, rec.data.len);
            line_open = rec.type == QF_REC_PART;
            break;
        default:
            break;
        }
    }
    queue_file_record_release(&rec);
    queue_file_reader_free(&r);
    return n;
}

/* The depth is the queue module's: main() hashes deferred/ two levels deep
 * (HASH_CF), every other queue used here is flat. */
static queue_file *new_msg(const char *queue, bool long_id, size_t limit)
{
    strbuf err = STRBUF_INIT;
    queue_file *qf = queue_file_create(qdir, queue, long_id, limit, &err);
    if (qf == NULL)
        fail_msg("create: %s", strbuf_str(&err));
    strbuf_release(&err);
    assert_int_equal(queue_file_put_time(qf, queue_file_ctime(qf)), 0);
    assert_int_equal(queue_file_put_sender(qf, "sender@example.org"), 0);
    return qf;
}

static int commit(queue_file **qf, strbuf *err)
{
    return queue_file_commit(qf, err);
}

/* A small committed message: 3 recipients, a few lines, one long line. */
static void simple_msg(const char *queue, size_t limit, strbuf *idout)
{
    queue_file *qf = new_msg(queue, false, limit);
    assert_int_equal(queue_file_put_attr_str(qf, "client_address", "192.0.2.1"), 0);
    for (int i = 0; i < 3; i++) {
        char a[64];
        snprintf(a, sizeof(a), "rcpt%d@example.net", i);
        struct queue_file_rcpt_in r = {a, a, "rfc822;x@y", QF_NOTIFY_FAILURE};
        assert_int_equal(queue_file_put_rcpt(qf, &r, NULL), 0);
    }
    assert_int_equal(queue_file_begin_content(qf), 0);
    assert_int_equal(queue_file_put_text(qf, "Subject: hi", 11, true), 0);
    assert_int_equal(queue_file_put_text(qf, "", 0, true), 0);
    char longline[300];
    memset(longline, 'x', sizeof(longline));
    assert_int_equal(queue_file_put_text(qf, longline, sizeof(longline), true), 0);
    assert_int_equal(queue_file_put_text(qf, "bye", 3, true), 0);
    strbuf_set(idout, queue_file_id(qf));
    strbuf err = STRBUF_INIT;
    if (commit(&qf, &err) != 0)
        fail_msg("commit: %s", strbuf_str(&err));
    strbuf_release(&err);
}

static void read_file(const char *path, strbuf *out)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    char buf[8192];
    ssize_t n;
    strbuf_reset(out);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        strbuf_append(out, buf, (size_t)n);
    close(fd);
}

static int validate_bytes(const char *path, const void *data, size_t len, size_t limit, strbuf *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    if (len)
        assert_int_equal(write(fd, data, len), (ssize_t)len);
    strbuf_reset(err);
    int ret = queue_file_validate(fd, limit, err);
    close(fd);
    return ret;
}

/* ---- tests -------------------------------------------------------------- */

static void round_trip(void **state)
{
    for (int lf = 0; lf < 2; lf++) {
        queue_file *qf = new_msg("incoming", lf, LIMIT);
        strbuf id = STRBUF_INIT, path = STRBUF_INIT, err = STRBUF_INIT;
        strbuf_set(&id, queue_file_id(qf));
        assert_true(queue_id_valid(strbuf_str(&id)));
        assert_int_equal(queue_id_is_long(strbuf_str(&id)), lf);
        strbuf_printf(&path, "%s/incoming/%s", qdir, strbuf_str(&id));
        assert_string_equal(queue_file_path(qf), strbuf_str(&path));

        /* Still being written: incomplete, readers must skip it. */
        struct stat st;
        assert_int_equal(stat(strbuf_str(&path), &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(queue_file_open(qdir, "incoming", 0, strbuf_str(&id), false, &err),
                         QUEUE_FILE_INCOMPLETE);

        assert_int_equal(queue_file_put_fullname(qf, "J\xc3\xa9r\xc3\xb4me Q. User"), 0);
        assert_int_equal(queue_file_put_attr_str(qf, "client_name", "mail.example.org"), 0);
        assert_int_equal(queue_file_put_attr_str(qf, "helo_name", "[192.0.2.1]"), 0);
        assert_int_equal(queue_file_put_attr(qf, "bin", "a\0b\xff", 4), 0);
        assert_int_equal(queue_file_put_attr_str(qf, "empty", ""), 0);
        struct queue_file_rcpt_in r1 = {"a@example.net", "alias@example.net", "rfc822;alias@x",
                                        QF_NOTIFY_SUCCESS | QF_NOTIFY_FAILURE};
        struct queue_file_rcpt_in r2 = {"b@example.net", NULL, NULL, 0};
        off_t off1 = -1, off2 = -1, off3 = -1;
        assert_int_equal(queue_file_put_rcpt(qf, &r1, &off1), 0);
        assert_int_equal(queue_file_put_rcpt(qf, &r2, &off2), 0);
        assert_int_equal(queue_file_begin_content(qf), 0);

        /* NUL bytes, 8-bit bytes, an empty line, a huge line, a line in pieces. */
        assert_int_equal(queue_file_put_text(qf, "From: <a@b>", 11, true), 0);
        assert_int_equal(queue_file_put_text(qf, "", 0, true), 0);
        assert_int_equal(queue_file_put_text(qf, "nul\0inside", 10, true), 0);
        assert_int_equal(queue_file_put_text(qf, "\x80\xfe\xff 8bit", 8, true), 0);
        size_t big_len = 200000;
        char *big = xmalloc(big_len);
        for (size_t i = 0; i < big_len; i++)
            big[i] = (char)('a' + i % 26);
        assert_int_equal(queue_file_put_text(qf, big, big_len, true), 0);
        assert_int_equal(queue_file_put_text(qf, "pie", 3, false), 0);
        assert_int_equal(queue_file_put_text(qf, "", 0, false), 0);
        assert_int_equal(queue_file_put_text(qf, "ces", 3, true), 0);
        assert_int_equal(queue_file_begin_extract(qf), 0);
        struct queue_file_rcpt_in r3 = {"c@example.net", NULL, NULL, QF_NOTIFY_NEVER};
        assert_int_equal(queue_file_put_rcpt(qf, &r3, &off3), 0);
        queue_file_set_flags(qf, 0x5);
        if (commit(&qf, &err) != 0)
            fail_msg("commit: %s", strbuf_str(&err));
        assert_null(qf);

        assert_int_equal(stat(strbuf_str(&path), &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        int fd = queue_file_open(qdir, "incoming", 0, strbuf_str(&id), true, &err);
        assert_true(fd >= 0);
        struct seen s;
        if (read_all(fd, LIMIT, &s, &err) != 0)
            fail_msg("read: %s", strbuf_str(&err));
        assert_string_equal(strbuf_str(&s.sender), "sender@example.org");
        assert_string_equal(strbuf_str(&s.fullname), "J\xc3\xa9r\xc3\xb4me Q. User");
        assert_int_equal(s.attrs.n, 3);
        assert_string_equal(s.attrs.v[0], "client_name=mail.example.org");
        assert_string_equal(s.attrs.v[1], "helo_name=[192.0.2.1]");
        assert_string_equal(s.attrs.v[2], "empty=");
        assert_int_equal(s.binattr.len, 4);
        assert_memory_equal(s.binattr.s, "a\0b\xff", 4);
        assert_int_equal(s.nrcpt, 3);
        assert_string_equal(s.rcpts.v[0], "a@example.net");
        assert_string_equal(s.origs.v[0], "alias@example.net");
        assert_string_equal(s.orcpts.v[0], "rfc822;alias@x");
        assert_int_equal(s.notify[0], QF_NOTIFY_SUCCESS | QF_NOTIFY_FAILURE);
        assert_string_equal(s.rcpts.v[1], "b@example.net");
        assert_string_equal(s.origs.v[1], "");
        assert_string_equal(s.rcpts.v[2], "c@example.net");
        assert_int_equal(s.notify[2], QF_NOTIFY_NEVER);
        assert_true(s.rcpt_off[0] == off1 && s.rcpt_off[1] == off2 && s.rcpt_off[2] == off3);
        for (size_t i = 0; i < 3; i++)
            assert_int_equal(s.status[i], QF_RCPT_TODO);
        assert_true(s.time.tv_sec == 0 || s.time.tv_sec > 1600000000);
        assert_int_equal(s.size.rcpt_count, 3);
        assert_int_equal(s.size.flags, 5);
        assert_int_equal(s.nlines, 6);
        assert_int_equal(s.lines[1].len, 0);
        assert_int_equal(s.lines[2].len, 10);
        assert_memory_equal(s.lines[2].s, "nul\0inside", 10);
        assert_memory_equal(s.lines[3].s, "\x80\xfe\xff 8bit", 8);
        assert_int_equal(s.lines[4].len, big_len);
        assert_memory_equal(s.lines[4].s, big, big_len);
        assert_string_equal(s.lines[5].s, "pieces");
        assert_int_equal(s.size.content_size, 11 + 1 + 1 + 11 + 9 + big_len + 1 + 7);
        seen_release(&s);
        close(fd);
        free(big);
        strbuf_release(&id);
        strbuf_release(&path);
        strbuf_release(&err);
    }
}

static void put_stream_splits_and_strips(void **state)
{
    queue_file *qf = new_msg("incoming", false, 64);
    assert_int_equal(queue_file_begin_content(qf), 0);
    strbuf in = STRBUF_INIT;
    strbuf_puts(&in, "line one\r\n\r\n");
    for (int i = 0; i < 200; i++)
        strbuf_putc(&in, 'z');
    strbuf_puts(&in, "\r\n");
    /* A CR exactly at a chunk boundary followed by LF. */
    for (int i = 0; i < 64; i++)
        strbuf_putc(&in, 'q');
    strbuf_puts(&in, "\r\nbare\rcr\nno newline at end");
    FILE *fp = fmemopen(in.s, in.len, "r");
    assert_non_null(fp);
    strbuf err = STRBUF_INIT, id = STRBUF_INIT;
    assert_int_equal(queue_file_put_stream(qf, fp, true, &err), 0);
    fclose(fp);
    strbuf_set(&id, queue_file_id(qf));
    assert_int_equal(commit(&qf, &err), 0);
    int fd = queue_file_open(qdir, "incoming", 0, strbuf_str(&id), false, &err);
    assert_true(fd >= 0);
    struct seen s;
    assert_int_equal(read_all(fd, 64, &s, &err), 0);
    assert_int_equal(s.nlines, 6);
    assert_string_equal(s.lines[0].s, "line one");
    assert_int_equal(s.lines[1].len, 0);
    assert_int_equal(s.lines[2].len, 200);
    assert_int_equal(s.lines[3].len, 64);
    assert_string_equal(s.lines[4].s, "bare\rcr");
    assert_string_equal(s.lines[5].s, "no newline at end");
    seen_release(&s);
    close(fd);
    strbuf_release(&in);
    strbuf_release(&err);
    strbuf_release(&id);
}

static void many_recipients_and_marks_survive_reopen(void **state)
{
    enum { N = 10000 };
    queue_file *qf = new_msg("incoming", true, LIMIT);
    off_t *off = xcalloc(N, sizeof(off_t));
    for (int i = 0; i < N; i++) {
        char a[64];
        snprintf(a, sizeof(a), "user%05d@example.net", i);
        struct queue_file_rcpt_in r = {a, NULL, NULL, 0};
        assert_int_equal(queue_file_put_rcpt(qf, &r, &off[i]), 0);
    }
    assert_int_equal(queue_file_begin_content(qf), 0);
    assert_int_equal(queue_file_put_text(qf, "body", 4, true), 0);
    queue_file_set_flags(qf, QF_FLAG_SMTPUTF8 | QF_FLAG_HOLD);
    strbuf id = STRBUF_INIT, err = STRBUF_INIT;
    strbuf_set(&id, queue_file_id(qf));
    assert_int_equal(commit(&qf, &err), 0);

    int fd = queue_file_open(qdir, "incoming", 0, strbuf_str(&id), true, &err);
    assert_true(fd >= 0);
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0)
            assert_int_equal(queue_file_mark_recipient(fd, off[i], QF_RCPT_DELIVERED, &err), 0);
        else if (i % 5 == 0)
            assert_int_equal(queue_file_mark_recipient(fd, off[i], QF_RCPT_BOUNCED, &err), 0);
    }
    /* A stale or wrong offset must be refused, not scribbled on. */
    assert_int_equal(queue_file_mark_recipient(fd, 0, QF_RCPT_DELIVERED, &err), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(queue_file_mark_recipient(fd, off[1] + 1, QF_RCPT_DELIVERED, &err), -1);
    assert_int_equal(queue_file_mark_recipient(fd, (off_t)1 << 40, QF_RCPT_DELIVERED, &err), -1);
    assert_int_equal(queue_file_set_warn_time(fd, 1234, &err), 0);
    /* qmgr clears QF_FLAG_HOLD in place; the other bits stay. */
    assert_int_equal(queue_file_update_flags(fd, QF_FLAG_SMTPUTF8, &err), 0);
    close(fd);

    /* Reopen as a restarted qmgr would. */
    fd = queue_file_open(qdir, "incoming", 0, strbuf_str(&id), false, &err);
    assert_true(fd >= 0);
    struct seen s;
    if (read_all(fd, LIMIT, &s, &err) != 0)
        fail_msg("read: %s", strbuf_str(&err));
    assert_int_equal(s.nrcpt, N);
    assert_int_equal(s.size.warn_time, 1234);
    assert_int_equal(s.size.flags, QF_FLAG_SMTPUTF8);
    for (int i = 0; i < N; i++) {
        int want = i % 3 == 0 ? QF_RCPT_DELIVERED : i % 5 == 0 ? QF_RCPT_BOUNCED : QF_RCPT_TODO;
        assert_int_equal(s.status[i], want);
        assert_true(s.rcpt_off[i] == off[i]);
    }
    char a[64];
    snprintf(a, sizeof(a), "user%05d@example.net", N - 1);
    assert_string_equal(s.rcpts.v[N - 1], a);
    seen_release(&s);
    close(fd);
    free(off);
    strbuf_release(&id);
    strbuf_release(&err);
}

/* Every way of breaking a valid file must give -1 with a reason, no crash. */
static void corruption_is_rejected(void **state)
{
    strbuf id = STRBUF_INIT, path = STRBUF_INIT, orig = STRBUF_INIT, err = STRBUF_INIT;
    strbuf bad = STRBUF_INIT, tpath = STRBUF_INIT;
    simple_msg("incoming", 64, &id);
    strbuf_printf(&path, "%s/incoming/%s", qdir, strbuf_str(&id));
    strbuf_printf(&tpath, "%s/corrupt-test", qdir);
    read_file(strbuf_str(&path), &orig);
    assert_int_equal(validate_bytes(strbuf_str(&tpath), orig.s, orig.len, 64, &err), 0);

    /* Truncated at every offset. */
    for (size_t n = 0; n < orig.len; n++) {
        if (validate_bytes(strbuf_str(&tpath), orig.s, n, 64, &err) != -1)
            fail_msg("truncation at %zu accepted", n);
        assert_true(err.len > 0);
    }
    /* Trailing garbage. */
    strbuf_set(&bad, "");
    strbuf_append(&bad, orig.s, orig.len);
    strbuf_putc(&bad, 'E');
    assert_int_equal(validate_bytes(strbuf_str(&tpath), bad.s, bad.len, 64, &err), -1);
    assert_non_null(strstr(err.s, "after END"));

    /* Missing END: drop the 5-byte END record. */
    assert_int_equal(validate_bytes(strbuf_str(&tpath), orig.s, orig.len - 5, 64, &err), -1);
    assert_non_null(strstr(err.s, "missing END"));

    /* Walk the records; for each: every other type byte, huge lengths. */
    size_t nrec = 0;
    for (size_t at = 0; at < orig.len; nrec++) {
        uint32_t len = (uint32_t)(unsigned char)orig.s[at + 1] << 24 |
                       (uint32_t)(unsigned char)orig.s[at + 2] << 16 |
                       (uint32_t)(unsigned char)orig.s[at + 3] << 8 | (unsigned char)orig.s[at + 4];
        for (int t = 0; t < 256; t++) {
            if (t == (unsigned char)orig.s[at])
                continue;
            strbuf_reset(&bad);
            strbuf_append(&bad, orig.s, orig.len);
            bad.s[at] = (char)t;
            int ret = validate_bytes(strbuf_str(&tpath), bad.s, bad.len, 64, &err);
            /* Unknown types are always rejected; a known type in the
             * wrong place almost always is; never a crash. */
            if (!strchr("CTSFARMNLXE", t) || t == 0)
                assert_int_equal(ret, -1);
            if (ret == -1)
                assert_true(err.len > 0);
        }
        static const uint32_t lens[] = {0xffffffffu, 0x7fffffffu, 65, 1u << 20};
        for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
            strbuf_reset(&bad);
            strbuf_append(&bad, orig.s, orig.len);
            bad.s[at + 1] = (char)(lens[k] >> 24);
            bad.s[at + 2] = (char)(lens[k] >> 16);
            bad.s[at + 3] = (char)(lens[k] >> 8);
            bad.s[at + 4] = (char)lens[k];
            assert_int_equal(validate_bytes(strbuf_str(&tpath), bad.s, bad.len, 64, &err), -1);
            assert_true(strstr(err.s, "over limit") || strstr(err.s, "truncated") ||
                        strstr(err.s, "size record"));
        }
        /* One more than what is left in the file, under the limit. */
        if (orig.len - at - 5 < 60) {
            strbuf_reset(&bad);
            strbuf_append(&bad, orig.s, orig.len);
            bad.s[at + 4] = (char)(orig.len - at - 5 + 1);
            bad.s[at + 3] = bad.s[at + 2] = bad.s[at + 1] = 0;
            assert_int_equal(validate_bytes(strbuf_str(&tpath), bad.s, bad.len, 64, &err), -1);
        }
        at += 5 + len;
    }
    assert_true(nrec > 10);

    /* Every single byte flipped to a few values: no crash, and a reason
     * whenever it is refused. */
    for (size_t i = 0; i < orig.len; i++) {
        static const unsigned char vals[] = {0x00, 0xff, 0x80, 'R', 'E', 'z'};
        for (size_t k = 0; k < sizeof(vals); k++) {
            strbuf_reset(&bad);
            strbuf_append(&bad, orig.s, orig.len);
            if ((unsigned char)bad.s[i] == vals[k])
                continue;
            bad.s[i] = (char)vals[k];
            if (validate_bytes(strbuf_str(&tpath), bad.s, bad.len, 64, &err) == -1)
                assert_true(err.len > 0);
        }
    }

    /* Random garbage. */
    srandom(7);
    for (int i = 0; i < 2000; i++) {
        strbuf_reset(&bad);
        size_t n = (size_t)random() % 300;
        for (size_t k = 0; k < n; k++)
            strbuf_putc(&bad, (char)random());
        if (n > 0 && i % 2)
            bad.s[0] = 'C';
        assert_int_equal(validate_bytes(strbuf_str(&tpath), bad.s, bad.len, 64, &err), -1);
    }

    strbuf_release(&id);
    strbuf_release(&path);
    strbuf_release(&orig);
    strbuf_release(&err);
    strbuf_release(&bad);
    strbuf_release(&tpath);
}

static void uncommitted_and_incomplete_files(void **state)
{
    strbuf id = STRBUF_INIT, path = STRBUF_INIT, err = STRBUF_INIT;
    queue_file *qf = new_msg("incoming", false, LIMIT);
    strbuf_set(&id, queue_file_id(qf));
    strbuf_printf(&path, "%s/incoming/%s", qdir, strbuf_str(&id));
    assert_int_equal(queue_file_begin_content(qf), 0);
    for (int i = 0; i < 5000; i++) /* > one buffer: some bytes reach the file */
        assert_int_equal(queue_file_put_text(qf, "0123456789abcdef0123456789", 26, true), 0);

    /* Writer alive (or dead): mode 0600, skipped; and even forced open, the
     * content fails validation (no magic, no END). */
    assert_int_equal(queue_file_open(qdir, "incoming", 0, strbuf_str(&id), false, &err),
                     QUEUE_FILE_INCOMPLETE);
    assert_non_null(strstr(err.s, "incomplete"));
    int fd = open(strbuf_str(&path), O_RDONLY);
    assert_true(fd >= 0);
    strbuf_reset(&err);
    assert_int_equal(queue_file_validate(fd, LIMIT, &err), -1);
    close(fd);

    queue_file_abort(&qf);
    assert_null(qf);
    assert_int_equal(qcount("incoming"), 0);

    /* A committed file whose mode went back to 0600 is skipped too. */
    simple_msg("incoming", LIMIT, &id);
    strbuf_reset(&path);
    strbuf_printf(&path, "%s/incoming/%s", qdir, strbuf_str(&id));
    assert_int_equal(chmod(strbuf_str(&path), 0600), 0);
    assert_int_equal(queue_file_open(qdir, "incoming", 0, strbuf_str(&id), false, &err),
                     QUEUE_FILE_INCOMPLETE);
    /* Group bits are Postfix's flags and do not matter. */
    assert_int_equal(chmod(strbuf_str(&path), 0750), 0);
    fd = queue_file_open(qdir, "incoming", 0, strbuf_str(&id), false, &err);
    assert_true(fd >= 0);
    close(fd);
    strbuf_release(&id);
    strbuf_release(&path);
    strbuf_release(&err);
}

static bool exists_in(const char *queue, const char *name)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/%s/%s", qdir, queue, name);
    return access(p, F_OK) == 0;
}

static void touch_in(const char *queue, const char *name, mode_t mode, time_t age)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/%s/%s", qdir, queue, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
    if (age) {
        struct timespec ts[2] = {{time(NULL) - age, 0}, {time(NULL) - age, 0}};
        assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    }
}

/* A writer that dies (the child exits without commit or abort) leaves an
 * incomplete file; nobody holds its lock any more, so the purge removes it
 * at once. A live writer's file is never removed, however old. */
static void purge_removes_only_abandoned_files(void **state)
{
    strbuf live = STRBUF_INIT, dead = STRBUF_INIT, done = STRBUF_INIT;
    queue_file *qf = new_msg("incoming", false, LIMIT);
    strbuf_set(&live, queue_file_id(qf));
    struct timespec old[2] = {{time(NULL) - 30 * 86400, 0}, {time(NULL) - 30 * 86400, 0}};
    assert_int_equal(utimensat(AT_FDCWD, queue_file_path(qf), old, 0), 0);

    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        strbuf e = STRBUF_INIT;
        queue_file *c = queue_file_create(qdir, "incoming", false, LIMIT, &e);
        if (!c)
            _exit(1);
        const char *id = queue_file_id(c);
        if (write(pipefd[1], id, strlen(id)) < 0)
            _exit(1);
        _exit(0); /* like SIGKILL: no commit, no abort */
    }
    close(pipefd[1]);
    char buf[64] = {0};
    assert_true(read(pipefd[0], buf, sizeof(buf) - 1) > 0);
    close(pipefd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    strbuf_set(&dead, buf);
    simple_msg("incoming", LIMIT, &done);

    /* A crashed writer's temporary name (before the rename to its ID):
     * creator gone, or creator alive but the file old. A fresh one whose
     * creator (we) lives is left: it may lock it any moment. */
    touch_in("incoming", "123.999999999.0", 0600, 0); /* no such process */
    char mine[64], gone[64];
    snprintf(mine, sizeof(mine), "456.%ld.0", (long)getpid());
    touch_in("incoming", mine, 0600, 0);
    pid_t exited = fork();
    if (exited == 0)
        _exit(0);
    assert_int_equal(waitpid(exited, &status, 0), exited);
    snprintf(gone, sizeof(gone), "789.%ld.0", (long)exited);
    touch_in("incoming", gone, 0600, 0);
    touch_in("incoming", "stray", 0644, 0);

    assert_true(exists_in("incoming", strbuf_str(&dead)));
    assert_int_equal(queue_file_purge_abandoned(qdir, "incoming", 0, 0), 3);
    assert_true(exists_in("incoming", strbuf_str(&live)));
    assert_false(exists_in("incoming", strbuf_str(&dead)));
    assert_false(exists_in("incoming", gone));
    assert_true(exists_in("incoming", strbuf_str(&done)));
    assert_true(exists_in("incoming", mine));
    assert_false(exists_in("incoming", "123.999999999.0"));
    assert_true(exists_in("incoming", "stray"));

    /* stale_age: what cannot be judged by the lock goes once that old; an
     * old temporary name goes after the grace period. A live writer stays. */
    char p[1024];
    snprintf(p, sizeof(p), "%s/incoming/%s", qdir, mine);
    assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
    snprintf(p, sizeof(p), "%s/incoming/stray", qdir);
    assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
    assert_int_equal(queue_file_purge_abandoned(qdir, "incoming", 0, 3600), 2);
    assert_true(exists_in("incoming", strbuf_str(&live)));
    assert_true(exists_in("incoming", strbuf_str(&done)));
    assert_int_equal(qcount("incoming"), 2);

    /* The live writer still commits normally. */
    strbuf err = STRBUF_INIT;
    assert_int_equal(queue_file_commit(&qf, &err), 0);
    int fd = queue_file_open(qdir, "incoming", 0, strbuf_str(&live), false, &err);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(queue_file_purge_abandoned(qdir, "incoming", 0, 3600), 0);
    strbuf_release(&live);
    strbuf_release(&dead);
    strbuf_release(&done);
    strbuf_release(&err);
}

/* Hashed queues are walked level by level. */
/* A purge scan locks each incoming file for a moment to judge it; a file
 * created in that moment must still be created (the creator waits for the
 * lock; before, it failed with EWOULDBLOCK and smtpd answered 452). */
static void create_survives_a_concurrent_purge(void **state)
{
    /* Two scanners and a few files that stay, so that each scan takes
     * longer and the window between create and lock is hit often. */
    queue_file *keep[50];
    for (size_t k = 0; k < 50; k++)
        keep[k] = new_msg("incoming", false, LIMIT);
    pid_t pids[2];
    for (int c = 0; c < 2; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0) {
            for (;;)
                (void)queue_file_purge_abandoned(qdir, "incoming", 0, 0);
        }
    }
    int failures = 0;
    strbuf err = STRBUF_INIT;
    for (int i = 0; i < 20000 && failures == 0; i++) {
        queue_file *qf = queue_file_create(qdir, "incoming", false, LIMIT, &err);
        if (qf == NULL) {
            failures++;
            print_message("create %d: %s\n", i, strbuf_str(&err));
            continue;
        }
        queue_file_abort(&qf);
    }
    for (int c = 0; c < 2; c++) {
        int status;
        kill(pids[c], SIGKILL);
        assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
    }
    for (size_t k = 0; k < 50; k++)
        queue_file_abort(&keep[k]);
    strbuf_release(&err);
    assert_int_equal(failures, 0);
}

static void purge_walks_hash_directories(void **state)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        strbuf e = STRBUF_INIT;
        queue_file *c = queue_file_create(qdir, "deferred", false, LIMIT, &e);
        _exit(c ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(qcount("deferred"), 3); /* two levels and the file */
    assert_int_equal(queue_file_purge_abandoned(qdir, "deferred", 2, 0), 1);
    assert_int_equal(qcount("deferred"), 2);
}

static void open_refuses_path_tricks(void **state)
{
    strbuf err = STRBUF_INIT, id = STRBUF_INIT, p = STRBUF_INIT;
    assert_int_equal(queue_file_open(qdir, "incoming", 0, "../x", false, &err), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(queue_file_open(qdir, "../incoming", 0, "1E240ABCDEF", false, &err), -1);
    assert_int_equal(queue_file_open(qdir, "incoming", 0, "", false, &err), -1);
    assert_int_equal(queue_file_open(qdir, "incoming", 0, "1E240ABCDEF", false, &err), -1);
    assert_int_equal(errno, ENOENT);
    /* A symlink planted under a valid ID name is not followed. */
    strbuf_printf(&p, "%s/incoming/1E240ABCDEF", qdir);
    assert_int_equal(symlink("/etc/passwd", strbuf_str(&p)), 0);
    assert_int_equal(queue_file_open(qdir, "incoming", 0, "1E240ABCDEF", false, &err), -1);
    assert_int_equal(unlink(strbuf_str(&p)), 0);
    /* A writer in a missing queue fails with a reason, nothing created. */
    strbuf_reset(&err);
    assert_null(queue_file_create(qdir, "nosuch", false, LIMIT, &err));
    assert_int_equal(errno, ENOENT);
    assert_non_null(strstr(err.s, "nosuch"));
    strbuf_reset(&err);
    assert_int_equal(queue_space_check("/nonexistent/queue", 0, 0, &err), -1);
    assert_non_null(strstr(err.s, "statvfs"));
    assert_int_equal(queue_space_check(qdir, 0, 1000, &err), 0);
    strbuf_release(&err);
    strbuf_release(&id);
    strbuf_release(&p);
}

static void moves_between_queues(void **state)
{
    strbuf id = STRBUF_INIT, err = STRBUF_INIT, p = STRBUF_INIT, h = STRBUF_INIT;
    simple_msg("incoming", LIMIT, &id);
    const char *qid = strbuf_str(&id);
    assert_int_equal(queue_file_move(qdir, qid, "incoming", 0, "active", 0, false, &err), 0);
    assert_int_equal(qcount("incoming"), 0);
    /* deferred is hashed: the directory is made on demand. */
    assert_int_equal(queue_file_move(qdir, qid, "active", 0, "deferred", 2, false, &err), 0);
    assert_int_equal(queue_id_hash_dir(&h, qid, 2), 0);
    strbuf_printf(&p, "%s/deferred/%s%s", qdir, strbuf_str(&h), qid);
    assert_int_equal(access(strbuf_str(&p), F_OK), 0);
    int fd = queue_file_open(qdir, "deferred", 2, qid, false, &err);
    assert_true(fd >= 0);
    assert_int_equal(queue_file_validate(fd, LIMIT, &err), 0);
    close(fd);
    assert_int_equal(queue_file_move(qdir, qid, "deferred", 2, "hold", 0, true, &err), 0);
    /* Missing source; path tricks; existing destination is never replaced. */
    assert_int_equal(queue_file_move(qdir, qid, "deferred", 2, "hold", 0, true, &err), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(queue_file_move(qdir, "../../x", "hold", 0, "active", 0, false, &err), -1);
    assert_int_equal(queue_file_move(qdir, qid, "hold", 0, "..", 0, false, &err), -1);
    strbuf_reset(&p);
    strbuf_printf(&p, "%s/active/%s", qdir, qid);
    int other = open(strbuf_str(&p), O_CREAT | O_WRONLY, 0600);
    assert_true(other >= 0);
    close(other);
    assert_int_equal(queue_file_move(qdir, qid, "hold", 0, "active", 0, false, &err), -1);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(qcount("hold"), 1);
    /* Corrupt: logged and saved, never dropped. */
    assert_int_equal(queue_file_move_corrupt(qdir, "hold", 0, qid, "test reason"), 0);
    assert_int_equal(qcount("hold"), 0);
    assert_int_equal(qcount("corrupt"), 1);
    strbuf_release(&id);
    strbuf_release(&err);
    strbuf_release(&p);
    strbuf_release(&h);
}

static void create_in_hashed_queue(void **state)
{
    queue_file *qf = new_msg("deferred", true, LIMIT);
    strbuf id = STRBUF_INIT, err = STRBUF_INIT, h = STRBUF_INIT;
    strbuf_set(&id, queue_file_id(qf));
    assert_int_equal(queue_id_hash_dir(&h, strbuf_str(&id), 2), 0);
    assert_non_null(strstr(queue_file_path(qf), strbuf_str(&h)));
    assert_int_equal(commit(&qf, &err), 0);
    int fd = queue_file_open(qdir, "deferred", 2, strbuf_str(&id), false, &err);
    assert_true(fd >= 0);
    assert_int_equal(queue_file_validate(fd, LIMIT, &err), 0);
    close(fd);
    /* Only the file and its two hash directories. */
    assert_int_equal(qcount("deferred"), 3);
    strbuf_release(&id);
    strbuf_release(&err);
    strbuf_release(&h);
}

/* The injected failure must make commit fail and leave nothing behind. */
static void expect_commit_failure(int want_errno)
{
    queue_file *qf = new_msg("incoming", false, LIMIT);
    assert_int_equal(queue_file_begin_content(qf), 0);
    for (int i = 0; i < 10; i++)
        queue_file_put_text(qf, "some content", 12, true);
    strbuf err = STRBUF_INIT;
    assert_int_equal(commit(&qf, &err), -1);
    assert_int_equal(errno, want_errno);
    assert_true(err.len > 0);
    assert_null(qf);
    faults_off();
    assert_int_equal(qcount("incoming"), 0);
    strbuf_release(&err);
}

static void injected_failures(void **state)
{
    /* Where the file's fsync commits its directory entry too (ext4, xfs),
     * the directory is not fsynced again; the tmpfs test below sees it. */
    struct stat st;
    assert_int_equal(stat(qdir, &st), 0);
    int fsyncs = fsync_covers_new_entry(st.st_dev) ? 1 : 2;
    fsync_fail_at = 1; /* the file */
    expect_commit_failure(EIO);
    if (fsyncs == 2) {
        fsync_fail_at = 2; /* the directory */
        expect_commit_failure(EIO);
    }
    write_fail_errno = EIO;
    expect_commit_failure(EIO);
    write_fail_errno = ENOSPC;
    write_short_first = 1;
    expect_commit_failure(ENOSPC);
    write_fail_errno = EFBIG;
    expect_commit_failure(EFBIG);

    /* And the happy path costs exactly those fsyncs. */
    queue_file *qf = new_msg("incoming", false, LIMIT);
    fsync_fail_at = 1000;
    strbuf err = STRBUF_INIT;
    assert_int_equal(commit(&qf, &err), 0);
    assert_int_equal(fsync_calls, fsyncs);
    faults_off();
    strbuf_release(&err);
}

static void over_limit_fields_fail_cleanly(void **state)
{
    queue_file *qf = new_msg("incoming", false, 64);
    char big[200];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct queue_file_rcpt_in r = {big, NULL, NULL, 0};
    assert_int_equal(queue_file_put_rcpt(qf, &r, NULL), -1);
    /* Sticky: commit fails and removes the file. */
    strbuf err = STRBUF_INIT;
    assert_int_equal(commit(&qf, &err), -1);
    assert_non_null(strstr(err.s, "over limit"));
    assert_int_equal(qcount("incoming"), 0);

    /* A reader whose limit is below what a record claims refuses it. */
    strbuf id = STRBUF_INIT;
    simple_msg("incoming", LIMIT, &id); /* has a 300-byte line in one record */
    int fd = queue_file_open(qdir, "incoming", 0, strbuf_str(&id), false, &err);
    assert_true(fd >= 0);
    strbuf_reset(&err);
    assert_int_equal(queue_file_validate(fd, 64, &err), -1);
    assert_non_null(strstr(err.s, "over limit"));
    close(fd);
    strbuf_release(&id);
    strbuf_release(&err);
}

static void disk_full_on_tmpfs(void **state)
{
    if (geteuid() != 0)
        skip();
    char mnt[300];
    snprintf(mnt, sizeof(mnt), "%s/small", qdir);
    assert_int_equal(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") < 0) {
        print_message("tmpfs mount failed (%s): skipping\n", strerror(errno));
        skip();
    }
    char inc[400];
    snprintf(inc, sizeof(inc), "%s/incoming", mnt);
    assert_int_equal(mkdir(inc, 0700), 0);

    strbuf err = STRBUF_INIT;
    assert_int_equal(queue_space_check(mnt, 0, 1000, &err), 0);
    assert_int_equal(queue_space_check(mnt, 1 << 20, 0, &err), -1);
    assert_non_null(strstr(err.s, "not enough free space"));
    strbuf_reset(&err);
    assert_int_equal(queue_space_check(mnt, 0, 1 << 20, &err), -1);

    queue_file *qf = queue_file_create(mnt, "incoming", false, LIMIT, &err);
    assert_non_null(qf);
    assert_int_equal(queue_file_put_time(qf, queue_file_ctime(qf)), 0);
    assert_int_equal(queue_file_put_sender(qf, "a@b"), 0);
    assert_int_equal(queue_file_begin_content(qf), 0);
    char line[1000];
    memset(line, 'x', sizeof(line));
    int failed = 0;
    for (int i = 0; i < 1000 && !failed; i++) /* ~1 MB into 64 KB */
        failed = queue_file_put_text(qf, line, sizeof(line), true) < 0;
    assert_true(failed);
    strbuf_reset(&err);
    assert_int_equal(commit(&qf, &err), -1);
    assert_int_equal(errno, ENOSPC);
    assert_non_null(strstr(err.s, "No space"));
    assert_int_equal(count_entries(inc), 0);

    /* After the failure the file system works again for a small message.
     * tmpfs is not a file system whose file fsync covers the directory:
     * the commit fsyncs both, and a failing directory fsync fails it. */
    qf = queue_file_create(mnt, "incoming", false, LIMIT, &err);
    assert_non_null(qf);
    assert_int_equal(queue_file_put_time(qf, queue_file_ctime(qf)), 0);
    assert_int_equal(queue_file_put_sender(qf, "a@b"), 0);
    fsync_fail_at = 2;
    assert_int_equal(commit(&qf, &err), -1);
    assert_int_equal(errno, EIO);
    assert_int_equal(fsync_calls, 2);
    faults_off();
    assert_int_equal(count_entries(inc), 0);
    qf = queue_file_create(mnt, "incoming", false, LIMIT, &err);
    assert_non_null(qf);
    assert_int_equal(queue_file_put_time(qf, queue_file_ctime(qf)), 0);
    assert_int_equal(queue_file_put_sender(qf, "a@b"), 0);
    fsync_fail_at = 1000;
    assert_int_equal(commit(&qf, &err), 0);
    assert_int_equal(fsync_calls, 2);
    faults_off();
    assert_int_equal(count_entries(inc), 1);

    assert_int_equal(umount2(mnt, 0), 0);
    strbuf_release(&err);
}

/* postdrop's situation: setgid, not the owner, maildrop/ is 0730 (write
 * and search, no read). Commit must still succeed durably. */
static void unreadable_queue_directory(void **state)
{
    if (geteuid() != 0)
        skip();
    char md[300];
    snprintf(md, sizeof(md), "%s/maildrop", qdir);
    assert_int_equal(chmod(qdir, 0711), 0);
    assert_int_equal(chown(md, 0, 65534), 0);
    assert_int_equal(chmod(md, 0730), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
            _exit(2);
        strbuf err = STRBUF_INIT;
        queue_file *qf = queue_file_create(qdir, "maildrop", false, LIMIT, &err);
        if (qf == NULL) {
            fprintf(stderr, "create: %s\n", strbuf_str(&err));
            _exit(3);
        }
        queue_file_put_time(qf, queue_file_ctime(qf));
        queue_file_put_sender(qf, "user");
        queue_file_begin_content(qf);
        queue_file_put_text(qf, "hello", 5, true);
        if (queue_file_commit(&qf, &err) < 0) {
            fprintf(stderr, "commit: %s\n", strbuf_str(&err));
            _exit(4);
        }
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(qcount("maildrop"), 1);
    DIR *d = opendir(md);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        assert_true(queue_id_valid(e->d_name));
        strbuf err = STRBUF_INIT;
        int fd = queue_file_open(qdir, "maildrop", 0, e->d_name, false, &err);
        assert_true(fd >= 0);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_uid, 65534); /* pickup trusts the owner */
        assert_int_equal(queue_file_validate(fd, LIMIT, &err), 0);
        close(fd);
        strbuf_release(&err);
    }
    closedir(d);
}

int main(void)
{
    msg_init("test_queue_file", true);
    /* queue_file_create takes each queue's depth from the configuration. */
    static const char HASH_CF[] = "hash_queue_names = deferred\nhash_queue_depth = 2\n";
    strbuf cf_err = STRBUF_INIT;
    if (config_load_text("main.cf", HASH_CF, sizeof(HASH_CF) - 1, &cf_err) < 0) {
        fprintf(stderr, "config: %s\n", strbuf_str(&cf_err));
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(put_stream_splits_and_strips, setup, teardown),
        cmocka_unit_test_setup_teardown(many_recipients_and_marks_survive_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(corruption_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(uncommitted_and_incomplete_files, setup, teardown),
        cmocka_unit_test_setup_teardown(purge_removes_only_abandoned_files, setup, teardown),
        cmocka_unit_test_setup_teardown(purge_walks_hash_directories, setup, teardown),
        cmocka_unit_test_setup_teardown(open_refuses_path_tricks, setup, teardown),
        cmocka_unit_test_setup_teardown(moves_between_queues, setup, teardown),
        cmocka_unit_test_setup_teardown(create_in_hashed_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(injected_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(over_limit_fields_fail_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(disk_full_on_tmpfs, setup, teardown),
        cmocka_unit_test_setup_teardown(create_survives_a_concurrent_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(unreadable_queue_directory, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
