"""Local submission and queue tools: sendmail, postdrop, pickup, showq,
postqueue/mailq, postsuper.

setgid binaries: postdrop and postqueue must be setgid postdrop, as Debian
installs them. The `setgid_bins` fixture (root) does `chgrp postdrop` and
`chmod 2755` on them in the build directory itself (idempotent; the build
does not undo it until the files are relinked).

Unprivileged users: the tests create the accounts mtauser1 and mtauser2.
A setgid program refuses a non-default configuration directory unless the
default main.cf lists it in alternate_config_directories (as Postfix does),
so the `alt_config` fixture writes /etc/postfix/main.cf when there is none
(and removes it afterwards); with an existing one the test is skipped.
"""
import json
import os
import pwd
import re
import subprocess
import time

import pytest

from conftest import BIN

MASTER_CF = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
showq     unix  n       -       n       -       -       showq
"""

USERS = ("mtauser1", "mtauser2")


@pytest.fixture(scope="module", autouse=True)
def setgid_bins():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    import grp
    try:
        gid = grp.getgrnam("postdrop").gr_gid
    except KeyError:
        subprocess.run(["groupadd", "--system", "postdrop"], check=True)
        gid = grp.getgrnam("postdrop").gr_gid
    for name in ("postdrop", "postqueue"):
        path = os.path.join(BIN, name)
        if os.path.exists(path):
            os.chown(path, 0, gid)
            os.chmod(path, 0o2755)
    for u in USERS:
        try:
            pwd.getpwnam(u)
        except KeyError:
            subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", u], check=True)


@pytest.fixture
def alt_config():
    """Allow instance config dirs for setgid programs run by ordinary users."""
    made_dir = False
    path = "/etc/postfix/main.cf"
    if os.path.exists(path):
        with open(path) as f:
            if "# mta e2e test file" not in f.read():
                pytest.skip("/etc/postfix/main.cf exists; not touching a real configuration")
    if not os.path.isdir("/etc/postfix"):
        os.mkdir("/etc/postfix")
        made_dir = True
    dirs = []

    def allow(d):
        dirs.append(d)
        with open(path, "w") as f:
            f.write("# mta e2e test file\nalternate_config_directories = %s\n" % " ".join(dirs))

    yield allow
    os.unlink(path)
    if made_dir:
        try:
            os.rmdir("/etc/postfix")
        except OSError:
            pass


def run(inst, prog, *args, input=b"", user=None, check=True, env_extra=None, timeout=60):
    env = dict(os.environ, MAIL_CONFIG=inst.config_dir)
    env.update(env_extra or {})
    cmd = [os.path.join(BIN, prog)] + list(args)
    if user:
        cmd = ["runuser", "-u", user, "--"] + cmd
    r = subprocess.run(cmd, input=input, capture_output=True, env=env, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("%s %s: exit %d: %s" % (prog, args, r.returncode, r.stderr.decode()))
    return r


def queue_files(inst, queue):
    out = []
    top = os.path.join(inst.queue_dir, queue)
    for dirpath, _, files in os.walk(top):
        out += [os.path.join(dirpath, f) for f in files]
    return out


def wait_queued(inst, n, queue="incoming", timeout=30):
    inst.wait_for(lambda: len(queue_files(inst, queue)) >= n, timeout=timeout,
                  what="%d files in %s" % (n, queue))
    inst.wait_for(lambda: not queue_files(inst, "maildrop"), timeout=timeout,
                  what="maildrop empty")


def qf_content(path):
    """Content lines of one of our queue files (records: type, u32 BE len, payload)."""
    data = open(path, "rb").read()
    pos, lines, cur, in_content, rcpts, sender = 0, [], b"", False, [], None
    while pos < len(data):
        t = data[pos:pos + 1]
        n = int.from_bytes(data[pos + 1:pos + 5], "big")
        payload = data[pos + 5:pos + 5 + n]
        pos += 5 + n
        if t == b"M":
            in_content = True
        elif t == b"X":
            in_content = False
        elif t == b"S":
            sender = payload.decode()
        elif t == b"R":
            alen = int.from_bytes(payload[2:6], "big")
            rcpts.append(payload[6:6 + alen].decode())
        elif in_content and t == b"L":
            cur += payload
        elif in_content and t == b"N":
            lines.append(cur + payload)
            cur = b""
    return sender, rcpts, lines


@pytest.fixture
def mta(instance):
    return instance(master_cf=MASTER_CF)


def only_incoming(inst):
    files = queue_files(inst, "incoming")
    assert len(files) == 1, files
    return qf_content(files[0])


# ---- sendmail / postdrop / pickup ----------------------------------------

def test_sendmail_basic_root(mta):
    mark = mta.log_mark()
    run(mta, "sendmail", "-f", "sender@example.org", "rcpt@example.org",
        input=b"Subject: hi\n\nhello\n")
    wait_queued(mta, 1)
    sender, rcpts, lines = only_incoming(mta)
    assert sender == "sender@example.org"
    assert rcpts == ["rcpt@example.org"]
    assert b"Subject: hi" in lines and lines[-1] == b"hello"
    # cleanup adds the missing headers for local submissions
    assert any(l.startswith(b"From: ") for l in lines)
    assert any(l.startswith(b"Message-Id: ") or l.startswith(b"Message-ID: ") for l in lines)
    mta.wait_log(r"postfix/pickup\[\d+\]: [0-9A-F]+: uid=0 from=<sender@example.org>", since=mark)
