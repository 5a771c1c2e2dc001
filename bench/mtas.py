"""The MTAs bench.py measures, with equivalent configurations on loopback.

An MTA (interface below) starts in a fresh temp instance, delivers mail for
recipient(user) to user's ~/Maildir/, names the root processes whose trees
are the MTA (root_pids, for CPU and memory) and tears everything down in
stop(), even after a failed start. MTAS registers them by name for
`bench.py --mta`.

CPU accounting (documented in bench/README.md): the MTA's processes are its
root process and everything in its session or below it by parent chain
(peers.process_tree).  CPU = sum over those live processes of utime + stime
+ cutime + cstime: processes that exited and were reaped (short-lived
delivery agents) are counted through their parent's cutime/cstime.  bench.py
takes the difference of two snapshots (after warm-up, after delivery).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
import peers  # noqa: E402


class MTA:
    """What the benchmark needs from an MTA under test.

    start() brings it up listening on 127.0.0.1:self.port and delivering
    mail for recipient(user) to user's ~/Maildir/; root_pids() names the
    processes whose trees are the MTA (for CPU and memory); stop() tears
    everything down, even after a failed start.
    """

    name = "?"
    port: int

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def root_pids(self) -> list[int]:
        raise NotImplementedError

    def recipient(self, user: peers.User) -> str:
        return f"{user.name}@localhost"

    def maildir(self, user: peers.User) -> peers.Maildir:
        return user.maildir

    def version(self) -> str:
        return ""

    def queue_path(self) -> Path:
        """The queue_directory (the backlog run counts deferred/ there)."""
        raise NotImplementedError

    def postmap(self, spec: str) -> None:
        """Build an indexed table (hash:/path) with this MTA's own postmap."""
        raise NotImplementedError

    def flush(self) -> int:
        """`postqueue -f` with this MTA's own postqueue: its exit status."""
        raise NotImplementedError


class PostfixMTA(MTA):
    """Debian's Postfix 3.7 (unpacked, peers.PostfixPeer): Debian's defaults,
    local(8) delivery to ~/Maildir/.  relay_port: send every non-local
    recipient to [127.0.0.1]:relay_port (the outbound run)."""

    name = "postfix"

    def __init__(self, relay_port: int | None = None, main_cf: dict[str, str] | None = None):
        self.peer = peers.PostfixPeer(myhostname="bench.test", relayhost=relay_port,
                                      main_cf=main_cf)
        self.port = self.peer.port

    def postmap(self, spec: str) -> None:
        peers.run([self.peer.bin_dir / "postmap", "-c", self.peer.config_dir, spec])

    def flush(self) -> int:
        return peers.run([self.peer.bin_dir / "postqueue", "-c", self.peer.config_dir, "-f"],
                         check=False).returncode

    def sendmail(self) -> tuple[str, dict]:
        """(path of sendmail, environment) for local submission."""
        return str(self.peer.sendmail_path), self.peer.sendmail_env()

    def start(self) -> None:
        self.peer.__enter__()

    def stop(self) -> None:
        self.peer.__exit__(None, None, None)

    def root_pids(self) -> list[int]:
        return [self.peer.master_pid]

    def queue_path(self) -> Path:
        return self.peer.queue_dir

    def version(self) -> str:
        return self.peer.postconf("-h", "mail_version").strip()


