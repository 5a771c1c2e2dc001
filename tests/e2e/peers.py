"""Real peers for end-to-end tests and the benchmark, all on loopback.

Everything here starts real programs from Debian's packages, each in a
private temporary directory with its own config, on free 127.0.0.1 ports:

  PostfixPeer   Debian's Postfix 3.7, unpacked (never installed: our MTA owns
                Postfix's paths) and run from a cache directory.  Outbound
                peer, relay, sender, benchmark baseline.
  Dovecot       dovecot -F with its own config: auth socket (SASL), IMAP
                reading a Maildir, LMTP.
  SmtpSink      Postfix's smtp-sink test server (optionally rejecting).
  smtp_source() Postfix's smtp-source load generator.
  pflogsumm()   Debian's pflogsumm on a log file, parsed into counts.

and small helpers: free_port(), wait_until(), Maildir, temp_user(),
DovecotAuthClient (speaks Dovecot's auth protocol, for SASL tests).

Rules these helpers keep, so tests can rely on them:
  * Every server is started in a new session (its own process group) and
    every PID is remembered; stop() sends SIGTERM to that PID, waits with a
    bound, then SIGKILLs only the process group it created.
  * Every wait is a bounded poll; a dead server fails fast with its log.
  * Network: 127.0.0.1 only.  Outbound relaying is only allowed to
    [127.0.0.1]:port; any other recipient gets the error transport, which
    smtpd already refuses at RCPT (550 ... outbound mail disabled in tests).
  * Every subprocess is checked (run() raises with the output).

Must run as root (Postfix's master and Dovecot need it, as in production).
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import imaplib
import os
import pwd
import grp
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

LOOPBACK = "127.0.0.1"
CACHE_DIR = Path(os.environ.get("MTA_TEST_CACHE", "/var/cache/mta-tests"))
POSTFIX_ROOT = CACHE_DIR / "postfix-root"
POSTFIX_LIBDIR = POSTFIX_ROOT / "usr/lib/postfix"
POSTFIX_DAEMONDIR = POSTFIX_LIBDIR / "sbin"
POSTFIX_SBIN = POSTFIX_ROOT / "usr/sbin"


class PeerError(RuntimeError):
    """A peer could not be prepared, started or queried."""


# --------------------------------------------------------------------------
# Generic process, port and polling helpers


def run(cmd: list[str], *, timeout: float = 60, env: dict | None = None,
        input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command to completion with a bound; raise with its output on failure."""
    try:
        cp = subprocess.run([str(c) for c in cmd], input=input, capture_output=True,
                            timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise PeerError(f"timeout after {timeout}s: {' '.join(map(str, cmd))}") from e
    if check and cp.returncode != 0:
        raise PeerError(f"exit {cp.returncode}: {' '.join(map(str, cmd))}\n"
                        f"stdout: {cp.stdout.decode(errors='replace')[-2000:]}\n"
                        f"stderr: {cp.stderr.decode(errors='replace')[-2000:]}")
    return cp


_ports_given: set[int] = set()
_ports_lock = threading.Lock()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now and not handed out before by
    this process (the kernel could otherwise give the same ephemeral port to
    two servers that are not yet listening)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]
        with _ports_lock:
            if port not in _ports_given:
                _ports_given.add(port)
                return port
    raise PeerError("no free loopback port")


def wait_until(pred: Callable[[], object], timeout: float, what: str,
               interval: float = 0.05, alive: Callable[[], None] | None = None):
    """Poll pred() until it returns something truthy, at most `timeout` seconds.

    alive(), if given, is called each round and should raise when the thing we
    wait for has died (so a crashed server fails at once, not at the timeout).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if alive:
            alive()
        if time.monotonic() >= deadline:
            raise PeerError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def port_open(port: int, host: str = LOOPBACK) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def port_listening(port: int, host: str = LOOPBACK) -> bool:
    """True if a TCP socket listens on host:port, read from /proc/net/tcp so
    that waiting for a server does not open (and log) a client connection."""
    want = "%08X:%04X" % (int.from_bytes(socket.inet_aton(host), "little"), port)
    anyaddr = "00000000:%04X" % port
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return port_open(port, host)
    for line in lines:
        f = line.split()
        if f[3] == "0A" and f[1] in (want, anyaddr):
            return True
    return False


def assert_loopback(host: str) -> None:
    """Refuse any target outside 127.0.0.0/8 and ::1 (tests never leave the box)."""
    h = host.strip("[]")
    if not (h.startswith("127.") or h in ("::1", "localhost")):
        raise PeerError(f"refusing non-loopback address {host!r}")


class Daemon:
    """A server process we started in its own session (= process group).

    Keeps the PID.  The leader is never reaped before stop() has killed its
    group: an unreaped (zombie) leader keeps its PID, hence the group ID,
    from being reused, so killpg() can only ever hit processes we started.
    stop() is idempotent: SIGTERM to the leader, bounded wait, SIGKILL to the
    whole group (children that outlived the leader), then reap.
    """

    def __init__(self, name: str, cmd: list, *, env: dict | None = None,
                 log_path: Path, cwd: Path | None = None):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, cwd=cwd, start_new_session=True)
        self.pid = self.proc.pid
        self._stopped = False

    def exit_status(self) -> int | None:
        """The leader's exit status (or -signal) once it has exited, else
        None; does not reap it (WNOWAIT)."""
        if self._stopped:
            return self.proc.returncode
        info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is None:
            return None
        return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status

    def check_alive(self) -> None:
        """Raise (with the tail of its output) if the process has exited."""
        status = self.exit_status()
        if status is not None:
            raise PeerError(f"{self.name} exited with {status}:\n{tail(self.log_path)}")

    def stop(self, timeout: float = 10) -> None:
        if self._stopped:
            return
        if self.exit_status() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.exit_status() is None and time.monotonic() < deadline:
                time.sleep(0.02)
        # Still ours: the leader is alive or an unreaped zombie.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._stopped = True
        self._log.close()


def tail(path: Path, lines: int = 40) -> str:
    """Last lines of a log file, for error messages."""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"(no log: {e})"


class _Server:
    """Common lifecycle: `with X(...) as x:` starts, and always stops and
    removes the temp dir it made (set MTA_KEEP_TMP=1 to keep it for a
    post-mortem).  Subclasses set self.workdir, self._own_workdir, start()
    and stop()."""

    workdir: Path
    _own_workdir: bool = False

    def start(self):
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def cleanup(self) -> None:
        """Remove the temp dir this object created (after stop())."""
        if self._own_workdir and not os.environ.get("MTA_KEEP_TMP"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        finally:
            self.cleanup()


def make_workdir(prefix: str) -> Path:
    """A fresh directory under /tmp that unprivileged daemons can traverse."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    d.chmod(0o755)
    return d


