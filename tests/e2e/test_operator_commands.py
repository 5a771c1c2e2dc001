"""Operator commands on a live instance: postcat (-q, -e/-h/-b, corrupt
files), postsuper -e/-f (forced expiration returned to the sender by
qmgr), postfix flush / logrotate / upgrade-configuration, postqueue -s,
postlog, postkick, qshape."""
import glob
import gzip
import os
import re
import stat
import subprocess

import peers
from conftest import BIN, per_run
from delivery_helpers import PIPELINE_CF, smtp_send, start_pipeline, wait_maildir
from test_submit import run

CF = PIPELINE_CF + """\
showq unix n - n - - showq
smtp unix - - n - - smtp
"""

SENDER = per_run("tester@mta-test.example")


def deferred_instance(instance, extra=""):
    """Remote mail goes to a relay nobody listens on: it stays deferred."""
    port = peers.free_port()
    return start_pipeline(instance, master_cf=CF, extra=(
        "relayhost = [127.0.0.1]:%d\nsmtp_connect_timeout = 2s\n" % port) + extra)


def deferred_path(inst, qid):
    found = glob.glob(os.path.join(inst.queue_dir, "deferred", "**", qid), recursive=True)
    return found[0] if found else None


def queue_message(inst, rcpt, subject="op test"):
    qid = smtp_send(inst, SENDER, [rcpt],
                    msg="Subject: %s\r\nX-Op: one\r\n\r\nbody line\r\nFrom: not a header\r\n"
                    % subject)
    inst.wait_for(lambda: deferred_path(inst, qid), timeout=20, what="%s deferred" % qid)
    return qid


def test_postcat(instance):
    inst = deferred_instance(instance)
    qid = queue_message(inst, "friend@remote.test")
    out = run(inst, "postcat", "-q", qid).stdout.decode()
    assert "*** ENVELOPE RECORDS deferred/" in out and qid in out, out
    assert "sender: %s\n" % SENDER in out, out
    assert "recipient: friend@remote.test\n" in out, out
    assert "message_arrival_time: " in out, out
    assert re.search(r"\*\*\* MESSAGE CONTENTS deferred/\S*%s \*\*\*\n" % qid, out), out
    assert "Subject: op test\n" in out and "body line\n" in out, out
    assert out.rstrip().endswith("*** MESSAGE FILE END deferred/%s ***" % os.path.relpath(
        deferred_path(inst, qid), os.path.join(inst.queue_dir, "deferred"))), out

    head = run(inst, "postcat", "-hq", qid).stdout.decode()
    assert "Subject: op test\n" in head and "X-Op: one\n" in head, head
    assert "body line" not in head and "sender:" not in head, head
    body = run(inst, "postcat", "-b", "-q", qid).stdout.decode()
    assert "body line\nFrom: not a header\n" in body and "Subject:" not in body, body
    env = run(inst, "postcat", "-e", "-q", qid).stdout.decode()
    assert "sender:" in env and "body line" not in env, env

    # a file given by name, and standard input (a pipe)
    path = deferred_path(inst, qid)
    by_name = run(inst, "postcat", path).stdout.decode()
    assert "recipient: friend@remote.test" in by_name
    with open(path, "rb") as f:
        data = f.read()
    piped = run(inst, "postcat", input=data).stdout.decode()
    assert "*** ENVELOPE RECORDS stdin ***" in piped and "body line" in piped, piped

    # a truncated copy: what was readable, then a warning and exit 1
    bad = os.path.join(inst.tmp, "truncated")
    with open(bad, "wb") as f:
        f.write(data[:len(data) - 20])
    r = run(inst, "postcat", bad, check=False)
    assert r.returncode == 1, r
    assert b"sender: " in r.stdout
    assert re.search(rb"postcat: warning: .*truncated: corrupt queue file: ", r.stderr), r.stderr

    # an unknown and an invalid ID
    r = run(inst, "postcat", "-q", "ABCDEF123", check=False)
    assert r.returncode == 66 and b"No such file or directory" in r.stderr, r
    r = run(inst, "postcat", "-q", "../../etc/passwd", check=False)
    assert r.returncode == 64 and b"invalid queue ID" in r.stderr, r


