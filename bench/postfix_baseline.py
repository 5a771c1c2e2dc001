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
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
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
    local(8) delivery to ~/Maildir/."""

    name = "postfix"

    def __init__(self):
        self.peer = peers.PostfixPeer(myhostname="bench.test")
        self.port = self.peer.port

    def start(self) -> None:
        self.peer.__enter__()

    def stop(self) -> None:
        self.peer.__exit__(None, None, None)

    def root_pids(self) -> list[int]:
        return [self.peer.master_pid]

    def version(self) -> str:
        return self.peer.postconf("-h", "mail_version").strip()


# Register more MTAs here, e.g. "ours": OursMTA (start our master from
# $MTA_BUILD_DIR with a config in a temp dir, as tests/e2e does).
MTAS: dict[str, type[MTA]] = {"postfix": PostfixMTA}


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
