"""A kill storm: SIGKILL of random daemons (smtpd, cleanup, qmgr, local,
pickup) and of the whole instance (master and every child, then `postfix
start`), cycle after cycle, while thousands of messages come in over SMTP
and some through sendmail. Every acknowledged message (250 after DATA, or
sendmail exit 0) must be delivered at least once -- counted by distinct
Message-ID in the Maildirs -- and after a final drain nothing may be left
in incoming/ active/ deferred/ hold/ maildrop/ (nor in corrupt/).
Duplicates are allowed (DESIGN.md invariant 4) and reported.

Counts are parameters: MTA_STORM_MESSAGES (SMTP, default 2000),
MTA_STORM_SENDMAIL (default 100), MTA_STORM_CYCLES (default 20)."""
import os
import random
import re
import signal
import smtplib
import subprocess
import threading
import time

from conftest import BIN, per_run
from delivery_helpers import PIPELINE_CF, maildir_new, queue_files, start_pipeline, trigger
from smtp_helpers import drop, quit_quietly

SMTP_MESSAGES = int(os.environ.get("MTA_STORM_MESSAGES", "2000"))
SENDMAIL_MESSAGES = int(os.environ.get("MTA_STORM_SENDMAIL", "100"))
CYCLES = int(os.environ.get("MTA_STORM_CYCLES", "20"))
SENDERS = 4
USERS = (per_run("tester"), per_run("tester2"), per_run("tester3"))
SERVICES = ("smtpd", "cleanup", "qmgr", "local", "pickup")
QUEUES = ("incoming", "active", "deferred", "hold", "maildrop")

# pickup wakes every second: a postdrop wake-up lost while master was down
# must not leave maildrop/ waiting for a minute.
STORM_CF = PIPELINE_CF + "pickup unix n - n 1 1 pickup\n"
# A daemon SIGKILLed before its first request counts as a bad start and
# master throttles the service (as Postfix): keep that pause short.
STORM_EXTRA = "service_throttle_time = 1s\n"

MSGID = re.compile(r"^Message-I[Dd]: <(storm-[\w.-]+)@client\.example>$", re.M)


def delivered_ids():
    seen = {}
    for u in USERS:
        for path in maildir_new(u):
            try:
                with open(path, "rb") as f:
                    head = f.read(4096).decode("latin-1").split("\n\n", 1)[0]
            except FileNotFoundError:
                continue
            m = MSGID.search(head)
            if m:
                seen[m.group(1)] = seen.get(m.group(1), 0) + 1
    return seen


