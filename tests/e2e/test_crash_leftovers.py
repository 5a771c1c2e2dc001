"""Nothing is left behind after a crash: a cleanup SIGKILLed in the middle
of a message leaves an incomplete queue file (mode 0600) in incoming/; it
is removed with a warning once its writer is gone -- by qmgr (at start and
every $queue_run_delay) or by `postfix start` (postsuper, as Postfix) --
and never while a live cleanup still writes it, however long that takes.

"Writer gone" is decided by the writer's own lock (queue_file.h, CRASH
LEFTOVERS), not by age, so the removal follows the kill within a queue run."""
import os
import re
import signal
import stat
import time

from conftest import per_run
from delivery_helpers import PIPELINE_CF, maildir_new, queue_files, smtp_send, start_pipeline, wait_maildir
from smtp_helpers import Raw

QUEUES = ("incoming", "active", "deferred", "hold", "maildrop")


def half_sent_message(inst):
    """An SMTP session stopped in the middle of DATA; returns (conn, queue ID)."""
    c = Raw(inst.port("smtp"))
    assert c.code() == 220
    assert c.cmd("EHLO half.example")[-1].startswith("250")
    assert c.cmd("MAIL FROM:<half@client.example>")[-1].startswith("250")
    assert c.cmd(per_run("RCPT TO:<tester@mta-test.example>"))[-1].startswith("250")
    assert c.cmd("DATA")[-1].startswith("354")
    # More than cleanup's 64 KB write buffer: part of it is on disk.
    c.send("Subject: half\r\n\r\n" + "first half of the body\r\n" * 4000)
    qid = inst.wait_log(r"postfix/smtpd\[\d+\]: (\w+): client=localhost\[127\.0\.0\.1\]").group(1)
    path = os.path.join(inst.queue_dir, "incoming", qid)
    inst.wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 32768,
                  what="the half-written queue file")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    return c, qid


def writer_of(inst, qid):
    """The pid of the (one) cleanup process holding incoming/<qid> open."""
    path = os.path.join(inst.queue_dir, "incoming", qid)
    found = []
    for pid in inst.children("cleanup"):
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == path:
                    found.append(pid)
            except OSError:
                pass
    assert len(found) == 1, found
    return found[0]


def removal(qid):
    return (r"postfix/(\w+)\[\d+\]: warning: incoming/%s: removed incomplete queue file "
            r"\(its writer is gone\)" % qid)


def all_queues_empty(inst):
    return not any(queue_files(inst, q) for q in QUEUES)


def test_sigkill_cleanup_mid_data_file_removed_by_qmgr(instance):
    inst = start_pipeline(instance, users=(per_run("tester"),))   # queue_run_delay = 1s
    c, qid = half_sent_message(inst)
    writer = writer_of(inst, qid)
    # A live writer, however slow: its file survives several purge runs.
    time.sleep(3.5)
    assert os.path.exists(os.path.join(inst.queue_dir, "incoming", qid))
    assert not re.search(removal(qid), inst.log())

    os.kill(writer, signal.SIGKILL)
    m = inst.wait_log(removal(qid), timeout=10)
    assert m.group(1) == "qmgr"
    inst.wait_for(lambda: all_queues_empty(inst), what="empty queues")
    # The client is never told 250 for it.
    c.send("second half\r\n.\r\n")
    r = c.reply()
    assert r and not r[-1].startswith("250"), r
    c.close()
    # The system goes on: the next message is delivered.
    smtp_send(inst, "after@client.example", per_run("tester@mta-test.example"))
    wait_maildir(inst, per_run("tester"), 1)
    inst.wait_for(lambda: all_queues_empty(inst), what="empty queues")
    assert len(maildir_new(per_run("tester"))) == 1


def test_whole_instance_killed_postfix_start_removes_leftover(instance):
    """SIGKILL of master and all its children while a message is half sent;
    `postfix start` (postsuper) removes the file before qmgr even runs."""
    inst = start_pipeline(instance, users=(per_run("tester"),), extra="queue_run_delay = 3600s\n")
    c, qid = half_sent_message(inst)
    inst.kill_all()
    c.close()
    assert os.path.exists(os.path.join(inst.queue_dir, "incoming", qid))
    mark = inst.log_mark()
    inst.start()
    m = inst.wait_log(removal(qid), since=mark, timeout=10)
    assert m.group(1) == "postsuper"
    assert all_queues_empty(inst)
    smtp_send(inst, "after@client.example", per_run("tester@mta-test.example"))
    wait_maildir(inst, per_run("tester"), 1)


def test_postsuper_p_follows_the_writer_lock(instance):
    """postsuper -p: a locked incomplete file stays however old (a live
    writer); once nobody holds the lock it goes at once, whatever its age."""
    import fcntl
    import pwd
    import subprocess
    # No qmgr: its purge (at its start, which under ASan can come late, and
    # every queue run) would race postsuper for the file.
    no_qmgr = "".join(ln for ln in PIPELINE_CF.splitlines(keepends=True)
                      if not ln.startswith("qmgr "))
    inst = start_pipeline(instance, users=(), master_cf=no_qmgr)
    qid = "12345ABCDEF"
    path = os.path.join(inst.queue_dir, "incoming", qid)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    pw = pwd.getpwnam("postfix")
    os.fchown(fd, pw.pw_uid, pw.pw_gid)
    os.write(fd, b"being written")
    fcntl.flock(fd, fcntl.LOCK_EX)
    old = time.time() - 30 * 86400
    os.utime(path, (old, old))

    def postsuper_p():
        r = subprocess.run([os.path.join(inst.bin, "postsuper"), "-c", inst.config_dir, "-p"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stderr

    assert postsuper_p() == ""
    assert os.path.exists(path)
    os.close(fd)   # the writer dies
    os.utime(path, None)
    assert postsuper_p().endswith("\npostsuper: Removed: 1 temporary file\n")
    assert not os.path.exists(path)
    inst.wait_log(r"postfix/postsuper\[\d+\]: warning: incoming/%s: removed incomplete queue "
                  r"file \(its writer is gone\)" % qid)
