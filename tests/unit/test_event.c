/* Unit tests: event (poll loop with timers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "event.h"
#include "stream.h"

static char order[16];
static size_t norder;

static void mark(event_loop *loop, void *ctx)
{
    order[norder++] = *(const char *)ctx;
}

static void timers_run_in_due_order(void **state)
{
    event_loop *loop = event_loop_new();
    norder = 0;
    event_timer_add(loop, 60, mark, "c");
    event_timer_add(loop, 10, mark, "a");
    event_timer_add(loop, 30, mark, "b");
    uint64_t gone = event_timer_add(loop, 20, mark, "x");
    assert_true(event_timer_cancel(loop, gone));
    assert_false(event_timer_cancel(loop, gone));
    int64_t t0 = stream_now_ms();
    assert_int_equal(event_loop_run(loop), 0); /* returns when nothing is left */
    int64_t took = stream_now_ms() - t0;
    assert_int_equal(norder, 3);
    assert_memory_equal(order, "abc", 3);
    assert_true(took >= 60 && took < 5000);
    event_loop_free(&loop);
    assert_null(loop);
}

struct reader {
    int calls;
    unsigned last_events;
    char got[16];
};

static void on_read(event_loop *loop, int fd, unsigned events, void *ctx)
{
    struct reader *r = ctx;
    r->calls++;
    r->last_events = events;
    ssize_t n = read(fd, r->got, sizeof(r->got) - 1);
    if (n <= 0)
        event_unwatch(loop, fd);
}

static void fd_readiness_and_hangup(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    event_loop *loop = event_loop_new();
    struct reader r = {0};
    event_watch(loop, sv[0], EVENT_READ, on_read, &r);
    assert_int_equal(event_loop_once(loop, 50), 0); /* nothing yet */
    assert_int_equal(write(sv[1], "ping", 4), 4);
    assert_int_equal(event_loop_once(loop, 5000), 1);
    assert_string_equal(r.got, "ping");
    assert_int_equal(r.last_events, EVENT_READ);
    close(sv[1]);
    assert_int_equal(event_loop_once(loop, 5000), 1);
    assert_true(r.last_events & EVENT_READ);       /* EOF is readable */
    assert_int_equal(event_loop_once(loop, 0), 0); /* unwatched on EOF */
    close(sv[0]);
    event_loop_free(&loop);
}

static int spins, fd_calls;
static uint64_t spin_id;

static void spin(event_loop *loop, void *ctx)
{
    spins++;
    spin_id = event_timer_add(loop, 0, spin, NULL);
}

static void stop_on_read(event_loop *loop, int fd, unsigned events, void *ctx)
{
    fd_calls++;
    event_unwatch(loop, fd);
    event_timer_cancel(loop, spin_id);
    event_loop_stop(loop);
}

static void zero_timer_cannot_starve_fds(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[1], "x", 1), 1);
    event_loop *loop = event_loop_new();
    spins = fd_calls = 0;
    spin_id = event_timer_add(loop, 0, spin, NULL);
    event_watch(loop, sv[0], EVENT_READ, stop_on_read, NULL);
    assert_int_equal(event_loop_run(loop), 0);
    assert_int_equal(fd_calls, 1);
    assert_true(spins <= 2);
    close(sv[0]);
    close(sv[1]);
    event_loop_free(&loop);
}

static int victim_calls;
static int fds_a[2], fds_b[2];

static void victim(event_loop *loop, int fd, unsigned events, void *ctx)
{
    victim_calls++;
    /* Whoever runs first removes the other one. */
    event_unwatch(loop, fd == fds_a[0] ? fds_b[0] : fds_a[0]);
    event_unwatch(loop, fd);
}

static void removal_during_round_is_honoured(void **state)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds_a), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds_b), 0);
    assert_int_equal(write(fds_a[1], "x", 1), 1);
    assert_int_equal(write(fds_b[1], "x", 1), 1);
    event_loop *loop = event_loop_new();
    victim_calls = 0;
    event_watch(loop, fds_a[0], EVENT_READ, victim, NULL);
    event_watch(loop, fds_b[0], EVENT_READ, victim, NULL);
    assert_int_equal(event_loop_once(loop, 5000), 1);
    assert_int_equal(victim_calls, 1);
    assert_int_equal(event_loop_run(loop), 0); /* nothing left */
    for (int i = 0; i < 2; i++) {
        close(fds_a[i]);
        close(fds_b[i]);
    }
    event_loop_free(&loop);
}

static void writable_watch(event_loop *loop, int fd, unsigned events, void *ctx)
{
    *(unsigned *)ctx = events;
    event_watch(loop, fd, 0, NULL, NULL); /* 0 events removes */
}

static void write_readiness(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    event_loop *loop = event_loop_new();
    unsigned got = 0;
    event_watch(loop, sv[0], EVENT_WRITE, writable_watch, &got);
    assert_int_equal(event_loop_run(loop), 0);
    assert_int_equal(got, EVENT_WRITE);
    close(sv[0]);
    close(sv[1]);
    event_loop_free(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timers_run_in_due_order),
        cmocka_unit_test(fd_readiness_and_hangup),
        cmocka_unit_test(zero_timer_cannot_starve_fds),
        cmocka_unit_test(removal_during_round_is_honoured),
        cmocka_unit_test(write_readiness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