# --------------------------------------------------------------------------
# Users and Maildirs


def ensure_mail_accounts() -> None:
    """The accounts Postfix (and our MTA) expects: user/group postfix, group
    postdrop.  scripts/install-deps.sh creates them too; this is the fallback
    for a machine where only the tests run."""
    if not _group_exists("postdrop"):
        run(["groupadd", "--system", "postdrop"])
    if not _group_exists("postfix"):
        run(["groupadd", "--system", "postfix"])
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        run(["useradd", "--system", "--gid", "postfix", "--home-dir", "/var/spool/postfix",
             "--no-create-home", "--shell", "/usr/sbin/nologin", "postfix"])


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


@dataclass
class User:
    """A local Unix account used as a mail recipient."""
    name: str
    password: str | None
    uid: int
    gid: int
    home: Path

    @property
    def maildir(self) -> "Maildir":
        return Maildir(self.home / "Maildir")


def ensure_user(name: str, password: str | None = None) -> User:
    """Create the account (with home) if missing; set its Linux password if
    given (chpasswd), as the lab does, so Dovecot's shadow passdb accepts it."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        run(["useradd", "--create-home", "--shell", "/bin/bash", name])
        pw = pwd.getpwnam(name)
    home = Path(pw.pw_dir)
    if not home.is_dir():
        home.mkdir(parents=True)
        os.chown(home, pw.pw_uid, pw.pw_gid)
    if password is not None:
        run(["chpasswd"], input=f"{name}:{password}\n".encode())
    return User(name, password, pw.pw_uid, pw.pw_gid, home)


@contextlib.contextmanager
def temp_user(prefix: str = "mtt", password: str | None = None) -> Iterator[User]:
    """A fresh local user (own home, own Maildir, a random password) removed
    afterwards, so tests never count someone else's mail."""
    name = f"{prefix}{secrets.token_hex(4)}"
    pw = password if password is not None else secrets.token_urlsafe(12)
    user = ensure_user(name, pw)
    try:
        yield user
    finally:
        run(["userdel", "--remove", "--force", name], check=False)
        shutil.rmtree(user.home, ignore_errors=True)


class Maildir:
    """Read-only view of a Maildir, as Dovecot and s-nail see it."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def files(self, sub: str = "new") -> list[Path]:
        d = self.path / sub
        if not d.is_dir():
            return []
        return sorted(p for p in d.iterdir() if p.is_file())

    def count(self) -> int:
        """Messages delivered (new/ plus cur/).  Names only, no stat per
        file: the benchmark polls this while thousands arrive."""
        n = 0
        for sub in ("new", "cur"):
            try:
                n += sum(1 for e in os.scandir(self.path / sub) if not e.name.startswith("."))
            except FileNotFoundError:
                pass
        return n

    def messages(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in self.files("new") + self.files("cur")]

    def wait_for(self, n: int, timeout: float = 30,
                 alive: Callable[[], None] | None = None) -> int:
        """Wait until at least n messages are there; return the count."""
        def enough():
            c = self.count()
            return c if c >= n else None
        return wait_until(enough, timeout, f"{n} messages in {self.path} (have {self.count()})",
                          interval=0.05, alive=alive)


# --------------------------------------------------------------------------
# Debian's Postfix, unpacked


def postfix_env() -> dict:
    """Environment for binaries of the unpacked Postfix.  Their RUNPATH is
    /usr/lib/postfix, which is not there (postfix is not installed), so the
    libraries come through LD_LIBRARY_PATH.  None of the unpacked binaries is
    setuid/setgid (dpkg -x leaves modes as packed; Debian adds the setgid
    bits in postinst), so the loader honours it."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "TZ", "LANG")}
    env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    env["LD_LIBRARY_PATH"] = str(POSTFIX_LIBDIR)
    return env


def ensure_postfix_tree() -> Path:
    """Make sure Debian's postfix package is unpacked in the cache.

    scripts/install-deps.sh --test does this; repeating it here lets the tests
    run on a machine that only has the packages.  Never installs postfix."""
    if (POSTFIX_DAEMONDIR / "master").exists() and (POSTFIX_SBIN / "smtp-source").exists():
        return POSTFIX_ROOT
    debs = CACHE_DIR / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    download = ("apt-get download -qq -o APT::Sandbox::User=root postfix postfix-pcre")
    # Package lists may be missing or stale: update once if the first try fails.
    run(["sh", "-c", f"cd '{debs}' && {{ {download} || {{ apt-get update -qq && {download}; }}; }}"],
        timeout=600)
    tmp = CACHE_DIR / "postfix-root.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for deb in sorted(debs.glob("postfix_*.deb")) + sorted(debs.glob("postfix-pcre_*.deb")):
        run(["dpkg", "-x", deb, tmp])
    shutil.rmtree(POSTFIX_ROOT, ignore_errors=True)
    tmp.rename(POSTFIX_ROOT)
    return POSTFIX_ROOT


# master.cf rows of Debian's 3.7 package, with chroot off (a chroot would need
# the unpacked libraries inside the queue directory).  {smtpd} is replaced.
_MASTER_CF = """\
{smtpd}
pickup     unix  n       -       n       60      1       pickup
cleanup    unix  n       -       n       -       0       cleanup
qmgr       unix  n       -       n       300     1       qmgr
tlsmgr     unix  -       -       n       1000?   1       tlsmgr
rewrite    unix  -       -       n       -       -       trivial-rewrite
bounce     unix  -       -       n       -       0       bounce
defer      unix  -       -       n       -       0       bounce
trace      unix  -       -       n       -       0       bounce
verify     unix  -       -       n       -       1       verify
flush      unix  n       -       n       1000?   0       flush
proxymap   unix  -       -       n       -       -       proxymap
proxywrite unix  -       -       n       -       1       proxymap
smtp       unix  -       -       n       -       -       smtp
relay      unix  -       -       n       -       -       smtp
        -o syslog_name=postfix/$service_name
showq      unix  n       -       n       -       -       showq
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
local      unix  -       n       n       -       -       local
virtual    unix  -       n       n       -       -       virtual
lmtp       unix  -       -       n       -       -       lmtp
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
postlog    unix-dgram n  -       n       -       1       postlogd
"""

