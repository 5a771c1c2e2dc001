/* qshape - queue shape by domain and age (Postfix's qshape(1)).
 *
 * Usage: qshape [-s] [-p] [-m min_subdomains] [-b bucket_count]
 *               [-t bucket_time] [-l] [-w terminal_width]
 *               [-c config_dir] [queue_name ...]
 * Counts the undelivered recipients (with -s: the senders, one per
 * message) of every complete queue file in the named queues (default:
 * incoming and active; names relative to queue_directory, absolute paths
 * as they are) by domain and by age, read through the queue_file reader
 * (corrupt files are skipped, as Postfix's qshape skips what it cannot
 * parse). Output as Postfix's: a heading "T 5 10 20 ... 1280 1280+"
 * (geometric buckets of bucket_time minutes doubling, -l linear), a TOTAL
 * row and a row per domain, sorted by total count (more first, then the
 * shorter name), right-justified so that the last column ends at
 * terminal_width (default and minimum 80); domain column at least 18
 * wide, a longer name shown as "+" and its last characters (".+" for
 * parent domains). The null sender counts as MAILER-DAEMON. -p adds
 * parent domains (".example.com", never a top-level domain) with at least
 * min_subdomains (default 5) distinct subdomains.
 * Postfix's -N/-n (intermediate results on a terminal) are not offered:
 * the result is printed once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "mail_log.h"
#include "mail_queue.h"
#include "mem.h"
#include "msg.h"
#include "queue_file.h"
#include "strbuf.h"

#define MAX_BUCKETS 64

struct row {
    char *name;
    unsigned long count[MAX_BUCKETS + 1]; /* [0] total, [1..n] per bucket */
    unsigned long subdomains;
};

static struct {
    struct row **rows;
    size_t n, cap;
    size_t *index; /* open addressing into rows, size index_cap */
    size_t index_cap;
} table;

static size_t hash(const char *s)
{
    size_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h;
}

static void rehash(void)
{
    free(table.index);
    table.index_cap = table.index_cap ? table.index_cap * 2 : 256;
    table.index = xcalloc(table.index_cap, sizeof(size_t));
    for (size_t i = 0; i < table.n; i++) {
        size_t h = hash(table.rows[i]->name) & (table.index_cap - 1);
        while (table.index[h])
            h = (h + 1) & (table.index_cap - 1);
        table.index[h] = i + 1;
    }
}

/* The row for `name`; *fresh tells whether it was just made. */
static struct row *row_get(const char *name, bool *fresh)
{
    if ((table.n + 1) * 2 > table.index_cap)
        rehash();
    size_t h = hash(name) & (table.index_cap - 1);
    while (table.index[h]) {
        struct row *r = table.rows[table.index[h] - 1];
        if (strcmp(r->name, name) == 0) {
            *fresh = false;
            return r;
        }
        h = (h + 1) & (table.index_cap - 1);
    }
    if (table.n == table.cap) {
        table.cap = table.cap ? table.cap * 2 : 64;
        table.rows = xrealloc(table.rows, table.cap * sizeof(*table.rows));
    }
    struct row *r = xcalloc(1, sizeof(*r));
    r->name = xstrdup(name);
    table.rows[table.n++] = r;
    table.index[h] = table.n;
    *fresh = true;
    return r;
}

static int nbuckets = 10;
static long tick = 5;
static bool linear, parents;

/* Bucket 1..nbuckets of a message `age` seconds old. */
static int bucket_of(double age)
{
    double m = age / (60.0 * (double)tick);
    if (m < 1)
        return 1;
    long b;
    if (linear) {
        b = m + 1 < (double)nbuckets ? (long)(m + 1) : nbuckets;
    } else {
        /* 2 + floor(log2(m)) without libm. */
        for (b = 2; m >= 2 && b < nbuckets; b++)
            m /= 2;
    }
    return b < nbuckets ? (int)b : nbuckets;
}

