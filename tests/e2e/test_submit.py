"""Local submission and queue tools: sendmail, postdrop, pickup, showq,
postqueue/mailq, postsuper.

setgid binaries: postdrop and postqueue must be setgid postdrop, as Debian
installs them. conftest's `setgid_commands` fixture (root) does `chgrp
postdrop` and `chmod 2755` on them in the build directory itself
(idempotent; the build does not undo it until the files are relinked).

Unprivileged users: the tests create per-run accounts USER1 and USER2
(conftest.run_user: "mtauser1-<tag>"), removed at the end of the session.
A setgid program refuses a non-default configuration directory unless the
default main.cf lists it in alternate_config_directories (as Postfix does),
so the `alt_config` fixture writes that main.cf in the test build's own
default configuration directory (<build>/test-etc, see conftest), never in
/etc/postfix, and removes it afterwards.
"""
import json
import os
import pwd
import re
import shutil
import struct
import subprocess
import time

import pytest

from conftest import BIN, default_config_file, ensure_run_user, run_user, per_run

MASTER_CF = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
showq     unix  n       -       n       -       -       showq
"""

USER1 = run_user("mtauser1")
USER2 = run_user("mtauser2")
USERS = (USER1, USER2)


@pytest.fixture(scope="module", autouse=True)
def local_users():
    """conftest's setgid_commands made postdrop and postqueue setgid."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    for u in USERS:
        ensure_run_user(u, home=False)


@pytest.fixture
def alt_config():
    """Allow instance config dirs for setgid programs run by ordinary users."""
    dirs = []
    path = []

    def allow(d):
        dirs.append(d)
        path[:] = [default_config_file(dirs)]

    yield allow
    if path:
        os.unlink(path[0])


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


def test_snail_root_and_unprivileged_user(mta, alt_config):
    """Debian's s-nail calls our sendmail, as root and as an ordinary user."""
    alt_config(mta.config_dir)
    mark = mta.log_mark()
    sendmail = os.path.join(BIN, "sendmail")
    for user in (None, USER1):
        cmd = ["s-nail", "-:/", "-Sv15-compat", "-Smta=" + sendmail, "-s", "test",
               per_run("tester@lt01.am")]
        if user:
            cmd = ["runuser", "-u", user, "--"] + cmd
        r = subprocess.run(cmd, input=b"hi\n", capture_output=True, timeout=30,
                           env=dict(os.environ, MAIL_CONFIG=mta.config_dir))
        assert r.returncode == 0, r.stderr
    wait_queued(mta, 2)
    uid = pwd.getpwnam(USER1).pw_uid
    mta.wait_log(r"pickup\[\d+\]: \w+: uid=0 from=<root>", since=mark)
    mta.wait_log(r"pickup\[\d+\]: \w+: uid=%d from=<%s>" % (uid, re.escape(USER1)), since=mark)
    for f in queue_files(mta, "incoming"):
        sender, rcpts, lines = qf_content(f)
        assert rcpts == [per_run("tester@lt01.am")]
        assert b"Subject: test" in lines and b"hi" in lines


def test_sendmail_t_removes_bcc(mta):
    msg = (b"From: a@example.org\nTo: to1@example.org, Name <to2@example.org>\n"
           b"Cc: cc@example.org\nBcc: hidden@example.org,\n  hidden2@example.org\n"
           b"Subject: t\n\nbody\nBcc: not-a-header@example.org\n")
    run(mta, "sendmail", "-t", "-i", "extra@example.org", input=msg)
    wait_queued(mta, 1)
    _, rcpts, lines = only_incoming(mta)
    assert sorted(rcpts) == sorted(["extra@example.org", "to1@example.org", "to2@example.org",
                                    "cc@example.org", "hidden@example.org",
                                    "hidden2@example.org"])
    head = lines[:lines.index(b"")]
    assert not any(l.lower().startswith(b"bcc:") for l in head)
    assert not any(b"hidden2" in l for l in head)
    assert b"Bcc: not-a-header@example.org" in lines  # body untouched