# Queue subdirectories as Postfix's postfix-files creates them:
# (name, owner is mail_owner?, group is setgid_group?, mode)
_QUEUE_DIRS = [
    ("active", True, False, 0o700), ("bounce", True, False, 0o700),
    ("corrupt", True, False, 0o700), ("defer", True, False, 0o700),
    ("deferred", True, False, 0o700), ("flush", True, False, 0o700),
    ("hold", True, False, 0o700), ("incoming", True, False, 0o700),
    ("private", True, False, 0o700), ("saved", True, False, 0o700),
    ("trace", True, False, 0o700), ("maildrop", True, True, 0o730),
    ("public", True, True, 0o710), ("pid", False, False, 0o755),
]


def loopback_mail_params(myhostname: str, relay_port: int | None) -> dict[str, str]:
    """main.cf settings every MTA instance of the tests and of bench/ shares
    (Debian's Postfix and ours alike): loopback only, no DNS, Maildir
    delivery, fast retries; relay_port sends all non-local mail to
    [127.0.0.1]:relay_port, otherwise it is refused."""
    p = {
        "myhostname": myhostname,
        "mydomain": myhostname,
        "myorigin": "$myhostname",
        "mydestination": "$myhostname, localhost",
        "inet_interfaces": LOOPBACK,
        "inet_protocols": "ipv4",
        "mynetworks": "127.0.0.0/8",
        "smtp_bind_address": LOOPBACK,
        "smtp_dns_support_level": "disabled",
        "alias_maps": "",
        "alias_database": "",
        "home_mailbox": "Maildir/",
        "biff": "no",
        "append_dot_mydomain": "no",
        "mailbox_size_limit": "0",
        # Fast retries for tests that make an instance defer.
        "queue_run_delay": "1s",
        "minimal_backoff_time": "1s",
        "maximal_backoff_time": "5s",
    }
    if relay_port:
        p["relayhost"] = f"[{LOOPBACK}]:{relay_port}"
    else:
        p["default_transport"] = "error:outbound mail disabled in tests"
        p["relay_transport"] = "error:outbound mail disabled in tests"
    return p


