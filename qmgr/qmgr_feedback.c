/* qmgr_feedback - the per-destination concurrency window (qmgr_feedback.h).
 *
 * The arithmetic follows Postfix's qmgr_queue.c so that a destination
 * reacts the same way: with the default feedback 1 the first failure at
 * window N costs two steps (the negative hysteresis cycle starts at once),
 * each later one a step; with the default cohort limit 1 a destination
 * that fails from the start at window 5 is dead after the third failure
 * (1/5 + 1/3 + 1/2 >= 1).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "msg.h"
#include "qmgr_feedback.h"

int qmgr_feedback_parse(const char *text, struct qmgr_feedback *fb, strbuf *err)
{
    char *end;
    errno = 0;
    double num = strtod(text, &end);
    if (end == text || errno != 0 || !isfinite(num))
        goto bad;
    fb->per_window = false;
    fb->base = num;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end == '/') {
        const char *den = end + 1;
        while (*den == ' ' || *den == '\t')
            den++;
        size_t n = strcspn(den, " \t");
        if ((n == 11 && strncmp(den, "concurrency", n) == 0) ||
            (n == 3 && strncmp(den, "win", n) == 0)) {
            fb->per_window = true;
            end = (char *)den + n;
        } else {
            errno = 0;
            double d = strtod(den, &end);
            if (end == den || errno != 0 || !(d > 0) || !isfinite(d))
                goto bad;
            fb->base = num / d;
        }
        while (*end == ' ' || *end == '\t')
            end++;
    }
    if (*end != '\0')
        goto bad;
    if (fb->base < 0 || fb->base > 1) {
        strbuf_printf(err, "feedback \"%s\" must be between 0 and 1", text);
        return -1;
    }
    return 0;
bad:
    strbuf_printf(err, "bad feedback value \"%s\": expected a number or \"number/concurrency\"",
                  text);
    return -1;
}

double qmgr_feedback_value(const struct qmgr_feedback *fb, int window)
{
    return fb->per_window ? fb->base / (window > 0 ? window : 1) : fb->base;
}

static const char *param_name(strbuf *buf, const char *transport, const char *suffix)
{
    strbuf_reset(buf);
    strbuf_printf(buf, "%s%s", transport, suffix);
    return buf->s;
}

/* <transport><suffix> when it exists (master.cf registers it with a
 * $default_... value), else the fallback parameter itself. */
static const char *pick(strbuf *buf, const char *transport, const char *suffix,
                        const char *fallback)
{
    const char *name = param_name(buf, transport, suffix);
    return config_is_defined(name) && *config_get(name) ? name : fallback;
}

void qmgr_sched_params_load(struct qmgr_sched_params *p, const char *transport, int limit)
{
    strbuf name = STRBUF_INIT, err = STRBUF_INIT;
    memset(p, 0, sizeof(*p));
    p->limit = limit < 1 ? 1 : limit;

    const char *n = pick(&name, transport, "_initial_destination_concurrency",
                         "initial_destination_concurrency");
    long long init = config_get_int(n);
    if (init < 1)
        msg_fatal("%s: %s must be at least 1", n, config_get(n));
    /* Postfix: an initial concurrency above the limit means the limit. */
    p->init = init > p->limit ? p->limit : (int)init;

    n = pick(&name, transport, "_destination_concurrency_failed_cohort_limit",
             "default_destination_concurrency_failed_cohort_limit");
    long long cl = config_get_int(n);
    if (cl < 0)
        msg_fatal("%s = %s: must not be negative", n, config_get(n));
    p->cohort_limit = cl > 1000000 ? 1000000 : (int)cl;

    n = pick(&name, transport, "_destination_concurrency_positive_feedback",
             "default_destination_concurrency_positive_feedback");
    if (qmgr_feedback_parse(config_get(n), &p->pos, &err) < 0)
        msg_fatal("%s: %s", n, err.s);
    n = pick(&name, transport, "_destination_concurrency_negative_feedback",
             "default_destination_concurrency_negative_feedback");
    strbuf_reset(&err);
    if (qmgr_feedback_parse(config_get(n), &p->neg, &err) < 0)
        msg_fatal("%s: %s", n, err.s);

    n = pick(&name, transport, "_destination_rate_delay", "default_destination_rate_delay");
    long long delay = config_get_time(n);
    /* A day between deliveries is already absurd; the cap keeps the
     * millisecond arithmetic far from overflow. */
    if (delay > 86400)
        delay = 86400;
    p->rate_delay_ms = delay * 1000;
    /* Postfix 2.7+: a rate delay implies one delivery at a time, so the
     * window arithmetic works at 1 (a failure there is a whole cohort). */
    if (p->rate_delay_ms > 0)
        p->limit = p->init = 1;

    p->debug = config_get_bool("destination_concurrency_feedback_debug");
    strbuf_release(&name);
    strbuf_release(&err);
}