def test_postsuper_expire_and_flush(instance):
    inst = deferred_instance(instance)
    sender_user = per_run("tester")
    q1 = queue_message(inst, "friend@remote.test", subject="expire me")
    q2 = queue_message(inst, "other@remote.test", subject="held then forced")

    # -e: marked (group execute bit), mailq still lists it, nothing else moves
    r = run(inst, "postsuper", "-e", q1)
    assert b"postsuper: Expired: 1 message" in r.stderr, r.stderr
    assert os.stat(deferred_path(inst, q1)).st_mode & stat.S_IXGRP
    inst.wait_log(r"postsuper\[\d+\]: %s: expired" % q1)
    import json
    jobs = {j["queue_id"]: j for j in map(json.loads, run(inst, "postqueue", "-j").stdout.splitlines())}
    assert jobs[q1]["forced_expire"] is True and jobs[q2]["forced_expire"] is False, jobs
    assert re.search(r"^%s# " % q1, run(inst, "postqueue", "-p").stdout.decode(), re.M)

    # -e on a held message keeps it held; -f releases it too
    run(inst, "postsuper", "-h", q2)
    run(inst, "postsuper", "-e", q2, "hold")
    assert glob.glob(os.path.join(inst.queue_dir, "hold", "**", q2), recursive=True)
    r = run(inst, "postsuper", "-f", q2)
    inst.wait_log(r"%s: released from hold" % q2)
    assert deferred_path(inst, q2) and os.stat(deferred_path(inst, q2)).st_mode & stat.S_IXGRP

    # postfix flush runs them now: both are returned to the sender
    mark = inst.log_mark()
    inst.postfix("flush")
    for q in (q1, q2):
        inst.wait_log(r"%s: from=<%s>, status=force-expired, returned to sender"
                      % (q, re.escape(SENDER)), since=mark, timeout=20)
        inst.wait_log(r"%s: to=<[^>]+>, relay=none, .*dsn=5\.4\.7, status=bounced "
                      r"\(message is administratively expired\)" % q, since=mark)
        inst.wait_log(r"%s: removed" % q, since=mark, timeout=20)
    msgs = wait_maildir(inst, sender_user, 2)
    texts = [open(m, encoding="latin-1").read() for m in msgs]
    assert any("expire me" in t and "administratively expired" in t for t in texts), texts
    assert any("held then forced" in t for t in texts), texts

    r = run(inst, "postsuper", "-e", "not/an/id", check=False)
    assert r.returncode == 64, r


def test_postfix_subcommands(instance):
    inst = deferred_instance(instance)
    r = inst.postfix("upgrade-configuration")
    assert "nothing to do" in r.stderr, r.stderr
    r = inst.postfix("no-such-command", check=False)
    assert r.returncode == 64 and "unknown command" in r.stderr, r.stderr
    r = inst.postfix("-D", "start", check=False)
    assert r.returncode != 0 and "-D" in r.stderr, r.stderr
    r = run(inst, "postqueue", "-s", "remote.test", check=False)
    assert r.returncode == 69 and b"fast-flush service" in r.stderr, r.stderr


def test_postfix_logrotate(instance):
    inst = deferred_instance(instance, extra="maillog_file_rotate_suffix = %Y%m%d-%H%M%S\n")
    before = inst.log()
    assert "daemon started" in before
    r = inst.postfix("logrotate")
    assert "rotated" in r.stderr, r.stderr
    rotated = glob.glob(inst.maillog + ".*")
    assert len(rotated) == 1 and re.search(r"\.\d{8}-\d{6}\.gz$", rotated[0]), rotated
    with gzip.open(rotated[0], "rt", errors="replace") as f:
        old = f.read()
    assert old.startswith(before[:200]) and "daemon started" in old
    # master was reloaded and writes the new file; new processes too
    inst.wait_log(r"postfix/master\[\d+\]: reload -- version")
    qid = smtp_send(inst, SENDER, [SENDER])
    inst.wait_log(r"%s: client=" % qid)
    inst.wait_log(r"%s: removed" % qid, timeout=20)

    # no compressor: the rotated file stays as it is
    inst.rewrite(main_cf_extra=inst.main_cf_extra + "maillog_file_compressor =\n"
                 "maillog_file_rotate_suffix = second\n")
    inst.postfix("logrotate")
    assert os.path.exists(inst.maillog + ".second")
    r = inst.postfix("logrotate", check=False)
    assert r.returncode == 1 and "exists" in r.stderr, r.stderr
    inst.rewrite(main_cf_extra=inst.main_cf_extra.replace(
        "maillog_file_rotate_suffix = second\n", "maillog_file_rotate_suffix = a/b\n"))
    r = inst.postfix("logrotate", check=False)
    assert r.returncode != 0 and "maillog_file_rotate_suffix" in r.stderr, r.stderr


