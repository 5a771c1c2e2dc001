"""maillog_file timestamps as syslog writes them, so the lab's
`pflogsumm -d today` counts every day of the month.

pflogsumm -d today keeps only lines starting with "Mmm dd " where the day
is space-padded ("Dec  2"). Postfix 3.7's maillog_file writes "Dec 02",
which pflogsumm then never matches on days 1-9. The test fakes the clock
of the whole instance (libfaketime, Debian's faketime package: LD_PRELOAD
with a FAKETIME offset, passed to the daemons through import_environment)
and of pflogsumm to a single-digit day, delivers messages, and checks that
the log lines carry "Jan  5" and that pflogsumm -d today counts them.
"""
import calendar
import os
import re
import subprocess
import time
from conftest import per_run
from pathlib import Path

import pytest

from delivery_helpers import maildir_new, smtp_send, start_pipeline, wait_queue_empty

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
# A single-digit day, 10:00 UTC: far from midnight, so the run stays on it.
FAKE_DAY = "2027-01-05 10:00:00"
DAY_PREFIX = "Jan  5 "


def faked_env():
    """Environment whose clock runs at normal speed from FAKE_DAY on."""
    target = calendar.timegm(time.strptime(FAKE_DAY, "%Y-%m-%d %H:%M:%S"))
    env = dict(os.environ, TZ="UTC", LD_PRELOAD=LIBFAKETIME,
               FAKETIME="%+d" % (target - int(time.time())))
    # libfaketime is preloaded ahead of the sanitizer runtime.
    asan = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
    return env


def test_pflogsumm_today_counts_single_digit_day(instance):
    if not os.path.exists(LIBFAKETIME):
        pytest.fail("libfaketime missing (scripts/install-deps.sh --test installs faketime)")
    env = faked_env()
    inst = start_pipeline(instance, users=(per_run("tester"),), extra="""\
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C ASAN_OPTIONS UBSAN_OPTIONS
    LSAN_OPTIONS LD_PRELOAD FAKETIME
""", start=False)
    r = subprocess.run([os.path.join(inst.bin, "postfix"), "-c", inst.config_dir, "start"],
                       capture_output=True, text=True, timeout=30,
                       env=dict(env, MTA_DAEMON_STDERR=inst.daemon_stderr))
    assert r.returncode == 0, r.stderr
    inst.master_pid = inst.read_pid()
    inst.wait_log(r"daemon started")
    for n in range(3):
        smtp_send(inst, "user@client.example", per_run("tester@mta-test.example"),
                  msg="Subject: day %d\r\n\r\nbody\r\n" % n)
    inst.wait_for(lambda: len(maildir_new(per_run("tester"))) == 3, timeout=30, what="3 deliveries")
    wait_queue_empty(inst)
    inst.wait_log(r"status=sent", count=3)

    from peers import pflogsumm
    counts = pflogsumm(Path(inst.maillog), "-d", "today", env=env)
    got = {k: counts.get(k) for k in ("received", "delivered", "deferred", "bounced")}
    assert got == {"received": 3, "delivered": 3, "deferred": 0, "bounced": 0}, \
        counts["_output"][:3000]

    lines = inst.log().splitlines()
    daemons = [ln for ln in lines if re.search(r" postfix/(smtpd|cleanup|qmgr|local)\[", ln)]
    assert daemons and all(ln.startswith(DAY_PREFIX) for ln in daemons), daemons[:5]
