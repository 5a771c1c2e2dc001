"""content_filter: Postfix's "advanced" after-queue content filter
(FILTER_README), as one loop through real programs:

    smtpd / pickup -> cleanup (filter= record) -> qmgr -> scan (our smtp)
      -> the filter (Debian's aiosmtpd, tests/e2e/aiosmtpd_reinject.py)
      -> 127.0.0.1:REINJECT smtpd -o content_filter= ... -> cleanup -> local

The re-injected message is a second queue file (a second queue ID, linked
in the log by the filter's reply "queued as ..."), delivered once and
never filtered again. A FILTER from an access table or header_checks
overrides content_filter; a filter that is down defers the mail, which
postqueue -f delivers once the filter is back.
"""
import os
import re
import smtplib
import subprocess
import sys

import peers
from conftest import BIN, per_run
from delivery_helpers import (PIPELINE_CF, maildir_new, queue_files, read, start_pipeline,
                              wait_maildir, wait_queue_empty)

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = "X-Content-Filter: checked by aiosmtpd"
RCPT = per_run("tester@mta-test.example")

# FILTER_README's advanced example, with test ports. The re-injection
# listener turns the filter off and skips what was done before the filter:
# also the main.cf restrictions, whose FILTER actions would otherwise send
# the mail round again.
CF = PIPELINE_CF + """\
127.0.0.1:{port_reinject} inet n - n - 10 smtpd
  -o content_filter=
  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
  -o smtpd_helo_restrictions=
  -o smtpd_client_restrictions=
  -o smtpd_sender_restrictions=
  -o smtpd_relay_restrictions=
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
  -o mynetworks=127.0.0.0/8
scan unix - - n - 10 smtp
pickup unix n - n 60 1 pickup
showq unix n - n - - showq
smtp unix - - n - - smtp
"""

EXTRA = """\
content_filter = scan:[127.0.0.1]:{port_filter}
smtp_connect_timeout = 5s
"""


class Filter:
    """aiosmtpd (python3 -m aiosmtpd) with the Reinject handler: a real
    SMTP server process on loopback, stopped by its PID."""

    def __init__(self, inst):
        self.inst = inst
        self.port = inst.port("filter")
        self.daemon = None

    def start(self):
        env = dict(os.environ, PYTHONPATH=HERE)
        self.daemon = peers.Daemon(
            "aiosmtpd", [sys.executable, "-m", "aiosmtpd", "-n", "-l",
                         "127.0.0.1:%d" % self.port, "-c", "aiosmtpd_reinject.Reinject",
                         "127.0.0.1", str(self.inst.port("reinject")), HEADER],
            env=env, log_path=peers.Path(self.inst.tmp) / "aiosmtpd.log")
        peers.wait_until(lambda: self.daemon.check_alive() or peers.port_open(self.port), 10,
                         "aiosmtpd listening on %d" % self.port)
        return self

    def stop(self):
        if self.daemon:
            self.daemon.stop()
            self.daemon = None


def make(instance, extra="", files=None):
    inst = start_pipeline(instance, master_cf=CF, extra=EXTRA + extra, start=False)
    for name, text in (files or {}).items():
        with open(os.path.join(inst.config_dir, name), "w") as f:
            f.write(inst._fill(per_run(text)))
    inst.start()
    inst.wait_log(r"daemon started")
    return inst


def send(inst, sender, subject, port_name="smtp"):
    with smtplib.SMTP("127.0.0.1", inst.port(port_name), timeout=30) as s:
        s.ehlo("client.example")
        assert s.mail(sender)[0] == 250
        code, resp = s.rcpt(RCPT)
        assert code == 250, resp
        code, resp = s.data(("Subject: %s\r\nFrom: <%s>\r\nMessage-ID: <%s@client.example>\r\n"
                             "\r\nbody\r\n" % (subject, sender, subject)).encode())
        assert code == 250, resp
        return re.search(rb"queued as (\w+)", resp).group(1).decode()


def copies(subject):
    return [read(f) for f in maildir_new(RCPT.split("@")[0])
            if "\nSubject: %s\n" % subject in read(f)]


def filtered_twice(inst, qid, subject):
    """The log of a message that went through the filter: its own lines, the
    filter's reply naming the second queue ID, and that ID's lines.
    Returns the second queue ID."""
    fport, rport = inst.port("filter"), inst.port("reinject")
    line = inst.wait_log("(?m)" + re.escape(
        "%s: to=<%s>, relay=127.0.0.1[127.0.0.1]:%d, " % (qid, RCPT, fport)) +
        r"delay=[\d.]+, delays=[\d./]+, dsn=2\.0\.0, status=sent \(250 2\.0\.0 " +
        re.escape("from MTA(smtp:[127.0.0.1]:%d): 250 2.0.0 Ok: queued as " % rport) +
        r"(\w+)\)$", timeout=20)
    qid2 = line.group(1)
    assert qid2 != qid
    log = inst.log()
    # The second file: received on the re-injection listener, same message.
    assert re.search(r"postfix/smtpd\[\d+\]: %s: client=localhost\[127\.0\.0\.1\]$" % qid2,
                     log, re.M), log[-3000:]
    for q in (qid, qid2):
        assert re.search(r": %s: message-id=<%s@client\.example>$" % (q, re.escape(subject)),
                         log, re.M), log[-3000:]
    inst.wait_log(re.escape("%s: to=<%s>, relay=local, " % (qid2, RCPT)) +
                  r".*status=sent \(delivered to maildir\)")
    inst.wait_log(r"%s: removed" % qid)
    inst.wait_log(r"%s: removed" % qid2)
    return qid2


