"""master, the service skeleton and the postfix command, driven through the
test-only echo_service daemon (tests/helpers/echo_service.c)."""
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import time

from conftest import DATA

ECHO_CF = """\
127.0.0.1:{port_echo} inet n - n - 2 echo_service
echo      unix  n       -       n       -       -       echo_service
"""


class Client:
    """A connected socket plus its reader; close() really closes the connection."""

    def __init__(self, sock):
        self.sock = sock
        self.reader = sock.makefile("rb")

    def sendall(self, data):
        self.sock.sendall(data)

    def readline(self):
        return self.reader.readline()

    def close(self):
        self.reader.close()
        self.sock.close()


def hello(addr, family=socket.AF_INET, timeout=5):
    """Connect, read the greeting line; returns (client, client, fields dict)."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(addr)
    c = Client(s)
    s, f = c, c
    line = f.readline().decode()
    assert line.startswith("hello "), line
    parts = line.split()
    info = {"service": parts[1], "pid": int(parts[2])}
    for kv in parts[3:]:
        k, _, v = kv.partition("=")
        info[k] = v
    return s, f, info


def test_start_status_stop(instance):
    inst = instance(ECHO_CF)
    inst.wait_log(r"postfix/master\[%d\]: daemon started -- version \S+, configuration %s"
                  % (inst.master_pid, re.escape(inst.config_dir)))
    r = inst.postfix("status")
    assert ("postfix/postfix-script: the Postfix mail system is running: PID: %d" % inst.master_pid
            in r.stderr)
    s, f, info = hello(("127.0.0.1", inst.port("echo")))
    assert info["uid"] == str(pwd.getpwnam("postfix").pw_uid)
    s.sendall(b"ping\n")
    assert f.readline() == b"echo: ping\n"
    s.close()
    assert inst.stop().returncode == 0
    assert inst.group_pids() == []
    assert not os.path.exists(os.path.join(inst.queue_dir, "pid", "master.pid"))
    inst.wait_log(r"postfix/master\[%d\]: terminating on signal 15" % inst.master_pid)
    r = inst.postfix("status", check=False)
    assert r.returncode == 1
    assert "postfix/postfix-script: the Postfix mail system is not running" in r.stderr


def test_queue_tree_and_sockets(instance):
    inst = instance(ECHO_CF)
    postfix = pwd.getpwnam("postfix")
    import grp
    postdrop = grp.getgrnam("postdrop").gr_gid
    expect = {"maildrop": (postfix.pw_uid, postdrop, 0o730), "public": (postfix.pw_uid, postdrop, 0o710),
              "private": (postfix.pw_uid, None, 0o700), "incoming": (postfix.pw_uid, None, 0o700),
              "deferred": (postfix.pw_uid, None, 0o700), "pid": (0, None, 0o755)}
    for name, (uid, gid, mode) in expect.items():
        st = os.stat(os.path.join(inst.queue_dir, name))
        assert st.st_uid == uid, name
        assert gid is None or st.st_gid == gid, name
        assert stat.S_IMODE(st.st_mode) == mode, name
    st = os.stat(os.path.join(inst.queue_dir, "public", "echo"))
    assert stat.S_ISSOCK(st.st_mode) and st.st_uid == postfix.pw_uid
    assert stat.S_IMODE(st.st_mode) == 0o666
    s, f, info = hello(os.path.join(inst.queue_dir, "public", "echo"), socket.AF_UNIX)
    assert info["service"] == "echo"
    s.close()


def test_second_master_refused(instance):
    inst = instance(ECHO_CF)
    r = subprocess.run([os.path.join(inst.bin, "master"), "-c", inst.config_dir, "-w"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "already running" in r.stderr
    r = inst.postfix("start", check=False)
    assert r.returncode != 0 and "already running" in r.stderr
    assert inst.read_pid() == inst.master_pid


def test_maxproc_limits_children(instance):
    inst = instance(ECHO_CF)
    addr = ("127.0.0.1", inst.port("echo"))
    s1, f1, i1 = hello(addr)
    s2, f2, i2 = hello(addr)
    assert i1["pid"] != i2["pid"]
    s3 = socket.create_connection(addr)
    s3.settimeout(0.7)
    try:
        data = s3.recv(100)
        raise AssertionError("third client served beyond maxproc 2: %r" % data)
    except socket.timeout:
        pass
    inst.wait_log(r'warning: service "127.0.0.1:%d" \(.*\) has reached its process limit "2"'
                  % inst.port("echo"))
    assert len(inst.children("127.0.0.1:%d" % inst.port("echo"))) == 2
    s1.close()
    s3.settimeout(5)
    s3 = Client(s3)
    assert s3.readline().startswith(b"hello ")
    for s in (s2, s3):
        s.close()


def test_respawn_after_sigkill_and_throttle(instance):
    inst = instance(ECHO_CF + "bad unix n - n - - echo_service -D\n",
                    main_cf_extra="service_throttle_time = 3s\n")
    addr = ("127.0.0.1", inst.port("echo"))
    s, f, info = hello(addr)
    os.kill(info["pid"], signal.SIGKILL)
    inst.wait_log(r"postfix/master\[%d\]: warning: process %s/echo_service pid %d killed by signal 9"
                  % (inst.master_pid, re.escape(inst.bin), info["pid"]))
    s.close()
    s2, f2, info2 = hello(addr)
    assert info2["pid"] != info["pid"]
    s2.close()
    # A daemon that dies before serving anyone throttles its service.
    u = socket.socket(socket.AF_UNIX)
    u.connect(os.path.join(inst.queue_dir, "public", "bad"))
    inst.wait_log(r"warning: process \S+/echo_service pid \d+ exit status 64")
    inst.wait_log(r"warning: %s/echo_service: bad command startup -- throttling"
                  % re.escape(inst.bin))
    mark = inst.log_mark()
    time.sleep(1.5)
    assert "exit status 64" not in inst.log()[mark:], "throttled service was respawned at once"
    inst.wait_log(r"exit status 64", since=mark, timeout=6)  # retried after the throttle time
    u.close()


def test_reload_applies_master_cf(instance):
    inst = instance(ECHO_CF + "old unix n - n - - echo_service\n",
                    main_cf_extra="echo_extra = before\n")
    addr = ("127.0.0.1", inst.port("echo"))
    s, f, info = hello(addr)
    assert info["extra"] == "before"
    o, of, oinfo = hello(os.path.join(inst.queue_dir, "public", "old"), socket.AF_UNIX)
    inst.rewrite(master_cf=ECHO_CF + "new unix n - n - - echo_service\n",
                 main_cf_extra="echo_extra = after\n")
    inst.reload()
    # Removed service: its child is stopped, its socket is gone.
    inst.wait_for(lambda: not inst.children("old"), what="old service to stop")
    assert not os.path.exists(os.path.join(inst.queue_dir, "public", "old"))
    o.close()
    # New service appears, listening as soon as its name exists (master
    # binds under a temporary name and renames).
    new_path = os.path.join(inst.queue_dir, "public", "new")
    inst.wait_for(lambda: os.path.exists(new_path), what="public/new")
    n, nf, ninfo = hello(new_path, socket.AF_UNIX)
    assert ninfo["service"] == "new" and ninfo["extra"] == "after"
    n.close()
    # The established connection survives the reload and is still served.
    s.sendall(b"still there\n")
    assert f.readline() == b"echo: still there\n"
    s.close()
    # Its process exits once the client is done; new clients see the new main.cf.
    inst.wait_for(lambda: info["pid"] not in inst.group_pids(), what="old child to exit")
    s2, f2, info2 = hello(addr)
    assert info2["extra"] == "after" and info2["pid"] != info["pid"]
    s2.close()
    assert "killed by signal" not in inst.log()


def test_wakeup_triggers(instance):
    inst = instance("tick unix n - n 1 1 echo_service mode=trigger\n"
                    "cond unix n - n 1? 1 echo_service mode=trigger\n"
                    "res fifo n - n 1 1 echo_service mode=resident\n")
    inst.wait_log(r"postfix/echo_service\[\d+\]: trigger tick: W", count=3, timeout=8)
    inst.wait_log(r"trigger res: W", count=2, timeout=8)
    # A conditional wakeup waits until the service was used once.
    assert "trigger cond:" not in inst.log()
    c = socket.socket(socket.AF_UNIX)
    c.connect(os.path.join(inst.queue_dir, "public", "cond"))
    c.sendall(b"I")
    c.close()
    inst.wait_log(r"trigger cond: I")
    inst.wait_log(r"trigger cond: W", timeout=8)
    # maxproc 1: one process per trigger service, however many wake-ups.
    assert len(inst.children("tick")) == 1
    with open(os.path.join(inst.queue_dir, "public", "res"), "wb", buffering=0) as fifo:
        fifo.write(b"D")
    inst.wait_log(r"trigger res: D")


def test_debian_stock_master_cf(instance):
    with open(os.path.join(DATA, "master.cf.debian")) as f:
        text = f.read()
    # Port 25 may be taken on this host: move the smtp listener to a free port.
    text = text.replace("{", "{{").replace("}", "}}")
    text = re.sub(r"^smtp(\s+)inet", r"127.0.0.1:{port_smtp}\1inet", text, count=1, flags=re.M)
    text += "echo      unix  n       -       y       -       -       echo_service\n"
    inst = instance(text)
    log = inst.wait_log(r"daemon started") and inst.log()
    for cmd in ["trivial-rewrite", "anvil", "scache", "proxymap", "verify", "flush",
                "postlogd"]:
        assert re.search(r"\(command %s\): handled inside the library" % cmd, log), cmd
    # error(8), discard(8) and the stock pipe(8) services are real agents:
    # neither absorbed nor skipped (their programs exist).
    for svc in ["error", "retry", "discard", "maildrop", "uucp", "ifmail", "bsmtp",
                "scalemail-backend", "mailman"]:
        assert not re.search(r"service %s/unix\b.*(skipped|handled inside)" % re.escape(svc),
                             log), svc
    assert "fatal" not in log and "panic" not in log
    # The chrooted, unprivileged echo service works.
    s, f, info = hello(os.path.join(inst.queue_dir, "public", "echo"), socket.AF_UNIX)
    assert info["uid"] == str(pwd.getpwnam("postfix").pw_uid)
    s.close()
    before = inst.log().count("handled inside the library")
    inst.reload()
    time.sleep(0.3)
    assert inst.log().count("handled inside the library") == before, "absorbed services re-logged"


def test_check_rejects_missing_mail_owner(instance):
    inst = instance(ECHO_CF, main_cf_extra="mail_owner = no-such-user-xyz\n", start=False)
    r = inst.postfix("check", check=False)
    assert r.returncode != 0
    assert 'mail_owner "no-such-user-xyz" is not a user on this system' in r.stderr
    # set-permissions also fixes $command_directory/postdrop and postqueue:
    # give it copies, never the build's own files.
    cmd_dir = os.path.join(inst.tmp, "command_directory")
    os.mkdir(cmd_dir)
    for name in ("postdrop", "postqueue"):
        shutil.copy(os.path.join(inst.bin, name), cmd_dir)
    inst.rewrite(main_cf_extra="command_directory = %s\n" % cmd_dir)
    r = inst.postfix("check")
    assert os.path.isdir(os.path.join(inst.queue_dir, "maildrop"))
    # Bad modes are reported by check and fixed by set-permissions.
    os.chmod(os.path.join(inst.queue_dir, "private"), 0o755)
    r = inst.postfix("check")
    assert "bad mode 0755 (expected 0700)" in r.stderr
    inst.postfix("set-permissions")
    assert stat.S_IMODE(os.stat(os.path.join(inst.queue_dir, "private")).st_mode) == 0o700


def test_bad_master_cf_is_a_clear_error(instance):
    inst = instance("echo unix n - n - - echo_service\nbroken tcp - - n - - x\n", start=False)
    r = inst.postfix("start", check=False)
    assert r.returncode != 0
    assert "master.cf, line 2: unknown service type \"tcp\"" in r.stderr
    assert inst.read_pid() is None