def test_sendmail_t_without_recipients_fails(mta):
    r = run(mta, "sendmail", "-t", input=b"Subject: x\n\nbody\n", check=False)
    assert r.returncode == 65, r.stderr
    assert b"No recipient addresses found" in r.stderr
    r = run(mta, "sendmail", input=b"x\n", check=False)
    assert r.returncode == 64


@pytest.mark.parametrize("raw,opts,expect", [
    (b"Subject: crlf\r\n\r\nline1\r\nline2\r\n", [], [b"line1", b"line2"]),
    (b"Subject: nonl\n\nlast line without newline", [], [b"last line without newline"]),
    (b"From someone@example.org Mon Jan  1 00:00:00 2024\nSubject: f\n\nx\n", [],
     [b"From someone@example.org Mon Jan  1 00:00:00 2024", b"x"]),
    (b"Subject: dots\n\n..two\n.\nafter\n", ["-i"], [b"..two", b".", b"after"]),
    (b"Subject: dots\n\nbefore\n.\nafter\n", [], [b"before"]),
    (b"Subject: 8bit\n\n\xe4\xf6\xfc caf\xc3\xa9 \x01\x7f\rcr\n", [],
     [b"\xe4\xf6\xfc caf\xc3\xa9 \x01\x7f\rcr"]),
    (b"Subject: long\n\n" + b"y" * 200000 + b"\r\n", [], [b"y" * 200000]),
], ids=["crlf", "no-final-newline", "from-line", "dots-i", "dot-ends", "8bit", "long-line"])
def test_sendmail_content_preserved(mta, raw, opts, expect):
    run(mta, "sendmail", *opts, "r@example.org", input=raw)
    wait_queued(mta, 1)
    _, _, lines = only_incoming(mta)
    for e in expect:
        assert e in lines, (e[:80], [l[:80] for l in lines])
    if expect == [b"before"]:
        assert b"after" not in lines
    if raw.startswith(b"From "):
        # kept, and not mistaken for a header: it stays before Subject
        assert lines.index(expect[0]) < lines.index(b"Subject: f")


def test_sendmail_options(mta):
    run(mta, "sendmail", "-f", "<>", "-F", "Full Name", "-N", "delay,failure", "-R", "hdrs",
        "-V", "env-id-1", "-B", "8BITMIME", "-oi", "-oem", "-Am", "-G", "-U", "-L", "x",
        "r@example.org", input=b"Subject: o\n\nx\n")
    wait_queued(mta, 1)
    data = open(queue_files(mta, "incoming")[0], "rb").read()
    for needle in (b"envelope_id=env-id-1", b"ret_flags=HDRS", b"encoding=8BITMIME",
                   b"Full Name"):
        assert needle in data, needle
    for bad, code in ((["-bv", "-t"], 64), (["-qS", "site"], 64), (["-bz"], 64),
                      (["-N", "bogus", "x@y"], 64), (["-R", "x", "x@y"], 64),
                      (["-bs", "-t"], 64)):
        r = run(mta, "sendmail", *bad, check=False)
        assert r.returncode == code, (bad, r.returncode, r.stderr)
        assert r.stderr.strip(), bad