/* Count one address (a sender or a recipient) of a message in bucket b. */
static void count_address(const char *address, int b, struct row *total)
{
    total->count[0]++;
    total->count[b]++;
    strbuf d = STRBUF_INIT;
    if (!*address) {
        strbuf_set(&d, "MAILER-DAEMON");
    } else {
        const char *at = strrchr(address, '@');
        const char *s = at ? at + 1 : address;
        for (; *s; s++)
            strbuf_putc(&d, (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s));
        /* Stray dots at either end and doubled dots do not make domains. */
        size_t len = d.len;
        while (len && d.s[len - 1] == '.')
            len--;
        size_t start = 0;
        while (start < len && d.s[start] == '.')
            start++;
        strbuf t = STRBUF_INIT;
        for (size_t i = start; i < len; i++)
            if (!(d.s[i] == '.' && t.len && t.s[t.len - 1] == '.'))
                strbuf_putc(&t, d.s[i]);
        strbuf_set(&d, t.len ? t.s : "");
        strbuf_release(&t);
    }
    bool fresh_child = false;
    const char *name = strbuf_str(&d);
    for (;;) {
        bool fresh;
        struct row *r = row_get(name, &fresh);
        r->count[0]++;
        r->count[b]++;
        if (fresh_child)
            r->subdomains++;
        fresh_child = fresh;
        if (!parents)
            break;
        /* "a.b.example.com" -> ".b.example.com" -> ".example.com": a parent
         * keeps at least two labels. */
        const char *p = name[0] == '.' ? name + 1 : name;
        const char *dot = strchr(p, '.');
        if (!dot || !strchr(dot + 1, '.'))
            break;
        name = dot;
    }
    strbuf_release(&d);
}

/* One queue file: the arrival time, the sender, the pending recipients. */
static void count_file(int dirfd, const char *name, time_t now, bool by_sender, struct row *total)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0)
        return;
    if (fstat(fd, &st) < 0 || !queue_file_mode_complete(&st)) {
        close(fd);
        return;
    }
    strbuf err = STRBUF_INIT, sender = STRBUF_INIT;
    queue_file_reader *r = queue_file_reader_open(fd, mail_queue_read_limit(), &err);
    queue_file_record rec = QUEUE_FILE_RECORD_INIT;
    struct timeval arrival = {0, 0};
    char **rcpts = NULL;
    size_t nrcpt = 0;
    int n = -1;
    while (r && (n = queue_file_reader_next(r, &rec, &err)) > 0) {
        if (rec.type == QF_REC_TIME)
            arrival = rec.time;
        else if (rec.type == QF_REC_SENDER)
            strbuf_set(&sender, strbuf_str(&rec.data));
        else if (rec.type == QF_REC_RCPT && rec.status == QF_RCPT_TODO) {
            rcpts = xrealloc(rcpts, (nrcpt + 1) * sizeof(*rcpts));
            rcpts[nrcpt++] = xstrdup(strbuf_str(&rec.address));
        }
    }
    if (n == 0) {
        int b = bucket_of(difftime(now, arrival.tv_sec));
        if (by_sender)
            count_address(strbuf_str(&sender), b, total);
        else
            for (size_t i = 0; i < nrcpt; i++)
                count_address(rcpts[i], b, total);
    } else {
        msg_debug("%s: skipped: %s", name, strbuf_str(&err));
    }
    for (size_t i = 0; i < nrcpt; i++)
        free(rcpts[i]);
    free(rcpts);
    queue_file_record_release(&rec);
    if (r)
        queue_file_reader_free(&r);
    close(fd);
    strbuf_release(&err);
    strbuf_release(&sender);
}

static int width = 80;

static void put_row(const char *name, const unsigned long *count, const int *w, int dw,
                    char heads[][32])
{
    size_t len = strlen(name);
    if (len > (size_t)dw && name[0] == '.')
        printf(".+%s", name + len - (size_t)(dw - 2));
    else if (len > (size_t)dw)
        printf("+%s", name + len - (size_t)(dw - 1));
    else
        printf("%*s", dw, name);
    for (int i = 0; i <= nbuckets; i++) {
        if (heads)
            printf("%*s", w[i], heads[i]);
        else
            printf("%*lu", w[i], count[i]);
    }
    putchar('\n');
}

