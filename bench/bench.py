#!/usr/bin/python3
"""Ours against Debian's Postfix, side by side in one run (issue 8).

    sudo bench/bench.py                 # defaults: about two minutes
    sudo bench/bench.py --quick         # CI: proves every run works, no timing claims
    sudo bench/bench.py -n 10000 --repeat 3 --json out.json

Builds our MTA in Release mode (build-release/, unless MTA_BUILD_DIR names a
build or --no-build), measures the disk's limit, then runs each scenario for
each MTA, alternating which goes first, each on a fresh instance and a fresh
user, after `sync` and a settling pause:

  local1    smtp-source, N messages x 5 KiB, 1 recipient, S=1 session,
            one connection per message, until all are in ~/Maildir
  local10   the same with S=10
  local50   the same with S=50
  outbound  the same into the MTA, relayed to Postfix's smtp-sink
            (relayhost = [127.0.0.1]:port), until the sink has all of them
  sendmail  a shell loop running `sendmail -f ... user@localhost < msg`
            --sendmail-n times (default 1,000), until all are delivered
  local10dkim  local10 with OpenDKIM as smtpd_milters on both MTAs: one
            opendkim (Debian's package, started per run on a loopback port,
            a fresh 1024-bit key) signing every message for client.test,
            smtp-source's sender domain; its CPU is not the MTA's
  restrict10  local10 behind a realistic restriction list (RBL against a
            local dnsmasq zone, hash: sender access, permit_mynetworks,
            reject_unauth_destination, pcre header_checks)

Metrics per run (time to all 250s, to all
delivered, msg/s, CPU seconds of the MTA's process tree, peak RSS/PSS), the
table shows ours/postfix ratios, and --json writes everything.  For the
sendmail run the sendmail/postdrop processes belong to the client (shell
loop), so their CPU is in client_cpu_s, not in the MTA's CPU.

The machine's limit (`fsync_probe`): create + write 5 KiB + fsync + rename
cycles per second with 1 and 2 writers on the filesystem of the queue and
Maildirs; each msg/s is also shown as a fraction of it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import pwd
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import mtas as pb  # noqa: E402
from mtas import peers  # noqa: E402

REPO = HERE.parent


# --------------------------------------------------------------------------
# The machine's limit


def fsync_probe(directory: str, writers: int, seconds: float, size: int = 5 * 1024) -> float:
    """Cycles per second of: create a file, write `size` bytes, fsync, close,
    rename into another directory -- the cheapest durable write of one
    message, which no MTA can beat per writer.  `writers` threads (fsync
    releases the GIL, so they overlap in the kernel as processes would)."""
    base = tempfile.mkdtemp(prefix="fsync-probe-", dir=directory)
    src, dst = os.path.join(base, "tmp"), os.path.join(base, "new")
    os.mkdir(src)
    os.mkdir(dst)
    data = os.urandom(size)
    counts = [0] * writers
    stop = time.monotonic() + seconds

    def writer(k: int) -> None:
        i = 0
        while time.monotonic() < stop:
            name = f"{k}.{i}"
            fd = os.open(os.path.join(src, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(os.path.join(src, name), os.path.join(dst, name))
            i += 1
        counts[k] = i

    t0 = time.monotonic()
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    # The files stay until the end of the bench (see keep_until_end).
    return sum(counts) / elapsed


# --------------------------------------------------------------------------
# Load generators and counters


def message_file(size: int) -> Path:
    """A message of about `size` bytes for the sendmail loop."""
    fd, path = tempfile.mkstemp(prefix="bench-msg-", suffix=".eml")
    line = "x" * 76 + "\n"
    body = (line * (size // len(line) + 1))[:size]
    with os.fdopen(fd, "w") as f:
        f.write("From: source@client.test\nSubject: bench\n\n" + body)
    os.chmod(path, 0o644)
    return Path(path)


def sendmail_loop(mta: pb.MTA, rcpt: str, n: int, msg: Path, timeout: float) -> int:
    """What a cron job or a script does: n sendmail runs, one after the
    other, from a shell.  Returns the shell's exit status."""
    path, env = mta.sendmail()
    script = ('i=0; while [ "$i" -lt "$N" ]; do '
              '"$SM" -f source@client.test "$RCPT" < "$MSG" || exit 1; i=$((i+1)); done')
    env = {**env, "N": str(n), "SM": path, "RCPT": rcpt, "MSG": str(msg)}
    cp = subprocess.run(["sh", "-c", script], env=env, timeout=timeout,
                        stdin=subprocess.DEVNULL, capture_output=True)
    if cp.returncode:
        print(cp.stderr.decode(errors="replace")[-2000:], file=sys.stderr)
    return cp.returncode


