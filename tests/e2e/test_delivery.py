"""The whole pipeline: smtpd -> cleanup -> qmgr -> local, with real clients."""
import os
import pwd
import re
import stat
import subprocess
import time

import pytest

from conftest import per_run
from delivery_helpers import (maildir_new, queue_files, read, smtp_send, start_pipeline, trigger,
                              wait_maildir, wait_queue_empty, write_aliases)
from smtp_helpers import Raw, queued_id


def test_lab_telnet_dialog_to_maildir(instance):
    inst = start_pipeline(instance)
    c = Raw(inst.port("smtp"))
    assert c.reply()[0].startswith("220 ")
    assert c.cmd("HELO client.example")[0].startswith("250")
    assert c.cmd("mail from: user@yahoo.com") == ["250 2.1.0 Ok"]
    assert c.cmd(per_run("rcpt to: tester@mta-test.example")) == ["250 2.1.5 Ok"]
    assert c.cmd("data")[0].startswith("354")
    c.send("Subject: lab test\r\n\r\nthis is a test\r\n.\r\n")
    r = c.reply()
    assert r[0].startswith("250 2.0.0 Ok: queued as "), r
    qid = queued_id(r[0])
    assert c.cmd("quit") == ["221 2.0.0 Bye"]
    c.close()
    files = wait_maildir(inst, per_run("tester"))
    assert len(files) == 1
    text = read(files[0])
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    assert lines[0] == "Return-Path: <user@yahoo.com>"
    assert per_run("Delivered-To: tester@mta-test.example") in lines
    assert any(ln.startswith("Received: from client.example") for ln in lines)
    assert "Subject: lab test" in lines
    assert body == "this is a test\n"
    inst.wait_log(r"%s: from=<user@yahoo\.com>, size=\d+, nrcpt=1 \(queue active\)" % qid)
    inst.wait_log(per_run(r"%s: to=<tester@mta-test\.example>, relay=local, delay=[\d.]+, "
                  r"delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=2\.0\.0, status=sent "
                  r"\(delivered to maildir\)") % qid)
    inst.wait_log(r"%s: removed" % qid)
    wait_queue_empty(inst)


def as_user(user, cmd, stdin=None):
    """Run cmd as `user` with the lab's environment (MAIL=~/Maildir)."""
    pw = pwd.getpwnam(user)
    env = ["env", "-i", "HOME=" + pw.pw_dir, "USER=" + user, "LC_ALL=C",
           "MAIL=" + os.path.join(pw.pw_dir, "Maildir"), "PATH=/usr/bin:/bin"]
    return subprocess.run(["runuser", "-u", user, "--"] + env + cmd, input=stdin,
                          capture_output=True, text=True, timeout=30, cwd="/")


def test_snail_reads_the_maildir(instance):
    inst = start_pipeline(instance)
    smtp_send(inst, "user@yahoo.com", per_run("tester@mta-test.example"),
              "Subject: for s-nail\r\nFrom: user@yahoo.com\r\n\r\nread me with mail\r\n")
    wait_maildir(inst, per_run("tester"))
    r = as_user(per_run("tester"), ["s-nail", "-H"])
    assert r.returncode == 0, r.stderr
    assert re.search(r"^ *N +1 user@yahoo\.com .*for s-nail", r.stdout, re.M), r.stdout
    r = as_user(per_run("tester"), ["s-nail", "-N", "-R"], stdin="print 1\nxit\n")
    assert r.returncode == 0, r.stderr
    assert "Subject: for s-nail" in r.stdout
    assert "read me with mail" in r.stdout