class LocalDns:
    """A dnsmasq serving `zone` (dnsmasq.conf lines) on a free loopback
    address, port 53, as the resolver of this process and its children only:
    the process enters a private mount namespace (once) and bind-mounts a
    resolv.conf naming it over /etc/resolv.conf; exit unmounts it and stops
    dnsmasq by PID. libresolv talks only to port 53, hence the namespace.
    The zone counts as up when ready() is true (polled for 10 s); tmp holds
    resolv.conf, dnsmasq.conf (and dnsmasq.log with log_queries). Needs
    root. tests/e2e/dns_zone.py is the pytest face of it."""

    CLONE_NEWNS = 0x00020000
    _unshared = False

    def __init__(self, zone: str, ready: Callable[[], bool], log_queries: bool = False):
        self.zone = zone
        self.ready = ready
        self.log_queries = log_queries
        self.ip = ""
        self.proc: subprocess.Popen | None = None
        self.tmp: Path | None = None
        self.mounted = False

    @staticmethod
    def _free_ip() -> str:
        import random
        for _ in range(50):
            ip = "127.53.%d.%d" % (random.randint(1, 254), random.randint(1, 254))
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind((ip, 53))
                return ip
            except OSError:
                continue
            finally:
                s.close()
        raise PeerError("no free loopback address for port 53")

    def __enter__(self) -> str:
        import ctypes
        if not LocalDns._unshared:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(self.CLONE_NEWNS) != 0:
                raise PeerError("unshare(CLONE_NEWNS): %s" % os.strerror(ctypes.get_errno()))
            subprocess.run(["mount", "--make-rprivate", "/"], check=True)
            LocalDns._unshared = True
        self.tmp = Path(tempfile.mkdtemp(prefix="mta-dns-"))
        self.ip = self._free_ip()
        resolv = self.tmp / "resolv.conf"
        resolv.write_text("nameserver %s\noptions timeout:1 attempts:2\n" % self.ip)
        resolv.chmod(0o644)
        subprocess.run(["mount", "--bind", str(resolv), "/etc/resolv.conf"], check=True)
        self.mounted = True
        conf = self.tmp / "dnsmasq.conf"
        conf.write_text("no-resolv\nno-hosts\nbind-interfaces\nlisten-address=%s\nport=53\n"
                        % self.ip + self.zone)
        argv = ["dnsmasq", "-k", "-C", str(conf), "--user=root",
                "--pid-file=" + str(self.tmp / "dnsmasq.pid")]
        if self.log_queries:
            argv += ["--log-facility=" + str(self.tmp / "dnsmasq.log"), "--log-queries"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.time() + 10
        while not self.ready():
            if self.proc.poll() is not None:
                self.__exit__()
                raise PeerError("dnsmasq died; see " + str(self.tmp / "dnsmasq.log"))
            if time.time() > deadline:
                self.__exit__()
                raise PeerError("dnsmasq not answering on %s" % self.ip)
            time.sleep(0.1)
        return self.ip

    @staticmethod
    def resolves(name: str, address: str) -> Callable[[], bool]:
        """A ready() test: `name` has the A record `address`."""
        def ready() -> bool:
            try:
                return socket.gethostbyname(name) == address
            except OSError:
                return False
        return ready

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc = None
        if self.mounted:
            subprocess.run(["umount", "/etc/resolv.conf"], check=False)
            self.mounted = False


class PostfixPeer(_Server):
    """Debian's Postfix 3.7 running from the unpacked cache in a temp dir.

    Delivers mail for `mydestination` (default: localhost and its hostname)
    to ~user/Maildir/ via local(8).  Outbound mail goes only where the test
    says: relayhost=port sends everything to [127.0.0.1]:port, transport=
    {"domain": port} routes single domains; any other recipient resolves to
    the error transport (smtpd refuses it at RCPT; mail already queued, e.g.
    from sendmail, bounces), so no test ever touches the network.  DNS is
    off (smtp_dns_support_level = disabled).

    The master runs in the foreground (`master -d`) as a child we own, in its
    own session: its PID is master_pid and every Postfix process is in its
    session, which is how the benchmark finds them.
    """

    def __init__(self, *, port: int | None = None, myhostname: str = "peer.test",
                 relayhost: int | None = None, transport: dict[str, int] | None = None,
                 main_cf: dict[str, str] | None = None, smtpd_args: Iterable[str] = (),
                 workdir: Path | None = None, start_timeout: float = 30):
        self.port = port or free_port()
        self.host = LOOPBACK
        self.myhostname = myhostname
        self.relayhost = relayhost
        self.transport = dict(transport or {})
        self.extra_main = dict(main_cf or {})
        self.smtpd_args = list(smtpd_args)
        self._own_workdir = workdir is None
        self.workdir = workdir or make_workdir("mta-postfix-")
        self.config_dir = self.workdir / "etc"
        self.queue_dir = self.workdir / "spool"
        self.data_dir = self.workdir / "lib"
        self.meta_dir = self.workdir / "meta"
        self.log_path = self.workdir / "maillog"
        self.bin_dir = self.workdir / "bin"
        self.start_timeout = start_timeout
        self.daemon: Daemon | None = None

    # -- configuration

    def main_cf(self) -> dict[str, str]:
        """The main.cf parameters, in order (tests may inspect or extend)."""
        p = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.data_dir),
            "daemon_directory": str(POSTFIX_DAEMONDIR),
            "shlib_directory": str(POSTFIX_LIBDIR),
            "command_directory": str(self.bin_dir),
            "meta_directory": str(self.meta_dir),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            # The daemons are exec'ed by master with a cleaned environment.
            "import_environment": ("MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C "
                                   "POSTLOG_SERVICE POSTLOG_HOSTNAME "
                                   f"LD_LIBRARY_PATH={POSTFIX_LIBDIR}"),
            "maillog_file": str(self.log_path),
            "maillog_file_prefixes": str(self.workdir),
            **loopback_mail_params(self.myhostname, self.relayhost),
            "readme_directory": "no",
            "smtpd_banner": "$myhostname ESMTP Postfix (Debian) test peer",
        }
        if self.transport:
            rows = " ".join(f"{dom}=smtp:[{LOOPBACK}]:{port}"
                            for dom, port in self.transport.items())
            p["transport_maps"] = "inline:{ " + rows + " }"
        p.update(self.extra_main)
        return p

    def _write_config(self) -> None:
        for d in (self.config_dir, self.data_dir, self.meta_dir, self.queue_dir):
            d.mkdir(parents=True, exist_ok=True)
        pw = pwd.getpwnam("postfix")
        drop_gid = grp.getgrnam("postdrop").gr_gid
        os.chown(self.data_dir, pw.pw_uid, pw.pw_gid)
        self.data_dir.chmod(0o700)
        self.queue_dir.chmod(0o755)
        for name, owned, setgid_grp, mode in _QUEUE_DIRS:
            d = self.queue_dir / name
            d.mkdir(exist_ok=True)
            os.chown(d, pw.pw_uid if owned else 0, drop_gid if setgid_grp else (0 if not owned else pw.pw_gid))
            d.chmod(mode)
        # meta_directory: what postfix(1)/postconf look for besides main.cf.
        share = POSTFIX_ROOT / "usr/share/postfix"
        shutil.copy(POSTFIX_ROOT / "etc/postfix/postfix-files", self.meta_dir)
        shutil.copytree(POSTFIX_ROOT / "etc/postfix/postfix-files.d",
                        self.meta_dir / "postfix-files.d", dirs_exist_ok=True)
        (self.meta_dir / "dynamicmaps.cf.d").mkdir(exist_ok=True)
        (self.meta_dir / "dynamicmaps.cf").write_text(
            "pcre\tpostfix-pcre.so\tdict_pcre_open\n")
        for f in ("main.cf.dist", "master.cf.dist", "makedefs.out"):
            shutil.copy(share / f, self.meta_dir / f.replace(".dist", ".proto"))
        # sendmail scrubs its environment before it execs postdrop, so the
        # commands get wrappers that set LD_LIBRARY_PATH themselves.
        self.bin_dir.mkdir(exist_ok=True)
        for real in POSTFIX_SBIN.iterdir():
            w = self.bin_dir / real.name
            w.write_text(f"#!/bin/sh\nLD_LIBRARY_PATH={POSTFIX_LIBDIR} exec {real} \"$@\"\n")
            w.chmod(0o755)
        main = "".join(f"{k} = {v}\n" for k, v in self.main_cf().items())
        (self.config_dir / "main.cf").write_text(main)
        smtpd = f"{LOOPBACK}:{self.port} inet n - n - - smtpd"
        for arg in self.smtpd_args:
            smtpd += f"\n        {arg}"
        (self.config_dir / "master.cf").write_text(_MASTER_CF.format(smtpd=smtpd))
        # Postfix re-reads a config file whose mtime is not in the past (it
        # may be half written), sleeping up to ~2s; backdate ours.
        past = time.time() - 10
        for f in ("main.cf", "master.cf"):
            os.utime(self.config_dir / f, (past, past))
        self.log_path.touch()
        self.log_path.chmod(0o644)

    # -- lifecycle

    def start(self) -> "PostfixPeer":
        ensure_postfix_tree()
        ensure_mail_accounts()
        self._write_config()
        self.daemon = Daemon("postfix master",
                             [POSTFIX_DAEMONDIR / "master", "-d", "-c", self.config_dir],
                             env=postfix_env(), log_path=self.workdir / "master.out")
        try:
            wait_until(lambda: port_listening(self.port), self.start_timeout,
                       f"Postfix smtpd on port {self.port}", alive=self._alive)
            # "daemon started" comes through postlogd, so logging works too.
            self.wait_log(r"postfix/master\[\d+\]: daemon started", self.start_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _alive(self) -> None:
        if self.daemon is None:
            raise PeerError("Postfix not started")
        try:
            self.daemon.check_alive()
        except PeerError as e:
            raise PeerError(f"{e}\nmaillog:\n{tail(self.log_path)}\n"
                            f"postfix check:\n{self._diagnose()}") from None

    def _diagnose(self, timeout: float = 20) -> str:
        """Why master died.  It logs only to syslog and postlogd, and neither
        is there when it dies at startup; `postfix check` finds the same
        configuration errors and, like every Postfix command, also logs to
        stderr when that is a terminal.  So run it once on a pty."""
        import pty
        import select
        mfd, sfd = pty.openpty()
        try:
            d = subprocess.Popen([str(self.bin_dir / "postfix"), "-c", str(self.config_dir),
                                  "check"], stdin=subprocess.DEVNULL, stdout=sfd,
                                 stderr=sfd, env=postfix_env(), start_new_session=True)
        finally:
            os.close(sfd)
        out = b""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([mfd], [], [], 0.1)
                if ready:
                    try:
                        chunk = os.read(mfd, 4096)
                    except OSError:  # EIO: every writer closed the pty
                        break
                    if not chunk:
                        break
                    out += chunk
                elif d.poll() is not None:
                    break
        finally:
            os.close(mfd)
            if d.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(d.pid, signal.SIGKILL)
            d.wait(10)
        return out.decode(errors="replace").strip() or "(no output)"

    def stop(self) -> None:
        if self.daemon:
            self.daemon.stop()
            self.daemon = None

    @property
    def master_pid(self) -> int:
        assert self.daemon, "not started"
        return self.daemon.pid

    # -- queries

    def postconf(self, *args: str) -> str:
        return run([POSTFIX_SBIN / "postconf", "-c", self.config_dir, *args],
                   env=postfix_env()).stdout.decode()

    def postqueue(self, *args: str) -> str:
        """postqueue as root (talks to public/showq; no setgid needed)."""
        return run([POSTFIX_SBIN / "postqueue", "-c", self.config_dir, *args],
                   env=postfix_env()).stdout.decode()

    def sendmail_env(self) -> dict:
        """Environment for this instance's sendmail (MAIL_CONFIG).  As root,
        postdrop needs no setgid bit to write maildrop/."""
        return {**postfix_env(), "MAIL_CONFIG": str(self.config_dir)}

    @property
    def sendmail_path(self) -> Path:
        """A wrapper for Postfix's sendmail (sets LD_LIBRARY_PATH); use it
        with sendmail_env()."""
        return self.bin_dir / "sendmail"

    def queue_empty(self) -> bool:
        return "Mail queue is empty" in self.postqueue("-p")

    def flush(self) -> None:
        self.postqueue("-f")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern: str, timeout: float = 30, count: int = 1) -> list[str]:
        """Wait until `count` lines of the maillog match the regex; return them."""
        rx = re.compile(pattern)

        def found():
            hits = [l for l in self.log().splitlines() if rx.search(l)]
            return hits if len(hits) >= count else None
        try:
            return wait_until(found, timeout, f"{count}x /{pattern}/ in {self.log_path}",
                              alive=self._alive)
        except PeerError as e:
            raise PeerError(f"{e}\nmaillog:\n{tail(self.log_path)}") from None

    def send(self, sender: str, rcpts: list[str] | str, msg: bytes | str | None = None,
             **kw) -> dict:
        """Submit one message with smtplib; see send_mail()."""
        return send_mail(self.host, self.port, sender, rcpts, msg, **kw)