# Our master.cf: the services the runs use, with Postfix's columns and
# process limits (Debian's master.cf), no chroot.
_OURS_MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
        -o syslog_name=postfix/$service_name
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
local     unix  -       n       n       -       -       local
"""


class OursMTA(MTA):
    """Our MTA from $MTA_BUILD_DIR (default <repo>/build-release, see
    bench/bench.py), in a temp dir, configured like PostfixMTA: the same
    main.cf parameters that matter (mydestination, home_mailbox = Maildir/,
    no aliases, mynetworks, compatibility_level 3.6) and the same master.cf
    rows, so both do the same work with the same durability.  Started with
    `postfix start` as an administrator would; the master's pid file names
    the process tree."""

    name = "ours"
    build_env = "MTA_BUILD_DIR"

    def __init__(self, relay_port: int | None = None, main_cf: dict[str, str] | None = None):
        build = Path(os.environ.get(self.build_env) or REPO / "build-release")
        self.extra_main = dict(main_cf or {})
        self.bin = build / "bin"
        if not (self.bin / "master").exists():
            raise SystemExit(f"no build of ours in {build} (set MTA_BUILD_DIR)")
        self.port = peers.free_port()
        self.relay_port = relay_port
        self.workdir = peers.make_workdir("mta-ours-")
        self.config_dir = self.workdir / "etc"
        self.queue_dir = self.workdir / "queue"
        self.master_pid: int | None = None

    def main_cf(self) -> dict[str, str]:
        p = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.workdir / "data"),
            "daemon_directory": str(self.bin),
            "command_directory": str(self.bin),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "maillog_file": str(self.workdir / "maillog"),
            **peers.loopback_mail_params("bench.test", self.relay_port),
            "import_environment": "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C",
            **self.extra_main,
        }
        return p

    def postmap(self, spec: str) -> None:
        peers.run([self.bin / "postmap", "-c", self.config_dir, spec])

    def flush(self) -> int:
        return peers.run([self.bin / "postqueue", "-c", self.config_dir, "-f"],
                         check=False).returncode

    def start(self) -> None:
        peers.ensure_mail_accounts()
        self.config_dir.mkdir(parents=True)
        (self.config_dir / "main.cf").write_text(
            "".join(f"{k} = {v}\n" for k, v in self.main_cf().items()))
        (self.config_dir / "master.cf").write_text(_OURS_MASTER_CF.format(port=self.port))
        peers.run([self.bin / "postfix", "-c", self.config_dir, "start"], timeout=30)
        self.master_pid = int((self.queue_dir / "pid" / "master.pid").read_text().strip())
        peers.wait_until(lambda: peers.port_listening(self.port), 30,
                         f"our smtpd on port {self.port}")

    def stop(self) -> None:
        if (self.queue_dir / "pid").is_dir():
            peers.run([self.bin / "postfix", "-c", self.config_dir, "stop"], timeout=30,
                      check=False)
        if self.master_pid:
            # Whatever survived `postfix stop`: members of our master's
            # process group only (its pid came from its own pid file).
            for pid in peers.process_tree(self.master_pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            self.master_pid = None
        if not os.environ.get("MTA_KEEP_TMP"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def root_pids(self) -> list[int]:
        assert self.master_pid, "not started"
        return [self.master_pid]

    def queue_path(self) -> Path:
        return self.queue_dir

    def sendmail(self) -> tuple[str, dict]:
        return str(self.bin / "sendmail"), {**os.environ, "MAIL_CONFIG": str(self.config_dir)}

    def version(self) -> str:
        cp = peers.run([self.bin / "postconf", "-c", self.config_dir, "-h", "mail_version"],
                       check=False)
        return cp.stdout.decode().strip()


class OursBaseMTA(OursMTA):
    """Ours as the baseline of a before/after comparison in one run: another
    build from $MTA_BASE_BUILD_DIR (e.g. the commit before an optimisation),
    and/or main.cf settings from $MTA_BASE_MAIN_CF ("name = value" lines,
    ';'-separated: a tuning parameter measured against its default)."""

    name = "ours-base"
    build_env = "MTA_BASE_BUILD_DIR"

    def __init__(self, relay_port: int | None = None, main_cf: dict[str, str] | None = None):
        self.extra = dict(
            (k.strip(), v.strip()) for k, _, v in
            (item.partition("=") for item in os.environ.get("MTA_BASE_MAIN_CF", "").split(";"))
            if k.strip())
        if not os.environ.get(self.build_env):
            if not self.extra:
                raise SystemExit("ours-base needs MTA_BASE_BUILD_DIR (a build of the baseline "
                                 "commit) or MTA_BASE_MAIN_CF (settings to compare)")
            self.build_env = OursMTA.build_env
        super().__init__(relay_port, main_cf)

    def main_cf(self) -> dict[str, str]:
        return {**super().main_cf(), **self.extra}


MTAS: dict[str, type[MTA]] = {"postfix": PostfixMTA, "ours": OursMTA, "ours-base": OursBaseMTA}


def tree_cpu(pids: list[int]) -> float:
    return sum(peers.tree_cpu_seconds(p) for p in pids)


METRICS = [  # (key, column title, lower is better?)
    ("accept_s", "all 250 (s)", True),
    ("deliver_s", "all delivered (s)", True),
    ("msg_per_s", "msg/s", False),
    ("cpu_s", "CPU (s)", True),
    ("cpu_ms_per_msg", "CPU ms/msg", True),
    ("peak_rss_kb", "peak RSS (KiB)", True),
    ("peak_pss_kb", "peak PSS (KiB)", True),
    ("peak_procs", "peak procs", True),
]
