"""Message actions (access(5), header_checks(5)): HOLD, DISCARD, REDIRECT,
BCC and FILTER from smtpd's access tables, HOLD and REDIRECT from cleanup's
header_checks -- carried to cleanup (request=action), recorded in the queue
file and applied by qmgr. Seen in the mailboxes, the queue, mailq and the
log lines Postfix writes."""
import os
import re
import smtplib

from conftest import per_run
from peers_fixtures import *  # noqa: F401,F403
from delivery_helpers import (PIPELINE_CF, maildir_new, queue_files, read, start_pipeline,
                              wait_maildir, wait_queue_empty)
from test_submit import mailq, run

CF = PIPELINE_CF + "showq unix n - n - - showq\nsmtp unix - - n - - smtp\n"
USERS = (per_run("tester"), per_run("tester2"), per_run("tester3"))
HELO = "client.example"


def make(instance, access="", hc="", extra=""):
    inst = start_pipeline(instance, master_cf=CF, users=USERS, start=False, extra=(
        "smtpd_sender_restrictions = check_sender_access texthash:{tmp}/etc/access\n"
        "header_checks = regexp:{tmp}/etc/hc\n" + extra))
    for name, text in (("access", access), ("hc", hc)):
        with open(os.path.join(inst.config_dir, name), "w") as f:
            f.write(per_run(text))
    inst.start()
    inst.wait_log(r"daemon started")
    return inst


def send(inst, sender, rcpts, subject):
    s = smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30)
    try:
        s.ehlo(HELO)
        assert s.mail(sender)[0] == 250
        for r in rcpts:
            code, resp = s.rcpt(per_run(r))
            assert code == 250, (r, resp)
        code, resp = s.data(("Subject: %s\r\nFrom: <%s>\r\n\r\nbody\r\n" % (subject, sender))
                            .encode())
        assert code == 250, resp
        return re.search(rb"queued as (\w+)", resp).group(1).decode()
    finally:
        s.quit()


def copies(user, subject):
    return [read(f) for f in maildir_new(per_run(user)) if "\nSubject: %s\n" % subject in read(f)]


def action_line(what, sender, rcpt, text):
    """smtpd's line, as Postfix's log_whatsup writes it (no queue file yet
    at the first RCPT: NOQUEUE)."""
    return re.escape(per_run("NOQUEUE: %s: RCPT from localhost[127.0.0.1]: <%s>: Sender address "
                             "%s; from=<%s> to=<%s> proto=ESMTP helo=<%s>"
                             % (what, sender, text, sender, rcpt, HELO)))


def test_access_hold_then_release(instance):
    inst = make(instance, access="hold@client.example HOLD\n")
    rcpt = per_run("tester@mta-test.example")
    qid = send(inst, "hold@client.example", [rcpt], "held")
    inst.wait_log(action_line("hold", "hold@client.example", rcpt, "triggers HOLD action"))
    inst.wait_for(lambda: qid in queue_files(inst, "hold"), what="the message in hold/")
    assert qid not in queue_files(inst, "incoming") + queue_files(inst, "deferred")
    out = mailq(inst).stdout.decode()
    assert qid + "!" in out, out
    assert copies("tester", "held") == []
    # Released, it is delivered (the hold flag was cleared on arrival).
    run(inst, "postsuper", "-H", qid)
    wait_maildir(inst, per_run("tester"))
    assert len(copies("tester", "held")) == 1
    inst.wait_log(re.escape(qid) + r": to=<" + re.escape(rcpt) + r">, relay=local, .*status=sent")
    wait_queue_empty(inst)
    assert queue_files(inst, "hold") == []


def test_access_discard(instance):
    inst = make(instance, access="discard@client.example DISCARD\n")
    rcpt = per_run("tester@mta-test.example")
    qid = send(inst, "discard@client.example", [rcpt, "tester2@mta-test.example"], "dropped")
    inst.wait_log(action_line("discard", "discard@client.example", rcpt,
                              "triggers DISCARD action"))
    # A message after it arrives; the discarded one never did.
    send(inst, "ok@client.example", [rcpt], "kept")
    wait_maildir(inst, per_run("tester"))
    assert copies("tester", "dropped") == [] and copies("tester2", "dropped") == []
    assert len(copies("tester", "kept")) == 1
    assert not re.search(re.escape(qid) + r": from=<", inst.log()), "qmgr saw the discarded mail"
    assert qid not in queue_files(inst, "incoming") + queue_files(inst, "hold")