def test_mbox_delivery_from_line_and_quoting(instance):
    inst = start_pipeline(instance, extra="home_mailbox =\n")
    body = ("Subject: mbox\r\n\r\nFrom the start of a line\r\n>From already quoted\r\n"
            "not From here\r\n")
    qid = smtp_send(inst, "user@yahoo.com", per_run("tester@mta-test.example"), body)
    spool = os.path.join(inst.tmp, "spool", per_run("tester"))
    inst.wait_log(per_run(r"%s: to=<tester@mta-test\.example>, relay=local, .*status=sent "
                  r"\(delivered to mailbox\)") % qid)
    text = read(spool)
    lines = text.split("\n")
    assert re.match(r"^From user@yahoo\.com  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$",
                    lines[0]), lines[0]
    assert lines[1] == "Return-Path: <user@yahoo.com>"
    assert ">From the start of a line" in lines
    assert ">From already quoted" in lines      # Postfix quotes "From " only (mboxo)
    assert "not From here" in lines
    assert text.endswith("not From here\n\n")
    st = os.stat(spool)
    assert st.st_uid == pwd.getpwnam(per_run("tester")).pw_uid
    assert stat.S_IMODE(st.st_mode) == 0o600


ALIASES = per_run("""\
postmaster: root
team: tester, tester2
pipe: "|/bin/sh -c 'cat > {out}/pipe.out'"
tofile: {out}/file.mbox
loop1: loop2
loop2: loop1
ghost: nosuchuser
""")


def alias_instance(instance, extra=""):
    """A pipeline with the ALIASES table; {out} is a world-writable directory
    (commands and files from a root-owned alias table run as default_privs)."""
    inst = start_pipeline(instance, extra=extra, aliases="postmaster: root\n")
    out = os.path.join(inst.tmp, "out")
    os.makedirs(out)
    os.chmod(out, 0o1777)
    write_aliases(inst, ALIASES.format(out=out))
    return inst, out


def test_alias_to_several_users(instance):
    inst, _ = alias_instance(instance)
    qid = smtp_send(inst, "user@yahoo.com", "team@mta-test.example")
    for u in (per_run("tester"), per_run("tester2")):
        files = wait_maildir(inst, u)
        assert "Delivered-To: %s@mta-test.example" % u in read(files[0])
    inst.wait_log(r"%s: removed" % qid)
    log = inst.log()
    for u in (per_run("tester"), per_run("tester2")):
        assert re.search(r"%s: to=<%s@mta-test\.example>, orig_to=<team@mta-test\.example>, "
                         r"relay=local, .*status=sent" % (qid, u), log)


def test_alias_to_command_and_file(instance):
    inst, out = alias_instance(instance)
    q1 = smtp_send(inst, "user@yahoo.com", "pipe@mta-test.example",
                   "Subject: to a command\r\n\r\npiped body\r\n")
    q2 = smtp_send(inst, "user@yahoo.com", "tofile@mta-test.example",
                   "Subject: to a file\r\n\r\nfile body\r\n")
    inst.wait_log(r"%s: removed" % q1)
    inst.wait_log(r"%s: removed" % q2)
    piped = read(os.path.join(out, "pipe.out"))
    assert "Subject: to a command" in piped and "piped body" in piped
    filed = read(os.path.join(out, "file.mbox"))
    assert filed.startswith("From user@yahoo.com ")
    assert "Subject: to a file" in filed and "file body" in filed
    assert re.search(r"%s: .*status=sent \(delivered to command: " % q1, inst.log())
    assert re.search(r"%s: .*status=sent \(delivered to file: " % q2, inst.log())


def test_dot_forward(instance):
    inst = start_pipeline(instance)
    pw = pwd.getpwnam(per_run("tester3"))
    fwd = os.path.join(pw.pw_dir, ".forward")
    with open(fwd, "w") as f:
        f.write(per_run("tester2\n"))
    os.chown(fwd, pw.pw_uid, pw.pw_gid)
    qid = smtp_send(inst, "user@yahoo.com", per_run("tester3@mta-test.example"))
    files = wait_maildir(inst, per_run("tester2"))
    assert per_run("Delivered-To: tester2@mta-test.example") in read(files[0])
    inst.wait_log(r"%s: removed" % qid)
    assert maildir_new(per_run("tester3")) == []


