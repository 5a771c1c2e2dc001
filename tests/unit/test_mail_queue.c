/* Unit tests: mail_queue (hash settings, queue ID paths, queue scans),
 * with hostile settings, queue names, IDs and directory trees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "mail_queue.h"
#include "strbuf.h"
#include "strlist.h"

static void load(const char *text)
{
    strbuf err = STRBUF_INIT;
    if (config_load_text("/etc/postfix/main.cf", text, strlen(text), &err) < 0)
        fail_msg("config: %s", err.s);
    strbuf_release(&err);
}

static void parse_depths(void **state)
{
    struct mail_queue_hash h;
    strbuf err = STRBUF_INIT;
    const long long bad[] = {-1, QUEUE_ID_MAX_DEPTH + 1, LLONG_MIN, LLONG_MAX, 1LL << 32};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strbuf_reset(&err);
        assert_int_equal(mail_queue_parse(&h, "deferred", bad[i], NULL, &err), -1);
        assert_non_null(strstr(err.s, "hash_queue_depth"));
        assert_non_null(strstr(err.s, "must be between 0 and"));
    }
    assert_int_equal(mail_queue_parse(&h, "deferred", 0, NULL, &err), 0);
    assert_int_equal(mail_queue_hash_depth(&h, "deferred"), 0);
    assert_int_equal(mail_queue_parse(&h, "deferred", QUEUE_ID_MAX_DEPTH, NULL, &err), 0);
    assert_int_equal(mail_queue_hash_depth(&h, "deferred"), QUEUE_ID_MAX_DEPTH);
    strbuf_release(&err);
}

static void parse_names(void **state)
{
    struct mail_queue_hash h;
    strbuf err = STRBUF_INIT, ignored = STRBUF_INIT;
    assert_int_equal(mail_queue_parse(&h,
                                      " incoming,\tactive deferred,,hold,maildrop, ../x, "
                                      "corrupt, HOLD, defer/x, bounce trace flush defer",
                                      2, &ignored, &err),
                     0);
    assert_string_equal(ignored.s, "maildrop, ../x, corrupt, HOLD, defer/x");
    const char *hashed[] = {"incoming", "active", "deferred", "hold",
                            "bounce",   "trace",  "flush",    "defer"};
    for (size_t i = 0; i < 8; i++) {
        assert_true(mail_queue_hashable(hashed[i]));
        assert_int_equal(mail_queue_hash_depth(&h, hashed[i]), 2);
    }
    const char *flat[] = {"maildrop", "corrupt", "saved", "../x", "", "HOLD", "incoming/"};
    for (size_t i = 0; i < sizeof(flat) / sizeof(flat[0]); i++)
        assert_int_equal(mail_queue_hash_depth(&h, flat[i]), 0);
    assert_int_equal(mail_queue_hash_depth(&h, NULL), 0);
    assert_false(mail_queue_hashable("maildrop"));
    assert_false(mail_queue_hashable(NULL));
    /* Empty and NULL lists hash nothing. */
    assert_int_equal(mail_queue_parse(&h, "", 3, NULL, &err), 0);
    assert_int_equal(mail_queue_hash_depth(&h, "deferred"), 0);
    assert_int_equal(mail_queue_parse(&h, NULL, 3, NULL, &err), 0);
    assert_int_equal(mail_queue_hash_depth(&h, "incoming"), 0);
    strbuf_release(&err);
    strbuf_release(&ignored);
}

