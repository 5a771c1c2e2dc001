"""End-to-end fixture: a throw-away MTA instance in a temporary directory.

Usage in a test:

    def test_x(instance):
        inst = instance(master_cf=MY_MASTER_CF)   # optional main_cf_extra=..., start=True
        inst.port("smtp")                         # a free loopback port reserved for "smtp"
        inst.wait_log(r"daemon started")
        inst.rewrite(master_cf=..., main_cf_extra=...); inst.reload()

`instance` is a factory: call it once (or more, for several instances).
Templates in master_cf / main_cf_extra may use {port_NAME} (a free loopback
port, same number for the same NAME), {bin} (the build's bin dir) and
{tmp} (the instance directory).

Every instance is torn down even when the test fails: `postfix stop`, then
SIGKILL to whatever is left of the master's process group (found through its
own pid file, never by process name).

Daemons' stderr (where ASan/UBSan print their reports) goes to
<instance>/daemon.stderr (master's MTA_DAEMON_STDERR); a sanitizer report
found there at teardown fails the test.

Environment: MTA_BUILD_DIR (default <repo>/build) holds bin/ with master,
postfix and the daemons. Tests run as root; the users and groups Postfix
needs (postfix, postdrop) are created when missing and shared with the
system (they are the system's).

The machine's own mail system is never touched: the test builds compile in
their own default configuration directory (-DMTA_CONFIG_DIR=<build>/test-etc,
scripts/test.sh passes it), which is where `default_config_file()` writes
what setgid programs read (alternate_config_directories); instances live in
temporary directories. The session fixture `system_untouched` checksums
/etc/postfix, /var/spool/postfix and /etc/aliases before the run and fails
the run if any of them differs afterwards.

Ordinary accounts the tests need get a per-run name (`run_user("tester")`
is "tester-<tag>", the tag random per pytest session, MTA_E2E_RUN_TAG to
force one) so two suites started at once do not share mailboxes; the
accounts created this way are removed at the end of the session.
"""
import grp
import hashlib
import os
import pwd
import re
import secrets
import shutil
import stat
import signal
import socket
import subprocess
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("MTA_BUILD_DIR", os.path.join(REPO, "build"))
BIN = os.path.join(BUILD, "bin")
DATA = os.path.join(REPO, "tests", "data")
# Per-run tag for user names. Stored in the environment so that every import
# of this module (pytest's and the tests' own `from conftest import`) agrees.
RUN_TAG = os.environ.setdefault("MTA_E2E_RUN_TAG", secrets.token_hex(3))
SYSTEM_PATHS = ("/etc/postfix", "/var/spool/postfix", "/etc/aliases")
SANITIZER_REPORT = re.compile(r"ERROR: \w+Sanitizer|runtime error:|SUMMARY: \w+Sanitizer|"
                              r"\w+Sanitizer:DEADLYSIGNAL")


def ensure_users():
    """Create the postfix user and postdrop group when missing (as Debian does)."""
    try:
        grp.getgrnam("postdrop")
    except KeyError:
        subprocess.run(["groupadd", "--system", "postdrop"], check=True)
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        try:
            grp.getgrnam("postfix")
            group_opt = ["-g", "postfix"]
        except KeyError:
            group_opt = ["-U"]
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--home-dir", "/var/spool/postfix",
             "--shell", "/usr/sbin/nologin"] + group_opt + ["postfix"],
            check=True,
        )


def run_user(base):
    """The per-run account name for a test user called `base` in the tests:
    distinct between suites running at once (Linux names: at most 32)."""
    name = "%s-%s" % (base, RUN_TAG)
    assert len(name) <= 32, name
    return name


_RUN_NAME = re.compile(r"\b(tester[23]?)\b(?!-%s)" % RUN_TAG, re.I)


