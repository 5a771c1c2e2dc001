"""Locally submitted mail gets Postfix's trace header from pickup:

    Received: by $myhostname (Postfix, from userid N)
    <TAB>id QUEUEID; <RFC 5322 date>

N is the submitter's uid (the maildrop file's owner), QUEUEID the ID the
message is logged and delivered under. A message sent from one lab host to
another shows both hops: the receiving smtpd's header on top, the sending
host's local-submission header below it."""
import email.utils
import os
import pwd
import re
import subprocess
import time

from conftest import BIN, per_run
from delivery_helpers import PIPELINE_CF, read, start_pipeline
from test_submit import USER1, alt_config, local_users  # noqa: F401  (fixtures)
from test_submit_delivery import wait_delivered

SUBMIT_CF = PIPELINE_CF + "pickup unix n - n 60 1 pickup\n"
RECEIVED_BY = re.compile(r"^Received: by (\S+) \(Postfix, from userid (\d+)\)\n"
                         r"\tid ([0-9A-Za-z]+); (.+)$", re.M)


def sendmail(inst, *args, user=None, input=b"Subject: local\n\nbody\n"):
    cmd = [os.path.join(BIN, "sendmail")] + list(args)
    if user:
        cmd = ["runuser", "-u", user, "--"] + cmd
    r = subprocess.run(cmd, input=input, capture_output=True, timeout=30,
                       env=dict(os.environ, MAIL_CONFIG=inst.config_dir))
    assert r.returncode == 0, r.stderr


def headers(text):
    return text.split("\n\n", 1)[0]


def check_received(text, host, uid, inst):
    m = RECEIVED_BY.search(headers(text))
    assert m, headers(text)
    assert m.group(1) == host and int(m.group(2)) == uid, m.group(0)
    qid = m.group(3)
    # The ID the message went through the queue under: pickup's uid line
    # and the delivery agent's line carry the same one.
    # The Maildir file can appear just before the agent logs its line.
    inst.wait_log(r"%s: to=<[^>]+>, .*status=sent" % qid)
    log = inst.log()
    assert re.search(r"postfix/pickup\[\d+\]: %s: uid=%d from=<" % (qid, uid), log), qid
    when = email.utils.parsedate_to_datetime(m.group(4)).timestamp()
    assert abs(when - time.time()) < 120, m.group(4)
    assert re.match(r"\w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)$", m.group(4))
    return m


def test_sendmail_as_root_and_as_user(instance, alt_config):
    inst = start_pipeline(instance, master_cf=SUBMIT_CF, users=(per_run("tester"),))
    alt_config(inst.config_dir)
    sendmail(inst, per_run("tester"), input=b"Subject: as root\n\nbody\n")
    sendmail(inst, per_run("tester"), user=USER1, input=b"Subject: as user\n\nbody\n")
    files = wait_delivered(inst, per_run("tester"), 2)
    by_subject = {re.search(r"^Subject: (.*)$", read(f), re.M).group(1): read(f) for f in files}
    check_received(by_subject["as root"], "mta-test.example", 0, inst)
    check_received(by_subject["as user"], "mta-test.example",
                   pwd.getpwnam(USER1).pw_uid, inst)
    # Once, and first after what local(8) prepends: the submitter's own
    # headers follow it.
    for text in by_subject.values():
        h = headers(text).split("\n")
        assert len(RECEIVED_BY.findall(headers(text))) == 1
        local = ("Return-Path: ", "X-Original-To: ", "Delivered-To: ")
        first = next(i for i, ln in enumerate(h) if not ln.startswith(local))
        assert h[first].startswith("Received: by ") and h[first + 1].startswith("\tid "), h
        assert h[first + 2].startswith("Subject: "), h


def test_content_starting_with_white_space_is_body(instance):
    """Content that begins with white space would continue our Received:
    header; Postfix then starts the body (an empty line) first."""
    inst = start_pipeline(instance, master_cf=SUBMIT_CF, users=(per_run("tester"),))
    sendmail(inst, per_run("tester"), input=b" indented first line\nSubject: not a header\n\nbody\n")
    text = read(wait_delivered(inst, per_run("tester"), 1)[0])
    m = check_received(text, "mta-test.example", 0, inst)
    head, body = text.split("\n\n", 1)
    assert "indented" not in head and "\tid %s; " % m.group(3) in head
    assert body.startswith(" indented first line\nSubject: not a header\n\nbody\n"), body


def test_two_hosts_chain_shows_both_hops(instance):
    """sendmail on host A (lt01.example), relayed over SMTP to host B, which
    delivers: B's smtpd header on top of A's local-submission header."""
    b = start_pipeline(instance, users=(per_run("tester"),))
    a = start_pipeline(instance, master_cf=SUBMIT_CF + "smtp unix - - n - - smtp\n", users=(),
                       extra="myhostname = lt01.example\nrelayhost = [127.0.0.1]:%d\n"
                       % b.port("smtp"))
    sendmail(a, per_run("tester@mta-test.example"), input=b"Subject: two hops\n\nbody\n")
    text = read(wait_delivered(b, per_run("tester"), 1)[0])
    m = check_received(text, "lt01.example", 0, a)
    h = headers(text)
    hops = re.findall(r"^Received: (?:from \S+ \([^)]*\)\n\tby|by) (\S+) ", h, re.M)
    assert hops == ["mta-test.example", "lt01.example"], h
    top = re.search(per_run(r"^Received: from lt01\.example \(localhost \[127\.0\.0\.1\]\)\n"
                    r"\tby mta-test\.example \(Postfix\) with ESMTP id (\w+)\n"
                    r"\tfor <tester@mta-test\.example>; "), h, re.M)
    assert top, h
    assert top.start() < m.start()
    assert re.search(per_run(r"%s: to=<tester@mta-test\.example>, relay=local, .*status=sent")
                     % top.group(1), b.log())