/* Run fn in a child; it must exit non-zero with `needle` on stderr. */
static void expect_fatal(void (*fn)(void), const char *needle)
{
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        fn();
        _exit(0);
    }
    close(pipefd[1]);
    char buf[4096];
    size_t len = 0;
    ssize_t n;
    while ((n = read(pipefd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(pipefd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);
    if (!strstr(buf, needle))
        fail_msg("expected \"%s\" in \"%s\"", needle, buf);
}

static void depth_of_deferred(void)
{
    (void)mail_queue_depth("deferred");
}

static void depth_of_maildrop(void)
{
    (void)mail_queue_depth("maildrop"); /* flat, but the setting is still checked */
}

/* Each in a child, before this process has cached the settings. */
static void bad_configured_depth_is_fatal(void **state)
{
    load("hash_queue_names = deferred\nhash_queue_depth = 11\n");
    expect_fatal(depth_of_deferred, "hash_queue_depth = 11: must be between 0 and 10");
    expect_fatal(depth_of_maildrop, "hash_queue_depth = 11");
    load("hash_queue_names = deferred\nhash_queue_depth = -1\n");
    expect_fatal(depth_of_deferred, "invalid hash_queue_depth parameter value -1 < 0");
    load("hash_queue_names = deferred\nhash_queue_depth = two\n");
    expect_fatal(depth_of_deferred, "hash_queue_depth");
}

static void paths(void **state)
{
    /* The process caches the settings at the first mail_queue_depth call;
     * this is that call. */
    load("hash_queue_names = incoming, active, maildrop\nhash_queue_depth = 2\n");
    strbuf p = STRBUF_INIT;
    assert_int_equal(mail_queue_path(&p, "incoming", "1E240ABCDEF"), 0);
    assert_string_equal(p.s, "incoming/1/E/1E240ABCDEF");
    assert_int_equal(mail_queue_path(&p, "deferred", "1E240ABCDEF"), 0);
    assert_string_equal(p.s, "deferred/1E240ABCDEF");
    assert_int_equal(mail_queue_path(&p, "maildrop", "1E240ABCDEF"), 0);
    assert_string_equal(p.s, "maildrop/1E240ABCDEF");
    /* Long IDs hash by their microseconds in hex, like short ones. */
    assert_int_equal(mail_queue_path(&p, "active", "4SVLCh0sf8z9HdB"), 0);
    assert_string_equal(p.s, "active/1/E/4SVLCh0sf8z9HdB");
    const char *bad_ids[] = {"",  "../x", "a/b",           "1E240ABCDEF/",
                             ".", "..",   "1E240ABCDEF\n", "0123456789ABCDEF0123456789ABCDEF0"};
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        strbuf_set(&p, "junk");
        assert_int_equal(mail_queue_path(&p, "incoming", bad_ids[i]), -1);
        assert_int_equal(p.len, 0);
    }
    assert_int_equal(mail_queue_path(&p, "incoming", NULL), -1);
    const char *bad_queues[] = {"", "../incoming", "incoming/x", "/etc", "in coming"};
    for (size_t i = 0; i < sizeof(bad_queues) / sizeof(bad_queues[0]); i++)
        assert_int_equal(mail_queue_path(&p, bad_queues[i], "1E240ABCDEF"), -1);
    assert_int_equal(mail_queue_path(&p, NULL, "1E240ABCDEF"), -1);
    strbuf_release(&p);
}

/* The hash directories of an ID and their creation (queue_file uses both). */
static void hash_dirs(void **state)
{
    (void)state;
    strbuf h = STRBUF_INIT;
    assert_int_equal(mail_queue_hash_dirs(&h, "4F2A1B3C9D", 0), 0);
    assert_string_equal(strbuf_str(&h), "");
    assert_int_equal(mail_queue_hash_dirs(&h, "4F2A1B3C9D", 2), 0);
    size_t len2 = h.len;
    assert_int_equal(len2, 4); /* "X/Y/" */
    assert_int_equal(mail_queue_hash_dirs(&h, "4F2A1B3C9D", -1), -1);
    char root[] = "/tmp/test_mail_queue_hashXXXXXX";
    assert_non_null(mkdtemp(root));
    int dfd = open(root, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    int created = 0;
    assert_int_equal(mail_queue_make_hash_dirs(dfd, strbuf_str(&h), &created), 0);
    assert_int_equal(created, 2);
    struct stat st;
    strbuf p = STRBUF_INIT;
    strbuf_printf(&p, "%s/%s", root, strbuf_str(&h));
    assert_int_equal(stat(strbuf_str(&p), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    created = 0; /* existing levels are fine and not counted */
    assert_int_equal(mail_queue_make_hash_dirs(dfd, strbuf_str(&h), &created), 0);
    assert_int_equal(created, 0);
    /* A file where a level should be: an error, errno set. */
    strbuf_set(&p, root);
    strbuf_puts(&p, "/Z");
    int fd = open(strbuf_str(&p), O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    errno = 0;
    assert_int_equal(mail_queue_make_hash_dirs(dfd, "Z/Q/", &created), -1);
    assert_int_equal(errno, ENOTDIR);
    close(dfd);
    strbuf cmd = STRBUF_INIT;
    strbuf_printf(&cmd, "rm -rf '%s'", root);
    assert_int_equal(system(strbuf_str(&cmd)), 0);
    strbuf_release(&cmd);
    strbuf_release(&p);
    strbuf_release(&h);
}

static void record_limits(void **state)
{
    assert_int_equal(mail_queue_record_limit_for(LLONG_MIN), MAIL_QUEUE_WRITE_MIN);
    assert_int_equal(mail_queue_record_limit_for(-1), MAIL_QUEUE_WRITE_MIN);
    assert_int_equal(mail_queue_record_limit_for(0), MAIL_QUEUE_WRITE_MIN);
    assert_int_equal(mail_queue_record_limit_for(2048), MAIL_QUEUE_WRITE_MIN);
    assert_int_equal(mail_queue_record_limit_for(100000), 100000);
    /* Past the format's 32-bit lengths: clamped, never a panic later. */
    assert_int_equal(mail_queue_record_limit_for(1LL << 40), UINT32_MAX);
    assert_int_equal(mail_queue_record_limit_for(LLONG_MAX), UINT32_MAX);

    load("line_length_limit = 2048\n");
    assert_int_equal(mail_queue_record_limit(), MAIL_QUEUE_WRITE_MIN);
    assert_int_equal(mail_queue_read_limit(), MAIL_QUEUE_READ_MIN);
    load("line_length_limit = 3000000\n");
    assert_int_equal(mail_queue_record_limit(), 3000000);
    assert_int_equal(mail_queue_read_limit(), 3000000);
}

/* ---- scans -------------------------------------------------------------- */

static char root[64];

static void mk(const char *rel, bool dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    if (dir) {
        assert_int_equal(mkdir(path, 0700), 0);
    } else {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0700);
        assert_true(fd >= 0);
        close(fd);
    }
}

static void collect(const char *queue, int depth, strlist *out)
{
    int dfd = open(root, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    mail_queue_scan *s = mail_queue_scan_open(dfd, queue, depth);
    const char *id;
    while ((id = mail_queue_scan_next(s)) != NULL) {
        /* The directory fd really holds the file it names. */
        struct stat st;
        assert_int_equal(fstatat(mail_queue_scan_dirfd(s), id, &st, AT_SYMLINK_NOFOLLOW), 0);
        strlist_push(out, id);
    }
    assert_null(mail_queue_scan_next(s)); /* stays done */
    mail_queue_scan_close(&s);
    assert_null(s);
    mail_queue_scan_close(&s); /* harmless twice */
    close(dfd);
}

static void scans(void **state)
{
    snprintf(root, sizeof(root), "/tmp/mq-test-XXXXXX");
    assert_non_null(mkdtemp(root));
    mk("q", true);
    mk("q/1", true);
    mk("q/1/E", true);
    mk("q/1/E/1E240ABCDEF", false);   /* yielded */
    mk("q/1/E/tmp.12345", false);     /* a writer's temporary name */
    mk("q/1/E/x", true);              /* a directory below the leaves */
    mk("q/1/E/x/1E240ABCDE0", false); /* never reached */
    mk("q/1/1E2401234", false);       /* a file above the leaves */
    mk("q/2", true);
    mk("q/2/F", true);
    mk("q/2/F/2F000ABC", false); /* yielded */
    mk("q/XX", true);            /* not a hash directory */
    mk("q/XX/Y", true);
    mk("q/XX/Y/3A000ABC", false);
    mk("q/4", false); /* a file where a hash dir would be */
    mk("q/.hidden", true);
    mk("q/1E240FFFFF", false); /* top-level file in a hashed queue */
    char link[512];
    snprintf(link, sizeof(link), "%s/q/5", root);
    assert_int_equal(symlink("/", link), 0); /* must not lead outside */
    snprintf(link, sizeof(link), "%s/q/1/F", root);
    assert_int_equal(symlink("../2/F", link), 0);

    strlist ids = STRLIST_INIT;
    collect("q", 2, &ids);
    assert_int_equal(ids.n, 2);
    assert_true(strlist_contains(&ids, "1E240ABCDEF"));
    assert_true(strlist_contains(&ids, "2F000ABC"));
    strlist_release(&ids);

    /* Depth 0: only the top-level IDs. */
    collect("q", 0, &ids);
    assert_int_equal(ids.n, 1);
    assert_string_equal(ids.v[0], "1E240FFFFF");
    strlist_release(&ids);

    /* Depth 1: the IDs one level down. */
    collect("q", 1, &ids);
    assert_int_equal(ids.n, 1);
    assert_string_equal(ids.v[0], "1E2401234");
    strlist_release(&ids);

    /* The repair scan: IDs at every level, with their paths. */
    int dfd = open(root, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    mail_queue_scan *s = mail_queue_scan_open_all(dfd, "q");
    strbuf path = STRBUF_INIT;
    const char *id;
    while ((id = mail_queue_scan_next(s)) != NULL) {
        mail_queue_scan_path(s, id, &path);
        strlist_push(&ids, path.s);
    }
    mail_queue_scan_close(&s);
    assert_int_equal(ids.n, 5);
    const char *want_all[] = {"q/1E240FFFFF", "q/1/1E2401234", "q/1/E/1E240ABCDEF",
                              "q/1/E/x/1E240ABCDE0", "q/2/F/2F000ABC"};
    for (size_t i = 0; i < 5; i++)
        if (!strlist_contains(&ids, want_all[i]))
            fail_msg("missing %s", want_all[i]);
    strlist_release(&ids);

    /* The leftovers scan: every name down to the depth, non-directories
     * with one-character names included, symlinks reported, not followed. */
    s = mail_queue_scan_open_names(dfd, "q", 2);
    while ((id = mail_queue_scan_next(s)) != NULL) {
        mail_queue_scan_path(s, id, &path);
        strlist_push(&ids, path.s);
    }
    mail_queue_scan_close(&s);
    const char *want_names[] = {"q/1E240FFFFF",
                                "q/XX",
                                "q/4",
                                "q/5",
                                "q/1/1E2401234",
                                "q/1/F",
                                "q/1/E/1E240ABCDEF",
                                "q/1/E/tmp.12345",
                                "q/1/E/x",
                                "q/2/F/2F000ABC"};
    for (size_t i = 0; i < sizeof(want_names) / sizeof(want_names[0]); i++)
        if (!strlist_contains(&ids, want_names[i]))
            fail_msg("missing %s", want_names[i]);
    assert_int_equal(ids.n, sizeof(want_names) / sizeof(want_names[0]));
    strlist_release(&ids);
    strbuf_release(&path);
    close(dfd);

    /* A missing queue, or a queue that is a file: an empty scan. */
    collect("nonexistent", 2, &ids);
    assert_int_equal(ids.n, 0);
    collect("q/4", 0, &ids);
    assert_int_equal(ids.n, 0);

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_depths),
        cmocka_unit_test(parse_names),
        cmocka_unit_test(bad_configured_depth_is_fatal),
        cmocka_unit_test(paths),
        cmocka_unit_test(hash_dirs),
        cmocka_unit_test(record_limits),
        cmocka_unit_test(scans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