def per_run(text):
    """`text` (str or bytes) with the test accounts' names (tester, tester2,
    tester3, any case) replaced by their per-run names, the case kept (mail
    addresses are case-insensitive: "TESTER@..." stays a distinct spelling
    of the same mailbox). Idempotent."""
    def name(m):
        orig, new = m.group(1), run_user(m.group(1).lower())
        if orig.isupper():
            return new.upper()
        return new[0].upper() + new[1:] if orig[0].isupper() else new
    if isinstance(text, bytes):
        return _RUN_NAME.sub(name, text.decode("latin-1")).encode("latin-1")
    return _RUN_NAME.sub(name, text)


_created_users = []


def ensure_run_user(name, home=True):
    """Create the account `name` (from run_user) when missing; the session
    removes it (and its home) at the end."""
    assert name.endswith("-" + RUN_TAG), "not a per-run name: " + name
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    opts = ["-m"] if home else ["--no-create-home"]
    subprocess.run(["useradd"] + opts + ["--shell", "/bin/sh", name], check=True)
    _created_users.append(name)
    return pwd.getpwnam(name)


@pytest.fixture(scope="session", autouse=True)
def run_users_cleanup():
    yield
    for name in _created_users:
        subprocess.run(["userdel", "--remove", "--force", name], capture_output=True)


def build_default_config_dir():
    """The build's compiled-in config_directory, from its CMake cache (an
    independent source: not the programs' own answer)."""
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("MTA_CONFIG_DIR:"):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return "/etc/postfix"


def default_config_file(allowed_dirs):
    """Write the build's default main.cf (in its own test configuration
    directory) listing `allowed_dirs` as alternate_config_directories; a
    setgid program accepts no other -c/MAIL_CONFIG. Returns its path.
    Skips when the build was configured with the system's /etc/postfix."""
    d = build_default_config_dir()
    if any(d == p or d.startswith(p + "/") for p in SYSTEM_PATHS):
        pytest.skip("the build's default config_directory is %s: configure the test build "
                    "with -DMTA_CONFIG_DIR=<build>/test-etc (scripts/test.sh does)" % d)
    os.makedirs(d, mode=0o755, exist_ok=True)
    path = os.path.join(d, "main.cf")
    with open(path + ".tmp", "w") as f:
        f.write("# mta e2e test file\nalternate_config_directories = %s\n"
                % " ".join(allowed_dirs))
    os.rename(path + ".tmp", path)
    return path


def tree_digest(top):
    """Names, types, modes, owners and contents under `top` (sockets by
    name only: their content is not data). None when top does not exist."""
    try:
        os.lstat(top)
    except FileNotFoundError:
        return None
    h = hashlib.sha256()

    def entry(path):
        st = os.lstat(path)
        h.update(("%s\0%o\0%d\0%d\0" % (os.path.relpath(path, os.path.dirname(top)),
                                           st.st_mode, st.st_uid, st.st_gid)).encode())
        if stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 16), b""):
                    h.update(chunk)
        elif stat.S_ISLNK(st.st_mode):
            h.update(os.readlink(path).encode())
        return st

    if stat.S_ISDIR(entry(top).st_mode):
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for n in sorted(dirnames) + sorted(filenames):
                p = os.path.join(dirpath, n)
                try:
                    st = os.lstat(p)
                except FileNotFoundError:
                    continue  # came and went during the walk: not in either state
                if not stat.S_ISSOCK(st.st_mode):
                    entry(p)
                else:
                    h.update(("socket %s\0" % os.path.relpath(p, os.path.dirname(top))).encode())
    return h.hexdigest()


def system_digests():
    return {p: tree_digest(p) for p in SYSTEM_PATHS}


@pytest.fixture(scope="session", autouse=True)
def system_untouched():
    """The machine's Postfix configuration, queue and aliases are the same
    after the whole run as before it (a failure at session teardown)."""
    before = system_digests()
    yield
    after = system_digests()
    changed = [p for p in SYSTEM_PATHS if before[p] != after[p]]
    assert not changed, "the test run changed the system's %s" % ", ".join(changed)