def test_postlog(instance):
    inst = deferred_instance(instance)
    run(inst, "postlog", "-t", "lab-check", "-p", "warn", "disk", "almost", "full")
    inst.wait_log(r" lab-check\[\d+\]: warning: disk almost full\n")
    run(inst, "postlog", "-i", input=b"first line\nsecond \x1b[2J line\nno newline")
    inst.wait_log(r" postfix/postlog\[\d+\]: first line\n")
    inst.wait_log(r" postfix/postlog\[\d+\]: second \?\[2J line\n")
    inst.wait_log(r" postfix/postlog\[\d+\]: no newline\n")
    # fatal is a level, not an exit (Postfix 3.1 and later)
    r = run(inst, "postlog", "-p", "fatal", "stop the presses")
    assert r.returncode == 0
    inst.wait_log(r" postfix/postlog\[\d+\]: fatal: stop the presses\n")
    r = run(inst, "postlog", "-p", "loud", "x", check=False)
    assert r.returncode == 64 and b"unknown priority" in r.stderr, r.stderr
    # a record cannot be longer than line_length_limit
    run(inst, "postlog", input=b"y" * 100000 + b"\n")
    m = inst.wait_log(r" postfix/postlog\[\d+\]: (y+)\n")
    assert len(m.group(1)) == 2048, len(m.group(1))


def test_postkick(instance):
    import socket
    inst = deferred_instance(instance)
    path = os.path.join(inst.queue_dir, "public", "kicktest")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(10)
    try:
        p = subprocess.Popen([os.path.join(BIN, "postkick"), "-c", inst.config_dir,
                              "public", "kicktest", "DA"])
        conn, _ = srv.accept()
        conn.settimeout(10)
        got = b""
        while True:
            chunk = conn.recv(16)
            if not chunk:
                break
            got += chunk
        conn.close()
        assert p.wait(timeout=10) == 0
        assert got == b"DA", got
    finally:
        srv.close()
        os.unlink(path)
    # the real qmgr takes a scan request
    run(inst, "postkick", "public", "qmgr", "I")
    r = run(inst, "postkick", "public", "nosuch", "W", check=False)
    assert r.returncode == 69 and b"public/nosuch service not available" in r.stderr, r.stderr
    for args in (["outside", "qmgr", "W"], ["public", "../private/x", "W"], ["public", "qmgr", ""]):
        r = run(inst, "postkick", *args, check=False)
        assert r.returncode == 64, (args, r.stderr)


def qshape(inst, *args):
    return run(inst, "qshape", "-c", inst.config_dir, *args).stdout.decode()


