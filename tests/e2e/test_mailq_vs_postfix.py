"""mailq / postqueue -p / postqueue -j against Debian's real Postfix 3.7.

The same situation is made in both: an empty queue, then two messages
deferred because the relay host's port is closed (one with one recipient,
one with two), submitted over SMTP with the same sender and recipients.
The outputs must agree line for line and column for column once queue
IDs, arrival times, sizes and the closed port are replaced by
placeholders of the same width (their positions are checked, not their
values).
"""
import json
import os
import re
import subprocess

import peers
from conftest import BIN
from delivery_helpers import PIPELINE_CF, queue_files, smtp_send, start_pipeline
from peers_fixtures import *  # noqa: F401,F403

SENDER = "alice@example.org"
MESSAGES = (["bob@example.net"], ["carol@example.net", "dave@example.net"])
MSG = "Subject: queued\r\n\r\nbody\r\n"

# ID (with its status character), size right-aligned, the first 20
# characters of asctime(), the sender.
MSG_LINE = re.compile(r"^([0-9A-Za-z]+[*!#]?) +(\d+) (\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d ) (.*)$")


def normalise_p(text, port):
    out = []
    for line in text.split("\n"):
        m = MSG_LINE.match(line)
        if m:
            # IDs and sizes vary in length: keep where each field ends (the
            # layout) and drop the values.
            status = m.group(1)[-1] if m.group(1)[-1] in "*!#" else ""
            line = "ID%s|size-ends-at-%d|time-at-%d|%s" % (status, m.end(2), m.start(3),
                                                          m.group(4))
        line = re.sub(r"^-- \d+ Kbytes", "-- N Kbytes", line)
        line = line.replace(":%d:" % port, ":PORT:")
        out.append(line)
    return "\n".join(out)


def normalise_j(text, port):
    objs = []
    for line in text.splitlines():
        o = json.loads(line)
        assert isinstance(o["queue_id"], str) and isinstance(o["arrival_time"], int)
        assert isinstance(o["message_size"], int)
        o["queue_id"], o["arrival_time"], o["message_size"] = "QUEUEID", 0, 0
        for r in o["recipients"]:
            if "delay_reason" in r:
                r["delay_reason"] = r["delay_reason"].replace(":%d:" % port, ":PORT:")
        objs.append(o)
    # Queue order is by ID (random in both): compare by content.
    return sorted(objs, key=lambda o: json.dumps(o, sort_keys=True))


def blocks(text):
    """The per-message blocks of mailq output, sorted (queue order is by ID)."""
    body = text.split("\n", 1)[1]
    head, _, trailer = body.rpartition("\n\n-- ")
    return sorted(head.split("\n\n")), text.split("\n", 1)[0], "-- " + trailer


def ours_postqueue(inst, *args):
    r = subprocess.run([os.path.join(BIN, "postqueue")] + list(args), capture_output=True,
                       env=dict(os.environ, MAIL_CONFIG=inst.config_dir), timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def test_mailq_and_json_match_real_postfix(instance, start_peer):
    port = peers.free_port()  # nobody listens there: both defer
    pf = start_peer(peers.PostfixPeer(relayhost=port, main_cf={
        "minimal_backoff_time": "3600s", "maximal_backoff_time": "3600s",
        "queue_run_delay": "3600s"}))
    inst = start_pipeline(instance, master_cf=PIPELINE_CF + "smtp unix - - n - - smtp\n"
                          "showq unix n - n - - showq\n",
                          extra="relayhost = [127.0.0.1]:%d\nminimal_backoff_time = 3600s\n"
                                "maximal_backoff_time = 3600s\nqueue_run_delay = 3600s\n" % port)

    theirs = {"empty": pf.postqueue("-p"), "empty_j": pf.postqueue("-j")}
    ours = {"empty": ours_postqueue(inst, "-p"), "empty_j": ours_postqueue(inst, "-j")}
    assert ours["empty"] == theirs["empty"] == "Mail queue is empty\n"
    assert ours["empty_j"] == theirs["empty_j"] == ""

    for rcpts in MESSAGES:
        pf.send(SENDER, rcpts, MSG)
        smtp_send(inst, SENDER, rcpts, MSG)
    pf.wait_log(r"status=deferred", count=3)
    inst.wait_log(r"status=deferred", count=3, timeout=30)
    pf.wait_log(r"postfix/qmgr.*removed|status=deferred", count=3)
    inst.wait_for(lambda: len(queue_files(inst, "deferred")) == 2, timeout=30,
                  what="2 deferred")
    peers.wait_until(lambda: "*" not in pf.postqueue("-p"), 30, "Postfix's active queue empty")

    theirs_p, ours_p = pf.postqueue("-p"), ours_postqueue(inst, "-p")
    t, o = normalise_p(theirs_p, port), normalise_p(ours_p, port)
    assert blocks(o) == blocks(t), "ours:\n%s\nPostfix:\n%s" % (ours_p, theirs_p)
    assert normalise_j(ours_postqueue(inst, "-j"), port) == \
        normalise_j(pf.postqueue("-j"), port)