# Nothing is deleted until the end of the bench. On ext4 without a journal
# (this VM) a freed inode is skipped by every later file creation in its
# group for 60 s, and for 360 s while its inode-table block is dirty again
# (fs/ext4/ialloc.c, recently_deleted), so removing one run's 10,000
# Maildir files and queue files made the next runs pay up to 750 us per
# create, whoever they were. Each run's instance (temp dir), user home and
# probe files go under one directory that is removed when everything has
# been measured; the MTA's own deletions during a run still count.
BENCH_ROOT: Path | None = None


def keep_until_end() -> Path:
    """Make every temp dir of this process (and of the peers it starts) a
    child of one bench directory, kept until finish_bench_root()."""
    global BENCH_ROOT
    BENCH_ROOT = Path(tempfile.mkdtemp(prefix="mta-bench-"))
    os.chmod(BENCH_ROOT, 0o755)  # the recipients' homes are below it
    (BENCH_ROOT / "home").mkdir(mode=0o755)
    tempfile.tempdir = str(BENCH_ROOT)
    os.environ["TMPDIR"] = str(BENCH_ROOT)
    os.environ["MTA_KEEP_TMP"] = "1"  # peers and MTAs: no rmtree on stop
    return BENCH_ROOT


def finish_bench_root(keep: bool) -> None:
    if BENCH_ROOT and not keep:
        shutil.rmtree(BENCH_ROOT, ignore_errors=True)