def test_sendmail_bs_dialog(mta):
    """A client that waits for each reply, over stdin/stdout pipes."""
    p = subprocess.Popen([os.path.join(BIN, "sendmail"), "-bs"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, env=dict(os.environ, MAIL_CONFIG=mta.config_dir))
    out = ""

    def reply():
        nonlocal out
        while True:
            line = p.stdout.readline().decode()
            assert line, out
            out += line
            if line[3:4] != "-":
                return line

    assert reply().startswith("220 ")
    for cmd, code in ((b"HELO client", "250"), (b"MAIL FROM:<s@example.org>", "250"),
                      (b"RCPT TO:<r@example.org>", "250"), (b"DATA", "354"),
                      (b"Subject: bs\r\n\r\nvia -bs\r\n.", "250"), (b"QUIT", "221")):
        p.stdin.write(cmd + b"\r\n")
        p.stdin.flush()
        assert reply().startswith(code), out
    p.stdin.close()
    assert p.wait(timeout=30) == 0
    assert out.startswith("220 "), out
    assert re.search(r"^250 2\.0\.0 Ok: queued as \w+\r?$", out, re.M), out
    assert "221 " in out
    wait_queued(mta, 1)
    _, rcpts, lines = only_incoming(mta)
    assert rcpts == ["r@example.org"] and b"via -bs" in lines


# ---- postfix set-permissions: the setgid commands ---------------------------

def test_set_permissions_makes_postdrop_and_postqueue_setgid(instance, alt_config):
    """Without the setgid bit an ordinary user's mail fails ("postdrop:
    Permission denied"): postfix check warns as Postfix does, and postfix
    set-permissions makes both root:$setgid_group mode 2755. The instance's
    command_directory is a copy, so the build's own files are never touched."""
    import grp
    inst = instance(master_cf=MASTER_CF, start=False)
    cmd_dir = os.path.join(inst.tmp, "command_directory")
    os.mkdir(cmd_dir)
    os.chmod(cmd_dir, 0o755)
    # postsuper too: postfix start runs $command_directory/postsuper, as Postfix's does
    for name in ("postdrop", "postqueue", "postsuper"):
        shutil.copy(os.path.join(BIN, name), cmd_dir)  # root:root
        os.chmod(os.path.join(cmd_dir, name), 0o755)  # copy() keeps a setgid bit
    inst.rewrite(main_cf_extra="command_directory = %s\n" % cmd_dir)
    r = inst.postfix("check")
    want = ["postfix/postfix-script: warning: not owned by group postdrop: %s/postqueue",
            "postfix/postfix-script: warning: not owned by group postdrop: %s/postdrop",
            "postfix/postfix-script: warning: not set-gid or not owner+group+world executable: "
            "%s/postqueue",
            "postfix/postfix-script: warning: not set-gid or not owner+group+world executable: "
            "%s/postdrop"]
    got = [ln for ln in r.stderr.splitlines() if "/command_directory/" in ln]
    assert got == [w % cmd_dir for w in want], r.stderr
    inst.wait_log(r"postfix-script\[\d+\]: warning: not owned by group postdrop: %s/postdrop"
                  % re.escape(cmd_dir))
    inst.start()
    alt_config(inst.config_dir)
    r = run(inst, "sendmail", "r@example.org", input=b"x\n", user=USER1, check=False)
    assert r.returncode != 0 and b"Permission denied" in r.stderr, r.stderr

    inst.postfix("set-permissions")
    gid = grp.getgrnam("postdrop").gr_gid
    for name in ("postdrop", "postqueue"):
        st = os.stat(os.path.join(cmd_dir, name))
        assert (st.st_uid, st.st_gid, oct(st.st_mode & 0o7777)) == (0, gid, oct(0o2755)), name
    r = inst.postfix("check")
    assert "/command_directory/" not in r.stderr, r.stderr
    # a group that is right but a mode that is not is fixed too
    os.chmod(os.path.join(cmd_dir, "postqueue"), 0o750)
    assert "executable: %s/postqueue" % cmd_dir in inst.postfix("check").stderr
    inst.postfix("set-permissions")
    assert os.stat(os.path.join(cmd_dir, "postqueue")).st_mode & 0o7777 == 0o2755

    # an ordinary user's mail and mailq now work
    run(inst, "sendmail", "r@example.org", input=b"Subject: perm\n\nok\n", user=USER1)
    wait_queued(inst, 1)
    r = run(inst, "mailq", user=USER2)
    assert b"-- 0 Kbytes in 1 Request." in r.stdout, r.stdout + r.stderr


# ---- newaliases and mailq: sendmail under other names -----------------------

def test_newaliases_and_mailq_take_sendmail_options(mta):
    """newaliases is sendmail -bi and mailq sendmail -bp (links, mode from
    argv[0]): the whole sendmail option set works, -C included, without
    MAIL_CONFIG in the environment."""
    env = {k: v for k, v in os.environ.items() if k != "MAIL_CONFIG"}

    def ours(prog, *args, input=b""):
        return subprocess.run([os.path.join(BIN, prog)] + list(args), input=input,
                              capture_output=True, env=env, timeout=60)

    aliases = os.path.join(mta.config_dir, "aliases")
    with open(aliases, "w") as f:
        f.write("postmaster: root\nlist: a, b\n")
    mta.rewrite(main_cf_extra="alias_database = hash:%s\n" % aliases)
    r = ours("newaliases", "-C", mta.config_dir)
    assert r.returncode == 0, r.stderr
    assert ours("postalias", "-c", mta.config_dir, "-q", "list", aliases).stdout == b"a, b\n"
    # -C may name main.cf itself; -v and -oi/-om are accepted
    with open(aliases, "a") as f:
        f.write("more: c\n")
    r = ours("newaliases", "-v", "-oi", "-om", "-C", os.path.join(mta.config_dir, "main.cf"))
    assert r.returncode == 0, r.stderr
    assert ours("postalias", "-c", mta.config_dir, "-q", "more", aliases).stdout == b"c\n"
    # -oA names another alias database; $alias_database is left alone
    other = os.path.join(mta.tmp, "other-aliases")
    with open(other, "w") as f:
        f.write("x: y\n")
    before = os.stat(aliases + ".db").st_mtime_ns
    for prog, mode in (("newaliases", []), ("sendmail", ["-bi"])):
        r = ours(prog, *mode, "-C", mta.config_dir, "-oAhash:" + other)
        assert r.returncode == 0, (prog, r.stderr)
    assert ours("postalias", "-c", mta.config_dir, "-q", "x", other).stdout == b"y\n"
    assert os.stat(aliases + ".db").st_mtime_ns == before
    r = ours("newaliases", "-C", mta.config_dir, "-oA")
    assert r.returncode == 64 and b"-oA requires" in r.stderr, r.stderr
    r = ours("newaliases", "-C", mta.config_dir, "someone@example.org")
    assert r.returncode == 64 and b"requires no recipient" in r.stderr, r.stderr

    # mailq
    r = ours("mailq", "-C", mta.config_dir)
    assert (r.returncode, r.stdout) == (0, b"Mail queue is empty\n"), r.stderr
    run(mta, "sendmail", "-f", "q@example.org", "r@example.org", input=b"Subject: q\n\nx\n")
    wait_queued(mta, 1)
    for cmd in (["mailq", "-v", "-C", mta.config_dir], ["sendmail", "-bp", "-C", mta.config_dir],
                ["mailq", "-C", os.path.join(mta.config_dir, "main.cf"), "-oi"]):
        r = ours(*cmd)
        assert r.returncode == 0, (cmd, r.stderr)
        assert b"q@example.org" in r.stdout and b"-- 0 Kbytes in 1 Request." in r.stdout, r.stdout
    r = ours("mailq", "-C", mta.config_dir, "r@example.org")
    assert r.returncode == 64 and b"requires no recipient" in r.stderr, r.stderr


# ---- closed standard descriptors --------------------------------------------

def attr_message(pairs):
    """One message of our internal protocol (lib/global/attr.h): length-prefixed
    name/value pairs and a zero end marker."""
    out = b""
    for name, value in pairs:
        out += struct.pack(">I", len(name)) + name + struct.pack(">I", len(value)) + value
    return out + struct.pack(">I", 0)


POSTDROP_INPUT = (attr_message([(b"request", b"envelope"), (b"sender", b"s@example.org")]) +
                  attr_message([(b"request", b"rcpt"), (b"address", b"r@example.org")]) +
                  attr_message([(b"request", b"content"), (b"N", b"Subject: fds"), (b"N", b""),
                                (b"N", b"body")]) +
                  attr_message([(b"request", b"end")]))


def run_with_closed(inst, prog, args, closed, input=b""):
    """prog (a plain, non-setgid copy: root running it, or an installation
    without the setgid bit, gets no help from glibc's secure mode) with the
    standard descriptors in `closed` closed."""
    d = os.path.join(inst.tmp, "plain-bin")
    os.makedirs(d, exist_ok=True)
    if not os.path.exists(os.path.join(d, prog)):
        shutil.copy(os.path.join(BIN, prog), d)
        os.chmod(os.path.join(d, prog), 0o755)  # copy() keeps a setgid bit

    def close_them():
        for fd in closed:
            os.close(fd)

    return subprocess.run([os.path.join(d, prog)] + args, input=input, capture_output=True,
                          env=dict(os.environ, MAIL_CONFIG=inst.config_dir),
                          preexec_fn=close_them, timeout=60)


def test_setgid_programs_with_closed_standard_fds(mta):
    """A closed fd 0/1/2 gets /dev/null before anything is opened, so the
    mail log (opened first) never becomes stdin, stdout or stderr."""
    def log_since(mark):
        return mta.log()[mark:]

    # postdrop without stdin: no input, not the log file read as input
    r = run_with_closed(mta, "postdrop", [], (0,))
    assert r.returncode == 65, r.stderr
    assert b"premature end of input: message not queued" in r.stderr, r.stderr
    # postdrop without stderr: its messages do not land in the log raw
    mark = mta.log_mark()
    r = run_with_closed(mta, "postdrop", ["-v", "-v"], (2,), input=POSTDROP_INPUT)
    assert r.returncode == 0
    mta.wait_log(r"postfix/postdrop\[\d+\]: queued maildrop/", since=mark)
    assert "\npostdrop: " not in log_since(mark), log_since(mark)
    # ... nor with stdout and stderr closed, and the file is intact
    mark = mta.log_mark()
    r = run_with_closed(mta, "postdrop", ["-v", "-v"], (1, 2), input=POSTDROP_INPUT)
    assert r.returncode == 0
    assert "\npostdrop: " not in log_since(mark), log_since(mark)
    wait_queued(mta, 2)
    for f in queue_files(mta, "incoming"):
        sender, rcpts, lines = qf_content(f)
        assert (sender, rcpts) == ("s@example.org", ["r@example.org"])
        # cleanup adds Received:, Message-ID:, Date: and From: around it
        assert b"Subject: fds" in lines and lines[-2:] == [b"", b"body"], lines
    # postqueue without stdout: the listing goes nowhere, not into the log
    mark = mta.log_mark()
    r = run_with_closed(mta, "postqueue", ["-p"], (1,))
    assert r.returncode == 0, r.stderr
    assert "Kbytes in 2 Requests" not in log_since(mark) and "-Queue ID-" not in log_since(mark)
    # postqueue without stderr: the error is logged once, formatted
    mark = mta.log_mark()
    r = run_with_closed(mta, "postqueue", ["-i", "BAD"], (2,))
    assert r.returncode == 64
    mta.wait_log(r"postfix/postqueue\[\d+\]: fatal: invalid queue ID: \"BAD\"", since=mark)
    assert "\npostqueue: fatal" not in log_since(mark), log_since(mark)


# ---- maildrop security ------------------------------------------------------

def test_users_cannot_read_or_delete_each_others_maildrop(mta, alt_config):
    alt_config(mta.config_dir)
    # stop pickup from taking the file: no pickup in this master.cf
    mta.rewrite(master_cf="cleanup unix n - n - 0 cleanup\n")
    mta.reload()
    run(mta, "sendmail", "r@example.org", input=b"secret\n", user=USER1)
    files = queue_files(mta, "maildrop")
    assert len(files) == 1
    st = os.stat(files[0])
    assert st.st_uid == pwd.getpwnam(USER1).pw_uid
    md = os.stat(os.path.join(mta.queue_dir, "maildrop"))
    assert oct(md.st_mode & 0o7777) == oct(0o730)
    for cmd in (["cat", files[0]], ["rm", "-f", files[0]], ["ls", os.path.dirname(files[0])]):
        r = subprocess.run(["runuser", "-u", USER2, "--"] + cmd, capture_output=True)
        assert r.returncode != 0, cmd
    assert os.path.exists(files[0])
    # not even the owner can list or remove it
    r = subprocess.run(["runuser", "-u", USER1, "--", "rm", "-f", files[0]],
                       capture_output=True)
    assert os.path.exists(files[0])


def test_forged_maildrop_file_goes_to_corrupt(mta):
    """A maildrop file claiming privileges (an attribute postdrop never
    writes) or with garbage is moved to corrupt/, never delivered."""
    mark = mta.log_mark()
    run(mta, "sendmail", "r@example.org", input=b"ok\n")
    wait_queued(mta, 1)
    good = queue_files(mta, "incoming")[0]
    data = open(good, "rb").read()
    md = os.path.join(mta.queue_dir, "maildrop")
    # 1: garbage; 2: a queue file from incoming/ (has attributes like
    # rewrite_context that postdrop never writes)
    for i, content in enumerate((b"garbage" * 10, data)):
        name = "%05X%X" % (10000 + i, 99990 + i)
        path = os.path.join(md, name)
        with open(path, "wb") as f:
            f.write(content)
        os.chmod(path, 0o744)
    subprocess.run([os.path.join(BIN, "postqueue"), "-c", mta.config_dir, "-f"],
                   capture_output=True)
    subprocess.run(["python3", "-c", "import socket;s=socket.socket(socket.AF_UNIX);"
                    "s.connect(%r);s.send(b'W');s.close()" % os.path.join(
                        mta.queue_dir, "public", "pickup")])
    mta.wait_for(lambda: len(queue_files(mta, "corrupt")) == 2, what="2 files in corrupt/")
    mta.wait_log(r"pickup\[\d+\]: warning: %05X\w+: corrupt queue file in maildrop" % 10000,
                 since=mark)
    assert len(queue_files(mta, "incoming")) == 1


# ---- mailq / postqueue / postsuper -----------------------------------------

def mailq(inst, *args, user=None, check=True):
    return run(inst, "postqueue", *(args or ("-p",)), user=user, check=check)


def make_deferred(inst, qid, reasons):
    """Move an incoming file to deferred/ and write its defer log, as qmgr and
    the defer service would."""
    src = [f for f in queue_files(inst, "incoming") if os.path.basename(f) == qid][0]
    h = qid[0]
    pf = pwd.getpwnam("postfix")
    for d in ("deferred", "defer"):
        os.makedirs(os.path.join(inst.queue_dir, d, h), mode=0o700, exist_ok=True)
        os.chown(os.path.join(inst.queue_dir, d, h), pf.pw_uid, pf.pw_gid)
    dst = os.path.join(inst.queue_dir, "deferred", h, qid)
    os.rename(src, dst)
    with open(os.path.join(inst.queue_dir, "defer", h, qid), "w") as f:
        for rcpt, why in reasons:
            f.write("recipient=%s\noffset=0\nstatus=4.4.1\naction=delayed\nreason=%s\n\n"
                    % (rcpt, why))
    return dst


def expected_mailq(entries):
    """Postfix 3.7's mailq layout, written out from its format rules."""
    if not entries:
        return "Mail queue is empty\n"
    out = "%-11s %7s %-20s %s\n" % ("-Queue ID-", "--Size--", "----Arrival Time----",
                                     "-Sender/Recipient-------")
    total = 0
    for i, (qid, mark, size, when, sender, rcpts) in enumerate(entries):
        if i:
            out += "\n"
        out += "%-11s %7d %20.20s %s\n" % (qid + mark, size, time.asctime(time.localtime(when)),
                                           sender)
        prev = ""
        for addr, why in rcpts:
            if why != prev:
                prev = why
                show = why or "reason unavailable"
                out += "%s(%s)\n" % (" " * max(0, 76 - len(show)), show)
            out += "%-11s %7s %-20s %s\n" % ("", "", "", addr)
        total += size
    out += "\n-- %d Kbytes in %d Request%s.\n" % (total // 1024, len(entries),
                                                  "" if len(entries) == 1 else "s")
    return out


def test_mailq_layout_json_and_postsuper(mta, alt_config):
    alt_config(mta.config_dir)
    assert mailq(mta).stdout == b"Mail queue is empty\n"
    run(mta, "sendmail", "-f", "alice@example.org", "bob@example.net", "carol@example.net",
        "dave@example.com", input=b"Subject: one\n\n" + b"x" * 3000 + b"\n")
    run(mta, "sendmail", "-f", "<>", "eve@example.org", input=b"Subject: two\n\ny\n")
    wait_queued(mta, 2)
    jobs = [json.loads(l) for l in mailq(mta, "-j").stdout.decode().splitlines()]
    assert len(jobs) == 2
    for j in jobs:
        assert set(j) >= {"queue_name", "queue_id", "arrival_time", "message_size",
                          "forced_expire", "sender", "recipients"}
        assert j["queue_name"] == "incoming"
    one = [j for j in jobs if j["sender"] == "alice@example.org"][0]
    two = [j for j in jobs if j["sender"] == "MAILER-DAEMON"][0]
    long_reason = ("connect to example.net[192.0.2.1]:25: Connection refused and a reason "
                   "longer than the seventy-six columns")
    make_deferred(mta, one["queue_id"], [
        ("bob@example.net", "connect to example.net[192.0.2.1]:25: Connection refused"),
        ("carol@example.net", long_reason)])
    jobs = {j["queue_id"]: j for j in
            (json.loads(l) for l in mailq(mta, "-j").stdout.decode().splitlines())}
    rc = jobs[one["queue_id"]]["recipients"]
    assert rc[0] == {"address": "bob@example.net", "delay_reason":
                     "connect to example.net[192.0.2.1]:25: Connection refused"}
    assert rc[2] == {"address": "dave@example.com"}
    assert jobs[one["queue_id"]]["queue_name"] == "deferred"

    def expect():
        e = []
        for j in sorted(jobs.values(), key=lambda j: ["maildrop", "hold", "incoming", "active",
                                                      "deferred"].index(j["queue_name"])):
            mark = {"active": "*", "hold": "!"}.get(j["queue_name"], "")
            e.append((j["queue_id"], mark, j["message_size"], j["arrival_time"], j["sender"],
                      [(r["address"], r.get("delay_reason", "")) for r in j["recipients"]]))
        return expected_mailq(e)

    out = mailq(mta).stdout.decode()
    assert out == expect(), out
    assert "\n  (connect to example.net[192.0.2.1]:25: Connection refused)\n" not in out
    assert "(reason unavailable)\n" in out
    # the same for an unprivileged user, and through the mailq link
    assert mailq(mta, user=USER1).stdout.decode() == out
    r = run(mta, "mailq", user=USER2)
    assert r.stdout.decode() == out

    # postsuper -h / -H / -d change what mailq shows
    mark = mta.log_mark()
    qid2 = two["queue_id"]
    r = run(mta, "postsuper", "-h", qid2)
    assert b"Placed on hold: 1 message" in r.stderr
    mta.wait_log(r"%s: placed on hold" % qid2, since=mark)
    jobs = {j["queue_id"]: j for j in
            (json.loads(l) for l in mailq(mta, "-j").stdout.decode().splitlines())}
    assert jobs[qid2]["queue_name"] == "hold"
    assert re.search(r"^%s! " % qid2, mailq(mta).stdout.decode(), re.M)
    assert mailq(mta).stdout.decode() == expect()
    run(mta, "postsuper", "-H", qid2)
    mta.wait_log(r"%s: released from hold" % qid2, since=mark)
    assert re.search(r"^%s  " % qid2, mailq(mta).stdout.decode(), re.M)
    run(mta, "postsuper", "-d", "-", input=(one["queue_id"] + "\n").encode())
    mta.wait_log(r"%s: removed" % one["queue_id"], since=mark)
    assert not os.path.exists(os.path.join(mta.queue_dir, "defer", one["queue_id"][0],
                                           one["queue_id"]))
    jobs = [json.loads(l) for l in mailq(mta, "-j").stdout.decode().splitlines()]
    assert [j["queue_id"] for j in jobs] == [qid2]
    r = run(mta, "postsuper", "-d", "ALL")
    assert b"Deleted: 1 message" in r.stderr
    assert mailq(mta).stdout == b"Mail queue is empty\n"


def test_postsuper_requeue_and_refusals(mta, alt_config):
    alt_config(mta.config_dir)
    run(mta, "sendmail", "-f", "s@example.org", "r1@example.org", input=b"Subject: rq\n\nbody\n")
    wait_queued(mta, 1)
    old = os.path.basename(queue_files(mta, "incoming")[0])
    mark = mta.log_mark()
    run(mta, "postsuper", "-r", "ALL")
    mta.wait_log(r"%s: requeued" % old, since=mark)
    mta.wait_log(r"pickup\[\d+\]: \w+: uid=%d from=<s@example.org>"
                 % pwd.getpwnam("postfix").pw_uid, since=mark)
    wait_queued(mta, 1)
    new = queue_files(mta, "incoming")
    assert len(new) == 1 and os.path.basename(new[0]) != old
    sender, rcpts, lines = qf_content(new[0])
    assert sender == "s@example.org" and rcpts == ["r1@example.org"] and b"body" in lines
    # only root; bad IDs refused
    assert run(mta, "postsuper", "-d", "ALL", user=USER1, check=False).returncode == 77
    assert run(mta, "postsuper", "-d", "../etc", check=False).returncode == 64
    # incomplete files are never touched; -p leaves fresh ones alone
    inc = os.path.join(mta.queue_dir, "incoming", "12345ABCDEF")
    open(inc, "w").write("being written")
    os.chmod(inc, 0o600)
    run(mta, "postsuper", "-d", "12345ABCDEF")
    run(mta, "postsuper", "-p")
    assert os.path.exists(inc)
    old_t = time.time() - 7 * 86400
    os.utime(inc, (old_t, old_t))
    run(mta, "postsuper", "-p")
    assert not os.path.exists(inc)


def test_postqueue_master_down_and_flush(mta, alt_config):
    alt_config(mta.config_dir)
    run(mta, "sendmail", "r@example.org", input=b"x\n")
    wait_queued(mta, 1)
    mta.stop()
    mta.wait_for(lambda: not os.path.exists(os.path.join(mta.queue_dir, "public", "showq"))
                 or subprocess.run([os.path.join(BIN, "postqueue"), "-p"], capture_output=True,
                                   env=dict(os.environ, MAIL_CONFIG=mta.config_dir))
                 .returncode == 0, what="master stopped")
    r = mailq(mta)  # root: runs showq -S itself
    assert b"-- 0 Kbytes in 1 Request." in r.stdout, r.stdout
    r = mailq(mta, user=USER1, check=False)
    assert r.returncode == 69
    assert b"Queue report unavailable - mail system is down" in r.stderr
    r = mailq(mta, "-f", check=False)
    assert r.returncode == 69 and b"Cannot flush mail queue - mail system is down" in r.stderr
    r = mailq(mta, "-s", "example.org", check=False)
    assert r.returncode == 69 and b"-s" in r.stderr
