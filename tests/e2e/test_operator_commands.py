"""Operator commands on a live instance: postcat (-q, -e/-h/-b, corrupt
files), postsuper -e/-f (forced expiration returned to the sender by
qmgr), postfix flush / logrotate / upgrade-configuration, postqueue -s,
postlog, postkick, qshape."""
import glob
import gzip
import os
import re
import shutil
import stat
import subprocess

import peers
from conftest import BIN, per_run
from delivery_helpers import PIPELINE_CF, maildir_new, smtp_send, start_pipeline, wait_maildir
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
