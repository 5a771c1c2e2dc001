/* Unit tests: qmgr's per-destination concurrency window (qmgr/qmgr_feedback.c)
 * against Postfix's qmgr_queue.c arithmetic: slow start growth, negative
 * feedback with its hysteresis, failed pseudo-cohorts, revival. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "qmgr_feedback.h"

static struct qmgr_sched_params defaults(void)
{
    /* Postfix 3.7 defaults: initial 5, limit 20, feedback 1 and 1, cohort 1. */
    struct qmgr_sched_params p = {
        .init = 5,
        .limit = 20,
        .pos = {.base = 1},
        .neg = {.base = 1},
        .cohort_limit = 1,
    };
    return p;
}

static void test_parse(void **state)
{
    (void)state;
    struct qmgr_feedback fb;
    strbuf err = STRBUF_INIT;
    assert_int_equal(qmgr_feedback_parse("1", &fb, &err), 0);
    assert_false(fb.per_window);
    assert_true(fb.base == 1.0);
    assert_int_equal(qmgr_feedback_parse("1/concurrency", &fb, &err), 0);
    assert_true(fb.per_window);
    assert_true(qmgr_feedback_value(&fb, 4) == 0.25);
    assert_int_equal(qmgr_feedback_parse("1 / win", &fb, &err), 0);
    assert_true(fb.per_window);
    assert_int_equal(qmgr_feedback_parse("1/4", &fb, &err), 0);
    assert_false(fb.per_window);
    assert_true(fb.base == 0.25);
    assert_int_equal(qmgr_feedback_parse("0", &fb, &err), 0);
    const char *bad[] = {"", "abc", "2", "-0.5", "1/0", "1/x", "1 2", "nan", "1/concurrencyx"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strbuf_reset(&err);
        assert_int_equal(qmgr_feedback_parse(bad[i], &fb, &err), -1);
        assert_true(err.len > 0);
    }
    strbuf_release(&err);
}

static void test_slow_start_growth_and_cap(void **state)
{
    (void)state;
    struct qmgr_sched_params p = defaults();
    struct qmgr_window w;
    qmgr_window_init(&w, &p);
    assert_int_equal(w.window, 5);
    assert_int_equal(qmgr_window_allowed(&w, &p), 5);
    /* Feedback 1: one step per success while deliveries keep up. */
    qmgr_window_success(&w, &p, 5, "d");
    assert_int_equal(w.window, 6);
    for (int i = 0; i < 100; i++)
        qmgr_window_success(&w, &p, w.window, "d");
    assert_int_equal(w.window, 20); /* the destination concurrency limit */
    assert_int_equal(qmgr_window_allowed(&w, &p), 20);
}

static void test_growth_stays_near_actual_concurrency(void **state)
{
    (void)state;
    struct qmgr_sched_params p = defaults();
    struct qmgr_window w;
    qmgr_window_init(&w, &p);
    /* One delivery at a time never pushes the window past busy + init. */
    for (int i = 0; i < 50; i++)
        qmgr_window_success(&w, &p, 0, "d");
    assert_int_equal(w.window, 5);
    qmgr_window_success(&w, &p, 1, "d");
    assert_int_equal(w.window, 6);
    qmgr_window_success(&w, &p, 1, "d");
    assert_int_equal(w.window, 6);
}

static void test_positive_feedback_per_concurrency(void **state)
{
    (void)state;
    struct qmgr_sched_params p = defaults();
    p.pos.per_window = true; /* 1/concurrency: a whole window per step */
    struct qmgr_window w;
    qmgr_window_init(&w, &p);
    for (int i = 0; i < 4; i++) {
        qmgr_window_success(&w, &p, 5, "d");
        assert_int_equal(w.window, 5);
    }
    qmgr_window_success(&w, &p, 5, "d");
    assert_int_equal(w.window, 6);
    for (int i = 0; i < 5; i++)
        qmgr_window_success(&w, &p, 6, "d");
    assert_int_equal(w.window, 6);
    qmgr_window_success(&w, &p, 6, "d");
    assert_int_equal(w.window, 7);
}

