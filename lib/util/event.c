#include "event.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>

#include "mem.h"
#include "msg.h"
#include "stream.h"

typedef struct watch {
    int fd;
    unsigned events;
    event_fd_fn fn;
    void *ctx;
    uint64_t gen; /* changes on replace, so stale poll results are dropped */
} watch;

typedef struct timer {
    uint64_t id;
    int64_t due;
    event_timer_fn fn;
    void *ctx;
} timer;

struct event_loop {
    watch *w;
    size_t nw, capw;
    timer *t;
    size_t nt, capt;
    uint64_t next_id, next_gen;
    bool stop;
    /* per-round snapshot of what was polled */
    struct pollfd *pfd;
    uint64_t *pgen;
    size_t pcap;
};

event_loop *event_loop_new(void)
{
    event_loop *loop = xmalloc(sizeof(*loop));
    loop->next_id = 1;
    loop->next_gen = 1;
    return loop;
}

void event_loop_free(event_loop **loopp)
{
    event_loop *loop = *loopp;
    if (loop == NULL)
        return;
    free(loop->w);
    free(loop->t);
    free(loop->pfd);
    free(loop->pgen);
    XFREE(*loopp);
}

static watch *find_watch(event_loop *loop, int fd)
{
    for (size_t i = 0; i < loop->nw; i++)
        if (loop->w[i].fd == fd)
            return &loop->w[i];
    return NULL;
}

void event_unwatch(event_loop *loop, int fd)
{
    watch *w = find_watch(loop, fd);
    if (w)
        *w = loop->w[--loop->nw];
}

void event_watch(event_loop *loop, int fd, unsigned events, event_fd_fn fn, void *ctx)
{
    if (fd < 0)
        msg_panic("event_watch: bad fd %d", fd);
    events &= EVENT_READ | EVENT_WRITE;
    if (events == 0) {
        event_unwatch(loop, fd);
        return;
    }
    watch *w = find_watch(loop, fd);
    if (w == NULL) {
        if (loop->nw == loop->capw) {
            loop->capw = loop->capw ? loop->capw * 2 : 8;
            loop->w = xreallocarray(loop->w, loop->capw, sizeof(*loop->w));
        }
        w = &loop->w[loop->nw++];
    }
    *w = (watch){fd, events, fn, ctx, loop->next_gen++};
}

uint64_t event_timer_add(event_loop *loop, int64_t delay_ms, event_timer_fn fn, void *ctx)
{
    if (loop->nt == loop->capt) {
        loop->capt = loop->capt ? loop->capt * 2 : 8;
        loop->t = xreallocarray(loop->t, loop->capt, sizeof(*loop->t));
    }
    int64_t now = stream_now_ms();
    if (delay_ms < 0)
        delay_ms = 0;
    int64_t due = delay_ms > INT64_MAX - now ? INT64_MAX : now + delay_ms;
    uint64_t id = loop->next_id++;
    loop->t[loop->nt++] = (timer){id, due, fn, ctx};
    return id;
}

bool event_timer_cancel(event_loop *loop, uint64_t id)
{
    for (size_t i = 0; i < loop->nt; i++) {
        if (loop->t[i].id == id) {
            loop->t[i] = loop->t[--loop->nt];
            return true;
        }
    }
    return false;
}

static int poll_timeout(const event_loop *loop, int max_wait_ms)
{
    int64_t wait = max_wait_ms < 0 ? -1 : max_wait_ms;
    if (loop->nt > 0) {
        int64_t first = INT64_MAX;
        for (size_t i = 0; i < loop->nt; i++)
            if (loop->t[i].due < first)
                first = loop->t[i].due;
        int64_t left = first - stream_now_ms();
        if (left < 0)
            left = 0;
        if (wait < 0 || left < wait)
            wait = left;
    }
    return wait > INT_MAX ? INT_MAX : (int)wait;
}

int event_loop_once(event_loop *loop, int max_wait_ms)
{
    if (loop->nw == 0 && loop->nt == 0)
        return 0;
    size_t n = loop->nw;
    if (n > loop->pcap) {
        loop->pfd = xreallocarray(loop->pfd, n, sizeof(*loop->pfd));
        loop->pgen = xreallocarray(loop->pgen, n, sizeof(*loop->pgen));
        loop->pcap = n;
    }
    for (size_t i = 0; i < n; i++) {
        const watch *w = &loop->w[i];
        loop->pfd[i] =
            (struct pollfd){.fd = w->fd,
                            .events = (short)(((w->events & EVENT_READ) ? POLLIN : 0) |
                                              ((w->events & EVENT_WRITE) ? POLLOUT : 0))};
        loop->pgen[i] = w->gen;
    }
    int r = poll(loop->pfd, (nfds_t)n, poll_timeout(loop, max_wait_ms));
    if (r < 0)
        return errno == EINTR ? 0 : -1;
    int ran = 0;
    for (size_t i = 0; i < n && r > 0; i++) {
        short re = loop->pfd[i].revents;
        if (re == 0)
            continue;
        r--;
        watch *w = find_watch(loop, loop->pfd[i].fd);
        if (w == NULL || w->gen != loop->pgen[i])
            continue; /* removed or replaced by an earlier callback */
        unsigned ev = 0;
        if (re & (POLLIN | POLLHUP))
            ev |= w->events & EVENT_READ; /* HUP: the read will see EOF */
        if (re & POLLOUT)
            ev |= w->events & EVENT_WRITE;
        if (re & (POLLERR | POLLHUP | POLLNVAL))
            ev |= EVENT_ERROR;
        w->fn(loop, w->fd, ev, w->ctx);
        ran++;
    }
    /* Timers due now, created before this round. Each is removed before its
     * callback runs, so the callback may re-arm or cancel anything. */
    int64_t now = stream_now_ms();
    uint64_t id_limit = loop->next_id;
    for (;;) {
        size_t pick = loop->nt;
        for (size_t i = 0; i < loop->nt; i++)
            if (loop->t[i].id < id_limit && loop->t[i].due <= now &&
                (pick == loop->nt || loop->t[i].due < loop->t[pick].due))
                pick = i;
        if (pick == loop->nt)
            break;
        timer t = loop->t[pick];
        loop->t[pick] = loop->t[--loop->nt];
        t.fn(loop, t.ctx);
        ran++;
    }
    return ran;
}

int event_loop_run(event_loop *loop)
{
    loop->stop = false;
    while (!loop->stop && (loop->nw > 0 || loop->nt > 0))
        if (event_loop_once(loop, -1) < 0)
            return -1;
    return 0;
}

void event_loop_stop(event_loop *loop)
{
    loop->stop = true;
}