static int row_order(const void *a, const void *b)
{
    const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;
    if (x->count[0] != y->count[0])
        return x->count[0] > y->count[0] ? -1 : 1;
    size_t lx = strlen(x->name), ly = strlen(y->name);
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void results(const struct row *total, unsigned long min_sub)
{
    char heads[MAX_BUCKETS + 1][32];
    int w[MAX_BUCKETS + 1];
    int dw = width;
    long t = 0;
    for (int i = 0; i <= nbuckets; i++) {
        if (i == 0)
            snprintf(heads[i], sizeof(heads[i]), "T");
        else if (i < nbuckets)
            snprintf(heads[i], sizeof(heads[i]), "%ld", t);
        else
            snprintf(heads[i], sizeof(heads[i]), "%ld+", t);
        char num[32];
        int l = snprintf(num, sizeof(num), "%lu", total->count[i]);
        int lh = (int)strlen(heads[i]);
        if (lh >= l)
            l = lh;
        w[i] = l > 2 ? l + 1 : 3;
        dw -= w[i];
        if (i + 1 < nbuckets)
            t += (t && !linear) ? t : tick;
    }
    if (dw < 18)
        dw = 18;
    put_row("", NULL, w, dw, heads);
    qsort(table.rows, table.n, sizeof(*table.rows), row_order);
    for (size_t i = 0; i < table.n; i++) {
        const struct row *r = table.rows[i];
        if (r->name[0] == '.' && r->subdomains < min_sub)
            continue;
        put_row(r->name, r->count, w, dw, NULL);
    }
}

static _Noreturn void usage(void)
{
    msg_fatal_status(EX_USAGE, "usage: qshape [-s] [-p] [-m min_subdomains] [-b bucket_count] "
                               "[-t bucket_time] [-l] [-w terminal_width] [-c config_dir] "
                               "[queue_name ...]");
}

static long number(const char *opt, const char *text, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        msg_fatal_status(EX_USAGE, "-%s: bad value \"%s\" (expected %ld..%ld)", opt, text, min,
                         max);
    return v;
}

int main(int argc, char **argv)
{
    msg_init("qshape", true);
    const char *opt_c = NULL;
    bool by_sender = false;
    unsigned long min_sub = 5;
    int c;
    while ((c = getopt(argc, argv, "b:c:lm:pst:w:")) != -1) {
        switch (c) {
        case 'b':
            nbuckets = (int)number("b", optarg, 1, MAX_BUCKETS);
            break;
        case 'c':
            opt_c = optarg;
            break;
        case 'l':
            linear = true;
            break;
        case 'm':
            min_sub = (unsigned long)number("m", optarg, 0, 1000000);
            break;
        case 'p':
            parents = true;
            break;
        case 's':
            by_sender = true;
            break;
        case 't':
            tick = number("t", optarg, 1, 1000000);
            break;
        case 'w':
            /* As Postfix: narrower than 80 is ignored. */
            width = (int)number("w", optarg, 1, 10000);
            if (width < 80)
                width = 80;
            break;
        default:
            usage();
        }
    }
    config_load_or_die(config_choose_dir(opt_c, false));
    (void)mail_log_setup(MAIL_LOG_QUIET);
    const char *qdir = config_get("queue_directory");
    if (chdir(qdir) < 0)
        msg_fatal_status(EX_UNAVAILABLE, "chdir %s: %m", qdir);
    static char *default_queues[] = {"incoming", "active"};
    char **queues = optind < argc ? argv + optind : default_queues;
    int nq = optind < argc ? argc - optind : 2;
    bool fresh;
    struct row *total = row_get("TOTAL", &fresh);
    time_t now = time(NULL);
    for (int i = 0; i < nq; i++) {
        struct stat st;
        if (stat(queues[i], &st) < 0 || !S_ISDIR(st.st_mode))
            msg_fatal_status(EX_USAGE, "queue %s: not a directory under %s", queues[i], qdir);
        mail_queue_scan *sc = mail_queue_scan_open_all(AT_FDCWD, queues[i]);
        const char *name;
        while ((name = mail_queue_scan_next(sc)) != NULL)
            count_file(mail_queue_scan_dirfd(sc), name, now, by_sender, total);
        mail_queue_scan_close(&sc);
    }
    results(total, min_sub);
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal_status(EX_IOERR, "write standard output: %m");
    return 0;
}