@pytest.fixture(scope="session", autouse=True)
def setgid_commands():
    """The build's postdrop and postqueue are root:postdrop 2755, as Debian
    installs them, for the whole run: `postfix check` then reports no
    permission problem whatever order the tests run in, and ordinary users
    can submit. Idempotent; relinking the build undoes it."""
    if os.geteuid() != 0:
        return
    ensure_users()
    gid = grp.getgrnam("postdrop").gr_gid
    for name in ("postdrop", "postqueue"):
        path = os.path.join(BIN, name)
        if os.path.exists(path):
            os.chown(path, 0, gid)
            os.chmod(path, 0o2755)  # after chown, which clears the setgid bit


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class _Ports(dict):
    """{port_NAME} in templates: a free port per NAME, allocated on first use."""

    def __missing__(self, key):
        if key.startswith("port_"):
            self[key] = free_port()
            return self[key]
        raise KeyError(key)


BASE_MAIN_CF = """\
queue_directory = {tmp}/queue
data_directory = {tmp}/data
daemon_directory = {bin}
command_directory = {bin}
maillog_file = {tmp}/maillog
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mta-test.example
mydomain = example
mydestination = $myhostname, localhost
mail_owner = postfix
setgid_group = postdrop
compatibility_level = 3.6
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
"""


