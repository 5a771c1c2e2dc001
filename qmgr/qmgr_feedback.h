/* qmgr_feedback - the per-destination concurrency window (Postfix 2.5+
 * scheduler, SCHEDULER_README "concurrency feedback").
 *
 * A destination starts with a window of <transport>_initial_destination_
 * concurrency deliveries at once (never above the destination concurrency
 * limit). Every delivery that completes without a connection or handshake
 * failure is positive feedback g(N), every one that does is negative
 * feedback f(N), where N is the window and g, f are the transport's
 * _destination_concurrency_positive/negative_feedback: a constant in [0, 1]
 * or "k/concurrency" (k/N). Accumulated feedback moves the window by whole
 * steps (hysteresis 1); it stays within [1, limit], and grows only while it
 * is less than the deliveries in flight plus the initial concurrency, so it
 * never runs far ahead of what was actually tried.
 *
 * Each failure also adds 1/N to the failed pseudo-cohort count (a cohort is
 * N deliveries); any success clears it. When it reaches
 * <transport>_destination_concurrency_failed_cohort_limit (0: never) the
 * destination is dead: window 0. The caller then defers its mail without
 * connecting until a timer or a successful delivery still in flight brings
 * it back (qmgr_window_revive).
 *
 * Pure arithmetic plus configuration reading: no queue state, no events.
 */
#ifndef MTA_QMGR_FEEDBACK_H
#define MTA_QMGR_FEEDBACK_H
#include <stdbool.h>
#include <stdint.h>

#include "strbuf.h"

struct qmgr_feedback {
    double base;     /* constant, or numerator when per_window */
    bool per_window; /* base / window ("k/concurrency") */
};

/* Parse a feedback setting: "1", "0.5", "1/4", "1/concurrency" (also the
 * 2.5 spelling "1/win"). The result must lie in [0, 1]. 0 or -1 with
 * the reason in err. */
int qmgr_feedback_parse(const char *text, struct qmgr_feedback *fb, strbuf *err);
double qmgr_feedback_value(const struct qmgr_feedback *fb, int window);

/* One transport's scheduling settings. */
struct qmgr_sched_params {
    int init;  /* initial window, <= limit */
    int limit; /* <transport>_destination_concurrency_limit (>= 1) */
    struct qmgr_feedback pos, neg;
    int cohort_limit;      /* failed cohorts before the destination is dead; 0 never */
    int64_t rate_delay_ms; /* > 0: one delivery at a time, this far apart */
    bool debug;            /* destination_concurrency_feedback_debug */
};

/* Read <transport>_... (falling back to the default_... parameters for a
 * transport without master.cf entry) with `limit` as the concurrency
 * limit. A malformed value is fatal, as for any parameter. */
void qmgr_sched_params_load(struct qmgr_sched_params *p, const char *transport, int limit);

struct qmgr_window {
    int window; /* 0: dead */
    double success, failure, fail_cohorts;
};

void qmgr_window_init(struct qmgr_window *w, const struct qmgr_sched_params *p);
static inline bool qmgr_window_dead(const struct qmgr_window *w)
{
    return w->window == 0;
}
/* Deliveries that may be in flight now (0 when dead). */
int qmgr_window_allowed(const struct qmgr_window *w, const struct qmgr_sched_params *p);
/* A delivery to `dest` completed without site failure; `busy` is how many
 * others are still in flight. Revives a dead destination (window = busy,
 * or the initial concurrency when nothing is in flight). */
void qmgr_window_success(struct qmgr_window *w, const struct qmgr_sched_params *p, int busy,
                         const char *dest);
/* A delivery to `dest` failed at the connection or handshake. Returns true
 * when this declared the destination dead. Ignored while dead. */
bool qmgr_window_failure(struct qmgr_window *w, const struct qmgr_sched_params *p,
                         const char *dest);
/* The dead time is over (or an 'F' flush): back to the initial window. */
void qmgr_window_revive(struct qmgr_window *w, const struct qmgr_sched_params *p, int busy,
                        const char *dest);

#endif
