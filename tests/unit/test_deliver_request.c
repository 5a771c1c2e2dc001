/* Unit tests: the qmgr <-> agent request and reply, single and batched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deliver_request.h"

static void fill(struct deliver_request *req, const char *id, const char *rcpt, off_t offset)
{
    *req = (struct deliver_request){
        .queue_name = "active",
        .queue_id = (char *)id,
        .nexthop = "mta-test.example",
        .sender = "s@example.org",
        .envid = "",
        .ret = "",
        .arrival_us = 1,
        .active_us = 2,
        .flags = 0,
    };
    struct deliver_request copy = {0};
    deliver_request_add_rcpt(&copy, rcpt, rcpt, "", 0, offset);
    req->rcpts = copy.rcpts;
    req->nrcpt = copy.nrcpt;
}

/* Encode, serialise and decode: what travels over the socket. */
static void roundtrip(const struct deliver_request *in, struct deliver_request *out)
{
    attr_list al = ATTR_LIST_INIT, back = ATTR_LIST_INIT;
    strbuf wire = STRBUF_INIT, err = STRBUF_INIT;
    deliver_request_encode(in, &al);
    attr_encode(&al, &wire);
    assert_int_equal(attr_decode(wire.s, wire.len, &deliver_request_limits, &back, NULL, &err),
                     ATTR_OK);
    assert_int_equal(deliver_request_decode(&back, out, &err), 0);
    attr_list_release(&al);
    attr_list_release(&back);
    strbuf_release(&wire);
    strbuf_release(&err);
}

static void single_request_has_no_batch(void **state)
{
    struct deliver_request req, out;
    fill(&req, "AAA", "u@x", 10);
    attr_list al = ATTR_LIST_INIT;
    deliver_request_encode(&req, &al);
    /* Agents that never batch (smtp, lmtp) see exactly the old request. */
    assert_null(attr_find(&al, "batch_count"));
    attr_list_release(&al);
    roundtrip(&req, &out);
    assert_int_equal(out.nbatch, 0);
    assert_string_equal(out.queue_id, "AAA");
    assert_int_equal(out.rcpts[0].offset, 10);
    deliver_request_release(&out);
    struct deliver_request r = {.rcpts = req.rcpts, .nrcpt = req.nrcpt};
    deliver_request_release(&r);
}

static void batch_roundtrip_and_reply(void **state)
{
    struct deliver_request req, b[2], out;
    fill(&req, "AAA", "u@x", 10);
    fill(&b[0], "BBB", "u@x", 20);
    fill(&b[1], "CCC", "u@x", 30);
    req.batch = b;
    req.nbatch = 2;
    roundtrip(&req, &out);
    assert_int_equal(out.nbatch, 2);
    assert_string_equal(out.queue_id, "AAA");
    assert_string_equal(out.batch[0].queue_id, "BBB");
    assert_string_equal(out.batch[1].queue_id, "CCC");
    assert_int_equal(out.batch[1].rcpts[0].offset, 30);

    /* Agent: each message its own outcome; qmgr applies them per message. */
    deliver_rcpt_set(&out.rcpts[0], DELIVER_SENT, "2.0.0", "delivered");
    deliver_rcpt_set(&out.batch[0].rcpts[0], DELIVER_DEFERRED, "4.2.0", "full");
    deliver_rcpt_set(&out.batch[1].rcpts[0], DELIVER_BOUNCED, "5.2.2", "too big");
    attr_list reply = ATTR_LIST_INIT;
    deliver_reply_encode(&out, &reply);
    struct deliver_request q = {0};
    deliver_request_add_rcpt(&q, "", "", "", 0, 0);
    q.batch = calloc(2, sizeof(*q.batch));
    q.nbatch = 2;
    deliver_request_add_rcpt(&q.batch[0], "", "", "", 0, 0);
    deliver_request_add_rcpt(&q.batch[1], "", "", "", 0, 0);
    strbuf err = STRBUF_INIT;
    assert_int_equal(deliver_reply_apply(&reply, &q, &err), 0);
    assert_int_equal(q.rcpts[0].status, DELIVER_SENT);
    assert_int_equal(q.batch[0].rcpts[0].status, DELIVER_DEFERRED);
    assert_string_equal(q.batch[0].rcpts[0].reason.s, "full");
    assert_int_equal(q.batch[1].rcpts[0].status, DELIVER_BOUNCED);
    assert_string_equal(q.batch[1].rcpts[0].dsn, "5.2.2");
    deliver_request_release(&q);
    attr_list_release(&reply);
    strbuf_release(&err);
    deliver_request_release(&out);
    for (int j = -1; j < 2; j++) {
        struct deliver_request *x = j < 0 ? &req : &b[j];
        struct deliver_request r = {.rcpts = x->rcpts, .nrcpt = x->nrcpt};
        deliver_request_release(&r);
    }
}

static void bad_batch_count_is_refused(void **state)
{
    struct deliver_request req, out;
    fill(&req, "AAA", "u@x", 10);
    attr_list al = ATTR_LIST_INIT;
    deliver_request_encode(&req, &al);
    attr_add_int(&al, "batch_count", 2); /* announces m1.* that are missing */
    strbuf err = STRBUF_INIT;
    assert_int_equal(deliver_request_decode(&al, &out, &err), -1);
    deliver_request_release(&out);
    attr_list_release(&al);
    attr_list al2 = ATTR_LIST_INIT;
    deliver_request_encode(&req, &al2);
    attr_add_int(&al2, "batch_count", DELIVER_BATCH_MAX + 1);
    assert_int_equal(deliver_request_decode(&al2, &out, &err), -1);
    deliver_request_release(&out);
    attr_list_release(&al2);
    strbuf_release(&err);
    struct deliver_request r = {.rcpts = req.rcpts, .nrcpt = req.nrcpt};
    deliver_request_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_request_has_no_batch),
        cmocka_unit_test(batch_roundtrip_and_reply),
        cmocka_unit_test(bad_batch_count_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
