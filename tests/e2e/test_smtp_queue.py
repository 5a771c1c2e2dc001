"""The smtp agent behind the whole pipeline: smtpd -> cleanup -> qmgr ->
smtp -> a real peer; deferral into the queue with the reason in the defer
log, a flush, bounces back to the sender's Maildir, and Debian's Postfix
relaying into our smtpd."""
import os
import re

import peers
from conftest import per_run
from delivery_helpers import (PIPELINE_CF, queue_files, read, smtp_send, start_pipeline,
                              trigger, wait_maildir, wait_queue_empty)
from peers_fixtures import *  # noqa: F401,F403

CF = PIPELINE_CF + "smtp unix - - n - - smtp\nrelay unix - - n - - smtp\n"


def defer_log_text(inst, qid):
    for root, _d, files in os.walk(os.path.join(inst.queue_dir, "defer")):
        if qid in files:
            return read(os.path.join(root, qid))
    return None


def test_relayhost_down_deferred_then_flushed(instance, start_peer):
    port = peers.free_port()
    inst = start_pipeline(instance, "relayhost = [127.0.0.1]:%d\n" % port, master_cf=CF)
    qid = smtp_send(inst, per_run("tester@mta-test.example"), ["friend@remote.test"])
    inst.wait_log(r"postfix/smtp\[\d+\]: %s: to=<friend@remote\.test>, relay=none, delay=[0-9.]+, "
                  r"delays=[0-9./]+, dsn=4\.4\.1, status=deferred \(connect to "
                  r"127\.0\.0\.1\[127\.0\.0\.1\]:%d: Connection refused\)" % (qid, port))
    inst.wait_for(lambda: queue_files(inst, "deferred") == [qid], what="message in deferred/")
    text = inst.wait_for(lambda: defer_log_text(inst, qid), what="defer log")
    assert "connect to 127.0.0.1[127.0.0.1]:%d: Connection refused" % port in text
    sink = start_peer(peers.SmtpSink(port=port))
    trigger(inst, b"FADI")
    sink.wait_for(1)
    wait_queue_empty(inst)
    inst.wait_log(r"%s: to=<friend@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*"
                  r"status=sent" % (qid, port))


def test_peer_5xx_bounces_to_sender_maildir(instance, start_peer):
    sink = start_peer(peers.SmtpSink(hard_reject=["RCPT"]))
    inst = start_pipeline(instance, "transport_maps = inline:{{ remote.test=smtp:[127.0.0.1]:%d }}\n"
                          % sink.port, master_cf=CF)
    qid = smtp_send(inst, per_run("tester@mta-test.example"), ["nobody@remote.test"])
    inst.wait_log(r"%s: to=<nobody@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*"
                  r"status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 5\d\d .*\(in reply to "
                  r"RCPT TO command\)\)" % (qid, sink.port))
    files = wait_maildir(inst, per_run("tester"))
    dsn = read(files[0])
    assert "nobody@remote.test" in dsn
    assert "in reply to RCPT TO command" in dsn
    wait_queue_empty(inst)


def test_debian_postfix_relays_to_our_smtpd_and_back_out(instance, start_peer):
    """Postfix -> our smtpd (tester@mta-test.example lands in the Maildir),
    and our smtp -> Postfix's smtpd -> its local delivery."""
    inst = start_pipeline(instance, master_cf=CF)
    pf = start_peer(peers.PostfixPeer(relayhost=inst.port("smtp")))
    pf.send("someone@peer.test", per_run("tester@mta-test.example"),
            b"Subject: via postfix\n\nrelayed by Debian's Postfix\n")
    files = wait_maildir(inst, per_run("tester"))
    assert "relayed by Debian's Postfix" in read(files[-1])
    pf.wait_log(per_run(r"to=<tester@mta-test\.example>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*"
                r"status=sent") % inst.port("smtp"))
    assert re.search(r"client=localhost\[127\.0\.0\.1\]", inst.log())