def test_forward_path_with_extension(instance):
    """forward_path with $home, ${extension} and a ${name?value} test (local
    expands it once per process with markers, then per recipient): mail to
    tester3+lists follows ~/.forward+lists, plain tester3 has no .forward
    and is delivered to itself."""
    inst = start_pipeline(instance, extra=(
        "recipient_delimiter = +\n"
        # (main.cf extras are str.format templates: braces doubled)
        "forward_path = ${{extension?$home/.forward+${{extension}}}}, $home/.forward\n"))
    pw = pwd.getpwnam(per_run("tester3"))
    fwd = os.path.join(pw.pw_dir, ".forward+lists")
    with open(fwd, "w") as f:
        f.write(per_run("tester2\n"))
    os.chown(fwd, pw.pw_uid, pw.pw_gid)
    try:
        smtp_send(inst, "user@yahoo.com", per_run("tester3+lists@mta-test.example"),
                  "Subject: to the list\r\n\r\nx\r\n")
        files = wait_maildir(inst, per_run("tester2"))
        assert "Subject: to the list" in read(files[0])
        smtp_send(inst, "user@yahoo.com", per_run("tester3@mta-test.example"),
                  "Subject: plain\r\n\r\nx\r\n")
        files = wait_maildir(inst, per_run("tester3"))
        assert "Subject: plain" in read(files[0])
        wait_queue_empty(inst)
        assert len(maildir_new(per_run("tester2"))) == 1 and len(maildir_new(per_run("tester3"))) == 1
    finally:
        os.unlink(fwd)


def dsn_parts(text):
    head, _, body = text.partition("\n\n")
    return head.split("\n"), body


def test_unknown_user_through_alias_bounces_to_local_sender(instance):
    inst, _ = alias_instance(instance)
    qid = smtp_send(inst, per_run("tester2@mta-test.example"), "ghost@mta-test.example",
                    "Subject: to nobody\r\nX-Marker: original-header\r\n\r\nsecret body\r\n")
    inst.wait_log(r"%s: to=<.*ghost@mta-test\.example>, .*status=bounced" % qid)
    m = inst.wait_log(r"%s: sender non-delivery notification: (\w+)" % qid)
    inst.wait_log(r"%s: removed" % qid)
    notice = m.group(1)
    files = wait_maildir(inst, per_run("tester2"))
    text = read(files[0])
    head, body = dsn_parts(text)
    assert head[0] == "Return-Path: <>"
    assert "Subject: Undelivered Mail Returned to Sender" in head
    assert any(h.startswith("From: MAILER-DAEMON@mta-test.example") for h in head)
    assert "Content-Type: multipart/report; report-type=delivery-status;" in head
    assert "Final-Recipient: rfc822; ghost@mta-test.example" in body
    assert "Action: failed" in body
    assert re.search(r"^Status: 5\.\d\.\d+$", body, re.M)
    assert "X-Postfix-Queue-ID: %s" % qid in body
    assert "X-Marker: original-header" in body      # headers of the original
    assert "secret body" not in body                 # ... but not its body
    inst.wait_log(r"%s: removed" % notice)
    wait_queue_empty(inst)


def test_alias_loop_bounces(instance):
    inst, _ = alias_instance(instance)
    qid = smtp_send(inst, per_run("tester2@mta-test.example"), "loop1@mta-test.example")
    inst.wait_log(r"%s: to=<loop1@mta-test\.example>, .*status=bounced" % qid)
    inst.wait_log(r"%s: sender non-delivery notification: \w+" % qid)
    files = wait_maildir(inst, per_run("tester2"))
    assert "Final-Recipient: rfc822; loop1@mta-test.example" in read(files[0])
    inst.wait_log(r"%s: removed" % qid)
    wait_queue_empty(inst)


def test_ret_full_returns_the_whole_message(instance):
    inst, _ = alias_instance(instance)
    import smtplib
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30) as s:
        s.ehlo("client.example")
        if not s.has_extn("dsn"):
            pytest.skip("smtpd does not offer DSN")
        s.sendmail(per_run("tester2@mta-test.example"), ["ghost@mta-test.example"],
                   b"Subject: full\r\n\r\nthe whole body\r\n", mail_options=["RET=FULL"])
    files = wait_maildir(inst, per_run("tester2"))
    text = read(files[0])
    assert "Content-Type: message/rfc822" in text
    assert "the whole body" in text