static void test_negative_feedback_hysteresis(void **state)
{
    (void)state;
    struct qmgr_sched_params p = defaults();
    p.cohort_limit = 0; /* never dead: watch the window alone */
    struct qmgr_window w;
    qmgr_window_init(&w, &p);
    /* The first failure starts the negative cycle at once: two steps. */
    assert_false(qmgr_window_failure(&w, &p, "d"));
    assert_int_equal(w.window, 3);
    assert_false(qmgr_window_failure(&w, &p, "d"));
    assert_int_equal(w.window, 2);
    assert_false(qmgr_window_failure(&w, &p, "d"));
    assert_int_equal(w.window, 1);
    assert_false(qmgr_window_failure(&w, &p, "d"));
    assert_int_equal(w.window, 1); /* never below 1 */
    /* A success after failures: the window grows again (failure reset). */
    qmgr_window_success(&w, &p, 1, "d");
    assert_int_equal(w.window, 2);
}

static void test_dead_after_failed_cohort(void **state)
{
    (void)state;
    struct qmgr_sched_params p = defaults();
    struct qmgr_window w;
    qmgr_window_init(&w, &p);
    /* 1/5 + 1/3 + 1/2 >= 1 cohort: dead at the third failure. */
    assert_false(qmgr_window_failure(&w, &p, "d"));
    assert_false(qmgr_window_failure(&w, &p, "d"));
    assert_false(qmgr_window_dead(&w));
    assert_true(qmgr_window_failure(&w, &p, "d"));
    assert_true(qmgr_window_dead(&w));
    assert_int_equal(qmgr_window_allowed(&w, &p), 0);
    /* Late failures of deliveries still in flight change nothing. */
    assert_false(qmgr_window_failure(&w, &p, "d"));
    assert_true(qmgr_window_dead(&w));
    /* A late success revives it at the concurrency still in flight. */
    qmgr_window_success(&w, &p, 2, "d");
    assert_int_equal(w.window, 2);
    assert_true(w.fail_cohorts == 0);
}

static void test_success_clears_failed_cohorts(void **state)
{
    (void)state;
    struct qmgr_sched_params p = defaults();
    p.cohort_limit = 2;
    struct qmgr_window w;
    qmgr_window_init(&w, &p);
    for (int i = 0; i < 20; i++) {
        /* Alternating failure and success never accumulates a cohort. */
        assert_false(qmgr_window_failure(&w, &p, "d"));
        qmgr_window_success(&w, &p, 1, "d");
    }
    assert_false(qmgr_window_dead(&w));
    /* At window 1 each failure is a whole cohort: two of them kill it. */
    p.cohort_limit = 2;
    qmgr_window_init(&w, &p);
    w.window = 1;
    assert_false(qmgr_window_failure(&w, &p, "d"));
    assert_true(qmgr_window_failure(&w, &p, "d"));
}

static void test_revive_and_limits(void **state)
{
    (void)state;
    struct qmgr_sched_params p = defaults();
    struct qmgr_window w;
    qmgr_window_init(&w, &p);
    w.window = 0;
    qmgr_window_revive(&w, &p, 0, "d");
    assert_int_equal(w.window, 5);
    w.window = 0;
    qmgr_window_revive(&w, &p, 50, "d");
    assert_int_equal(w.window, 20);
    /* A rate delay allows one delivery whatever the window. */
    p.rate_delay_ms = 1000;
    w.window = 7;
    assert_int_equal(qmgr_window_allowed(&w, &p), 1);
    /* A zero feedback never moves the window (and never loops). */
    p = defaults();
    p.pos.base = 0;
    p.neg.base = 0;
    p.cohort_limit = 0;
    qmgr_window_init(&w, &p);
    for (int i = 0; i < 10; i++) {
        qmgr_window_success(&w, &p, 5, "d");
        qmgr_window_failure(&w, &p, "d");
    }
    assert_int_equal(w.window, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_slow_start_growth_and_cap),
        cmocka_unit_test(test_growth_stays_near_actual_concurrency),
        cmocka_unit_test(test_positive_feedback_per_concurrency),
        cmocka_unit_test(test_negative_feedback_hysteresis),
        cmocka_unit_test(test_dead_after_failed_cohort),
        cmocka_unit_test(test_success_clears_failed_cohorts),
        cmocka_unit_test(test_revive_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