def send_mail(host: str, port: int, sender: str, rcpts: list[str] | str,
              msg: bytes | str | None = None, *, subject: str = "test",
              login: tuple[str, str] | None = None, timeout: float = 30) -> dict:
    """Send one message via Python's smtplib (EHLO, optional AUTH, MAIL/RCPT/DATA).
    Returns smtplib's refused-recipients dict ({} when all were accepted)."""
    import smtplib
    assert_loopback(host)
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    if msg is None:
        msg = (f"From: <{sender}>\r\nTo: {', '.join(f'<{r}>' for r in rcpts)}\r\n"
               f"Subject: {subject}\r\nMessage-ID: <{secrets.token_hex(8)}@test>\r\n"
               f"\r\nHello from the tests.\r\n")
    with smtplib.SMTP(host, port, timeout=timeout) as s:
        s.ehlo("client.test")
        if login:
            s.login(*login)
        return s.sendmail(sender, rcpts, msg)


# --------------------------------------------------------------------------
# s-nail, the lab's `mail`


def snail_send(mta: Path | str, to: list[str] | str, subject: str, body: str, *,
               sender: str | None = None, env: dict | None = None) -> None:
    """Send a message with s-nail through a sendmail-compatible program
    (`mta`, e.g. PostfixPeer.sendmail_path or our sendmail), as a user on
    the lab types `mail -s subject user`.  No user config files are read."""
    if isinstance(to, str):
        to = [to]
    cmd = ["s-nail", "-:/", "-S", "nosave", "-S", f"mta={mta}", "-s", subject]  # nosave: no ~/dead.letter
    if sender:
        cmd += ["-r", sender]
    run([*cmd, "-.", *to], input=body.encode(), env=env)  # -. ends options


def snail_headers(maildir: Path) -> list[str]:
    """The header summary s-nail prints for a Maildir (`mail -H -f ~/Maildir`),
    one line per message."""
    cp = run(["s-nail", "-:/", "-N", "-H", "-R", "-f", str(maildir)], input=b"")
    return [l for l in cp.stdout.decode(errors="replace").splitlines() if l.strip()]


# --------------------------------------------------------------------------
# smtp-sink and smtp-source (from Debian's postfix package)