def test_null_sender_bounce_goes_to_postmaster_and_double_bounce_is_dropped(instance):
    # The postmaster notice itself is undeliverable (2bounce_notice_recipient
    # is an unknown user): it must be discarded, never bounced again.
    inst, _ = alias_instance(instance, extra="2bounce_notice_recipient = ghost@mta-test.example\n")
    qid = smtp_send(inst, "", "ghost@mta-test.example")
    m = inst.wait_log(r"%s: postmaster non-delivery notification: (\w+)" % qid)
    inst.wait_log(r"%s: removed" % qid)
    notice = m.group(1)
    inst.wait_log(r"%s: from=<double-bounce@mta-test\.example>" % notice)
    inst.wait_log(r"%s: undeliverable postmaster notification discarded" % notice)
    inst.wait_log(r"%s: removed" % notice)
    wait_queue_empty(inst)
    time.sleep(0.5)
    assert len(re.findall(r"non-delivery notification", inst.log())) == 1


def test_null_sender_bounce_reaches_postmaster(instance):
    inst, _ = alias_instance(instance, extra=per_run("2bounce_notice_recipient = tester3\n"))
    qid = smtp_send(inst, "", "ghost@mta-test.example")
    inst.wait_log(r"%s: postmaster non-delivery notification: \w+" % qid)
    files = wait_maildir(inst, per_run("tester3"))
    text = read(files[0])
    assert "Return-Path: <double-bounce@mta-test.example>" in text
    assert "Final-Recipient: rfc822; ghost@mta-test.example" in text
    wait_queue_empty(inst)