class Instance:
    def __init__(self, tmp, master_cf, main_cf_extra=""):
        self.tmp = tmp
        self.config_dir = os.path.join(tmp, "etc")
        self.queue_dir = os.path.join(tmp, "queue")
        self.data_dir = os.path.join(tmp, "data")
        self.maillog = os.path.join(tmp, "maillog")
        self.daemon_stderr = os.path.join(tmp, "daemon.stderr")
        self.bin = BIN
        self.ports = _Ports()
        self._log_pos = 0
        self.master_pid = None
        os.makedirs(self.config_dir)
        # The instance dir must be traversable by mail_owner (chroot, sockets).
        os.chmod(tmp, 0o755)
        self.rewrite(master_cf=master_cf, main_cf_extra=main_cf_extra)

    # -- configuration -------------------------------------------------
    def _fill(self, text):
        class Vars(dict):
            def __missing__(inner, key):
                return self.ports[key]

        return text.format_map(Vars(bin=self.bin, tmp=self.tmp))

    def port(self, name):
        return self.ports["port_" + name]

    def rewrite(self, master_cf=None, main_cf_extra=None):
        """Replace master.cf and/or the extra main.cf lines (no reload)."""
        if main_cf_extra is not None:
            self.main_cf_extra = main_cf_extra
            with open(os.path.join(self.config_dir, "main.cf"), "w") as f:
                f.write(self._fill(BASE_MAIN_CF))
                f.write(self._fill(main_cf_extra))
        if master_cf is not None:
            with open(os.path.join(self.config_dir, "master.cf"), "w") as f:
                f.write(self._fill(master_cf))

    # -- control -------------------------------------------------------
    def postfix(self, *args, check=True, timeout=30):
        env = dict(os.environ, MTA_DAEMON_STDERR=self.daemon_stderr)
        r = subprocess.run([os.path.join(self.bin, "postfix"), "-c", self.config_dir] + list(args),
                           capture_output=True, text=True, timeout=timeout, env=env)
        if check and r.returncode != 0:
            raise AssertionError("postfix %s failed (%d): %s%s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def start(self):
        self.postfix("start")
        self.master_pid = self.read_pid()
        assert self.master_pid, "no master pid after start"

    def reload(self, wait=True):
        mark = self.log_mark()
        self.postfix("reload")
        if wait:
            self.wait_log(r"postfix/master\[\d+\]: reload -- version", since=mark)

    def stop(self):
        return self.postfix("stop", check=False)

    def read_pid(self):
        try:
            with open(os.path.join(self.queue_dir, "pid", "master.pid")) as f:
                return int(f.read().strip() or 0) or None
        except (FileNotFoundError, ValueError):
            return None

    def group_pids(self, pgid=None):
        """Live (non-zombie) processes in the master's process group."""
        pgid = pgid or self.master_pid
        found = []
        if not pgid:
            return found
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] not in "ZX":
                found.append(int(d))
        return found

    def kill_all(self, timeout=30):
        """SIGKILL every process of the instance, as a power cut would: again
        and again until none is left, because a child master forked just
        before its own kill is not in the list that was killed (it ran on
        and did its work, e.g. qmgr's start-up purge, behind the test's back)."""
        def killed_all():
            pids = self.group_pids()
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return not pids
        self.wait_for(killed_all, timeout=timeout, what="every process gone")

    def children(self, service=None):
        """Pids of live children of master; with `service`, those started with -n service
        (or whose argv[0] basename is service)."""
        out = []
        for pid in self.group_pids():
            if pid == self.master_pid:
                continue
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    argv = [a.decode() for a in f.read().split(b"\0") if a]
            except OSError:
                continue
            if service is None:
                out.append(pid)
                continue
            name = os.path.basename(argv[0]) if argv else ""
            if "-n" in argv[:-1]:
                name = argv[argv.index("-n") + 1]
            if name == service:
                out.append(pid)
        return out

    def teardown(self):
        pgid = self.master_pid or self.read_pid()
        if os.path.isdir(os.path.join(self.queue_dir, "pid")):
            try:
                self.stop()
            except Exception:
                pass
        if pgid:
            for pid in self.group_pids(pgid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def sanitizer_reports(self):
        """The daemons' stderr when it holds an ASan/UBSan report, else ''."""
        try:
            with open(self.daemon_stderr, errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return ""
        return text if SANITIZER_REPORT.search(text) else ""

    # -- log -----------------------------------------------------------
    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_mark(self):
        return len(self.log())

    def wait_log(self, pattern, timeout=10, since=0, count=1):
        """Wait until `pattern` (a regex) matched `count` times in the log after
        offset `since`; returns the last match."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        while True:
            matches = list(rx.finditer(self.log()[since:]))
            if len(matches) >= count:
                return matches[count - 1]
            if time.time() > deadline:
                raise AssertionError("log line /%s/ not seen %d time(s) within %ss; log:\n%s" % (
                    pattern, count, timeout, self.log()[-4000:]))
            time.sleep(0.05)

    def wait_for(self, predicate, timeout=10, what="condition"):
        deadline = time.time() + timeout
        while True:
            v = predicate()
            if v:
                return v
            if time.time() > deadline:
                raise AssertionError("timeout waiting for %s; log tail:\n%s" % (
                    what, self.log()[-3000:]))
            time.sleep(0.05)


@pytest.fixture
def instance():
    if os.geteuid() != 0:
        pytest.skip("end-to-end tests run as root")
    if not os.access(os.path.join(BIN, "master"), os.X_OK):
        pytest.fail("no build found: %s/master (set MTA_BUILD_DIR)" % BIN)
    ensure_users()
    made = []

    def make(master_cf, main_cf_extra="", start=True):
        tmp = tempfile.mkdtemp(prefix="mta-e2e-")
        inst = Instance(tmp, master_cf, main_cf_extra)
        made.append(inst)
        if start:
            inst.start()
        return inst

    yield make
    for inst in made:
        inst.teardown()
    reports = [(inst.tmp, inst.sanitizer_reports()) for inst in made]
    reports = [(tmp, text) for tmp, text in reports if text]
    for inst in made:
        if not os.environ.get("MTA_KEEP_E2E"):
            shutil.rmtree(inst.tmp, ignore_errors=True)
    if reports:
        pytest.fail("sanitizer report in the daemons' stderr (%s/daemon.stderr):\n%s" % (
            reports[0][0], reports[0][1][-6000:]), pytrace=False)
