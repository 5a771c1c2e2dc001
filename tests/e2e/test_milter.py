"""Milters (Sendmail milter protocol 6) against the real peers: OpenDKIM
signing as smtpd_milters (also per listener, -o smtpd_milters=) and as
non_smtpd_milters (sendmail -> pickup -> cleanup), the signature checked
with python3-dkim against the test key; rspamd's milter (proxy worker with
milter = yes) rejecting GTUBE with its own text and adding its headers to a
clean message; a milter that is down or stopped (SIGSTOP: it accepts the
connection and never answers) -> milter_default_action, tempfail and
accept, with Postfix's log lines."""
import contextlib
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import free_port, per_run
from delivery_helpers import (PIPELINE_CF, maildir_new, read, start_pipeline, wait_maildir)
from test_submit import run

try:
    import dkim
except ImportError:  # pragma: no cover - python3-dkim is in install-deps.sh
    dkim = None

USER = per_run("tester")
HELO = "client.example"
CF = PIPELINE_CF + "pickup unix n - n 60 1 pickup\n"


def wait_port(port, proc, what, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError("%s exited: %s" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("%s does not listen on %d" % (what, port))


@contextlib.contextmanager
def serving(cmd, port, what, log_path, timeout=15):
    """Run a peer in the foreground, its output in log_path, until it
    listens on port; stopped by PID afterwards."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        try:
            wait_port(port, proc, what, timeout=timeout)
            proc.port = port
            yield proc
        finally:
            stop(proc)


def stop(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGCONT)
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def opendkim(tmp_path):
    """An OpenDKIM signer for example.com on a loopback port, in the
    foreground; the public key as the TXT record python3-dkim will see."""
    if not shutil.which("opendkim") or not shutil.which("opendkim-genkey") or dkim is None:
        pytest.fail("opendkim, opendkim-tools and python3-dkim are needed "
                    "(scripts/install-deps.sh --test)")
    d = tmp_path / "opendkim"
    d.mkdir()
    subprocess.run(["opendkim-genkey", "-b", "1024", "-d", "example.com", "-s", "test",
                    "-D", str(d)], check=True)
    txt = (d / "test.txt").read_text()
    record = "".join(re.findall(r'"([^"]*)"', txt)).encode()
    port = free_port()
    conf = d / "opendkim.conf"
    conf.write_text("Syslog no\nMode sv\nSocket inet:%d@127.0.0.1\nDomain example.com\n"
                    "Selector test\nKeyFile %s\nCanonicalization relaxed/simple\n"
                    "RequireSafeKeys no\nInternalHosts 127.0.0.1\n"
                    "On-NoSignature accept\n" % (port, d / "test.private"))
    with serving(["opendkim", "-f", "-x", str(conf)], port, "opendkim", d / "out") as proc:
        proc.record = record
        yield proc


def verify(message, record):
    def dnsfunc(name, timeout=5):
        assert name in ("test._domainkey.example.com.", b"test._domainkey.example.com."), name
        return record
    return dkim.verify(message.encode("latin-1"), dnsfunc=dnsfunc)


def make(instance, extra, master_extra=""):
    inst = start_pipeline(instance, master_cf=CF + master_extra, users=(USER,), start=False,
                          extra="milter_command_timeout = 5s\nmilter_content_timeout = 5s\n"
                          + extra)
    inst.start()
    inst.wait_log(r"daemon started")
    return inst


def message(subject, body="A clean message.\r\n"):
    return ("From: Sender <sender@example.com>\r\nTo: <%s@mta-test.example>\r\n"
            "Subject: %s\r\nDate: Thu, 03 Dec 2026 12:00:00 +0000\r\n"
            "Message-ID: <%s@example.com>\r\n\r\n%s" % (USER, subject, subject, body))


def smtp(port, subject, body="A clean message.\r\n", rcpt=None):
    """One message; returns (code, text) of the final reply."""
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    try:
        s.ehlo(HELO)
        code, resp = s.mail("sender@example.com")
        if code != 250:
            return code, resp.decode()
        code, resp = s.rcpt(rcpt or "%s@mta-test.example" % USER)
        if code != 250:
            return code, resp.decode()
        code, resp = s.data(message(subject, body).encode())
        return code, resp.decode()
    finally:
        try:
            s.quit()
        except smtplib.SMTPServerDisconnected:
            pass


def delivered(subject):
    for f in maildir_new(USER):
        text = read(f)
        if "\nSubject: %s\n" % subject in text:
            return text
    return None


def wait_delivered(inst, subject, timeout=20):
    return inst.wait_for(lambda: delivered(subject), timeout=timeout,
                         what="message %r delivered" % subject)


def test_opendkim_signs_smtp_and_per_listener(instance, opendkim):
    port2 = free_port()
    inst = make(instance, "", master_extra=(
        "127.0.0.1:%d inet n - n - - smtpd\n  -o smtpd_milters=inet:127.0.0.1:%d\n"
        % (port2, opendkim.port)))
    code, resp = smtp(port2, "signed-smtp")
    assert code == 250, resp
    text = wait_delivered(inst, "signed-smtp")
    assert "\nDKIM-Signature: " in text or text.startswith("DKIM-Signature: "), text
    # As Postfix: the signature goes above the headers it signs, our
    # Received: line is still there, and local's Delivered-To is first.
    assert re.search(r"d=example\.com", text) and "s=test" in text
    assert "\nReceived: from %s (localhost [127.0.0.1])" % HELO in text
    assert verify(text.split("\n", 1)[1].replace("\n", "\r\n")
                  if text.startswith("Return-Path") else text.replace("\n", "\r\n"),
                  opendkim.record)
    # The listener without the -o override has no milter.
    code, resp = smtp(inst.port("smtp"), "unsigned-smtp")
    assert code == 250, resp
    text = wait_delivered(inst, "unsigned-smtp")
    assert "DKIM-Signature:" not in text


def strip_delivery_headers(text):
    """The message as it left the MTA: local(8) adds Return-Path and
    Delivered-To above everything (they are not signed)."""
    lines = text.split("\n")
    while lines and (lines[0].startswith("Return-Path:") or lines[0].startswith("Delivered-To:")):
        lines.pop(0)
    return "\r\n".join(lines)


def test_opendkim_signature_verifies(instance, opendkim):
    inst = make(instance, "smtpd_milters = inet:127.0.0.1:%d\n" % opendkim.port)
    code, resp = smtp(inst.port("smtp"), "verify-me", body="line one\r\n\r\nline three\r\n")
    assert code == 250, resp
    text = wait_delivered(inst, "verify-me")
    assert verify(strip_delivery_headers(text), opendkim.record), text
    # Tampering breaks it: the check can fail.
    assert not verify(strip_delivery_headers(text).replace("line three", "line 3"),
                      opendkim.record)


def test_opendkim_signs_sendmail(instance, opendkim):
    # An older protocol version, negotiated down (libmilter speaks them all).
    inst = make(instance, "non_smtpd_milters = {{ inet:127.0.0.1:%d, protocol=4 }}\n"
                % opendkim.port)
    run(inst, "sendmail", "-f", "sender@example.com", "%s@mta-test.example" % USER,
        input=message("signed-local").replace("\r\n", "\n").encode())
    text = wait_delivered(inst, "signed-local")
    assert "DKIM-Signature:" in text, text
    assert verify(strip_delivery_headers(text), opendkim.record), text


def closed_port():
    return free_port()  # nothing listens there once free_port closed it


def test_milter_down_tempfail(instance):
    port = closed_port()
    port2 = free_port()
    inst = make(instance, "smtpd_milters = inet:127.0.0.1:%d\nmilter_default_action = tempfail\n"
                % port, master_extra="127.0.0.1:%d inet n - n - - smtpd\n"
                "  -o receive_override_options=no_milters\n" % port2)
    # A listener with no_milters (an after-filter re-injection port) never
    # asks the milter.
    mark = inst.log_mark()
    code, resp = smtp(port2, "no-milters")
    assert code == 250, resp
    wait_delivered(inst, "no-milters")
    assert "Milter" not in inst.log()[mark:]
    mark = inst.log_mark()
    code, resp = smtp(inst.port("smtp"), "down-tempfail")
    assert code == 451 and "4.7.1 Service unavailable - try again later" in resp, (code, resp)
    inst.wait_log(r"postfix/smtpd\[\d+\]: warning: connect to Milter service "
                  r"inet:127\.0\.0\.1:%d: Connection refused" % port, since=mark)
    inst.wait_log(r"NOQUEUE: milter-reject: MAIL from localhost\[127\.0\.0\.1\]: 451 4\.7\.1 "
                  r"Service unavailable - try again later; from=<sender@example\.com> "
                  r"proto=ESMTP helo=<%s>" % re.escape(HELO), since=mark)
    # Logged once per session, however many commands follow.
    s = smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30)
    s.ehlo(HELO)
    for _ in range(3):
        assert s.mail("sender@example.com")[0] == 451
        s.rset()
    s.quit()
    inst.wait_log(r"disconnect from", since=mark, count=2)
    assert len(re.findall(r"connect to Milter service", inst.log()[mark:])) == 2


def test_milter_down_accept_per_milter_setting(instance):
    port = closed_port()
    inst = make(instance, "smtpd_milters = {{ inet:127.0.0.1:%d, default_action=accept }}\n"
                "milter_default_action = tempfail\n" % port)
    code, resp = smtp(inst.port("smtp"), "down-accept")
    assert code == 250, resp
    wait_delivered(inst, "down-accept")
    inst.wait_log(r"warning: connect to Milter service inet:127\.0\.0\.1:%d: Connection refused"
                  % port)


def test_stopped_milter_times_out(instance, opendkim):
    os.kill(opendkim.pid, signal.SIGSTOP)
    inst = make(instance, "smtpd_milters = {{ inet:127.0.0.1:%d, command_timeout=1s }}\n"
                "milter_default_action = tempfail\n" % opendkim.port)
    mark = inst.log_mark()
    t0 = time.time()
    code, resp = smtp(inst.port("smtp"), "stopped-tempfail")
    assert code == 451 and "4.7.1" in resp, (code, resp)
    assert time.time() - t0 < 10
    inst.wait_log(r"warning: milter inet:127\.0\.0\.1:%d: can't read SMFIC_OPTNEG reply packet "
                  r"header: Connection timed out" % opendkim.port, since=mark)
    # Now accept: the mail goes through unsigned, after the timeout.
    inst.stop()
    inst.rewrite(main_cf_extra=inst.main_cf_extra.replace(
        "command_timeout=1s }}", "command_timeout=1s, default_action=accept }}"))
    inst.start()
    inst.wait_log(r"daemon started", since=mark)
    code, resp = smtp(inst.port("smtp"), "stopped-accept")
    assert code == 250, resp
    text = wait_delivered(inst, "stopped-accept")
    assert "DKIM-Signature:" not in text


GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


@pytest.fixture(scope="module")
def rspamd(tmp_path_factory):
    """rspamd's proxy worker in milter mode, scanning itself (self_scan),
    with a configuration of its own: no redis, no DNS (a dead loopback
    resolver), no hyperscan compile (it would cost a minute). Started once
    for the module: loading its rules takes seconds."""
    if not shutil.which("rspamd"):
        pytest.fail("rspamd is needed (scripts/install-deps.sh --test)")
    d = tmp_path_factory.mktemp("rspamd")
    port = free_port()
    conf = d / "rspamd.conf"
    conf.write_text("""\
.include "$CONFDIR/common.conf"
options {
    pidfile = "%(d)s/rspamd.pid";
    .include "$CONFDIR/options.inc"
    disable_hyperscan = true;
    dns { nameserver = ["127.0.0.1:1"]; timeout = 0.5s; retransmits = 1; }
}
logging { type = "file"; filename = "%(d)s/rspamd.log"; level = "info"; }
worker "rspamd_proxy" {
    bind_socket = "127.0.0.1:%(port)d";
    milter = yes;
    timeout = 120s;
    upstream "local" { default = yes; self_scan = yes; }
    count = 1;
    spam_header = "X-Spam";
    reject_message = "Spam message rejected";
}
""" % {"d": d, "port": port})
    # Its local.d is ours too: the milter headers, also for a client on
    # loopback (rspamd skips local clients by default).
    (d / "local.d").mkdir()
    (d / "local.d" / "milter_headers.conf").write_text(
        "extended_spam_headers = true;\nskip_local = false;\nskip_authenticated = false;\n")
    with serving(["rspamd", "-f", "-i", "-u", "root", "-g", "root", "-c", str(conf),
                  "--var", "DBDIR=%s" % d, "--var", "RUNDIR=%s" % d,
                  "--var", "LOCAL_CONFDIR=%s" % d], port, "rspamd", d / "out",
                 timeout=90) as proc:
        yield proc


def test_rspamd_rejects_gtube(instance, rspamd):
    inst = make(instance, "smtpd_milters = inet:127.0.0.1:%d\nmilter_content_timeout = 30s\n"
                % rspamd.port)
    mark = inst.log_mark()
    code, resp = smtp(inst.port("smtp"), "gtube", body="Spam:\r\n%s\r\n" % GTUBE)
    assert code == 554 and "5.7.1 Gtube pattern" in resp, (code, resp)
    m = inst.wait_log(r"postfix/smtpd\[\d+\]: (\w+): milter-reject: END-OF-MESSAGE from "
                      r"localhost\[127\.0\.0\.1\]: 5\.7\.1 Gtube pattern; "
                      r"from=<sender@example\.com> to=<%s@mta-test\.example> proto=ESMTP "
                      r"helo=<%s>" % (re.escape(USER), re.escape(HELO)), since=mark)
    # Nothing was queued under that ID.
    assert not re.search(re.escape(m.group(1)) + r": from=<", inst.log()[mark:])


def test_rspamd_adds_headers_to_a_clean_message(instance, rspamd):
    inst = make(instance, "smtpd_milters = inet:127.0.0.1:%d\nmilter_content_timeout = 30s\n"
                % rspamd.port)
    code, resp = smtp(inst.port("smtp"), "clean-rspamd")
    assert code == 250, resp
    text = wait_delivered(inst, "clean-rspamd")
    # rspamd's milter headers (milter_headers, extended_spam_headers): its
    # verdict with the symbols it found, its server and our queue ID.
    assert re.search(r"\nX-Spamd-Result: default: False \[", text), text
    assert re.search(r"\nX-Rspamd-Server: ", text), text
    qid = re.search(r"queued as (\w+)", resp).group(1)
    assert "\nX-Rspamd-Queue-Id: %s\n" % qid in text, text


USER2, USER3 = per_run("tester2"), per_run("tester3")
NEW_SENDER = "changed@example.net"


@pytest.fixture
def editor():
    """milter_editor.py: a libmilter program (python3-milter) that asks
    for every modification."""
    try:
        import Milter  # noqa: F401
    except ImportError:
        pytest.fail("python3-milter is needed (scripts/install-deps.sh --test)")
    port = free_port()
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "milter_editor.py")
    with serving(["/usr/bin/python3", script, str(port), USER2 + "@mta-test.example",
                  USER3 + "@mta-test.example", NEW_SENDER], port, "milter_editor.py",
                 "/dev/null") as proc:
        yield proc


def make3(instance, extra):
    inst = start_pipeline(instance, master_cf=CF, users=(USER, USER2, USER3), start=False,
                          extra="milter_command_timeout = 5s\nmilter_content_timeout = 5s\n"
                          + extra)
    inst.start()
    inst.wait_log(r"daemon started")
    return inst


MODS_MESSAGE = ("From: <sender@example.com>\nSubject: mods %s\nX-Change: original\n"
                "X-Remove: bye\nX-Twice: first\nX-Twice: second\n"
                "Message-ID: <mods-%s@example.com>\n\nThe original body.\n")


def headers_of(text):
    head = text.split("\n\n", 1)[0]
    return re.findall(r"^([\w-]+):", head, re.M)


def check_mods(inst, tag):
    text = inst.wait_for(lambda: next((read(f) for f in maildir_new(USER)
                                       if "mods %s" % tag in read(f)), None), timeout=20,
                         what="the modified message")
    names = headers_of(text)
    # local(8) puts its own three above everything; then the inserted one.
    assert names[:4] == ["Return-Path", "X-Original-To", "Delivered-To", "X-Inserted"], names
    assert names[-2:] == ["X-Macros", "X-Added"], names
    # The macros of each stage (Postfix's default lists), as libmilter saw them.
    macros = re.search(r"\nX-Macros: (.*)\n", text).group(1)
    assert "mail_addr=sender@example.com" in macros, macros
    assert "rcpt_addr=%s@mta-test.example" % USER in macros, macros
    assert "rcpt_mailer=local" in macros and "j=mta-test.example" in macros, macros
    assert re.search(r"\bi=[0-9A-F]{6,}\b", macros), macros
    assert "Return-Path: <%s>" % NEW_SENDER in text
    assert "\nX-Change: changed by milter\n" in text and "original" not in text
    assert "X-Remove" not in names
    assert "\nX-Twice: first\nX-Twice: second changed\n" in text
    assert text.endswith("\n\nThe body was replaced.\nSecond line.\n"), text
    # The added recipient got it, the deleted one did not.
    wait_maildir(inst, USER2)
    assert any("mods %s" % tag in read(f) for f in maildir_new(USER2))
    time.sleep(0.5)
    assert not any("mods %s" % tag in read(f) for f in maildir_new(USER3))
    return text


def test_every_modification_from_smtp(instance, editor):
    inst = make3(instance, "smtpd_milters = inet:127.0.0.1:%d\n" % editor.port)
    s = smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30)
    s.ehlo(HELO)
    s.mail("sender@example.com")
    # The first recipient refused: no queue file yet, NOQUEUE.
    code, resp = s.rcpt("root@mta-test.example")
    assert code == 550 and resp == b"5.7.1 Blocked by milter", (code, resp)
    assert s.rcpt("%s@mta-test.example" % USER)[0] == 250
    assert s.rcpt("%s@mta-test.example" % USER3)[0] == 250
    code, resp = s.data(MODS_MESSAGE.replace("\n", "\r\n") % ("smtp", "smtp"))
    assert code == 250, resp
    s.quit()
    inst.wait_log(r"NOQUEUE: milter-reject: RCPT from localhost\[127\.0\.0\.1\]: 550 5\.7\.1 "
                  r"Blocked by milter; from=<sender@example\.com> to=<root@mta-test\.example> "
                  r"proto=ESMTP helo=<%s>" % re.escape(HELO))
    check_mods(inst, "smtp")


def test_every_modification_from_sendmail(instance, editor):
    inst = make3(instance, "non_smtpd_milters = inet:127.0.0.1:%d\n" % editor.port)
    run(inst, "sendmail", "-f", "sender@example.com", "%s@mta-test.example" % USER,
        "%s@mta-test.example" % USER3, input=(MODS_MESSAGE % ("local", "local")).encode())
    check_mods(inst, "local")


def test_quarantine_discard_tempfail(instance, editor):
    inst = make3(instance, "smtpd_milters = inet:127.0.0.1:%d\n" % editor.port)
    rcpt = "%s@mta-test.example" % USER
    tail = (r"; from=<sender@example\.com> to=<%s> proto=ESMTP helo=<%s>"
            % (re.escape(rcpt), re.escape(HELO)))
    code, resp = smtp(inst.port("smtp"), "quarantine-me")
    assert code == 250, resp
    qid = re.search(r"queued as (\w+)", resp).group(1)
    inst.wait_log(r"%s: milter-hold: END-OF-MESSAGE from localhost\[127\.0\.0\.1\]: milter "
                  r"triggers HOLD action" % qid + tail)
    inst.wait_for(lambda: any(qid in f for _, _, fs in os.walk(os.path.join(inst.queue_dir,
                                                                          "hold")) for f in fs),
                  what="the message in hold/")
    code, resp = smtp(inst.port("smtp"), "discard-me")
    assert code == 250, resp
    qid = re.search(r"queued as (\w+)", resp).group(1)
    inst.wait_log(r"%s: milter-discard: END-OF-MESSAGE from localhost\[127\.0\.0\.1\]: milter "
                  r"triggers DISCARD action" % qid + tail)
    code, resp = smtp(inst.port("smtp"), "tempfail-me")
    assert code == 451 and "4.7.1 Try again" in resp and "later please" in resp, (code, resp)
    inst.wait_log(r"milter-reject: END-OF-MESSAGE from localhost\[127\.0\.0\.1\]: 4\.7\.1 Try "
                  r"again")
    time.sleep(0.5)
    assert delivered("discard-me") is None and delivered("tempfail-me") is None