def test_qshape(instance):
    inst = deferred_instance(instance)
    q1 = queue_message(inst, "a@remote.test")
    q2 = smtp_send(inst, SENDER, ["b@remote.test", "c@Sub.Remote.Test"])
    q3 = smtp_send(inst, "", ["d@other.test"])
    for q in (q2, q3):
        inst.wait_for(lambda q=q: deferred_path(inst, q), timeout=20, what="%s deferred" % q)
    inst.stop()
    # Copies of q1 that arrived 30 minutes and 2 days ago (the arrival time
    # is the 'T' record: two 64-bit big-endian numbers; queue_file.h).
    src = deferred_path(inst, q1)
    data = open(src, "rb").read()
    import struct
    import time
    pos, tpos = 0, None
    while pos < len(data):
        t, n = data[pos:pos + 1], struct.unpack(">I", data[pos + 1:pos + 5])[0]
        if t == b"T":
            tpos = pos + 5
            break
        pos += 5 + n
    assert tpos
    for age, suffix in ((30 * 60, "1"), (2 * 86400, "2")):
        qid = q1[:-1] + ("0" if q1[-1] != "0" else "1") if suffix == "1" else \
            q1[:-2] + ("00" if q1[-2:] != "00" else "11")
        patched = data[:tpos] + struct.pack(">Q", int(time.time()) - age) + data[tpos + 8:]
        dst = os.path.join(os.path.dirname(src), qid)
        with open(dst, "wb") as f:
            f.write(patched)
        os.chmod(dst, 0o700)

    out = qshape(inst, "deferred")
    lines = out.splitlines()
    assert all(len(line) == 80 for line in lines), out
    assert lines[0].split() == "T 5 10 20 40 80 160 320 640 1280 1280+".split(), out
    rows = {l.split()[0]: [int(x) for x in l.split()[1:]] for l in lines[1:]}
    assert rows["TOTAL"] == [6, 4, 0, 0, 1, 0, 0, 0, 0, 0, 1], out
    assert rows["remote.test"] == [4, 2, 0, 0, 1, 0, 0, 0, 0, 0, 1], out
    assert rows["sub.remote.test"][0] == 1 and rows["other.test"][0] == 1, out
    # sorted by count, then by length
    assert [l.split()[0] for l in lines[1:]] == [
        "TOTAL", "remote.test", "other.test", "sub.remote.test"], out

    # an absolute path is the same queue
    assert qshape(inst, os.path.join(inst.queue_dir, "deferred")) == out

    out = qshape(inst, "-s", "deferred")
    rows = {l.split()[0]: [int(x) for x in l.split()[1:]] for l in out.splitlines()[1:]}
    assert rows["TOTAL"][0] == 5 and rows["mta-test.example"][0] == 4, out
    assert rows["MAILER-DAEMON"][0] == 1, out

    out = qshape(inst, "-p", "-m", "1", "deferred")
    rows = {l.split()[0]: [int(x) for x in l.split()[1:]] for l in out.splitlines()[1:]}
    assert rows[".remote.test"][0] == 1, out      # one subdomain, sub.remote.test
    assert ".test" not in rows, out               # never a top-level domain

    out = qshape(inst, "-l", "-b", "4", "-t", "10", "-w", "100", "deferred")
    lines = out.splitlines()
    assert lines[0].split() == "T 10 20 30 30+".split() and len(lines[0]) == 100, out
    rows = {l.split()[0]: [int(x) for x in l.split()[1:]] for l in lines[1:]}
    assert rows["TOTAL"] == [6, 4, 0, 0, 2], out

    # default queues (incoming, active) are empty now
    out = qshape(inst)
    assert out.splitlines()[1].split() == ["TOTAL"] + ["0"] * 11, out
    r = run(inst, "qshape", "-c", inst.config_dir, "-b", "0", check=False)
    assert r.returncode == 64, r


def test_qshape_layout_matches_postfix(instance, tmp_path):
    """Heading and TOTAL row byte for byte as Debian's qshape prints them
    for an empty queue (layout only: it cannot read our queue files)."""
    # Debian's qshape from the unpacked package; the postconf it runs to
    # find queue_directory is ours (it reads the same main.cf).
    debian_qshape = str(peers.ensure_postfix_tree() / "usr" / "sbin" / "qshape")
    env = dict(os.environ, PATH="%s:%s" % (BIN, os.environ.get("PATH", "/usr/bin:/bin")))
    inst = deferred_instance(instance)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "main.cf").write_text("queue_directory = %s\n" % inst.queue_dir)
    (etc / "master.cf").write_text("")
    for args in ([], ["-b", "4", "-t", "1"], ["-l", "-b", "3"], ["-w", "120"], ["-b", "14"]):
        theirs = subprocess.run([debian_qshape, "-c", str(etc)] + args, capture_output=True,
                                timeout=30, env=env).stdout.decode()
        ours = qshape(inst, *args)
        assert ours == theirs, (args, ours, theirs)