class SmtpSink(_Server):
    """Postfix's smtp-sink on 127.0.0.1:port, every message dumped to a file.

    soft_reject / hard_reject: SMTP commands (e.g. ["RCPT"] or ["DATA"])
    answered with 450 / 500 (-r / -f), to test deferral and bounces.
    """

    def __init__(self, *, port: int | None = None, soft_reject: Iterable[str] = (),
                 hard_reject: Iterable[str] = (), lmtp: bool = False,
                 hostname: str = "sink.test", extra_args: Iterable[str] = (),
                 workdir: Path | None = None):
        self.port = port or free_port()
        self.host = LOOPBACK
        self._own_workdir = workdir is None
        self.workdir = workdir or make_workdir("mta-sink-")
        self.dump_dir = self.workdir / "dump"
        args = ["-4", "-h", hostname, "-u", "postfix"]
        if lmtp:
            args.append("-L")
        if soft_reject:
            args += ["-r", ",".join(soft_reject)]
        if hard_reject:
            args += ["-f", ",".join(hard_reject)]
        self.args = args + list(extra_args)
        self.daemon: Daemon | None = None

    def start(self) -> "SmtpSink":
        ensure_postfix_tree()
        ensure_mail_accounts()
        self.dump_dir.mkdir(parents=True, exist_ok=True)
        pw = pwd.getpwnam("postfix")
        os.chown(self.dump_dir, pw.pw_uid, pw.pw_gid)
        # -d: one file per transaction, name = strftime(template) + random hex.
        cmd = [POSTFIX_SBIN / "smtp-sink", *self.args, "-d", f"{self.dump_dir}/%H%M%S.",
               f"{LOOPBACK}:{self.port}", "128"]
        self.daemon = Daemon("smtp-sink", cmd, env=postfix_env(),
                             log_path=self.workdir / "smtp-sink.out")
        try:
            wait_until(lambda: port_listening(self.port), 15, f"smtp-sink on {self.port}",
                       alive=self.daemon.check_alive)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.daemon:
            self.daemon.stop()
            self.daemon = None

    def messages(self) -> list[bytes]:
        """Raw dumps: X-Client-*/X-Helo/X-Mail-From/X-Rcpt-To headers + message."""
        return [p.read_bytes() for p in sorted(self.dump_dir.iterdir())]

    def count(self) -> int:
        return sum(1 for _ in self.dump_dir.iterdir())

    def wait_for(self, n: int, timeout: float = 30) -> int:
        return wait_until(lambda: self.count() >= n and self.count(), timeout,
                          f"{n} messages at smtp-sink (have {self.count()})",
                          alive=self.daemon.check_alive if self.daemon else None)


@dataclass
class SourceResult:
    """Outcome of one smtp-source run."""
    elapsed: float          # seconds from start until smtp-source exited
    returncode: int
    output: str


def smtp_source(host: str, port: int, *, messages: int = 1, sessions: int = 1,
                size: int = 0, sender: str = "source@client.test",
                recipient: str = "tester@localhost", recipients_per_msg: int = 1,
                reuse_connection: bool = False, lmtp: bool = False,
                helo: str = "client.test", subject: str | None = None,
                extra_args: Iterable[str] = (), timeout: float = 600,
                check: bool = True) -> SourceResult:
    """Run smtp-source: `messages` messages over `sessions` parallel sessions,
    `size` bytes of body each.  It exits once every DATA got its reply; by
    default (without -A) it aborts on any unexpected reply code, so a zero
    exit means every message was answered 250.  -d (reuse_connection) sends
    all of a session's messages over one connection."""
    assert_loopback(host)
    ensure_postfix_tree()
    args = ["-4", "-m", str(messages), "-s", str(sessions), "-f", sender,
            "-t", recipient, "-r", str(recipients_per_msg), "-M", helo]
    if size:
        args += ["-l", str(size)]
    if reuse_connection:
        args.append("-d")
    if lmtp:
        args.append("-L")
    if subject:
        args += ["-S", subject]
    cmd = [POSTFIX_SBIN / "smtp-source", *args, *extra_args, f"{host}:{port}"]
    t0 = time.monotonic()
    cp = run(cmd, env=postfix_env(), timeout=timeout, check=check)
    elapsed = time.monotonic() - t0
    return SourceResult(elapsed, cp.returncode,
                        (cp.stdout + cp.stderr).decode(errors="replace"))


# --------------------------------------------------------------------------
# pflogsumm


_PFLOGSUMM_KEYS = {
    "received": "received", "delivered": "delivered", "forwarded": "forwarded",
    "deferred": "deferred", "bounced": "bounced", "rejected": "rejected",
    "reject warnings": "reject_warnings", "held": "held", "discarded": "discarded",
}


def pflogsumm(log_path: Path, *extra_args: str, env: dict | None = None) -> dict[str, int]:
    """Run Debian's pflogsumm on a log file and parse its "Grand Totals".

    Returns e.g. {"received": 3, "delivered": 3, "forwarded": 0,
    "deferred": 0, "deferrals": 0, "bounced": 0, "rejected": 0, ...} plus
    "_output" with the whole report, for failure messages. `env` replaces
    the environment (e.g. a faked clock for "-d today").
    """
    cp = run(["pflogsumm", "--problems-first", *extra_args, str(log_path)], timeout=120,
             env=env)
    out = cp.stdout.decode(errors="replace")
    counts: dict = {}
    section = out.split("Grand Totals", 1)[-1].split("Per-Day Traffic Summary", 1)[0]
    for line in section.splitlines():
        m = re.match(r"\s*(\d+)([km]?)\s+([a-z][a-z ]*?)\s*(?:\(|$)", line)
        if not m:
            continue
        n, unit, label = int(m.group(1)), m.group(2), m.group(3).strip()
        if label in _PFLOGSUMM_KEYS and not unit:
            counts[_PFLOGSUMM_KEYS[label]] = n
            d = re.search(r"\((\d+)\s+deferrals\)", line)
            if d:
                counts["deferrals"] = int(d.group(1))
    if "received" not in counts:
        raise PeerError(f"pflogsumm output not understood:\n{out[:3000]}")
    counts["_output"] = out
    return counts


# --------------------------------------------------------------------------
# Dovecot


