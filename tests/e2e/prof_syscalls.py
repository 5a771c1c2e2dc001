"""Profile, not part of the suite (no test_ prefix): system calls per
message of every daemon of an instance, by process and name (issue 18).
After a warm-up, strace -ff attaches to the master and all its children
(and follows new ones) while PROF_N (200) messages of ~5 KiB go one by one
over SMTP (one connection each, S=1) to one user's Maildir. PROF_EXTRA
adds main.cf lines (';' separates them). Run on a Release build:

  MTA_BUILD_DIR=$PWD/build-release \\
    /usr/bin/python3 -m pytest -q -s -p no:cacheprovider tests/e2e/prof_syscalls.py
"""
import collections
import glob
import os
import re
import signal
import smtplib
import subprocess
import time

from conftest import per_run
from delivery_helpers import start_pipeline, wait_maildir

N = int(os.environ.get("PROF_N", "200"))
OUT = os.environ.get("PROF_OUT", "/tmp/prof/run")
BODY = ("Subject: prof\n\n" + ("x" * 76 + "\n") * 66).encode()   # ~5 KiB


def send(inst, user):
    s = smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30)
    s.sendmail("sender@example.com", ["%s@localhost" % user], BODY)
    s.quit()


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return "?"


def test_profile(instance):
    user = per_run("tester")
    inst = start_pipeline(instance, users=(user,),
                          extra=os.environ.get("PROF_EXTRA", "").replace(";", "\n") + "\n")
    for _ in range(3):
        send(inst, user)
    wait_maildir(inst, user, 3)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    for f in glob.glob(OUT + ".*"):
        os.unlink(f)
    pids = inst.group_pids()
    names = {pid: comm(pid) for pid in pids}
    cmd = ["strace", "-f", "-ff", "-o", OUT]
    for pid in pids:
        cmd += ["-p", str(pid)]
    st = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    for _ in range(N):
        send(inst, user)
    wait_maildir(inst, user, N + 3, timeout=120)
    time.sleep(1.5)
    st.send_signal(signal.SIGINT)
    st.wait()
    by_proc = collections.defaultdict(collections.Counter)
    for f in glob.glob(OUT + ".*"):
        pid = int(f.rsplit(".", 1)[1])
        name = names.get(pid)
        counts = collections.Counter()
        for line in open(f):
            m = re.match(r"(\w+)\(", line)
            if not m:
                continue
            counts[m.group(1)] += 1
            if m.group(1) == "execve" and name is None:
                e = re.match(r'execve\("([^"]+)"', line)
                if e:
                    name = os.path.basename(e.group(1))
        by_proc[name or "child"].update(counts)
    print("\nsystem calls per message (N=%d, S=1, one connection per message)" % N)
    for name, counts in sorted(by_proc.items(), key=lambda kv: -sum(kv[1].values())):
        print("%-10s %6.1f  " % (name, sum(counts.values()) / N)
              + ", ".join("%s %.1f" % (k, c / N) for k, c in counts.most_common(14)))