@contextlib.contextmanager
def opendkim():
    """OpenDKIM in the foreground on a free loopback port, signing for
    client.test (smtp-source's sender); yields the port, stops it by PID."""
    d = Path(tempfile.mkdtemp(prefix="bench-opendkim-"))
    proc = None
    try:
        subprocess.run(["opendkim-genkey", "-b", "1024", "-d", "client.test", "-s", "bench",
                        "-D", str(d)], check=True)
        port = peers.free_port()
        (d / "opendkim.conf").write_text(
            f"Syslog no\nMode s\nSocket inet:{port}@127.0.0.1\nDomain client.test\n"
            f"Selector bench\nKeyFile {d}/bench.private\nCanonicalization relaxed/simple\n"
            "RequireSafeKeys no\nInternalHosts 127.0.0.1\n")
        proc = subprocess.Popen(["opendkim", "-f", "-x", str(d / "opendkim.conf")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peers.wait_until(lambda: peers.port_listening(port), 30, f"opendkim on port {port}")
        yield port
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def bench_user():
    """A fresh recipient whose home lives under BENCH_ROOT: the account is
    removed after the run, its Maildir at the end of the bench."""
    name = f"mtb{secrets.token_hex(4)}"
    home = BENCH_ROOT / "home" / name
    peers.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/sh", name])
    pw = pwd.getpwnam(name)
    try:
        yield peers.User(name, None, pw.pw_uid, pw.pw_gid, home)
    finally:
        peers.run(["userdel", "--force", name], check=False)


SCENARIOS = ("local1", "local10", "local50", "outbound", "sendmail", "local10dkim",
             "restrict10")

# restrict10: local10 behind the restriction list of a typical small server
# (issue 15), the same for both MTAs: an RBL lookup against a local dnsmasq
# zone for every RCPT (the client, 127.0.0.1, is not listed: NXDOMAIN, as
# for most real clients), a hash: sender access table (built by each MTA's
# own postmap), permit_mynetworks / reject_unauth_destination, and pcre
# header_checks on every header.
RBL_ZONE = """\
local=/bench.test/
local=/127.in-addr.arpa/
host-record=2.0.0.127.rbl.bench.test,127.0.0.2
txt-record=2.0.0.127.rbl.bench.test,"listed for the benchmark"
host-record=probe.bench.test,127.0.0.9
"""
SENDERS_TABLE = "".join(f"spammer{i}@bad{i % 7}.test REJECT go away\n" for i in range(500)) + \
    "bad0.test REJECT whole domain\nsource@client.test DUNNO\n"
HEADER_CHECKS = """\
/^Subject:.*\\b(viagra|casino|lottery)\\b/ REJECT no spam here
/^X-Mailer: .*MassMail/ REJECT bulk mailer
/^Received: from .*\\.(ru|cn)\\b/ WARN foreign relay
/^(To|Cc):.*undisclosed-recipients/ WARN undisclosed
"""


def restrictions_active(port: int) -> bool:
    """After the measured run: a listed sender is refused (the tables were
    really consulted, not silently absent)."""
    import smtplib
    with smtplib.SMTP(peers.LOOPBACK, port, timeout=30) as c:
        c.ehlo("client.test")
        c.mail("spammer1@bad1.test")
        code, text = c.rcpt("someone@localhost")
    return code == 554 and b"go away" in text


def restriction_tables() -> tuple[Path, dict[str, str]]:
    """A fresh table directory for one run and the main.cf lines using it."""
    d = Path(tempfile.mkdtemp(prefix="bench-tables-"))
    d.chmod(0o755)
    (d / "senders").write_text(SENDERS_TABLE)
    (d / "header_checks").write_text(HEADER_CHECKS)
    for f in d.iterdir():
        f.chmod(0o644)
    return d, {
        "smtpd_client_restrictions": "reject_rbl_client rbl.bench.test",
        "smtpd_sender_restrictions": f"check_sender_access hash:{d}/senders",
        "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination",
        "header_checks": f"pcre:{d}/header_checks",
    }


def host_busy_s() -> float:
    """Busy CPU seconds of the whole machine so far (/proc/stat: all but
    idle and iowait). Unlike the MTA's own CPU it includes kernel workers
    (e.g. AIO fsyncs run by kworkers), the client and this script."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # user..steal minus idle, iowait
    return busy / os.sysconf("SC_CLK_TCK")


# Memory sampling period. Each sample reads /proc/PID/stat of every process
# and smaps_rollup of the MTA's: at 100 ms that cost 10 % of the machine
# (observer_cpu_s) at 50 sessions, taken from both MTAs under test.
SAMPLE_INTERVAL_S = 0.25


def run_scenario(mta_name: str, scenario: str, n: int, size: int, warmup: int,
                 timeout: float) -> dict:
    """One measured run of one scenario on a fresh instance and user."""
    sessions = {"local1": 1, "local10": 10, "local50": 50, "outbound": 10, "sendmail": 1,
                "local10dkim": 10, "restrict10": 10}[scenario]
    sink = peers.SmtpSink() if scenario == "outbound" else None
    msg = message_file(size) if scenario == "sendmail" else None
    restrict = scenario == "restrict10"
    dns = (peers.LocalDns(RBL_ZONE, peers.LocalDns.resolves("probe.bench.test", "127.0.0.9"))
           if restrict else contextlib.nullcontext())
    with bench_user() as user, (opendkim() if scenario == "local10dkim"
                                else contextlib.nullcontext()) as dkim_port, dns:
        mta = None
        try:
            if sink:
                sink.start()
            tables, extra = restriction_tables() if restrict else (None, {})
            if dkim_port:
                extra["smtpd_milters"] = f"inet:127.0.0.1:{dkim_port}"
            mta = pb.MTAS[mta_name](relay_port=sink.port if sink else None, main_cf=extra)
            mta.start()
            if restrict:
                # Before the first connection: Postfix's smtpd opens its
                # tables when it starts.
                mta.postmap(f"hash:{tables}/senders")
            if sink:
                rcpt = f"{user.name}@remote.test"
                count, wait = sink.count, lambda k: sink.wait_for(k, timeout)
            else:
                rcpt = mta.recipient(user)
                md = mta.maildir(user)
                count, wait = md.count, lambda k: md.wait_for(k, timeout)

            def send(k: int, s: int) -> int:
                if scenario == "sendmail":
                    return sendmail_loop(mta, rcpt, k, msg, timeout)
                return peers.smtp_source(peers.LOOPBACK, mta.port, messages=k, sessions=s,
                                         size=size, recipient=rcpt, timeout=timeout).returncode

            if warmup:
                if send(warmup, min(sessions, warmup)):
                    raise RuntimeError(f"{mta_name} {scenario}: warm-up failed")
                wait(warmup)
            pids = mta.root_pids()
            cpu0 = pb.tree_cpu(pids)
            host0 = host_busy_s()
            self0 = os.times()
            with peers.TreeSampler(pids, SAMPLE_INTERVAL_S) as mem:
                t0 = time.monotonic()
                rc = send(n, sessions)
                t_accept = time.monotonic() - t0
                if rc == 0:
                    wait(warmup + n)
                t_deliver = time.monotonic() - t0
            cpu = pb.tree_cpu(pids) - cpu0
            host = host_busy_s() - host0
            self1 = os.times()
            if dkim_port and rc == 0:
                # The milter really worked: the last message is signed.
                last = md.files()[-1].read_bytes()
                if b"\nDKIM-Signature: " not in last:
                    raise RuntimeError(f"{mta_name} {scenario}: message not signed")
            if restrict and not restrictions_active(mta.port):
                raise RuntimeError(f"{mta_name} {scenario}: the restriction list was not in force")
            return {
                "mta": mta_name, "version": mta.version(), "scenario": scenario,
                "messages": n, "sessions": sessions, "size": size,
                "delivered": count() - warmup, "source_rc": rc,
                "accept_s": round(t_accept, 3),
                "deliver_s": round(t_deliver, 3),
                "accept_msg_per_s": round(n / t_accept, 1),
                "msg_per_s": round(n / t_deliver, 1),
                "cpu_s": round(cpu, 2),
                "cpu_ms_per_msg": round(1000 * cpu / n, 3),
                "peak_rss_kb": mem.peak_rss_kb,
                "peak_pss_kb": mem.peak_pss_kb,
                "peak_procs": mem.peak_procs,
                "observer_cpu_s": round(self1.user + self1.system
                                        - self0.user - self0.system, 2),
                "host_cpu_s": round(host, 2),
                "client_cpu_s": round(self1.children_user + self1.children_system
                                      - self0.children_user - self0.children_system, 2),
            }
        finally:
            if mta:
                mta.stop()
            if sink:
                sink.stop()
                sink.cleanup()
            if msg:
                msg.unlink()


METRICS = pb.METRICS + [("accept_msg_per_s", "accepted msg/s", False),
                        ("host_cpu_s", "host CPU (s)", True),
                        ("client_cpu_s", "client CPU (s)", True)]


def summarize(runs: list[dict]) -> dict:
    out = {k: runs[0][k] for k in ("mta", "version", "scenario", "messages", "sessions", "size")}
    out["delivered"] = min(r["delivered"] for r in runs)
    for key, _, _ in METRICS:
        out[key] = statistics.median(r[key] for r in runs)
    out["runs"] = runs
    return out


def table(results: list[dict], limit: float | None) -> str:
    names = [r["mta"] for r in results]
    cols = names + [f"{x}/{names[0]}" for x in names[1:]]
    rows = [["metric", *cols]]
    metrics = list(METRICS)
    for key, title, _ in metrics:
        vals = [r[key] for r in results]
        ratios = [f"{v / vals[0]:.2f}" if vals[0] else "-" for v in vals[1:]]
        rows.append([title, *[f"{v:g}" for v in vals], *ratios])
    if limit:
        rows.append(["msg/s / disk limit", *[f"{r['msg_per_s'] / limit:.2f}" for r in results],
                     *["" for _ in names[1:]]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


TARGETS = [  # (scenario, metric, comparison, bound): issue 8
    ("local10", "msg_per_s", ">=", 1.5),
    ("local50", "msg_per_s", ">=", 1.5),
    ("local10", "cpu_ms_per_msg", "<=", 0.6),
    ("local50", "cpu_ms_per_msg", "<=", 0.6),
    ("local10", "peak_rss_kb", "<=", 1.0),
    ("local50", "peak_rss_kb", "<=", 1.0),
    ("outbound", "msg_per_s", ">=", 1.0),
]


def build_release() -> Path:
    build = REPO / "build-release"
    subprocess.run(["cmake", "-S", str(REPO), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                    "-DMTA_TESTS=OFF"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(build), "-j2"], check=True,
                   stdout=subprocess.DEVNULL)
    return build


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--messages", type=int, default=2000,
                    help="messages per SMTP run (default 2000)")
    ap.add_argument("--sendmail-n", type=int, default=1000, help="messages of the sendmail run")
    ap.add_argument("--size", type=int, default=5 * 1024, help="body bytes (default 5 KiB)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--settle", type=float, default=5.0,
                    help="seconds to pause after sync before each run (default 5)")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--scenario", action="append", choices=SCENARIOS,
                    help="run only these (repeatable; default all)")
    ap.add_argument("--mta", action="append", choices=sorted(pb.MTAS),
                    help="MTAs (default postfix, ours; the first is the baseline)")
    ap.add_argument("--no-build", action="store_true",
                    help="use $MTA_BUILD_DIR or build-release/ as it is")
    ap.add_argument("--quick", action="store_true",
                    help="CI smoke test: tiny runs, only proves everything works")
    ap.add_argument("--json", metavar="FILE", help="also write results as JSON ('-' = stdout)")
    args = ap.parse_args(argv)
    if args.quick:
        args.messages, args.sendmail_n, args.warmup, args.settle = 30, 10, 2, 0
    if os.geteuid() != 0:
        ap.error("must run as root (starts the MTAs' masters, creates users)")
    mtas = args.mta or ["postfix", "ours"]
    scenarios = args.scenario or list(SCENARIOS)
    if "ours" in mtas and not os.environ.get("MTA_BUILD_DIR") and not args.no_build:
        os.environ["MTA_BUILD_DIR"] = str(build_release())

    keep_tmp = bool(os.environ.get("MTA_KEEP_TMP"))
    # SIGTERM (and SIGINT, which a shell ignores in background jobs) end
    # the bench through the finally clauses: instances stopped, users and
    # the bench directory removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    keep_until_end()
    try:
        return measure(args, mtas, scenarios)
    finally:
        finish_bench_root(keep_tmp)


def measure(args, mtas: list[str], scenarios: list[str]) -> int:
    probe_dir = tempfile.gettempdir()
    probe_s = 0.3 if args.quick else 2.0
    limit = {f"writers_{w}": round(fsync_probe(probe_dir, w, probe_s), 1) for w in (1, 2)}
    print(f"disk limit (create + write {args.size} B + fsync + rename, {probe_dir}): "
          f"{limit['writers_1']:g}/s with 1 writer, {limit['writers_2']:g}/s with 2")
    best = max(limit.values())

    report = {
        "host": {"cpus": os.cpu_count(), "kernel": platform.release(),
                 "loadavg_start": os.getloadavg()},
        "params": {"messages": args.messages, "sendmail_messages": args.sendmail_n,
                   "size": args.size, "warmup": args.warmup, "repeat": args.repeat,
                   "settle_s": args.settle, "quick": args.quick},
        "disk_limit_per_s": limit, "scenarios": {}, "ratios": {}, "targets": [],
    }
    failed = False
    for k, sc in enumerate(scenarios):
        n = args.sendmail_n if sc == "sendmail" else args.messages
        runs: dict[str, list[dict]] = {m: [] for m in mtas}
        for rep in range(args.repeat):
            # Alternate who goes first (from scenario to scenario and from
            # repeat to repeat): the filesystem slows down after heavy
            # create/delete churn, which favours whoever runs first.
            for name in (mtas if (k + rep) % 2 == 0 else list(reversed(mtas))):
                subprocess.run(["sync"], check=True)
                time.sleep(args.settle)
                r = run_scenario(name, sc, n, args.size, args.warmup, args.timeout)
                runs[name].append(r)
                if r["delivered"] != n or r["source_rc"] != 0:
                    print(f"{name} {sc}: delivered {r['delivered']} of {n} "
                          f"(client exit {r['source_rc']})", file=sys.stderr)
                    failed = True
        results = [summarize(runs[m]) for m in mtas]
        report["scenarios"][sc] = results
        base = results[0]
        report["ratios"][sc] = {r["mta"]: {k: (round(r[k] / base[k], 3) if base[k] else None)
                                           for k, _, _ in METRICS} for r in results[1:]}
        s = results[0]["sessions"]
        print(f"\n== {sc}: {n} messages x {args.size} B, {s} session(s), 1 recipient; "
              f"median of {args.repeat}")
        print(table(results, best))

    if len(mtas) > 1 and not args.quick and mtas[:2] == ["postfix", "ours"]:
        print("\n== targets (issue 8), ratio " + f"{mtas[1]}/{mtas[0]}")
        for sc, key, op, bound in TARGETS:
            if sc not in report["ratios"]:
                continue
            ratio = report["ratios"][sc][mtas[1]][key]
            met = ratio is not None and (ratio >= bound if op == ">=" else ratio <= bound)
            report["targets"].append({"scenario": sc, "metric": key, "want": f"{op} {bound}",
                                      "ratio": ratio, "met": met})
            print(f"  {sc:9} {key:15} {ratio:6.2f}  want {op} {bound:<4}  "
                  f"{'met' if met else 'NOT met'}")
    report["host"]["loadavg_end"] = os.getloadavg()
    if args.json:
        text = json.dumps(report, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
