"""Profile, not part of the suite (no test_ prefix): system calls of local(8)
per message, by name (issue 18). One instance, one local process
(maxproc 1), a warm-up message, then strace -ff on that process while
PROF_N (200) messages of ~5 KiB go one by one over SMTP to one user's
Maildir. PROF_EXTRA adds main.cf lines (';' separates them), e.g.
"local_destination_batch_limit = 1;max_use = 1000" for one message per
request in one process. Run on a Release build:

  PROF_EXTRA=... MTA_BUILD_DIR=$PWD/build-release \
    /usr/bin/python3 -m pytest -q -s -p no:cacheprovider tests/e2e/prof_local_syscalls.py
"""
import collections, glob, os, re, smtplib, subprocess, time, signal
from conftest import per_run
from delivery_helpers import PIPELINE_CF, start_pipeline, maildir_new, wait_maildir

N = int(os.environ.get("PROF_N", "200"))
OUT = os.environ.get("PROF_OUT", "/tmp/lprof/run")
BODY = ("Subject: prof\n\n" + ("x" * 76 + "\n") * 66).encode()   # ~5 KiB


def send(inst, user, k):
    s = smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30)
    s.sendmail("sender@example.com", ["%s@localhost" % user], BODY)
    s.quit()


def local_pids(master):
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    pids = []
    for p in out.split():
        try:
            if open("/proc/%s/comm" % p).read().strip() == "local":
                pids.append(int(p))
        except OSError:
            pass
    return pids


def test_profile(instance):
    user = per_run("tester")
    cf = PIPELINE_CF.replace("local unix - n n - - local", "local unix - n n - 1 local")
    inst = start_pipeline(instance, master_cf=cf, users=(user,), extra=os.environ.get("PROF_EXTRA", "").replace(";", "\n") + "\n")
    send(inst, user, 0)
    wait_maildir(inst, user, 1)
    pids = local_pids(inst.master_pid)
    assert len(pids) == 1, pids
    for f in glob.glob(OUT + ".*"):
        os.unlink(f)
    st = subprocess.Popen(["strace", "-ff", "-yy", "-o", OUT, "-p", str(pids[0])])
    time.sleep(1)
    for k in range(N):
        send(inst, user, k)
    wait_maildir(inst, user, N + 1, timeout=120)
    time.sleep(1)
    st.send_signal(signal.SIGINT)
    st.wait()
    counts = collections.Counter()
    for f in glob.glob(OUT + ".*"):
        for line in open(f):
            m = re.match(r"(\w+)\(", line)
            if m:
                counts[m.group(1)] += 1
    total = sum(counts.values())
    print("\nlocal syscalls per message (N=%d): %.1f" % (N, total / N))
    for name, c in counts.most_common():
        print("  %-16s %6.2f" % (name, c / N))