def block_maildir(user):
    pw = pwd.getpwnam(user)
    md = os.path.join(pw.pw_dir, "Maildir")
    for sub in ("", "tmp", "new", "cur"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
        os.chown(os.path.join(md, sub), pw.pw_uid, pw.pw_gid)
    os.chmod(os.path.join(md, "tmp"), 0o500)
    return os.path.join(md, "tmp")


def test_deferred_delivery_retries_after_the_fix(instance):
    inst = start_pipeline(instance, extra="minimal_backoff_time = 30s\n"
                          "maximal_backoff_time = 60s\nqueue_run_delay = 60s\n")
    tmpdir = block_maildir(per_run("tester"))
    qid = smtp_send(inst, "user@yahoo.com", per_run("tester@mta-test.example"),
                    "Subject: retry me\r\n\r\nlater\r\n")
    inst.wait_log(per_run(r"%s: to=<tester@mta-test\.example>, relay=local, .*status=deferred \(") % qid)
    inst.wait_for(lambda: queue_files(inst, "deferred") == [qid], what="message in deferred/")
    defer_log = [os.path.join(r, f) for r, _d, fs in os.walk(os.path.join(inst.queue_dir, "defer"))
                 for f in fs]
    assert len(defer_log) == 1 and defer_log[0].endswith("/" + qid)
    text = read(defer_log[0])
    assert per_run("recipient=tester@mta-test.example\n") in text
    assert "action=delayed\n" in text
    assert re.search(r"^status=4\.\d\.\d+$", text, re.M)
    assert re.search(r"^reason=.+$", text, re.M)
    assert re.search(r"^offset=\d+$", text, re.M)
    # Back-off: the next attempt is in the file's mtime, 30s away; nothing
    # happens before it unless asked.
    path = os.path.join(inst.queue_dir, "deferred", qid[0], qid)
    assert os.stat(path).st_mtime > time.time() + 20
    os.chmod(tmpdir, 0o700)
    mark = inst.log_mark()
    trigger(inst, b"AD")   # what postqueue -f does: ignore time stamps, scan deferred
    inst.wait_log(per_run(r"%s: to=<tester@mta-test\.example>, relay=local, .*status=sent") % qid,
                  since=mark)
    inst.wait_log(r"%s: removed" % qid, since=mark)
    assert len(maildir_new(per_run("tester"))) == 1
    assert not os.path.exists(defer_log[0])
    wait_queue_empty(inst)


def test_expired_message_is_returned_to_sender(instance):
    inst = start_pipeline(instance, extra="maximal_queue_lifetime = 0\n")
    block_maildir(per_run("tester"))
    qid = smtp_send(inst, per_run("tester2@mta-test.example"), per_run("tester@mta-test.example"))
    inst.wait_log(per_run(r"%s: from=<tester2@mta-test\.example>, status=expired, returned to sender")
                  % qid)
    inst.wait_log(r"%s: sender non-delivery notification: \w+" % qid)
    inst.wait_log(r"%s: removed" % qid)
    files = wait_maildir(inst, per_run("tester2"))
    assert per_run("Final-Recipient: rfc822; tester@mta-test.example") in read(files[0])
    wait_queue_empty(inst)


def test_missing_transport_defers_without_blocking_local(instance):
    inst = start_pipeline(instance, extra="transport_maps = inline:{{ remote.example=smtp: }}\n"
                          "relay_domains = remote.example\n")
    qid = smtp_send(inst, "user@yahoo.com", ["someone@remote.example", per_run("tester@mta-test.example")])
    inst.wait_log(r"%s: to=<someone@remote\.example>, relay=none, .*dsn=4\.3\.0, "
                  r"status=deferred \(mail transport unavailable\)" % qid)
    inst.wait_log(per_run(r"%s: to=<tester@mta-test\.example>, relay=local, .*status=sent") % qid)
    inst.wait_for(lambda: queue_files(inst, "deferred") == [qid], what="message in deferred/")
    # The local recipient is done for good: the next attempt leaves it alone.
    mark = inst.log_mark()
    trigger(inst, b"FAD")
    inst.wait_log(r"%s: to=<someone@remote\.example>, .*status=deferred" % qid, since=mark)
    assert per_run("to=<tester@mta-test.example>") not in inst.log()[mark:]
    assert len(maildir_new(per_run("tester"))) == 1


def test_corrupt_queue_file_goes_to_corrupt(instance):
    inst = start_pipeline(instance)
    qid = "ABCDE12345"
    path = os.path.join(inst.queue_dir, "incoming", qid)
    with open(path, "wb") as f:
        f.write(b"C\x00\x00\x00\x30" + b"\x00" * 20)   # truncated
    os.chmod(path, 0o700)
    pw = pwd.getpwnam("postfix")
    os.chown(path, pw.pw_uid, pw.pw_gid)
    trigger(inst, b"I")
    inst.wait_for(lambda: os.path.exists(os.path.join(inst.queue_dir, "corrupt", qid)),
                  what="file in corrupt/")
    assert re.search(r"%s: .*corrupt" % qid, inst.log())
    assert queue_files(inst, "incoming") == [] and queue_files(inst, "active") == []


def test_pflogsumm_counts_our_log(instance):
    from pathlib import Path

    from peers import pflogsumm
    inst, _ = alias_instance(instance, extra="transport_maps = inline:{{ remote.example=smtp: }}\n"
                             "relay_domains = remote.example\nminimal_backoff_time = 60s\n"
                             "maximal_backoff_time = 60s\nqueue_run_delay = 60s\n")
    q1 = smtp_send(inst, "user@yahoo.com", per_run("tester@mta-test.example"))
    q2 = smtp_send(inst, per_run("tester2@mta-test.example"), "ghost@mta-test.example")
    q3 = smtp_send(inst, "user@yahoo.com", "someone@remote.example")
    inst.wait_log(r"%s: removed" % q1)
    notice = inst.wait_log(r"%s: sender non-delivery notification: (\w+)" % q2).group(1)
    inst.wait_log(r"%s: removed" % notice)
    inst.wait_log(r"%s: to=<someone@remote\.example>, .*status=deferred" % q3)
    counts = pflogsumm(Path(inst.maillog))
    got = {k: counts.get(k) for k in ("received", "delivered", "deferred", "bounced", "rejected")}
    # received: the three SMTP messages (the notice comes from qmgr, not a
    # client); delivered: the first message and the notice to tester2.
    assert got == {"received": 3, "delivered": 2, "deferred": 1, "bounced": 1, "rejected": 0}, \
        counts["_output"][:3000]
