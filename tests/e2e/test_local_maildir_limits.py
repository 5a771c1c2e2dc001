"""local(8) Maildir delivery after the system-call diet (issue 18): the
mailbox_size_limit is counted by the Maildir writer instead of
RLIMIT_FSIZE, the .forward lookup and the Maildir write share one switch
to the recipient, the queue file is read once for all recipients, and
passwd lookups come from a parsed /etc/passwd. What must not change:
a message over the limit bounces with 5.2.2 and leaves nothing behind, one
exactly at it is delivered, files are owned by the recipient, several
recipients of one message each get the whole message, and a new account
is seen at once."""
import glob
import os
import pwd
import re
import stat
import subprocess
import time

from conftest import per_run
from delivery_helpers import maildir_new, read, smtp_send, start_pipeline, wait_maildir

USER = per_run("tester")
USER2 = per_run("tester2")


def body_of(size):
    line = "x" * 70 + "\r\n"
    return "Subject: limit\r\n\r\n" + line * (size // len(line))


def usermod(*args):
    """usermod, retried while another test run holds the passwd lock."""
    for _ in range(50):
        r = subprocess.run(["usermod"] + list(args), capture_output=True, text=True)
        if r.returncode == 0:
            return
        time.sleep(0.2)
    raise AssertionError("usermod %s: %s" % (" ".join(args), r.stderr))


def maildir_tmp(user):
    return glob.glob(os.path.join(pwd.getpwnam(user).pw_dir, "Maildir", "tmp", "*"))


def test_size_limit_exact_fits_one_more_byte_bounces(instance):
    inst = start_pipeline(instance, users=(USER,))
    qid = smtp_send(inst, "user@yahoo.com", USER + "@mta-test.example", msg=body_of(3000))
    files = wait_maildir(inst, USER)
    size = os.stat(files[0]).st_size
    # The same message again, against a limit of exactly its Maildir size
    # (delivered) and one byte less (bounced, nothing left in tmp/ or new/).
    os.unlink(files[0])
    for limit, delivered in ((size, True), (size - 1, False)):
        since = len(inst.log())
        inst.postfix("stop")
        inst.rewrite(main_cf_extra=inst.main_cf_extra + "mailbox_size_limit = %d\n" % limit)
        inst.start()
        inst.wait_log(r"daemon started", since=since)
        qid = smtp_send(inst, "user@yahoo.com", USER + "@mta-test.example", msg=body_of(3000))
        if delivered:
            files = wait_maildir(inst, USER)
            assert os.stat(files[0]).st_size == size
            inst.wait_log(r"%s: to=<%s@mta-test.example>.*status=sent" % (qid, USER))
            os.unlink(files[0])
        else:
            line = inst.wait_log(r"%s: to=<%s@mta-test.example>.*status=bounced" % (qid, USER))
            log = inst.log()
            m = re.search(r"%s: to=<[^>]+>.*dsn=5\.2\.2, status=bounced \(cannot update maildir: "
                          r"write maildir file [^:]+: File too large\)" % qid, log)
            assert m, log[-2000:]
            assert maildir_new(USER) == []
            assert maildir_tmp(USER) == []
            assert line


def test_owned_by_recipients_whole_message_for_each(instance):
    inst = start_pipeline(instance, users=(USER, USER2))
    msg = body_of(200000)  # beyond one 64 KiB read of the queue file
    qid = smtp_send(inst, "user@yahoo.com",
                    [USER + "@mta-test.example", USER2 + "@mta-test.example"], msg=msg)
    for u in (USER, USER2):
        files = wait_maildir(inst, u)
        assert len(files) == 1
        pw = pwd.getpwnam(u)
        st = os.stat(files[0])
        assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid)
        assert stat.S_IMODE(st.st_mode) == 0o600
        text = read(files[0])
        assert "Delivered-To: %s@mta-test.example\n" % u in text
        assert text.endswith(msg.split("\r\n\r\n", 1)[1].replace("\r\n", "\n"))
    inst.wait_log(r"%s: removed" % qid)


def test_passwd_change_seen_by_running_local(instance):
    """local keeps running between the two messages: the second recipient's
    home directory moves in /etc/passwd (usermod), and the next delivery
    follows it."""
    inst = start_pipeline(instance, users=(USER,))
    smtp_send(inst, "user@yahoo.com", USER + "@mta-test.example")
    wait_maildir(inst, USER)
    pw = pwd.getpwnam(USER)
    newhome = pw.pw_dir + "-moved"
    os.makedirs(newhome, exist_ok=True)
    os.chown(newhome, pw.pw_uid, pw.pw_gid)
    usermod("-d", newhome, USER)
    try:
        qid = smtp_send(inst, "user@yahoo.com", USER + "@mta-test.example")
        inst.wait_log(r"%s: to=<%s@mta-test.example>.*status=sent" % (qid, USER))
        moved = glob.glob(os.path.join(newhome, "Maildir", "new", "*"))
        assert len(moved) == 1
        assert os.stat(moved[0]).st_uid == pw.pw_uid
    finally:
        usermod("-d", pw.pw_dir, USER)
        subprocess.run(["rm", "-rf", newhome], check=True)