class Dovecot(_Server):
    """Dovecot 2.3 from Debian's packages, run by the test with its own config.

    * auth socket: an auth-client unix listener at `auth_socket` (default
      <workdir>/auth-client; for our MTA pass "$queue_directory/private/auth"),
      mode 0660, owned by auth_socket_owner (postfix:postfix), mechanisms
      PLAIN and LOGIN.
    * auth_failure_delay defaults to 0 (Dovecot's default is 2s) and the
      per-IP auth penalty is off, to keep tests fast; pass "2s" and
      auth_penalty=True to test a client's patience as in production.
    * passdb: a passwd-file (`passwd_users` {name: password}; the names must
      be local users) first, then shadow: any local user whose Linux password
      was set with chpasswd (see ensure_user/temp_user) logs in.
    * userdb: the system's passwd; mail_location = maildir:~/Maildir.
    * LMTP strips the domain from recipients (auth_username_format = %Ln),
      so Postfix's `mailbox_transport = lmtp:inet:127.0.0.1:<lmtp_port>`
      delivers user@localhost to the local user, as on the lab servers.
    * IMAP on 127.0.0.1:imap_port, LMTP on 127.0.0.1:lmtp_port and at
      <workdir>/lmtp (unix).  ssl = no unless ssl=True (self-signed cert).
    """

    def __init__(self, *, auth_socket: Path | None = None,
                 auth_socket_owner: tuple[str, str] = ("postfix", "postfix"),
                 passwd_users: dict[str, str] | None = None,
                 imap_port: int | None = None, lmtp_port: int | None = None,
                 ssl: bool = False, auth_failure_delay: str = "0",
                 auth_penalty: bool = False, workdir: Path | None = None):
        self.auth_failure_delay = auth_failure_delay
        self.auth_penalty = auth_penalty
        self._own_workdir = workdir is None
        self.workdir = workdir or make_workdir("mta-dovecot-")
        self.auth_socket = Path(auth_socket) if auth_socket else self.workdir / "auth-client"
        self.auth_socket_owner = auth_socket_owner
        self.passwd_users = dict(passwd_users or {})
        self.imap_port = imap_port or free_port()
        self.lmtp_port = lmtp_port or free_port()
        self.lmtp_socket = self.workdir / "lmtp"
        self.host = LOOPBACK
        self.ssl = ssl
        self.base_dir = self.workdir / "run"
        self.config_path = self.workdir / "dovecot.conf"
        self.log_path = self.workdir / "dovecot.log"
        self.daemon: Daemon | None = None

    def config(self) -> str:
        user, group = self.auth_socket_owner
        ssl = "ssl = no\n"
        if self.ssl:
            ssl = (f"ssl = yes\nssl_cert = <{self.workdir}/cert.pem\n"
                   f"ssl_key = <{self.workdir}/key.pem\n")
        # Dovecot delays repeated failures from one IP (anvil auth penalty);
        # mode 0 on its socket is the documented way to turn that off.
        penalty = "" if self.auth_penalty else (
            "service anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}\n")
        return f"""\
# Written by tests/e2e/peers.py; loopback only, everything under {self.workdir}
protocols = imap lmtp
listen = {LOOPBACK}
base_dir = {self.base_dir}
state_dir = {self.workdir}/state
log_path = {self.log_path}
info_log_path = {self.log_path}
instance_name = mta-test-{self.imap_port}
{ssl}disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
auth_failure_delay = {self.auth_failure_delay}
mail_location = maildir:~/Maildir
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.workdir}/passwd
}}
passdb {{
  driver = shadow
}}
userdb {{
  driver = passwd
}}
service imap-login {{
  inet_listener imap {{
    address = {LOOPBACK}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {LOOPBACK}
    port = {self.lmtp_port}
  }}
  unix_listener {self.lmtp_socket} {{
    mode = 0666
  }}
}}
service auth {{
  unix_listener {self.auth_socket} {{
    mode = 0660
    user = {user}
    group = {group}
  }}
}}
{penalty}protocol lmtp {{
  postmaster_address = postmaster@localhost
  # RCPT TO:<user@localhost> (Postfix's mailbox_transport) -> system user
  auth_username_format = %Ln
}}
"""

    def start(self) -> "Dovecot":
        if not shutil.which("dovecot"):
            raise PeerError("dovecot not installed: run scripts/install-deps.sh --test")
        ensure_mail_accounts()
        (self.workdir / "state").mkdir(parents=True, exist_ok=True)
        self.auth_socket.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(f"{u}:{pw}::::::\n" for u, pw in self.passwd_users.items())
        passwd = self.workdir / "passwd"
        passwd.write_text(lines)
        # Read by the auth process, which runs as the dovecot user.
        os.chown(passwd, 0, grp.getgrnam("dovecot").gr_gid)
        passwd.chmod(0o640)
        if self.ssl:
            run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-subj", "/CN=localhost", "-keyout", self.workdir / "key.pem",
                 "-out", self.workdir / "cert.pem"])
        self.config_path.write_text(self.config())
        self.daemon = Daemon("dovecot", ["dovecot", "-F", "-c", self.config_path],
                             log_path=self.workdir / "dovecot.out")
        try:
            wait_until(lambda: port_listening(self.imap_port) and port_listening(self.lmtp_port)
                       and self.auth_socket.is_socket(), 20,
                       f"dovecot (imap {self.imap_port}, lmtp {self.lmtp_port}, "
                       f"auth {self.auth_socket})", alive=self._alive)
        except BaseException:
            self.stop()
            raise
        return self

    def _alive(self) -> None:
        try:
            self.daemon.check_alive()
        except PeerError as e:
            raise PeerError(f"{e}\n{tail(self.log_path)}") from None

    def stop(self) -> None:
        if self.daemon:
            self.daemon.stop()
            self.daemon = None

    # -- clients

    def imap(self, user: str, password: str) -> imaplib.IMAP4:
        """A logged-in IMAP connection (caller logs out; use as context manager)."""
        conn = imaplib.IMAP4(self.host, self.imap_port, timeout=15)
        conn.login(user, password)
        return conn

    def inbox(self, user: str, password: str) -> list[email.message.EmailMessage]:
        """Every message in the user's INBOX, fetched over IMAP."""
        with self.imap(user, password) as conn:
            typ, _ = conn.select("INBOX", readonly=True)
            assert typ == "OK"
            typ, data = conn.uid("SEARCH", None, "ALL")
            assert typ == "OK"
            out = []
            for uid in data[0].split():
                typ, parts = conn.uid("FETCH", uid, "(BODY.PEEK[])")
                assert typ == "OK"
                raw = next(p[1] for p in parts if isinstance(p, tuple))
                out.append(email.message_from_bytes(raw, policy=email.policy.default))
            return out

    def auth_client(self) -> "DovecotAuthClient":
        return DovecotAuthClient(self.auth_socket)


