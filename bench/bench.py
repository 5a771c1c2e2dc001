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
  rcpt100   N/100 messages, each to 100 local recipients (user+1 ..
            user+100, recipient_delimiter "+"), S=10, our own client
            (bench/latency.py); counts deliveries (files)
  big1m     N/10 messages of 1 MiB, S=10
  conn100   S=10 connections, 100 messages each on its connection
  local20n10k  10,000 messages at S=20 (--scenario-n local20n10k=N)
  drain10k  10,000 messages queued for the relay while its smtp-sink is
            down (all deferred), then the sink started and `postqueue -f`:
            timed until the sink has all of them
  backlog   --latency-n new local messages at S=10 through our own client,
            paced at --backlog-rate per second, first on the empty queue,
            then behind --backlog (default 50,000) messages deferred to a
            relay domain whose next hop is a closed loopback port: the new
            mail's latency must not grow with the backlog

Latency (bench/latency.py): end of DATA (the final "." sent) to the file's
appearance in new/ (inotify in a forked child), p50 and p99 per delivered
file; after every S=10 Maildir run a probe of --latency-n messages of the
same shape, outside the run's time and CPU (rcpt100 and backlog: the load
itself is timed), and a second one paced at --probe-rate per second: the
saturating probe's latency is mostly the queue it builds in front of the
slower stage, the paced one the MTA's own path from DATA to new/.

Metrics per run (time to all 250s, to all
delivered, msg/s, CPU seconds of the MTA's process tree, peak RSS/PSS), the
table shows ours/postfix ratios, and --json writes everything.  For the
sendmail run the sendmail/postdrop processes belong to the client (shell
loop), so their CPU is in client_cpu_s, not in the MTA's CPU.

The machine's limit (`fsync_probe`): create + write 5 KiB + fsync + rename
cycles per second with 1 and 2 writers on the filesystem of the queue and
Maildirs, and for each scenario with as many writers as it has sessions and
its message size; each msg/s is also shown as a fraction of it.  At the end
the issue 18 table: one row per scenario, ours against Postfix.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import mtas as pb  # noqa: E402
from mtas import peers  # noqa: E402

REPO = HERE.parent


# --------------------------------------------------------------------------
# Recently deleted inodes (ext4 without a journal)
#
# Without a journal, ext4's inode allocator skips every free inode whose
# deletion is younger than a minute (five more while its inode table block
# is dirty), so that a crash cannot leave an old directory entry pointing at
# a reused inode, and it skips them one by one from the start of the group.
# After a mass deletion (the end of a bench, a test suite, a run's queue)
# every file creation in the groups concerned costs about a millisecond of
# kernel CPU instead of tens of microseconds: measured here, creates in
# cleanup and local took half of the MTA's CPU.  Both MTAs create two files
# per message, so such a run measures the file system's history, not the
# MTAs.  Before the disk probe and before every run, the bench therefore
# times empty creates and waits (up to --inode-settle-max seconds) until
# they are cheap again; each run records what it saw.

CREATE_SLOW_US = 60.0  # an empty create: 10-20 us on a clean group, 100-1000 after deletions


def ext4_without_journal(directory: str) -> bool:
    cp = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", directory],
                        capture_output=True, text=True, check=False)
    parts = cp.stdout.split()
    if len(parts) != 2 or parts[1] != "ext4" or not parts[0].startswith("/dev/"):
        return False
    # A journal shows as /proc/fs/jbd2/<block device>-<journal inode>.
    dev = os.path.basename(os.path.realpath(parts[0]))
    with contextlib.suppress(OSError):
        return not any(e.startswith(dev + "-") for e in os.listdir("/proc/fs/jbd2"))
    return True


def create_cost_us(directory: str, files: int = 300) -> float:
    """Median microseconds of creating an empty file in a fresh directory
    (each removed at once: a free inode of this very second is never
    skipped, so the probe adds nothing to what it measures)."""
    d = tempfile.mkdtemp(prefix="create-probe-", dir=directory)
    times = []
    try:
        for i in range(files):
            path = os.path.join(d, str(i))
            t = time.perf_counter()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            times.append(time.perf_counter() - t)
            os.close(fd)
            os.unlink(path)
    finally:
        os.rmdir(d)
    return statistics.median(times) * 1e6


