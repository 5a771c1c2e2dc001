"""DESIGN.md §3 invariants 1 and 4 on the receiving side: SIGKILL smtpd and
cleanup again and again while messages flow in over SMTP (no qmgr runs, so
every queue file stays in incoming/ for inspection).

What is asserted, precisely:
  * every message that got "250 ... queued as ID" is in incoming/ as ID,
    complete (mode 0700) and valid to the queue module's own reader
    (qf_dump: every record parses and the END record is there), with its
    own envelope and content;
  * while the killing goes on, every file a reader would pick up (mode
    0700) is valid and complete at that moment: no reader ever sees a
    half-written file marked complete;
  * a message that did not get 250 (the client gives up on it, never
    retries it) is in the queue as at most one complete file; leftover
    incomplete files (mode 0600, killed mid-write) are not acknowledged
    ones and no reader would take them;
  * no message number is in two complete files (cleanup never commits one
    DATA transaction twice).
A second test checks the order of system calls at commit with strace:
the queue file's fsync (and, where that does not make the directory entry
durable too, its directory's fsync) happen before smtpd writes the 250
reply; once with the queue where the suite runs, once on a tmpfs (no
journal: the directory fsync must be there)."""
import os
import random
import re
import signal
import smtplib
import stat
import subprocess
import threading
import time

import pytest

from conftest import BIN
from smtp_helpers import BASE_EXTRA, SMTP_CF, drop, quit_quietly, start

TOTAL = 600
SENDERS = 4
EXTRA = """\
service_throttle_time = 1s
"""


def qf_dump(path):
    r = subprocess.run([os.path.join(BIN, "qf_dump"), path], capture_output=True, text=True)
    return r.returncode, r.stdout.splitlines(), r.stderr


def number_of(lines):
    for ln in lines:
        m = re.match(r"N Subject: durability (\d+)$", ln)
        if m:
            return int(m.group(1))
    return None


def test_sigkill_smtpd_and_cleanup_under_load(instance):
    inst = start(instance, EXTRA)
    port = inst.port("smtp")
    incoming_dir = os.path.join(inst.queue_dir, "incoming")
    acked = {}       # message number -> queue id from the 250 reply
    lock = threading.Lock()
    stop = threading.Event()
    kills = {"smtpd": 0, "cleanup": 0}
    seen_complete = {}  # file name -> message number, validated while killing
    bad = []

    def sender(k):
        s = None
        for n in range(k, TOTAL, SENDERS):
            try:
                if s is None:
                    s = smtplib.SMTP("127.0.0.1", port, timeout=20)
                    s.ehlo("load.example")
                msg = ("Subject: durability %d\r\n\r\nbody of message %d\r\n" % (n, n)).encode()
                s.mail("load@client.example")
                code, resp = s.rcpt("user%d@example.net" % n)
                if code != 250:
                    raise smtplib.SMTPException(resp)
                code, resp = s.data(msg)
                m = re.search(rb"^2\.0\.0 Ok: queued as ([0-9A-Za-z]+)$", resp)
                if code == 250 and m:
                    with lock:
                        acked[n] = m.group(1).decode()
                else:
                    s.rset()
            except (smtplib.SMTPException, OSError):
                # No 250: this message is given up, never retried.
                s = drop(s)
        quit_quietly(s)

    def check_complete_files():
        """What a reader would pick up right now must be whole."""
        try:
            names = os.listdir(incoming_dir)
        except FileNotFoundError:
            return
        for name in names:
            if name in seen_complete:
                continue
            path = os.path.join(incoming_dir, name)
            try:
                mode = stat.S_IMODE(os.stat(path).st_mode)
            except FileNotFoundError:
                continue
            if mode != 0o700:
                continue
            rc, lines, err = qf_dump(path)
            if rc != 0 or not lines or lines[-1] != "E":
                bad.append((name, rc, err, lines[-3:]))
            seen_complete[name] = number_of(lines)

    def killer():
        rnd = random.Random(7)
        service = "127.0.0.1:%d" % port
        while not stop.is_set():
            time.sleep(rnd.uniform(0.005, 0.05))
            for name in ("smtpd", "cleanup"):
                pids = inst.children(service if name == "smtpd" else "cleanup")
                if pids:
                    try:
                        os.kill(rnd.choice(pids), signal.SIGKILL)
                        kills[name] += 1
                    except ProcessLookupError:
                        pass

    def checker():
        while not stop.is_set():
            check_complete_files()
            time.sleep(0.01)

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(SENDERS)]
    helpers = [threading.Thread(target=killer), threading.Thread(target=checker)]
    for t in helpers + threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    stop.set()
    for t in helpers:
        t.join()
    assert not any(t.is_alive() for t in threads), "senders did not finish"
    check_complete_files()
    assert bad == [], "complete-looking files that are not whole: %r" % bad[:3]

    # Quiesce: stop the instance so nothing writes while we look.
    inst.stop()
    names = sorted(os.listdir(incoming_dir))
    complete, incomplete = {}, []
    for name in names:
        path = os.path.join(incoming_dir, name)
        if stat.S_IMODE(os.stat(path).st_mode) == 0o700:
            rc, lines, err = qf_dump(path)
            assert rc == 0 and lines[-1] == "E", (name, err)
            complete[name] = lines
        else:
            incomplete.append(name)

    for n, qid in sorted(acked.items()):
        assert qid in complete, "acknowledged message %d (%s) missing or incomplete" % (n, qid)
        lines = complete[qid]
        assert number_of(lines) == n
        assert "S load@client.example" in lines
        assert any(ln.startswith("R ") and "user%d@example.net|" % n in ln for ln in lines)
        assert "N body of message %d" % n in lines
    numbers = [number_of(lines) for lines in complete.values()]
    assert None not in numbers
    assert len(numbers) == len(set(numbers)), "a message committed twice"
    assert not set(incomplete) & set(acked.values())
    print("\nsmtpd/cleanup durability: %d sent, %d acknowledged, %d complete files "
          "(%d unacknowledged), %d incomplete; SIGKILLs: smtpd %d, cleanup %d" % (
              TOTAL, len(acked), len(complete), len(complete) - len(acked), len(incomplete),
              kills["smtpd"], kills["cleanup"]))
    assert kills["smtpd"] > 0 and kills["cleanup"] > 0, kills
    # Enough got through for the run to mean something.
    assert len(acked) >= TOTAL // 4