def _dovecot_escape(s: str) -> str:
    """Dovecot's tab-escaping (strescape.c): \\001 escapes NUL, TAB, CR, LF."""
    return (s.replace("\x01", "\x011").replace("\x00", "\x010").replace("\t", "\x01t")
            .replace("\r", "\x01r").replace("\n", "\x01n"))


class DovecotAuthClient:
    """A client of Dovecot's auth protocol 1.x on an auth-client socket, the
    way Postfix's smtpd (xsasl_dovecot_server.c) speaks it: VERSION/CPID,
    read VERSION/MECH.../DONE, then AUTH with an initial response."""

    def __init__(self, path: Path, timeout: float = 10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""
        self.next_id = 1
        self.mechs: dict[str, list[str]] = {}
        self.server_version: tuple[int, int] | None = None
        self._handshake()

    def _send(self, *fields: str) -> None:
        self.sock.sendall(("\t".join(fields) + "\n").encode())

    def _line(self) -> list[str]:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise PeerError("auth server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode().split("\t")

    def _handshake(self) -> None:
        # Send our half first: newer servers wait for the client's VERSION.
        self._send("VERSION", "1", "0")
        self._send("CPID", str(os.getpid()))
        while True:
            f = self._line()
            if f[0] == "VERSION":
                self.server_version = (int(f[1]), int(f[2]))
                if self.server_version[0] != 1:
                    raise PeerError(f"auth protocol major version {f[1]} != 1")
            elif f[0] == "SPID" and not self.mechs and self.server_version is None:
                raise PeerError("SPID before MECH: not an auth-client socket")
            elif f[0] == "MECH":
                self.mechs[f[1].upper()] = f[2:]
            elif f[0] == "DONE":
                return

    def auth_plain(self, user: str, password: str, *, service: str = "smtp",
                   authzid: str = "", lip: str = LOOPBACK,
                   rip: str = LOOPBACK,
                   no_penalty: bool = False) -> tuple[bool, dict[str, str]]:
        """One PLAIN authentication with the initial response in resp=.
        Returns (ok, fields) where fields holds the reply's name=value items
        (user=, reason=, code=...).  Like Postfix, no `no-penalty` by
        default: Dovecot then delays repeated failures from the same rip."""
        if "PLAIN" not in self.mechs:
            raise PeerError(f"server offers no PLAIN (mechs: {list(self.mechs)})")
        rid = str(self.next_id)
        self.next_id += 1
        resp = base64.b64encode(f"{authzid}\0{user}\0{password}".encode()).decode()
        params = [f"service={service}", "nologin", f"lip={lip}", f"rip={rip}"]
        if no_penalty:
            params.append("no-penalty")
        self._send("AUTH", rid, "PLAIN", *params, f"resp={resp}")  # resp= last
        while True:
            f = self._line()
            if len(f) < 2 or f[1] != rid:
                continue  # replies to other ids are skipped, as Postfix does
            fields = dict(x.split("=", 1) if "=" in x else (x, "") for x in f[2:] if x)
            if f[0] == "OK":
                return ("nologin" not in fields and "proxy" not in fields), fields
            if f[0] == "FAIL":
                return False, fields
            if f[0] == "CONT":
                raise PeerError("unexpected CONT for PLAIN with initial response")

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "DovecotAuthClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------
# Process-tree accounting (used by the benchmark; handy for leak checks)


_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    rest = raw[raw.rindex(")") + 2:].split()
    return rest  # rest[0] is field 3 (state)


def process_tree(root_pid: int) -> list[int]:
    """PIDs of root_pid and everything it started: every process in its
    session (Postfix's and Dovecot's daemons never leave it), plus any
    descendant by parent chain that started its own session."""
    root = _stat(root_pid)
    if root is None:
        return []
    sid = int(root[3])
    procs = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st:
                procs[int(entry)] = (int(st[1]), int(st[3]))  # ppid, session
    tree = {root_pid}
    tree.update(p for p, (_, s) in procs.items() if s == sid and sid == root_pid)
    changed = True
    while changed:
        changed = False
        for p, (pp, _) in procs.items():
            if pp in tree and p not in tree:
                tree.add(p)
                changed = True
    return sorted(p for p in tree if p in procs)


def tree_cpu_seconds(root_pid: int) -> float:
    """CPU (user+system) used so far by the process tree: for each live
    process its own utime+stime plus cutime+cstime, the totals of children
    it has already reaped (so short-lived delivery processes are counted
    through the master that reaped them)."""
    total = 0
    for pid in process_tree(root_pid):
        st = _stat(pid)
        if st:
            # fields 14..17 (utime stime cutime cstime) are rest[11..14]
            total += sum(int(x) for x in st[11:15])
    return total / _CLK_TCK


def tree_memory_kb(root_pid: int, pids: list[int] | None = None) -> tuple[int, int]:
    """(sum of RSS, sum of PSS) in KiB over the process tree (or the given
    pids).  RSS counts shared library pages once per process; PSS divides
    them fairly among the processes that share them."""
    rss = pss = 0
    for pid in (process_tree(root_pid) if pids is None else pids):
        st = _stat(pid)
        if st:
            rss += int(st[21]) * _PAGE // 1024
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                    break
        except OSError:
            pass
    return rss, pss


class TreeSampler:
    """Samples the memory of one or more process trees every `interval`
    seconds in a thread and keeps the peaks of the sums.  Use as a context
    manager around the measured run."""

    def __init__(self, root_pids: int | Iterable[int], interval: float = 0.1):
        self.root_pids = [root_pids] if isinstance(root_pids, int) else list(root_pids)
        self.interval = interval
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        self.peak_procs = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        rss = pss = procs = 0
        for root in self.root_pids:
            tree = process_tree(root)
            r, p = tree_memory_kb(root, tree)
            rss, pss, procs = rss + r, pss + p, procs + len(tree)
        self.peak_rss_kb = max(self.peak_rss_kb, rss)
        self.peak_pss_kb = max(self.peak_pss_kb, pss)
        self.peak_procs = max(self.peak_procs, procs)
        self.samples += 1

    def __enter__(self) -> "TreeSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sample()
