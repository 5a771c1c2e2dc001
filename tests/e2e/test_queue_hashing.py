"""hash_queue_names / hash_queue_depth across the whole queue: with
incoming, active, deferred and hold hashed two levels deep, SMTP and
sendmail mail is found and delivered, a deferred message sits in
deferred/<c1>/<c2>/<id>, postqueue sees it, postsuper holds, releases and
deletes it in its hashed place."""
import os
import subprocess

import peers
from conftest import BIN, per_run
from delivery_helpers import PIPELINE_CF, maildir_new, smtp_send, start_pipeline, wait_maildir
from test_submit import mailq, run

CF = PIPELINE_CF + """\
pickup unix n - n 60 1 pickup
showq unix n - n - - showq
smtp unix - - n - - smtp
"""

HASHED = "incoming, active, deferred, hold"


def files_in(inst, queue):
    """{queue ID: path relative to the queue} for every file in a queue."""
    out = {}
    top = os.path.join(inst.queue_dir, queue)
    for root, _dirs, files in os.walk(top):
        for f in files:
            out[f] = os.path.relpath(os.path.join(root, f), top)
    return out


def hashed_path(qid):
    return "%s/%s/%s" % (qid[0], qid[1], qid)


def sendmail(inst, rcpt, body=b"Subject: via sendmail\n\nhi\n"):
    env = dict(os.environ, MAIL_CONFIG=inst.config_dir)
    r = subprocess.run([os.path.join(BIN, "sendmail"), "-f", per_run("tester@mta-test.example"), rcpt],
                       input=body, capture_output=True, timeout=30, env=env)
    assert r.returncode == 0, r.stderr


def test_hashed_queues_deliver_and_are_managed(instance):
    port = peers.free_port()     # nothing listens: the relay is down
    inst = start_pipeline(instance, master_cf=CF, extra=(
        "hash_queue_names = %s\nhash_queue_depth = 2\nrelayhost = [127.0.0.1]:%d\n"
        % (HASHED, port)))

    # local mail by SMTP and by sendmail (maildrop -> pickup) is delivered
    smtp_send(inst, per_run("tester@mta-test.example"), [per_run("tester@mta-test.example")])
    wait_maildir(inst, per_run("tester"), 1)
    sendmail(inst, per_run("tester@mta-test.example"))
    wait_maildir(inst, per_run("tester"), 2)
    assert any("via sendmail" in open(f, encoding="latin-1").read()
               for f in maildir_new(per_run("tester")))

    # remote mail is deferred, into the hashed deferred queue
    q1 = smtp_send(inst, per_run("tester@mta-test.example"), ["friend@remote.test"])
    sendmail(inst, "friend2@remote.test")
    inst.wait_for(lambda: q1 in files_in(inst, "deferred") and len(files_in(inst, "deferred")) == 2,
                  timeout=20, what="two messages in deferred/")
    deferred = files_in(inst, "deferred")
    for qid, rel in deferred.items():
        assert rel == hashed_path(qid), rel
    q2 = [q for q in deferred if q != q1][0]
    out = mailq(inst).stdout.decode()
    assert q1 in out and q2 in out, out
    assert "friend@remote.test" in out and "friend2@remote.test" in out, out
    assert "Connection refused" in out, out

    # hold: the file moves to hold/<c1>/<c2>/<id>, mailq marks it with '!'
    run(inst, "postsuper", "-h", q2)
    held = files_in(inst, "hold")
    assert held == {q2: hashed_path(q2)}, held
    assert q2 not in files_in(inst, "deferred")
    out = mailq(inst).stdout.decode()
    assert q2 + "!" in out, out

    # release: back to the (hashed) deferred queue
    run(inst, "postsuper", "-H", q2)
    assert files_in(inst, "hold") == {}
    inst.wait_for(lambda: files_in(inst, "deferred").get(q2) == hashed_path(q2)
                  or files_in(inst, "active").get(q2) == hashed_path(q2),
                  what="released message back in the queue")

    # delete both; the queue is empty afterwards
    run(inst, "postsuper", "-d", q1)
    run(inst, "postsuper", "-d", q2)
    inst.wait_for(lambda: not files_in(inst, "deferred") and not files_in(inst, "active"),
                  what="an empty queue")
    out = mailq(inst).stdout.decode()
    assert "Mail queue is empty" in out, out


def test_hashed_incoming_at_depth_one(instance):
    """incoming alone hashed: cleanup must write where qmgr looks."""
    inst = start_pipeline(instance, master_cf=CF,
                          extra="hash_queue_names = incoming, deferred\nhash_queue_depth = 1\n")
    smtp_send(inst, per_run("tester@mta-test.example"), [per_run("tester@mta-test.example")])
    wait_maildir(inst, per_run("tester"), 1, timeout=15)


def test_every_hashable_queue_hashed(instance):
    """All the queues Postfix lets hash_queue_names list, hashed: mail is
    delivered, and sendmail -bv's verdicts (trace/, written by local and
    read by qmgr) reach the report."""
    from test_submit_verify import DOMAIN, report, verify
    inst = start_pipeline(instance, master_cf=CF, extra=(
        "hash_queue_names = incoming, active, deferred, bounce, defer, trace, flush, hold\n"
        "hash_queue_depth = 2\n"))
    smtp_send(inst, per_run("tester@mta-test.example"), [per_run("tester2@mta-test.example")])
    wait_maildir(inst, per_run("tester2"), 1)
    verify(inst, per_run("tester@") + DOMAIN)
    text = report(inst)
    assert per_run("<tester@%s>: delivers to maildir\n") % DOMAIN in text, text
    assert maildir_new(per_run("tester")) == []
    assert "warning" not in inst.log(), inst.log()


def test_bad_hash_depth_is_fatal_for_postsuper(instance):
    """A depth outside 0..10 is refused, never taken as 0 (postsuper used
    to look in the unhashed places and report success)."""
    inst = start_pipeline(instance, master_cf=CF, extra="hash_queue_depth = 2\n")
    q = smtp_send(inst, per_run("tester@mta-test.example"), [per_run("tester@mta-test.example")])
    wait_maildir(inst, per_run("tester"), 1)
    inst.rewrite(main_cf_extra=inst.main_cf_extra.replace("hash_queue_depth = 2",
                                                          "hash_queue_depth = 11"))
    assert q
    r = run(inst, "postsuper", "-d", "ALL", check=False)
    assert r.returncode != 0, r
    assert b"hash_queue_depth = 11: must be between 0 and 10" in r.stderr, r.stderr
