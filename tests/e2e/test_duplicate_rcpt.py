"""Duplicate recipients in one envelope are delivered once (cleanup's
duplicate filter, as Postfix's cleanup_out_recipient + been_here with
BH_FLAG_FOLD): equal ignoring ASCII case, comparing DSN ORCPT, NOTIFY, the
address as given and as rewritten (enable_original_recipient = yes), or the
rewritten address only (= no); at most duplicate_filter_limit remembered."""
import os
import re
import smtplib
import subprocess

from conftest import BIN, per_run
from delivery_helpers import (PIPELINE_CF, maildir_new, read, start_pipeline, wait_maildir,
                              wait_queue_empty)

SUBMIT_CF = PIPELINE_CF + "pickup unix n - n 60 1 pickup\n"


def send(inst, sender, rcpts, subject):
    """rcpts: addresses, or (address, [RCPT options]) pairs."""
    s = smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30)
    try:
        s.ehlo("client.example")
        code, resp = s.mail(sender)
        assert code == 250, resp
        for r in rcpts:
            r, opts = r if isinstance(r, tuple) else (r, [])
            code, resp = s.rcpt(r, opts)
            assert code == 250, (r, resp)
        code, resp = s.data(("Subject: %s\r\nMessage-ID: <%s@client.example>\r\n\r\nbody\r\n"
                             % (subject, subject)).encode())
        assert code == 250, resp
        return re.search(rb"queued as (\w+)", resp).group(1).decode()
    finally:
        s.quit()


def copies(user, subject):
    return [f for f in maildir_new(user) if "\nSubject: %s\n" % subject in read(f)]


def sendmail(inst, *args):
    r = subprocess.run([os.path.join(BIN, "sendmail"), "-i"] + list(args),
                       input=b"Subject: %s\n\nbody\n" % args[-1].encode(),
                       env=dict(os.environ, MAIL_CONFIG=inst.config_dir),
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_smtp_repeated_and_mixed_case_recipients_delivered_once(instance):
    inst = start_pipeline(instance, users=(per_run("tester"), per_run("tester2")))
    variants = [per_run("<tester@mta-test.example>"), per_run("<Tester@mta-test.example>"),
                per_run("<TESTER@MTA-TEST.EXAMPLE>"), per_run("<tester@mta-test.example>")]
    qids = []
    for sender, subject in (("someone@client.example", "dup-plain"), ("", "dup-null")):
        qids.append(send(inst, sender, variants + [per_run("<tester2@mta-test.example>")], subject))
    wait_maildir(inst, per_run("tester"), 2)
    wait_maildir(inst, per_run("tester2"), 2)
    wait_queue_empty(inst)
    for subject in ("dup-plain", "dup-null"):
        assert len(copies(per_run("tester"), subject)) == 1, subject
        assert len(copies(per_run("tester2"), subject)) == 1, subject
    log = inst.log()
    for qid in qids:
        assert re.search(r"%s: from=<[^>]*>, size=\d+, nrcpt=2 \(queue active\)" % qid, log), qid
        assert len(re.findall(r"%s: to=<[^>]*>, .*status=sent" % qid, log)) == 2, qid


def test_sendmail_repeated_recipients_delivered_once(instance):
    inst = start_pipeline(instance, master_cf=SUBMIT_CF, users=(per_run("tester"),))
    sendmail(inst, per_run("tester"), per_run("Tester"), per_run("TESTER"), per_run("tester"), "dup-sendmail")
    wait_maildir(inst, per_run("tester"), 1)
    wait_queue_empty(inst)
    assert len(copies(per_run("tester"), "dup-sendmail")) == 1
    assert re.search(r"nrcpt=1 \(queue active\)", inst.log())


def test_original_recipient_takes_part_unless_disabled(instance):
    """"tester" and "tester@mta-test.example" are one mailbox but two
    original addresses: Postfix keeps both unless enable_original_recipient
    = no; DSN NOTIFY differences also keep both with the default."""
    inst = start_pipeline(instance, master_cf=SUBMIT_CF, users=(per_run("tester"),))
    sendmail(inst, per_run("tester"), per_run("tester@mta-test.example"), "orig-differs")
    wait_maildir(inst, per_run("tester"), 2)
    wait_queue_empty(inst)
    assert len(copies(per_run("tester"), "orig-differs")) == 2

    inst.rewrite(main_cf_extra=inst.main_cf_extra + "enable_original_recipient = no\n")
    inst.reload()
    sendmail(inst, per_run("tester"), per_run("tester@mta-test.example"), per_run("Tester@MTA-test.example"), "orig-off")
    wait_maildir(inst, per_run("tester"), 3)
    wait_queue_empty(inst)
    assert len(copies(per_run("tester"), "orig-off")) == 1


def test_dsn_attributes_take_part(instance):
    """Same address, different DSN NOTIFY or ORCPT: two recipients (Postfix
    compares them with enable_original_recipient = yes)."""
    inst = start_pipeline(instance, users=(per_run("tester"),))
    rcpts = [per_run("<tester@mta-test.example>"), (per_run("<tester@mta-test.example>"), ["NOTIFY=NEVER"]),
             (per_run("<Tester@mta-test.example>"), ["NOTIFY=NEVER"]),
             (per_run("<tester@mta-test.example>"), ["ORCPT=rfc822;alias@client.example"])]
    qid = send(inst, "someone@client.example", rcpts, "dup-dsn")
    wait_maildir(inst, per_run("tester"), 3)
    wait_queue_empty(inst)
    assert len(copies(per_run("tester"), "dup-dsn")) == 3
    assert re.search(r"%s: from=<someone@client\.example>, size=\d+, nrcpt=3 " % qid, inst.log())


def test_duplicate_filter_limit(instance):
    """Only duplicate_filter_limit recipients are remembered: a repeat of a
    later one is no longer caught (been_here(3) semantics)."""
    inst = start_pipeline(instance, extra="duplicate_filter_limit = 2\n")
    rcpts = [per_run("<tester@mta-test.example>"), per_run("<tester2@mta-test.example>"),
             per_run("<tester3@mta-test.example>"), per_run("<tester3@mta-test.example>"),
             per_run("<Tester@mta-test.example>")]
    qid = send(inst, "someone@client.example", rcpts, "dup-limit")
    wait_maildir(inst, per_run("tester3"), 2)
    wait_queue_empty(inst)
    assert len(copies(per_run("tester"), "dup-limit")) == 1
    assert len(copies(per_run("tester2"), "dup-limit")) == 1
    assert len(copies(per_run("tester3"), "dup-limit")) == 2
    assert re.search(r"%s: from=<someone@client\.example>, size=\d+, nrcpt=4 " % qid, inst.log())