def settle_inode_allocator(directory: str, max_wait: float, what: str) -> dict:
    """Wait until creates in `directory` are cheap (see above); what it saw."""
    if not ext4_without_journal(directory):
        return {}
    t0 = time.monotonic()
    cost = create_cost_us(directory)
    first = cost
    while cost > CREATE_SLOW_US and time.monotonic() - t0 < max_wait:
        time.sleep(10)
        cost = create_cost_us(directory)
    waited = time.monotonic() - t0
    if first > CREATE_SLOW_US:
        state = "settled" if cost <= CREATE_SLOW_US else "STILL SLOW, measuring anyway"
        print(f"{what}: empty creates took {first:.0f} us (recently deleted inodes); "
              f"{state} after {waited:.0f} s at {cost:.0f} us", file=sys.stderr)
    return {"create_us": round(cost, 1), "create_us_first": round(first, 1),
            "create_wait_s": round(waited, 1)}


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


USERS_CREATED: list[str] = []  # in the JSON: tests check that none is left


@contextlib.contextmanager
def bench_user():
    """A fresh recipient whose home lives under BENCH_ROOT: the account is
    removed after the run, its Maildir at the end of the bench."""
    name = f"mtb{secrets.token_hex(4)}"
    USERS_CREATED.append(name)
    home = BENCH_ROOT / "home" / name
    peers.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/sh", name])
    pw = pwd.getpwnam(name)
    try:
        yield peers.User(name, None, pw.pw_uid, pw.pw_gid, home)
    finally:
        peers.run(["userdel", "--force", name], check=False)


@dataclass(frozen=True)
class Spec:
    """How one scenario loads the MTA.  n(args) is the number of messages
    (--scenario-n overrides it); deliveries = n * rcpts."""
    sessions: int
    n: Callable[[argparse.Namespace], int]
    size: int | None = None          # body bytes; None: --size
    client: str = "smtp-source"      # or "python" (bench/latency.py)
    reuse: bool = False              # all of a session's messages on one connection
    rcpts: int = 1                   # recipients per message (user+1 .. user+rcpts)
    probe: bool = False              # latency probe after the measured run (S=10 shapes)
    backlog: bool = False            # deferred backlog before the measured run
    drain: bool = False              # queued while the sink is down, then flushed (timed)


def _n(args):
    return args.messages