def test_access_redirect(instance):
    inst = make(instance, access="redir@client.example REDIRECT tester2@mta-test.example\n"
                "noat@client.example REDIRECT tester2\n")
    rcpt = per_run("tester@mta-test.example")
    qid = send(inst, "redir@client.example", [rcpt, "tester3@mta-test.example"], "redirected")
    inst.wait_log(action_line("redirect", "redir@client.example", rcpt,
                              per_run("triggers REDIRECT tester2@mta-test.example")))
    wait_maildir(inst, per_run("tester2"), 2)
    wait_queue_empty(inst)
    assert len(copies("tester2", "redirected")) == 2  # one per original recipient
    assert copies("tester", "redirected") == [] and copies("tester3", "redirected") == []
    inst.wait_log(re.escape(per_run("%s: to=<tester2@mta-test.example>, orig_to=<%s>, "
                                    "relay=local" % (qid, rcpt))))
    # Postfix wants user@domain: the entry is ignored, with a warning.
    send(inst, "noat@client.example", [rcpt], "not-redirected")
    inst.wait_log(re.escape(per_run('entry "REDIRECT tester2" requires user@domain target')))
    wait_maildir(inst, per_run("tester"))
    assert len(copies("tester", "not-redirected")) == 1


def test_access_bcc(instance):
    inst = make(instance, access="bcc@client.example BCC tester2@mta-test.example\n")
    rcpt = per_run("tester@mta-test.example")
    send(inst, "bcc@client.example", [rcpt], "copied")
    inst.wait_log(action_line("bcc", "bcc@client.example", rcpt,
                              per_run("triggers BCC tester2@mta-test.example")))
    wait_maildir(inst, per_run("tester"))
    wait_maildir(inst, per_run("tester2"))
    assert len(copies("tester", "copied")) == 1 and len(copies("tester2", "copied")) == 1
    wait_queue_empty(inst)


def test_access_filter_to_smtp_sink(instance, smtp_sink):
    inst = make(instance, access="filt@client.example FILTER smtp:[127.0.0.1]:%d\n"
                "badfilt@client.example FILTER no/such:x\n" % smtp_sink.port)
    rcpt = per_run("tester@mta-test.example")
    qid = send(inst, "filt@client.example", [rcpt], "filtered")
    inst.wait_log(action_line("filter", "filt@client.example", rcpt,
                              "triggers FILTER smtp:[127.0.0.1]:%d" % smtp_sink.port))
    smtp_sink.wait_for(1)
    raw = smtp_sink.messages()[0]
    assert b"Subject: filtered" in raw, raw[:400]
    inst.wait_log(re.escape("%s: to=<%s>, relay=127.0.0.1[127.0.0.1]:%d" % (qid, rcpt,
                                                                            smtp_sink.port)))
    assert copies("tester", "filtered") == []
    # A value that is no transport:nexthop is ignored with a warning.
    send(inst, "badfilt@client.example", [rcpt], "unfiltered")
    inst.wait_log(r"warning: access table texthash:.*/access entry \"FILTER no/such:x\" has an "
                  r"invalid transport:destination")
    wait_maildir(inst, per_run("tester"))
    assert len(copies("tester", "unfiltered")) == 1


def test_header_checks_hold_and_redirect(instance):
    inst = make(instance, hc="/^Subject: hc-hold/ HOLD held by header\n"
                "/^Subject: hc-redirect/ REDIRECT tester3@mta-test.example\n")
    rcpt = per_run("tester@mta-test.example")
    qid = send(inst, "a@client.example", [rcpt], "hc-hold")
    inst.wait_log(re.escape("%s: hold: header Subject: hc-hold from localhost[127.0.0.1]; "
                            "from=<a@client.example> to=<%s> proto=ESMTP helo=<%s>: "
                            "held by header" % (qid, rcpt, HELO)))
    inst.wait_for(lambda: qid in queue_files(inst, "hold"), what="the message in hold/")
    qid2 = send(inst, "a@client.example", [rcpt], "hc-redirect")
    inst.wait_log(re.escape(per_run("%s: redirect: header Subject: hc-redirect from "
                                    "localhost[127.0.0.1]; from=<a@client.example> to=<%s> "
                                    "proto=ESMTP helo=<%s>: tester3@mta-test.example"
                                    % (qid2, rcpt, HELO))))
    wait_maildir(inst, per_run("tester3"))
    assert len(copies("tester3", "hc-redirect")) == 1
    assert copies("tester", "hc-redirect") == [] and copies("tester", "hc-hold") == []
    run(inst, "postsuper", "-H", qid)
    wait_maildir(inst, per_run("tester"))
    assert len(copies("tester", "hc-hold")) == 1
