/* event - a small single-threaded event loop: fd readiness and timers.
 *
 * Contract:
 * - Built on poll(2); meant for daemons with tens of descriptors and timers,
 *   where simplicity beats epoll. qmgr runs on it. master does not: its
 *   loop (master/master_serv.c) rebuilds its poll set each round from the
 *   services' state (listen fds only while a child is wanted, status pipes
 *   read before forking), which per-fd callbacks would not make simpler. Timers are kept in an
 *   unsorted array (O(n) per round). Times are stream_now_ms() (monotonic).
 * - One watch per fd: event_watch replaces an earlier one for that fd.
 *   Callbacks get EVENT_READ / EVENT_WRITE as requested, and EVENT_ERROR
 *   (POLLERR/POLLHUP/POLLNVAL) whatever was requested, so a dead peer is
 *   never silently ignored.
 * - Timers are one-shot; a callback re-arms itself if it wants to repeat.
 * - Callbacks may add or remove any watch or timer, including their own.
 *   A watch removed (or replaced) during a round is not called later in that
 *   round; a timer added during a round runs in a later round at the
 *   earliest, so a zero-delay timer that re-arms itself cannot starve fds.
 * - Signals are not handled here: the caller's handler writes to a
 *   self-pipe that it watches like any fd. EINTR ends a round early.
 */
#ifndef MTA_EVENT_H
#define MTA_EVENT_H
#include <stdbool.h>
#include <stdint.h>

typedef struct event_loop event_loop;

#define EVENT_READ 1u
#define EVENT_WRITE 2u
#define EVENT_ERROR 4u

typedef void (*event_fd_fn)(event_loop *loop, int fd, unsigned events, void *ctx);
typedef void (*event_timer_fn)(event_loop *loop, void *ctx);

event_loop *event_loop_new(void);
void event_loop_free(event_loop **loopp); /* closes nothing */

/* Watch fd for events (EVENT_READ and/or EVENT_WRITE); 0 removes. */
void event_watch(event_loop *loop, int fd, unsigned events, event_fd_fn fn, void *ctx);
void event_unwatch(event_loop *loop, int fd);

/* Call fn(ctx) once, delay_ms from now. Returns an id (never 0). */
uint64_t event_timer_add(event_loop *loop, int64_t delay_ms, event_timer_fn fn, void *ctx);
/* Remove a pending timer; false if it already ran or never existed. */
bool event_timer_cancel(event_loop *loop, uint64_t id);

/* One round: wait up to max_wait_ms (< 0: until something happens; but
 * never past the next timer), then dispatch. Returns the number of
 * callbacks run, or -1 with errno when poll failed (not EINTR). With
 * nothing to watch and no timers, returns 0 at once. */
int event_loop_once(event_loop *loop, int max_wait_ms);
/* Rounds until event_loop_stop or nothing is left to wait for. Returns 0,
 * or -1 when poll failed. */
int event_loop_run(event_loop *loop);
void event_loop_stop(event_loop *loop);

#endif