SPECS: dict[str, Spec] = {
    "local1": Spec(1, _n),
    "local10": Spec(10, _n, probe=True),
    "local50": Spec(50, _n),
    "outbound": Spec(10, _n),
    "sendmail": Spec(1, lambda a: a.sendmail_n),
    "local10dkim": Spec(10, _n, probe=True),
    "restrict10": Spec(10, _n, probe=True),
    # One message to 100 recipients (user+1 .. user+100, recipient_delimiter
    # "+" on both), N/100 messages so that N files are delivered.
    "rcpt100": Spec(10, lambda a: max(1, a.messages // 100), client="python", rcpts=100),
    "big1m": Spec(10, lambda a: max(10, a.messages // 10), size=1 << 20, probe=True),
    "conn100": Spec(10, lambda a: 30 if a.quick else 1000, reuse=True, probe=True),
    "local20n10k": Spec(20, lambda a: 30 if a.quick else 10000),
    # 10,000 messages queued (deferred: the relay's sink not yet listening),
    # then the sink started and `postqueue -f`: the time to empty the queue.
    "drain10k": Spec(20, lambda a: 30 if a.quick else 10000, drain=True),
    # New mail (as many messages as a latency probe, so its latency compares
    # with local10's probe) behind --backlog deferred messages.
    "backlog": Spec(10, lambda a: a.latency_n if a.latency_n > 0 else a.messages,
                    client="python", backlog=True),
}
SCENARIOS = tuple(SPECS)

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


def count_files(d: Path) -> int:
    """Files below d (a hashed queue such as deferred/), names only."""
    n = 0
    for _root, _dirs, files in os.walk(d):
        n += len(files)
    return n


def python_client(port: int, md: peers.Maildir, *, messages: int, sessions: int, size: int,
                  rcpts: list[str], reuse: bool, timeout: float, rate: float = 0) -> dict:
    """bench/latency.py as a child process (its CPU is the client's, like
    smtp-source's): the load and its per-delivery latency."""
    fd, out = tempfile.mkstemp(prefix="latency-", suffix=".json")
    os.close(fd)
    cmd = [sys.executable, str(HERE / "latency.py"), "--port", str(port),
           "--maildir", str(md.path), "--messages", str(messages),
           "--sessions", str(sessions), "--size", str(size), "--timeout", str(timeout),
           "--rate", str(rate), "--out", out, *[x for r in rcpts for x in ("--rcpt", r)]]
    if reuse:
        cmd.append("--reuse")
    cp = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                        timeout=timeout + 60)
    try:
        res = json.loads(Path(out).read_text() or "{}")
    except json.JSONDecodeError:
        res = {}
    os.unlink(out)
    res["rc"] = cp.returncode
    if cp.returncode:
        print(f"latency.py exit {cp.returncode}: {cp.stderr[-2000:]} {res}", file=sys.stderr)
    return res


BACKLOG_DOMAIN = "unreach.test"


def run_scenario(mta_name: str, scenario: str, n: int, size: int, warmup: int,
                 timeout: float, latency_n: int = 0, backlog: int = 0,
                 backlog_rate: float = 0, probe_rate: float = 0) -> dict:
    """One measured run of one scenario on a fresh instance and user."""
    spec = SPECS[scenario]
    sessions = min(spec.sessions, n) if spec.client == "python" else spec.sessions
    size = spec.size or size
    sink = peers.SmtpSink() if scenario in ("outbound", "drain10k") else None
    msg = message_file(size) if scenario == "sendmail" else None
    restrict = scenario == "restrict10"
    dns = (peers.LocalDns(RBL_ZONE, peers.LocalDns.resolves("probe.bench.test", "127.0.0.9"))
           if restrict else contextlib.nullcontext())
    with bench_user() as user, (opendkim() if scenario == "local10dkim"
                                else contextlib.nullcontext()) as dkim_port, dns:
        mta = None
        try:
            if sink and not spec.drain:
                sink.start()
            tables, extra = restriction_tables() if restrict else (None, {})
            if dkim_port:
                extra["smtpd_milters"] = f"inet:127.0.0.1:{dkim_port}"
            if spec.rcpts > 1:
                extra["recipient_delimiter"] = "+"
            if spec.backlog:
                # Deferred mail for a relay domain whose next hop is a closed
                # loopback port (free_port: nothing listens there).  No
                # message is due again during the run (minimal backoff one
                # hour), but the deferred queue is scanned every second, so
                # a full scan per queue run would show in the new mail's
                # latency.
                closed = peers.free_port()
                extra.update({
                    "transport_maps": f"inline:{{ {BACKLOG_DOMAIN}=smtp:[127.0.0.1]:{closed} }}",
                    "queue_run_delay": "1s", "minimal_backoff_time": "3600s",
                    "maximal_backoff_time": "4000s",
                })
            if size > 10240000:
                extra["message_size_limit"] = str(4 * size)
            mta = pb.MTAS[mta_name](relay_port=sink.port if sink else None, main_cf=extra)
            mta.start()
            if restrict:
                # Before the first connection: Postfix's smtpd opens its
                # tables when it starts.
                mta.postmap(f"hash:{tables}/senders")
            md = None
            if sink:
                rcpt = f"{user.name}@remote.test"
                count, wait = sink.count, lambda k: sink.wait_for(k, timeout)
            else:
                rcpt = mta.recipient(user)
                md = mta.maildir(user)
                count, wait = md.count, lambda k: md.wait_for(k, timeout)
            rcpts = ([rcpt.replace("@", f"+{i}@", 1) for i in range(1, spec.rcpts + 1)]
                     if spec.rcpts > 1 else [rcpt])
            client: dict = {}

            def send(k: int, s: int) -> int:
                if spec.drain:
                    sink.start()
                    return mta.flush()
                if scenario == "sendmail":
                    return sendmail_loop(mta, rcpt, k, msg, timeout)
                if spec.client == "python":
                    client.update(python_client(mta.port, md, messages=k, sessions=s, size=size,
                                                rcpts=rcpts, reuse=spec.reuse, timeout=timeout,
                                                rate=backlog_rate if spec.backlog else 0))
                    return client["rc"]
                return peers.smtp_source(peers.LOOPBACK, mta.port, messages=k, sessions=s,
                                         size=size, recipient=rcpt, reuse_connection=spec.reuse,
                                         timeout=timeout).returncode

            if spec.drain:
                warmup = 0  # the sink is down until the measured flush
            if warmup:
                # Always one recipient, smtp-source: every daemon spawned
                # once and the Maildir (new/, which latency.py watches) made.
                wsize = min(size, 5120)
                if (scenario == "sendmail" and send(warmup, 1)) or (
                        scenario != "sendmail" and peers.smtp_source(
                            peers.LOOPBACK, mta.port, messages=warmup,
                            sessions=min(spec.sessions, warmup), size=wsize,
                            recipient=rcpt, timeout=timeout).returncode):
                    raise RuntimeError(f"{mta_name} {scenario}: warm-up failed")
                wait(warmup)
            extra_out: dict = {}
            if spec.backlog:
                # The same paced load on the empty queue first: the latency
                # the backlog is compared with, on this very instance.
                before = count()
                pr = python_client(mta.port, md, messages=n, sessions=sessions, size=size,
                                   rcpts=rcpts, reuse=False, timeout=timeout, rate=backlog_rate)
                if pr["rc"]:
                    raise RuntimeError(f"{mta_name} backlog: paced load on the empty queue "
                                       f"failed: {pr.get('errors')}")
                wait(before + n)
                warmup += n
                empty = pr.get("latency_ms") or {}
                extra_out.update({"lat_empty_p50_ms": empty.get("p50"),
                                  "lat_empty_p99_ms": empty.get("p99")})
                # The fastest way into either MTA: smtp-source, 20 sessions,
                # one connection each.  Not timed as part of the run.
                t_fill = time.monotonic()
                r = peers.smtp_source(peers.LOOPBACK, mta.port, messages=backlog, sessions=20,
                                      size=size, recipient=f"bl@{BACKLOG_DOMAIN}",
                                      reuse_connection=True, timeout=timeout * 4, check=False)
                if r.returncode:
                    raise RuntimeError(f"{mta_name} backlog: smtp-source: {r.output[-500:]}")
                deferred = mta.queue_path() / "deferred"
                peers.wait_until(lambda: count_files(deferred) >= backlog, timeout * 4,
                                 f"{backlog} deferred messages in {deferred}", interval=0.5)
                extra_out.update({"backlog": backlog,
                                  "backlog_fill_s": round(time.monotonic() - t_fill, 1)})
                subprocess.run(["sync"], check=True)
            if spec.drain:
                # The fill (not timed): smtp-source, 20 sessions, into a
                # queue whose only next hop refuses connections.
                r = peers.smtp_source(peers.LOOPBACK, mta.port, messages=n, sessions=20,
                                      size=size, recipient=rcpt, reuse_connection=True,
                                      timeout=timeout * 4, check=False)
                if r.returncode:
                    raise RuntimeError(f"{mta_name} drain: smtp-source: {r.output[-500:]}")
                deferred = mta.queue_path() / "deferred"
                peers.wait_until(lambda: count_files(deferred) >= n, timeout * 4,
                                 f"{n} deferred messages in {deferred}", interval=0.5)
                subprocess.run(["sync"], check=True)
            pids = mta.root_pids()
            cpu0 = pb.tree_cpu(pids)
            host0 = host_busy_s()
            self0 = os.times()
            deliveries = n * spec.rcpts
            with peers.TreeSampler(pids, SAMPLE_INTERVAL_S) as mem:
                t0 = time.monotonic()
                rc = send(n, sessions)
                t_accept = time.monotonic() - t0
                if client.get("accept_s"):
                    # latency.py waits for the deliveries before it exits.
                    t_accept = client["accept_s"]
                if rc == 0:
                    wait(warmup + deliveries)
                t_deliver = time.monotonic() - t0
            cpu = pb.tree_cpu(pids) - cpu0
            host = host_busy_s() - host0
            self1 = os.times()
            if spec.backlog:
                extra_out["deferred_after"] = count_files(mta.queue_path() / "deferred")
            if dkim_port and rc == 0:
                # The milter really worked: the last message is signed.
                last = md.files()[-1].read_bytes()
                if b"\nDKIM-Signature: " not in last:
                    raise RuntimeError(f"{mta_name} {scenario}: message not signed")
            if restrict and not restrictions_active(mta.port):
                raise RuntimeError(f"{mta_name} {scenario}: the restriction list was not in force")
            lat = client.get("latency_ms")
            probe_n = 0
            if client.get("errors"):
                extra_out["client_errors"] = client["errors"]
            if spec.probe and latency_n and rc == 0:
                # After the measured run (outside its CPU and time): the
                # same shape at S=10 from our own client, timed per message.
                before = count()
                pr = python_client(mta.port, md, messages=min(latency_n, n), sessions=10,
                                   size=size, rcpts=[rcpt], reuse=spec.reuse, timeout=timeout)
                lat = pr.get("latency_ms")
                if pr["rc"]:
                    rc = pr["rc"]
                    extra_out["client_errors"] = pr.get("errors")
                wait(before + pr.get("accepted", 0))
                probe_n = pr.get("accepted", 0)
                if probe_rate > 0 and rc == 0:
                    # The same again paced well below capacity: the MTA's
                    # own latency, without the queue a saturating client
                    # builds (whose latency mostly measures that queue).
                    before = count()
                    pp = python_client(mta.port, md, messages=min(latency_n, n), sessions=10,
                                       size=size, rcpts=[rcpt], reuse=spec.reuse,
                                       timeout=timeout, rate=probe_rate)
                    if pp["rc"]:
                        rc = pp["rc"]
                        extra_out["client_errors"] = pp.get("errors")
                    wait(before + pp.get("accepted", 0))
                    probe_n += pp.get("accepted", 0)
                    paced = pp.get("latency_ms") or {}
                    extra_out.update({"lat_paced_p50_ms": paced.get("p50"),
                                      "lat_paced_p99_ms": paced.get("p99")})
            return {
                "mta": mta_name, "version": mta.version(), "scenario": scenario,
                "messages": deliveries, "sessions": sessions, "size": size,
                "delivered": count() - warmup - probe_n,
                "source_rc": rc,
                "accept_s": round(t_accept, 3),
                "deliver_s": round(t_deliver, 3),
                "accept_msg_per_s": round(deliveries / t_accept, 1),
                "msg_per_s": round(deliveries / t_deliver, 1),
                "cpu_s": round(cpu, 2),
                "cpu_ms_per_msg": round(1000 * cpu / deliveries, 3),
                "peak_rss_kb": mem.peak_rss_kb,
                "peak_pss_kb": mem.peak_pss_kb,
                "peak_procs": mem.peak_procs,
                "observer_cpu_s": round(self1.user + self1.system
                                        - self0.user - self0.system, 2),
                "host_cpu_s": round(host, 2),
                "client_cpu_s": round(self1.children_user + self1.children_system
                                      - self0.children_user - self0.children_system, 2),
                "lat_p50_ms": lat["p50"] if lat else None,
                "lat_p99_ms": lat["p99"] if lat else None,
                "latency": lat,
                **extra_out,
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


LATENCY = [("lat_p50_ms", "latency p50 (ms)", True), ("lat_p99_ms", "latency p99 (ms)", True),
           ("lat_empty_p50_ms", "p50, empty queue (ms)", True),
           ("lat_empty_p99_ms", "p99, empty queue (ms)", True),
           ("lat_paced_p50_ms", "paced p50 (ms)", True),
           ("lat_paced_p99_ms", "paced p99 (ms)", True)]


def median_or_none(vals) -> float | None:
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def summarize(runs: list[dict]) -> dict:
    out = {k: runs[0][k] for k in ("mta", "version", "scenario", "messages", "sessions", "size")}
    out["delivered"] = min(r["delivered"] for r in runs)
    for key, _, _ in METRICS + LATENCY:
        out[key] = median_or_none(r.get(key) for r in runs)
    for key in ("backlog", "backlog_fill_s"):
        if key in runs[0]:
            out[key] = median_or_none(r[key] for r in runs)
    out["runs"] = runs
    return out


def fmt(v) -> str:
    return "-" if v is None else f"{v:g}"


def ratio(a, b) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def render(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def table(results: list[dict], limit: float | None) -> str:
    names = [r["mta"] for r in results]
    cols = names + [f"{x}/{names[0]}" for x in names[1:]]
    rows = [["metric", *cols]]
    for key, title, _ in METRICS + LATENCY:
        vals = [r[key] for r in results]
        if all(v is None for v in vals):
            continue
        ratios = [fmt(ratio(v, vals[0])) for v in vals[1:]]
        rows.append([title, *[fmt(v) for v in vals], *ratios])
    if limit:
        rows.append(["msg/s / disk limit", *[f"{r['msg_per_s'] / limit:.2f}" for r in results],
                     *["" for _ in names[1:]]])
    return render(rows)


def pair_ratios(base: list[dict], other: list[dict], key: str) -> list[float]:
    """other/base of each repeat: the runs of one pair ran back to back."""
    return [x for x in (ratio(o[key], b[key]) for b, o in zip(base, other)) if x is not None]


def latency_cell(r: dict) -> str:
    """p50/p99; for the backlog run the empty queue's first: "empty -> behind"."""
    cell = f"{fmt(r['lat_p50_ms'])}/{fmt(r['lat_p99_ms'])}"
    if r.get("lat_empty_p50_ms") is not None:
        cell = f"{fmt(r['lat_empty_p50_ms'])}/{fmt(r['lat_empty_p99_ms'])} -> {cell}"
    if r.get("lat_paced_p50_ms") is not None:
        cell += f", paced {fmt(r['lat_paced_p50_ms'])}/{fmt(r['lat_paced_p99_ms'])}"
    return cell


def issue_table(report: dict, mtas: list[str]) -> str:
    """The issue 18 table: one row per scenario, the second MTA ('ours')
    against the first ('postfix')."""
    base, other = mtas[0], mtas[1]
    rows = [["scenario", f"msg/s {other}", f"msg/s {base}", "ratio", "pair ratios",
             "CPU/msg ratio", "peak PSS ratio", f"p50/p99 ms {other}", f"p50/p99 ms {base}",
             f"{other} / disk limit"]]
    for sc, results in report["scenarios"].items():
        b, o = results[0], results[1]
        pr = pair_ratios(b["runs"], o["runs"], "msg_per_s")
        rt = report["ratios"][sc][other]
        lim = report["scenario_disk_limit"].get(sc)
        rows.append([
            sc, fmt(o["msg_per_s"]), fmt(b["msg_per_s"]), f"{rt['msg_per_s']:.2f}",
            (f"{min(pr):.2f}-{max(pr):.2f}" if len(pr) > 1 else "-"),
            fmt(rt["cpu_ms_per_msg"]), fmt(rt["peak_pss_kb"]),
            latency_cell(o), latency_cell(b),
            f"{o['msg_per_s'] / lim:.2f}" if lim else "-"])
    return render(rows)


TARGETS = [  # (scenario, metric, comparison, bound): issue 18, ours/postfix
    ("local1", "msg_per_s", ">=", 2.0),
    ("local10", "msg_per_s", ">=", 2.0),
    ("local50", "msg_per_s", ">=", 2.0),
    ("local20n10k", "msg_per_s", ">=", 2.0),
    ("local1", "cpu_ms_per_msg", "<=", 0.5),
    ("local10", "cpu_ms_per_msg", "<=", 0.5),
    ("local50", "cpu_ms_per_msg", "<=", 0.5),
    ("local20n10k", "cpu_ms_per_msg", "<=", 0.5),
    ("outbound", "msg_per_s", ">=", 1.8),
    ("drain10k", "msg_per_s", ">=", 1.5),
]
DISK_TARGET = 0.8  # ours' msg/s / disk limit, local scenarios
# backlog: new mail's p50 behind the backlog / on the empty queue, same MTA
# and paced load ("must not grow with the backlog"; noise allows a little).
BACKLOG_GROWTH_TARGET = 1.5


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
    ap.add_argument("--inode-settle-max", type=float, default=90,
                    help="on ext4 without a journal, seconds to wait before a run until "
                         "file creation is cheap again after mass deletions (default 90; "
                         "see settle_inode_allocator)")
    ap.add_argument("--scenario", action="append", choices=SCENARIOS,
                    help="run only these (repeatable; default all)")
    ap.add_argument("--mta", action="append", choices=sorted(pb.MTAS),
                    help="MTAs (default postfix, ours; the first is the baseline)")
    ap.add_argument("--no-build", action="store_true",
                    help="use $MTA_BUILD_DIR or build-release/ as it is")
    ap.add_argument("--quick", action="store_true",
                    help="CI smoke test: tiny runs, only proves everything works")
    ap.add_argument("--json", metavar="FILE", help="also write results as JSON ('-' = stdout)")
    ap.add_argument("--scenario-n", action="append", default=[], metavar="SCENARIO=N",
                    help="messages of one scenario (e.g. local20n10k=2000; rcpt100: messages "
                         "of 100 recipients each)")
    ap.add_argument("--backlog", type=int, default=50000,
                    help="deferred messages queued before the backlog run (default 50,000)")
    ap.add_argument("--backlog-rate", type=float, default=100,
                    help="messages per second of the backlog run's new mail, paced (default "
                         "100: well below either MTA's capacity, so latency is not queueing)")
    ap.add_argument("--latency-n", type=int, default=500,
                    help="messages of the latency probe after each S=10 run (default 500; 0: none)")
    ap.add_argument("--probe-rate", type=float, default=100,
                    help="a second latency probe, paced at this many messages per second "
                         "(default 100; 0: none)")
    args = ap.parse_args(argv)
    if args.quick:
        args.messages, args.sendmail_n, args.warmup, args.settle = 30, 10, 2, 0
        args.inode_settle_max = 0  # probed and recorded, never waited for
        args.backlog, args.latency_n = min(args.backlog, 40), min(args.latency_n, 10)
    try:
        args.n_override = {k: int(v) for k, _, v in (x.partition("=") for x in args.scenario_n)}
    except ValueError:
        ap.error("--scenario-n wants SCENARIO=N")
    if bad := set(args.n_override) - set(SCENARIOS):
        ap.error(f"--scenario-n: unknown scenario {', '.join(sorted(bad))}")
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


def machine(directory: str) -> dict:
    """What the numbers were measured on (JSON "host")."""
    out: dict = {"cpus": os.cpu_count(), "kernel": platform.release()}
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            out["cpu_model"] = next((line.split(":", 1)[1].strip() for line in f
                                     if line.startswith("model name")), "?")
    with contextlib.suppress(OSError):
        with open("/proc/meminfo") as f:
            out["mem_total_kb"] = int(f.readline().split()[1])
    cp = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "-T", directory],
                        capture_output=True, text=True, check=False)
    out["filesystem"] = cp.stdout.strip()
    with contextlib.suppress(OSError):
        with open("/proc/sys/vm/dirty_expire_centisecs") as f:
            out["dirty_expire_centisecs"] = int(f.read())
    out["loadavg_start"] = os.getloadavg()
    return out


def scenario_n(args, sc: str) -> int:
    return args.n_override.get(sc) or SPECS[sc].n(args)


def measure(args, mtas: list[str], scenarios: list[str]) -> int:
    probe_dir = tempfile.gettempdir()
    probe_s = 0.3 if args.quick else 2.0
    inode_start = settle_inode_allocator(probe_dir, args.inode_settle_max, "before the disk probe")
    limit = {f"writers_{w}": round(fsync_probe(probe_dir, w, probe_s), 1) for w in (1, 2)}
    print(f"disk limit (create + write {args.size} B + fsync + rename, {probe_dir}): "
          f"{limit['writers_1']:g}/s with 1 writer, {limit['writers_2']:g}/s with 2")
    # Per scenario: the same pattern with as many writers as it has
    # sessions and its message size (each shape measured once).
    shapes = {(SPECS[sc].sessions, SPECS[sc].size or args.size) for sc in scenarios}
    shape_limit = {}
    for w, size in sorted(shapes):
        shape_limit[(w, size)] = (limit[f"writers_{w}"] if size == args.size and w <= 2
                                  else round(fsync_probe(probe_dir, w, probe_s, size), 1))
        print(f"disk limit, {w} writer(s) x {size} B: {shape_limit[(w, size)]:g}/s")

    report = {
        "host": machine(probe_dir),
        "params": {"messages": args.messages, "sendmail_messages": args.sendmail_n,
                   "size": args.size, "warmup": args.warmup, "repeat": args.repeat,
                   "settle_s": args.settle, "quick": args.quick, "backlog": args.backlog,
                   "backlog_rate": args.backlog_rate,
                   "latency_n": args.latency_n, "scenario_n": args.n_override},
        "disk_limit_per_s": limit,
        "inode_allocator_start": inode_start,
        "disk_limit_by_shape": {f"{w}x{size}": v for (w, size), v in shape_limit.items()},
        "scenario_disk_limit": {}, "scenarios": {}, "ratios": {}, "pair_ratios": {},
        "targets": [],
    }
    failed = False
    for k, sc in enumerate(scenarios):
        spec = SPECS[sc]
        n = scenario_n(args, sc)
        want = n * spec.rcpts
        lim = shape_limit[(spec.sessions, spec.size or args.size)]
        report["scenario_disk_limit"][sc] = lim
        runs: dict[str, list[dict]] = {m: [] for m in mtas}
        for rep in range(args.repeat):
            # Pairs, alternating who goes first (from scenario to scenario
            # and from repeat to repeat): the filesystem slows down after
            # heavy create/delete churn, which favours whoever runs first.
            for name in (mtas if (k + rep) % 2 == 0 else list(reversed(mtas))):
                subprocess.run(["sync"], check=True)
                time.sleep(args.settle)
                inodes = settle_inode_allocator(probe_dir, args.inode_settle_max,
                                                f"{name} {sc}")
                r = run_scenario(name, sc, n, args.size, args.warmup, args.timeout,
                                 latency_n=args.latency_n, backlog=args.backlog,
                                 backlog_rate=args.backlog_rate, probe_rate=args.probe_rate)
                r.update(inodes)
                runs[name].append(r)
                if r["delivered"] != want or r["source_rc"] != 0:
                    print(f"{name} {sc}: delivered {r['delivered']} of {want} "
                          f"(client exit {r['source_rc']})", file=sys.stderr)
                    failed = True
        results = [summarize(runs[m]) for m in mtas]
        report["scenarios"][sc] = results
        base = results[0]
        report["ratios"][sc] = {r["mta"]: {key: ratio(r[key], base[key])
                                           for key, _, _ in METRICS + LATENCY}
                                for r in results[1:]}
        report["pair_ratios"][sc] = {m: {key: pair_ratios(runs[mtas[0]], runs[m], key)
                                         for key in ("msg_per_s", "cpu_ms_per_msg")}
                                     for m in mtas[1:]}
        r0 = results[0]
        shape = (f"{n} messages x {r0['size']} B, {r0['sessions']} session(s), "
                 f"{spec.rcpts} recipient(s)" + (", one connection per session" if spec.reuse
                                                 else ""))
        if spec.backlog:
            shape += (f", paced at {args.backlog_rate:g}/s, on the empty queue and then "
                      f"after a backlog of {args.backlog} deferred")
        print(f"\n== {sc}: {shape}; median of {args.repeat}")
        print(table(results, lim))

    if len(mtas) > 1:
        print(f"\n== issue 18 table: {mtas[1]} against {mtas[0]}, medians of {args.repeat} "
              "pair(s); latency = end of DATA to the file in new/")
        if args.repeat < 3 and not args.quick:
            print("   (fewer than 3 pairs: not the issue's protocol)")
        print(issue_table(report, mtas))
    if len(mtas) > 1 and not args.quick and mtas[:2] == ["postfix", "ours"]:
        print("\n== targets (issue 18), ratio " + f"{mtas[1]}/{mtas[0]}")
        for sc, key, op, bound in TARGETS:
            if sc not in report["ratios"]:
                continue
            rt = report["ratios"][sc][mtas[1]][key]
            met = rt is not None and (rt >= bound if op == ">=" else rt <= bound)
            report["targets"].append({"scenario": sc, "metric": key, "want": f"{op} {bound}",
                                      "ratio": rt, "met": met})
            print(f"  {sc:11} {key:15} {rt:6.2f}  want {op} {bound:<4}  "
                  f"{'met' if met else 'NOT met'}")
        for sc in ("local1", "local10", "local50", "local20n10k"):
            if sc in report["scenarios"]:
                frac = round(report["scenarios"][sc][1]["msg_per_s"]
                             / report["scenario_disk_limit"][sc], 3)
                met = frac >= DISK_TARGET
                report["targets"].append({"scenario": sc, "metric": "disk_limit_fraction",
                                          "want": f">= {DISK_TARGET}", "ratio": frac,
                                          "met": met})
                print(f"  {sc:11} {'of disk limit':15} {frac:6.2f}  want >= {DISK_TARGET:<4}  "
                      f"{'met' if met else 'NOT met'}")
        if "backlog" in report["scenarios"]:
            for r in report["scenarios"]["backlog"]:
                growth = ratio(r["lat_p50_ms"], r["lat_empty_p50_ms"])
                met = growth is not None and growth <= BACKLOG_GROWTH_TARGET
                if r["mta"] == mtas[1]:
                    report["targets"].append({"scenario": "backlog",
                                              "metric": "p50_growth_behind_backlog",
                                              "want": f"<= {BACKLOG_GROWTH_TARGET}",
                                              "ratio": growth, "met": met})
                print(f"  backlog     p50 growth {r['mta']:>7} {fmt(growth):>6}  want <= "
                      f"{BACKLOG_GROWTH_TARGET:<4}  {'met' if met else 'NOT met'}"
                      + ("" if r["mta"] == mtas[1] else "  (for comparison)"))
    report["host"]["loadavg_end"] = os.getloadavg()
    report["users_created"] = USERS_CREATED
    if args.json:
        text = json.dumps(report, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