def test_filter_loop_delivers_once_with_the_filters_header(instance):
    inst = make(instance)
    filt = Filter(inst).start()
    try:
        qid = send(inst, "sender@client.example", "through-the-filter")
        qid2 = filtered_twice(inst, qid, "through-the-filter")
        wait_maildir(inst, RCPT.split("@")[0])
        wait_queue_empty(inst)
        got = copies("through-the-filter")
        assert len(got) == 1, got
        assert got[0].count(HEADER + "\n") == 1, got[0][:800]
        # No loop: the re-injected file went to local, never back to scan.
        log = inst.log()
        assert len(re.findall(r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d," % filt.port, log)) == 1
        assert not re.search(r"%s: to=<[^>]*>, relay=127\.0\.0\.1" % qid2, log)
    finally:
        filt.stop()


def test_sendmail_mail_is_filtered_too(instance):
    """pickup reads content_filter as well (Postfix's pickup writes the
    FILTER record for local submissions)."""
    inst = make(instance)
    filt = Filter(inst).start()
    try:
        msg = ("Subject: submitted\nMessage-ID: <submitted@client.example>\n\nlocal\n").encode()
        r = subprocess.run([os.path.join(BIN, "sendmail"), "-f", "root@mta-test.example", RCPT],
                           input=msg, capture_output=True, timeout=30,
                           env=dict(os.environ, MAIL_CONFIG=inst.config_dir))
        assert r.returncode == 0, r.stderr
        m = inst.wait_log(r"postfix/pickup\[\d+\]: (\w+): uid=0 from=<root@mta-test\.example>")
        filtered_twice(inst, m.group(1), "submitted")
        wait_maildir(inst, RCPT.split("@")[0])
        got = copies("submitted")
        assert len(got) == 1 and got[0].count(HEADER + "\n") == 1, got
    finally:
        filt.stop()


def test_filter_without_nexthop_uses_default_filter_nexthop(instance):
    """content_filter = transport: (no next hop) goes to
    $default_filter_nexthop, as in Postfix's qmgr."""
    inst = make(instance, extra="content_filter = scan:\n"
                "default_filter_nexthop = [127.0.0.1]:{port_filter}\n")
    filt = Filter(inst).start()
    try:
        qid = send(inst, "sender@client.example", "default-nexthop")
        filtered_twice(inst, qid, "default-nexthop")
        got = copies("default-nexthop")
        assert len(got) == 1 and got[0].count(HEADER + "\n") == 1, got
    finally:
        filt.stop()


def test_access_and_header_check_filter_override_content_filter(instance):
    """FILTER actions win over content_filter (postconf(5)): here they send
    the mail straight to the re-injection listener, past the filter."""
    bypass = "FILTER smtp:[127.0.0.1]:{port_reinject}"
    inst = make(instance, extra=(
        "smtpd_sender_restrictions = check_sender_access texthash:{tmp}/etc/access\n"
        "header_checks = regexp:{tmp}/etc/hc\n"),
        files={"access": "bypass@client.example %s\n" % bypass,
               "hc": "/^Subject: hc-bypass/ %s\n" % bypass})
    filt = Filter(inst).start()
    try:
        rport = inst.port("reinject")
        for sender, subject in (("bypass@client.example", "access-bypass"),
                                ("other@client.example", "hc-bypass")):
            qid = send(inst, sender, subject)
            inst.wait_log(re.escape("%s: to=<%s>, relay=127.0.0.1[127.0.0.1]:%d, " % (
                qid, RCPT, rport)) + r".*status=sent \(250 2\.0\.0 Ok: queued as \w+\)")
        inst.wait_log(r"filter: header Subject: hc-bypass from localhost\[127\.0\.0\.1\]")
        wait_maildir(inst, RCPT.split("@")[0], count=2)
        for subject in ("access-bypass", "hc-bypass"):
            got = copies(subject)
            assert len(got) == 1 and HEADER not in got[0], got
        assert "relay=127.0.0.1[127.0.0.1]:%d," % filt.port not in inst.log()
    finally:
        filt.stop()


def test_filter_down_defers_and_postqueue_f_delivers(instance):
    inst = make(instance, extra="minimal_backoff_time = 60s\nmaximal_backoff_time = 120s\n"
                "queue_run_delay = 60s\n")
    fport = inst.port("filter")
    qid = send(inst, "sender@client.example", "filter-was-down")
    inst.wait_log(re.escape("%s: to=<%s>, relay=none, " % (qid, RCPT)) +
                  r".*status=deferred \(connect to 127\.0\.0\.1\[127\.0\.0\.1\]:%d: "
                  r"Connection refused\)" % fport)
    inst.wait_for(lambda: queue_files(inst, "deferred") == [qid], what="the message in deferred/")
    assert copies("filter-was-down") == []
    filt = Filter(inst).start()
    try:
        r = subprocess.run([os.path.join(BIN, "postqueue"), "-c", inst.config_dir, "-f"],
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        filtered_twice(inst, qid, "filter-was-down")
        wait_maildir(inst, RCPT.split("@")[0])
        got = copies("filter-was-down")
        assert len(got) == 1 and got[0].count(HEADER + "\n") == 1, got
        wait_queue_empty(inst)
    finally:
        filt.stop()


def test_bad_content_filter_is_fatal_naming_the_line(instance):
    inst = make(instance, extra="content_filter = scan\n")
    try:
        with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=10) as s:
            s.noop()
    except (smtplib.SMTPException, OSError):
        pass
    inst.wait_log(r"postfix/smtpd\[\d+\]: fatal: \S+/main\.cf, line \d+: content_filter = scan: "
                  r"need transport:destination")
