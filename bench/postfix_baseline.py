#!/usr/bin/python3
"""Throughput benchmark: an MTA under test against Debian's Postfix.

For each MTA (default: only "postfix"), in a fresh temp instance on loopback:
  1. start it, create a fresh local user, send `--warmup` messages and wait
     until they are delivered (so every daemon has been spawned once);
  2. snapshot the CPU time of the MTA's process tree;
  3. run smtp-source: N messages of SIZE bytes, one recipient each, over S
     parallel sessions, into the MTA's SMTP port;
  4. wait until all N messages are files in the user's Maildir;
  5. report: time until smtp-source finished (every DATA answered 250),
     time until all delivered, messages/second, CPU seconds of the MTA's
     processes, peak total RSS and PSS (sampled every 100 ms).

CPU accounting (documented in bench/README.md): the MTA's processes are its
root process and everything in its session or below it by parent chain
(peers.process_tree).  CPU = sum over those live processes of utime + stime
+ cutime + cstime: processes that exited and were reaped (short-lived
delivery agents) are counted through their parent's cutime/cstime.  We take
the difference of two snapshots (after warm-up, after delivery).  Both
snapshots are taken while the daemons sit idle (Postfix keeps them 100 s),
so no process exits in between the reads.

Add another MTA by writing a class with the MTA interface below and
registering it in MTAS; with several --mta, ratios to the first are shown.

Usage: bench/postfix_baseline.py [--quick] [-n N] [-s S] [--size BYTES]
           [--repeat R] [--mta postfix [--mta ours]] [--json FILE]
Must run as root (it starts the MTA's master and creates a user).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import time
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


class PostfixMTA(MTA):
    """Debian's Postfix 3.7 (unpacked, peers.PostfixPeer): Debian's defaults,
    local(8) delivery to ~/Maildir/.  relay_port: send every non-local
    recipient to [127.0.0.1]:relay_port (the outbound run)."""

    name = "postfix"

    def __init__(self, relay_port: int | None = None):
        self.peer = peers.PostfixPeer(myhostname="bench.test", relayhost=relay_port)
        self.port = self.peer.port

    def sendmail(self) -> tuple[str, dict]:
        """(path of sendmail, environment) for local submission."""
        return str(self.peer.sendmail_path), self.peer.sendmail_env()

    def start(self) -> None:
        self.peer.__enter__()

    def stop(self) -> None:
        self.peer.__exit__(None, None, None)

    def root_pids(self) -> list[int]:
        return [self.peer.master_pid]

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

    def __init__(self, relay_port: int | None = None):
        build = Path(os.environ.get(self.build_env) or REPO / "build-release")
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
            "myhostname": "bench.test",
            "mydomain": "bench.test",
            "myorigin": "$myhostname",
            "mydestination": "$myhostname, localhost",
            "inet_interfaces": peers.LOOPBACK,
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtp_bind_address": peers.LOOPBACK,
            "smtp_dns_support_level": "disabled",
            "alias_maps": "",
            "alias_database": "",
            "home_mailbox": "Maildir/",
            "biff": "no",
            "append_dot_mydomain": "no",
            "mailbox_size_limit": "0",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "5s",
            "import_environment": "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C",
        }
        if self.relay_port:
            p["relayhost"] = f"[{peers.LOOPBACK}]:{self.relay_port}"
        else:
            p["default_transport"] = "error:outbound mail disabled in tests"
            p["relay_transport"] = "error:outbound mail disabled in tests"
        return p

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

    def sendmail(self) -> tuple[str, dict]:
        return str(self.bin / "sendmail"), {**os.environ, "MAIL_CONFIG": str(self.config_dir)}

    def version(self) -> str:
        cp = peers.run([self.bin / "postconf", "-c", self.config_dir, "-h", "mail_version"],
                       check=False)
        return cp.stdout.decode().strip()


class OursBaseMTA(OursMTA):
    """Another build of ours, from $MTA_BASE_BUILD_DIR (e.g. the commit before
    an optimisation): before and after measured in the same run."""

    name = "ours-base"
    build_env = "MTA_BASE_BUILD_DIR"

    def __init__(self, relay_port: int | None = None):
        if not os.environ.get(self.build_env):
            raise SystemExit("ours-base needs MTA_BASE_BUILD_DIR (a build of the baseline commit)")
        super().__init__(relay_port)


MTAS: dict[str, type[MTA]] = {"postfix": PostfixMTA, "ours": OursMTA, "ours-base": OursBaseMTA}


def tree_cpu(pids: list[int]) -> float:
    return sum(peers.tree_cpu_seconds(p) for p in pids)


def run_once(mta_cls: type[MTA], n: int, sessions: int, size: int, warmup: int,
             timeout: float) -> dict:
    """One measured run on a fresh instance and a fresh user."""
    with peers.temp_user(prefix="mtb") as user:
        mta = mta_cls()
        try:
            mta.start()
            rcpt = mta.recipient(user)
            maildir = mta.maildir(user)
            if warmup:
                peers.smtp_source(peers.LOOPBACK, mta.port, messages=warmup,
                                  sessions=min(sessions, warmup), size=size, recipient=rcpt)
                maildir.wait_for(warmup, timeout)
            pids = mta.root_pids()
            cpu0 = tree_cpu(pids)
            self0 = os.times()
            with peers.TreeSampler(pids, 0.1) as mem:
                t0 = time.monotonic()
                src = peers.smtp_source(peers.LOOPBACK, mta.port, messages=n,
                                        sessions=sessions, size=size, recipient=rcpt,
                                        timeout=timeout)
                t_accept = time.monotonic() - t0
                maildir.wait_for(warmup + n, timeout)
                t_deliver = time.monotonic() - t0
            cpu = tree_cpu(pids) - cpu0
            self1 = os.times()
            delivered = maildir.count() - warmup
            return {
                "mta": mta.name, "version": mta.version(),
                "messages": n, "sessions": sessions, "size": size,
                "delivered": delivered,
                "accept_s": round(t_accept, 3),
                "deliver_s": round(t_deliver, 3),
                "accept_msg_per_s": round(n / t_accept, 1),
                "msg_per_s": round(n / t_deliver, 1),
                "cpu_s": round(cpu, 2),
                "cpu_ms_per_msg": round(1000 * cpu / n, 3),
                "peak_rss_kb": mem.peak_rss_kb,
                "peak_pss_kb": mem.peak_pss_kb,
                "peak_procs": mem.peak_procs,
                "memory_samples": mem.samples,
                "smtp_source_rc": src.returncode,
                # CPU of this script (polling, sampling) and of smtp-source:
                # they share the machine's cores with the MTA.
                "observer_cpu_s": round(self1.user + self1.system
                                        - self0.user - self0.system, 2),
                "client_cpu_s": round(self1.children_user + self1.children_system
                                      - self0.children_user - self0.children_system, 2),
            }
        finally:
            mta.stop()


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


def summarize(runs: list[dict]) -> dict:
    """Median of each metric over repeated runs of one MTA."""
    out = {k: runs[0][k] for k in ("mta", "version", "messages", "sessions", "size")}
    for key, _, _ in METRICS:
        out[key] = statistics.median(r[key] for r in runs)
    out["runs"] = runs
    return out


def table(results: list[dict]) -> str:
    names = [r["mta"] for r in results]
    cols = names + [f"{n}/{names[0]}" for n in names[1:]]
    rows = [["metric", *cols]]
    for key, title, _ in METRICS:
        vals = [r[key] for r in results]
        ratios = [f"{v / vals[0]:.2f}" if vals[0] else "-" for v in vals[1:]]
        rows.append([title, *[f"{v:g}" for v in vals], *ratios])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--messages", type=int, default=2000)
    ap.add_argument("-s", "--sessions", type=int, default=10)
    ap.add_argument("--size", type=int, default=5 * 1024, help="body bytes (default 5 KiB)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--mta", action="append", choices=sorted(MTAS),
                    help="MTA to measure (repeatable; the first is the baseline)")
    ap.add_argument("--quick", action="store_true", help="tiny run for CI (n=50, s=2)")
    ap.add_argument("--json", metavar="FILE", help="also write results as JSON ('-' = stdout)")
    args = ap.parse_args(argv)
    if args.quick:
        args.messages, args.sessions, args.warmup = 50, 2, 5
    if os.geteuid() != 0:
        ap.error("must run as root (starts the MTA's master, creates a user)")
    mtas = args.mta or ["postfix"]

    results = []
    for name in mtas:
        runs = [run_once(MTAS[name], args.messages, args.sessions, args.size,
                         args.warmup, args.timeout) for _ in range(args.repeat)]
        for r in runs:
            if r["delivered"] != args.messages or r["smtp_source_rc"] != 0:
                print(f"{name}: delivered {r['delivered']} of {args.messages}", file=sys.stderr)
                return 1
        results.append(summarize(runs))

    report = {
        "host": {"cpus": os.cpu_count(), "kernel": platform.release()},
        "params": {"messages": args.messages, "sessions": args.sessions,
                   "size": args.size, "warmup": args.warmup, "repeat": args.repeat},
        "results": results,
    }
    if len(results) > 1:
        base = results[0]
        report["ratios"] = {r["mta"]: {k: (r[k] / base[k] if base[k] else None)
                                       for k, _, _ in METRICS} for r in results[1:]}
    print(f"{args.messages} messages x {args.size} bytes, {args.sessions} sessions, "
          f"1 recipient, Maildir delivery; median of {args.repeat}")
    print(table(results))
    if args.json:
        text = json.dumps(report, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