def fs_type(path):
    """The file system type /proc/self/mountinfo gives for path's device."""
    dev = os.stat(path).st_dev
    want = "%d:%d" % (os.major(dev), os.minor(dev))
    with open("/proc/self/mountinfo") as f:
        for ln in f:
            fields = ln.split()
            if fields[2] == want:
                return fields[fields.index("-") + 1]
    return None


@pytest.mark.parametrize("queue_fs", ["suite", "tmpfs"])
def test_commit_fsyncs_before_250(instance, queue_fs):
    """strace every process of the instance (one output file per process,
    with start times and durations): for one message, cleanup fchmods the
    queue file to 0700, fsyncs it, then fsyncs its directory unless the
    file system commits a new file's directory entry with the file's own
    fsync (ext4, ext3, xfs: fsync_covers_new_entry), and all of it has
    finished before smtpd starts writing "250 ... queued as"."""
    if not os.access("/usr/bin/strace", os.X_OK):
        pytest.skip("strace not installed (scripts/install-deps.sh --test)")
    if queue_fs == "tmpfs":
        inst = instance(master_cf=SMTP_CF, main_cf_extra=BASE_EXTRA, start=False)
        os.makedirs(inst.queue_dir, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs",
                        inst.queue_dir], check=True)
        try:
            inst.start()
            inst.wait_log(r"daemon started")
            traced_commit(inst, expect_dir_sync=True)
        finally:
            inst.kill_all()
            subprocess.run(["umount", "-l", inst.queue_dir], check=False)
        return
    inst = start(instance)
    covered = fs_type(inst.queue_dir) in ("ext4", "ext3", "xfs")
    traced_commit(inst, expect_dir_sync=not covered)


def traced_commit(inst, expect_dir_sync):
    port = inst.port("smtp")
    prefix = os.path.join(inst.tmp, "strace")
    tracer = subprocess.Popen(
        ["/usr/bin/strace", "-ff", "-qq", "-y", "-ttt", "-T", "-s", "64", "-o", prefix,
         "-e", "trace=fsync,fdatasync,syncfs,write,sendto,fchmod",
         "-p", str(inst.master_pid)], stderr=subprocess.DEVNULL)
    try:
        # strace attaches asynchronously: wait until it traces master.
        def attached():
            with open("/proc/%d/status" % inst.master_pid) as f:
                return "TracerPid:\t%d\n" % tracer.pid in f.read()
        inst.wait_for(attached, what="strace attached")
        with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
            s.ehlo("trace.example")
            s.mail("tracer@client.example")
            s.rcpt("someone@example.net")
            code, resp = s.data(b"Subject: traced\r\n\r\nbody\r\n")
            assert code == 250
            qid = re.search(rb"queued as ([0-9A-Za-z]+)", resp).group(1).decode()
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=20)
    calls = []  # (start, end, pid, text) of completed calls
    line_rx = re.compile(r"^(\d+\.\d+) (.*) = (-?\d+)(?: [A-Z]+ \(.*\))? <(\d+\.\d+)>$")
    for name in os.listdir(inst.tmp):
        if not name.startswith("strace."):
            continue
        pid = int(name.split(".")[1])
        with open(os.path.join(inst.tmp, name), errors="replace") as f:
            for ln in f:
                m = line_rx.match(ln.rstrip("\n"))
                if m and m.group(3) != "-1":
                    start_t = float(m.group(1))
                    calls.append((start_t, start_t + float(m.group(4)), pid, m.group(2)))
    calls.sort()
    incoming = re.escape(os.path.join(inst.queue_dir, "incoming"))

    def find(pattern, after=0.0):
        rx = re.compile(pattern)
        for c in calls:
            if c[0] >= after and rx.search(c[3]):
                return c
        raise AssertionError("not in the trace: /%s/ after %f\n%s" % (
            pattern, after, "\n".join(map(str, calls[-40:]))))

    chmod = find(r"^fchmod\(\d+<%s/%s>, 0700\)" % (incoming, qid))
    file_sync = find(r"^fsync\(\d+<%s/%s>\)" % (incoming, qid), chmod[1])
    reply = find(r"^(write|sendto)\(\d+<[^>]*>, \"250 2\.0\.0 Ok: queued as %s\\r\\n\"" % qid)
    assert chmod[2] == file_sync[2], "one process (cleanup) commits"
    assert reply[2] != file_sync[2], "smtpd replies"
    assert file_sync[1] <= reply[0], (file_sync, reply)
    dir_syncs = [c for c in calls if c[2] == file_sync[2] and file_sync[1] <= c[0] <= reply[0]
                 and re.search(r"^fsync\(\d+<%s>\)" % incoming, c[3])]
    if expect_dir_sync:
        assert dir_syncs, "no fsync of incoming/ between the file's fsync and the 250"
        assert dir_syncs[0][1] <= reply[0], (dir_syncs[0], reply)
    else:
        assert not dir_syncs, "incoming/ fsynced though the file's fsync covers it: %s" % (
            dir_syncs,)
