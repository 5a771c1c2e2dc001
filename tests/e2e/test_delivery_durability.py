"""Invariant 4 under fire: SIGKILL qmgr and local again and again while 500
messages flow in over SMTP; after a restart every accepted message is
delivered, none lost. Duplicates are allowed only in the window between a
delivery and its recording; they are counted and reported."""
import os
import random
import re
import signal
import smtplib
import threading
import time

from delivery_helpers import maildir_new, queue_files, read, start_pipeline

USERS = ("tester", "tester2", "tester3")
TOTAL = 500
SENDERS = 4


def subjects_delivered():
    seen = {}
    for u in USERS:
        for path in maildir_new(u):
            try:
                text = read(path)
            except FileNotFoundError:
                continue
            m = re.search(r"^Subject: durability (\d+)$", text, re.M)
            if m:
                seen[int(m.group(1))] = seen.get(int(m.group(1)), 0) + 1
    return seen


def test_sigkill_qmgr_and_local_under_load(instance):
    inst = start_pipeline(instance)
    accepted = set()
    lock = threading.Lock()
    stop = threading.Event()
    kills = {"qmgr": 0, "local": 0}

    def sender(k):
        numbers = list(range(k, TOTAL, SENDERS))
        s = None
        for n in numbers:
            for _attempt in range(5):
                try:
                    if s is None:
                        s = smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30)
                        s.ehlo("load.example")
                    msg = ("Subject: durability %d\r\n\r\nbody %d\r\n" % (n, n)).encode()
                    s.sendmail("load@client.example", ["%s@mta-test.example" % USERS[n % 3]], msg)
                    with lock:
                        accepted.add(n)
                    break
                except (smtplib.SMTPException, OSError):
                    s = None
                    time.sleep(0.1)
        if s is not None:
            s.quit()

    def killer():
        rnd = random.Random(4)
        while not stop.is_set():
            time.sleep(rnd.uniform(0.05, 0.3))
            for name in ("qmgr", "local"):
                for pid in inst.children(name):
                    try:
                        os.kill(pid, signal.SIGKILL)
                        kills[name] += 1
                    except ProcessLookupError:
                        pass

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(SENDERS)]
    kt = threading.Thread(target=killer)
    kt.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    time.sleep(1.0)   # keep killing while the queue drains
    stop.set()
    kt.join()
    assert len(accepted) == TOTAL, "only %d of %d messages accepted" % (len(accepted), TOTAL)

    inst.stop()
    inst.wait_for(lambda: not inst.children(), timeout=30, what="all processes gone")
    inst.start()

    def all_delivered():
        return len(subjects_delivered()) == TOTAL and not any(
            queue_files(inst, q) for q in ("incoming", "active", "deferred"))
    inst.wait_for(all_delivered, timeout=180, what="all %d messages delivered" % TOTAL)
    seen = subjects_delivered()
    lost = sorted(accepted - set(seen))
    dups = sum(c - 1 for c in seen.values())
    print("\ndurability: %d accepted, %d delivered, %d lost, %d duplicates; "
          "SIGKILLs: qmgr %d, local %d" % (len(accepted), len(seen), len(lost), dups,
                                          kills["qmgr"], kills["local"]))
    assert lost == []
    assert kills["qmgr"] > 0 and kills["local"] > 0
    assert os.listdir(os.path.join(inst.queue_dir, "corrupt")) == []