def test_kill_storm_every_acknowledged_message_delivered(instance):
    inst = start_pipeline(instance, master_cf=STORM_CF, extra=STORM_EXTRA)
    smtp_service = "127.0.0.1:%d" % inst.port("smtp")
    acked = set()
    lock = threading.Lock()
    sending_done = threading.Event()
    up = threading.Event()   # instance running (the killer restarts it)
    up.set()
    kills = {name: 0 for name in SERVICES + ("instance",)}
    cycles = [0]
    attempts = {"smtp": 0, "sendmail": 0}

    def ack(mid):
        with lock:
            acked.add(mid)

    def smtp_sender(k):
        s = None
        for n in range(k, SMTP_MESSAGES, SENDERS):
            for attempt in range(200):
                mid = "storm-s%d-%d" % (n, attempt)
                try:
                    if s is None:
                        s = smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30)
                        s.ehlo("storm.example")
                    with lock:
                        attempts["smtp"] += 1
                    msg = ("Subject: storm %d\r\nMessage-ID: <%s@client.example>\r\n\r\n"
                           "body %d\r\n" % (n, mid, n)).encode()
                    s.sendmail("load@client.example", ["%s@mta-test.example" % USERS[n % 3]],
                               msg)
                    ack(mid)   # smtplib raises unless DATA got 250
                    break
                except (smtplib.SMTPException, OSError):
                    s = drop(s)
                    time.sleep(0.05)
        quit_quietly(s)

    def sendmail_sender():
        env = dict(os.environ, MAIL_CONFIG=inst.config_dir)
        for n in range(SENDMAIL_MESSAGES):
            mid = "storm-m%d" % n
            with lock:
                attempts["sendmail"] += 1
            r = subprocess.run([os.path.join(BIN, "sendmail"), "-i", USERS[n % 3]],
                               input=b"Subject: storm sendmail %d\nMessage-ID: <%s@client.example>"
                               b"\n\nbody\n" % (n, mid.encode()), env=env,
                               capture_output=True, timeout=60)
            if r.returncode == 0:
                ack(mid)
            time.sleep(0.02)

    def kill_service(name, rnd):
        """SIGKILL one random live process of `name`; waits a little for one."""
        deadline = time.time() + 1.0
        while time.time() < deadline:
            pids = inst.children(smtp_service if name == "smtpd" else name)
            if pids:
                try:
                    os.kill(rnd.choice(pids), signal.SIGKILL)
                    kills[name] += 1
                    return
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    def kill_instance():
        up.clear()
        inst.kill_all()
        kills["instance"] += 1
        time.sleep(0.2)
        inst.start()
        up.set()

    def killer():
        rnd = random.Random(11)
        plan = []
        cycle = 0
        while cycle < CYCLES or not sending_done.is_set():
            if not plan:
                plan = list(SERVICES) + ["instance"]
                rnd.shuffle(plan)
            action = plan.pop()
            time.sleep(rnd.uniform(0.1, 0.4))
            if action == "instance":
                kill_instance()
            else:
                kill_service(action, rnd)
            cycle += 1
        cycles[0] = cycle

    threads = [threading.Thread(target=smtp_sender, args=(k,)) for k in range(SENDERS)]
    threads.append(threading.Thread(target=sendmail_sender))
    kt = threading.Thread(target=killer)
    t0 = time.time()
    kt.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    sending_done.set()
    kt.join(timeout=600)
    assert not kt.is_alive() and not any(t.is_alive() for t in threads)
    storm_s = time.time() - t0
    if not inst.read_pid():
        inst.start()

    # Final drain: deferred mail retries (back-off 1-2 s); flush anyway.
    last = [0.0]

    def drained():
        if time.time() - last[0] > 2:
            last[0] = time.time()
            try:
                trigger(inst, b"FAD")
            except OSError:
                pass
        return acked <= set(delivered_ids()) and not any(queue_files(inst, q) for q in QUEUES)

    try:
        inst.wait_for(drained, timeout=120, what="acknowledged mail delivered, queues empty")
    except AssertionError:
        pass   # reported precisely below
    seen = delivered_ids()
    lost = sorted(acked - set(seen))
    left = {q: queue_files(inst, q) for q in QUEUES if queue_files(inst, q)}
    dups = sum(c - 1 for c in seen.values())
    removed = len(re.findall(r"removed incomplete queue file", inst.log()))
    print("\nkill storm: %.1fs, %d cycles, %d SMTP + %d sendmail attempts, %d acknowledged, "
          "%d delivered (%d unacknowledged), %d duplicates, %d leftovers removed; kills: %s" % (
              storm_s, cycles[0], attempts["smtp"], attempts["sendmail"], len(acked), len(seen),
              len(set(seen) - acked), dups, removed,
              ", ".join("%s %d" % kv for kv in kills.items())))
    assert lost == [], "%d acknowledged messages never delivered: %s" % (len(lost), lost[:10])
    assert left == {}, "left in the queue after the drain: %s" % left
    assert len(acked) >= SMTP_MESSAGES + SENDMAIL_MESSAGES
    # A service may have no live process at the moment its turn comes (a
    # fresh instance, a throttled service): each kind is still hit.
    assert cycles[0] >= CYCLES
    assert all(kills[name] > 0 for name in kills), kills
    assert os.listdir(os.path.join(inst.queue_dir, "corrupt")) == []