void qmgr_window_init(struct qmgr_window *w, const struct qmgr_sched_params *p)
{
    w->window = p->init;
    w->success = w->failure = w->fail_cohorts = 0;
}

int qmgr_window_allowed(const struct qmgr_window *w, const struct qmgr_sched_params *p)
{
    if (w->window <= 0)
        return 0;
    /* Rate-limited destinations get one delivery at a time (Postfix 2.7). */
    if (p->rate_delay_ms > 0)
        return 1;
    return w->window < p->limit ? w->window : p->limit;
}

static void log_window(const char *how, const struct qmgr_window *w,
                       const struct qmgr_sched_params *p, const char *dest, double feedback)
{
    if (!p->debug)
        return;
    /* The same fields as Postfix's QMGR_LOG_WINDOW/QMGR_LOG_FEEDBACK so
     * that existing log analysis reads ours. */
    msg_info("%s: %s: feedback %g: limit %d window %d success %g failure %g fail_cohorts %g", how,
             dest, feedback, p->limit, w->window, w->success, w->failure, w->fail_cohorts);
}

void qmgr_window_revive(struct qmgr_window *w, const struct qmgr_sched_params *p, int busy,
                        const char *dest)
{
    /* Back from the almost grave, the best concurrency is anyone's guess:
     * what is still in flight, else the initial window. */
    w->window = busy > 0 ? (busy < p->limit ? busy : p->limit) : p->init;
    w->success = w->failure = w->fail_cohorts = 0;
    log_window("qmgr_queue_unthrottle", w, p, dest, 0);
}

void qmgr_window_success(struct qmgr_window *w, const struct qmgr_sched_params *p, int busy,
                         const char *dest)
{
    /* A success ends the failed-cohort count but not the negative
     * hysteresis cycle: that restarts only when the window grows. */
    w->fail_cohorts = 0;
    if (w->window == 0) {
        qmgr_window_revive(w, p, busy, dest);
        return;
    }
    double fb = 0;
    if (w->window < p->limit && w->window < busy + p->init) {
        fb = qmgr_feedback_value(&p->pos, w->window);
        w->success += fb;
        /* fb/2 absorbs rounding error in sums of 1/N. */
        while (w->success + fb / 2 >= 1) {
            w->window += 1;
            w->success -= 1;
            w->failure = 0;
        }
        if (w->window > p->limit)
            w->window = p->limit;
    }
    log_window("qmgr_queue_unthrottle", w, p, dest, fb);
}

bool qmgr_window_failure(struct qmgr_window *w, const struct qmgr_sched_params *p, const char *dest)
{
    if (w->window == 0)
        return false;
    w->fail_cohorts += 1.0 / w->window;
    if (p->cohort_limit > 0 && w->fail_cohorts >= p->cohort_limit) {
        w->window = 0;
        log_window("qmgr_queue_throttle", w, p, dest, 0);
        return true;
    }
    /* The window, not the deliveries in flight, sets the step: completions
     * arrive in bursts and would make the step jump around. */
    double fb = qmgr_feedback_value(&p->neg, w->window);
    w->failure -= fb;
    while (w->failure - fb / 2 < 0) {
        w->window -= 1;
        w->success = 0;
        w->failure += 1;
    }
    if (w->window < 1)
        w->window = 1;
    log_window("qmgr_queue_throttle", w, p, dest, fb);
    return false;
}
