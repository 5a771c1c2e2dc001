"""Helpers for whole-pipeline tests: smtpd -> cleanup -> qmgr -> local.

An instance with the four services, small back-off times, a private mail
spool and alias file, and test users created on demand (real system
accounts: local(8) switches to their uid), with per-run names
(conftest.per_run: "tester" is "tester-<tag>") so that suites running at
once do not share mailboxes.
"""
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import time

from conftest import BIN, RUN_TAG, ensure_run_user, per_run

PIPELINE_CF = """\
127.0.0.1:{port_smtp} inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
local unix - n n - - local
"""

PIPELINE_EXTRA = """\
home_mailbox = Maildir/
mail_spool_directory = {tmp}/spool
alias_maps = hash:{tmp}/etc/aliases
alias_database = hash:{tmp}/etc/aliases
local_recipient_maps = proxy:unix:passwd.byname $alias_maps
smtpd_error_sleep_time = 0
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_run_delay = 1s
"""

TEST_USERS = (per_run("tester"), per_run("tester2"), per_run("tester3"))


def ensure_user(name):
    """A real local account with a home directory (local(8) needs its uid).
    A per-run name (per_run("tester")) is created for this run and removed
    at its end; another name must exist already."""
    if name.endswith("-" + RUN_TAG):
        pw = ensure_run_user(name, home=True)
    else:
        pw = pwd.getpwnam(name)
    if not os.path.isdir(pw.pw_dir):
        os.makedirs(pw.pw_dir, 0o755)
        os.chown(pw.pw_dir, pw.pw_uid, pw.pw_gid)
    return pw


def reset_user(name):
    """Fresh mail state for a test user: no Maildir, no .forward."""
    pw = ensure_user(name)
    for p in ("Maildir", ".forward", "mbox"):
        path = os.path.join(pw.pw_dir, p)
        if os.path.isdir(path) and not os.path.islink(path):
            # A delivery still finishing (a previous instance's local being
            # torn down) may add or remove files while we walk the tree:
            # retry a few times instead of failing on a vanished file.
            for _ in range(10):
                shutil.rmtree(path, ignore_errors=True)
                if not os.path.lexists(path):
                    break
                time.sleep(0.1)
            assert not os.path.lexists(path), "cannot remove " + path
        elif os.path.lexists(path):
            os.unlink(path)
    return pw


def write_aliases(inst, text):
    path = os.path.join(inst.config_dir, "aliases")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([os.path.join(BIN, "postalias"), "-c", inst.config_dir, path],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def start_pipeline(instance, extra="", aliases="postmaster: root\n", master_cf=PIPELINE_CF,
                   users=TEST_USERS, start=True):
    """With start=False the instance is set up but the caller starts it."""
    for u in users:
        reset_user(u)
    inst = instance(master_cf=master_cf, main_cf_extra=PIPELINE_EXTRA + extra, start=False)
    os.makedirs(os.path.join(inst.tmp, "spool"), exist_ok=True)
    os.chmod(os.path.join(inst.tmp, "spool"), 0o1777)
    write_aliases(inst, aliases)
    if start:
        inst.start()
        inst.wait_log(r"daemon started")
    return inst


def maildir_new(user):
    pw = pwd.getpwnam(user)
    return sorted(glob.glob(os.path.join(pw.pw_dir, "Maildir", "new", "*")))


def read(path):
    with open(path, "rb") as f:
        return f.read().decode("latin-1")


def wait_maildir(inst, user, count=1, timeout=20):
    return inst.wait_for(lambda: len(maildir_new(user)) >= count and maildir_new(user),
                         timeout=timeout, what="%d message(s) in ~%s/Maildir/new" % (count, user))


def trigger(inst, data=b"I"):
    """What postqueue -f / cleanup do: trigger bytes to public/qmgr."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(os.path.join(inst.queue_dir, "public", "qmgr"))
    s.sendall(data)
    s.close()


def queue_files(inst, queue):
    out = []
    for root, _dirs, files in os.walk(os.path.join(inst.queue_dir, queue)):
        out.extend(files)
    return sorted(out)


def wait_queue_empty(inst, timeout=20):
    def empty():
        return all(not queue_files(inst, q) for q in ("incoming", "active", "deferred"))
    inst.wait_for(empty, timeout=timeout, what="an empty queue")


def smtp_send(inst, sender, rcpts, msg="Subject: test\r\n\r\nhello\r\n", helo="client.example"):
    """One message over SMTP (raw smtplib dialogue); returns the queue ID."""
    import smtplib
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    s = smtplib.SMTP("127.0.0.1", inst.port("smtp"), local_hostname=helo, timeout=30)
    try:
        s.ehlo()
        code, resp = s.mail(sender)
        assert code == 250, resp
        for r in rcpts:
            code, resp = s.rcpt(r)
            assert code == 250, (r, code, resp)
        code, resp = s.data(msg.encode() if isinstance(msg, str) else msg)
        assert code == 250, resp
        m = re.search(rb"queued as ([0-9A-Za-z]+)", resp)
        return m.group(1).decode()
    finally:
        s.quit()
