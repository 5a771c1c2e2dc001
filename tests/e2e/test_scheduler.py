"""qmgr's per-destination scheduling (qmgr/qmgr_feedback.c) with the real
smtp agent: a dead destination is detected after a bounded number of
connections and its mail deferred with "delivery temporarily suspended"
while another destination keeps flowing; a destination rate delay spaces
deliveries one at a time."""
import re
import socket
import threading
import time

import peers
from conftest import per_run
from delivery_helpers import PIPELINE_CF, smtp_send, start_pipeline
from peers_fixtures import *  # noqa: F401,F403

CF = PIPELINE_CF + "smtp unix - - n - - smtp\nslow unix - - n - - smtp\n"


class SlamListener:
    """A server that accepts and at once closes: every delivery attempt is a
    handshake failure (lost connection before the greeting); counts them."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            c.close()

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


def test_dead_destination_does_not_block_live_one(instance, start_peer):
    sink = start_peer(peers.SmtpSink())
    dead = SlamListener()
    try:
        # A dead destination stays dead for $minimal_backoff_time (Postfix);
        # keep it and the retry of deferred mail out of the test's way.
        inst = start_pipeline(
            instance,
            "transport_maps = inline:{{ dead.example=smtp:[127.0.0.1]:%d, "
            "live.example=smtp:[127.0.0.1]:%d }}\n"
            "minimal_backoff_time = 120s\nmaximal_backoff_time = 120s\n"
            "queue_run_delay = 120s\n"
            "destination_concurrency_feedback_debug = yes\n" % (dead.port, sink.port),
            master_cf=CF)
        n = 25
        qids = []
        for i in range(n):
            qids.append(smtp_send(inst, per_run("tester@mta-test.example"),
                                  ["u%d@dead.example" % i, "u%d@live.example" % i]))
        sink.wait_for(n, timeout=60)
        suspended = (r"postfix/qmgr\[\d+\]: \w+: to=<u\d+@dead\.example>, relay=none, .*"
                     r"status=deferred \(delivery temporarily suspended: .*127\.0\.0\.1\[127\.0\.0\.1\]")
        # At most the initial window of 5 deliveries ever connects; every
        # other dead recipient is deferred by qmgr without a connection.
        inst.wait_log(suspended, timeout=30, count=n - 5)
        inst.wait_log(r"destination \[127\.0\.0\.1\]:%d is dead" % dead.port)

        def all_dead_deferred():
            return len(re.findall(r"to=<u\d+@dead\.example>.*status=deferred", inst.log())) >= n
        inst.wait_for(all_dead_deferred, timeout=30, what="every dead recipient deferred")
        assert 1 <= dead.accepted <= 5, dead.accepted
        connects = re.findall(r"postfix/smtp\[\d+\]: \w+: to=<u\d+@dead\.example>, relay=none",
                              inst.log())
        assert len(connects) == dead.accepted
        # Feedback debug logging shows the window shrinking to death.
        assert re.search(r"qmgr_queue_throttle: \[127\.0\.0\.1\]:%d: .*window 0" % dead.port,
                         inst.log())
        # The live destination never saw a deferral.
        assert not re.search(r"to=<u\d+@live\.example>.*status=deferred", inst.log())
        assert len(re.findall(r"to=<u\d+@live\.example>.*status=sent", inst.log())) == n
    finally:
        dead.close()


def test_destination_rate_delay_spaces_deliveries(instance, start_peer):
    sink = start_peer(peers.SmtpSink())
    inst = start_pipeline(
        instance,
        "transport_maps = inline:{{ live.example=slow:[127.0.0.1]:%d }}\n"
        "slow_destination_rate_delay = 1s\n" % sink.port,
        master_cf=CF)
    n = 4
    for i in range(n):
        smtp_send(inst, per_run("tester@mta-test.example"), ["u%d@live.example" % i])
    # Watch arrivals: with a 1s rate delay they come one by one, each at
    # least ~1s after the one before (only a lower bound on time: a slow
    # machine makes gaps longer, never shorter).
    arrivals = []
    deadline = time.monotonic() + 60
    seen = 0
    while seen < n and time.monotonic() < deadline:
        c = sink.count()
        if c > seen:
            arrivals.extend([time.monotonic()] * (c - seen))
            seen = c
        time.sleep(0.02)
    assert seen == n, "only %d of %d delivered" % (seen, n)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert all(g >= 0.7 for g in gaps), gaps
    sent = re.findall(r"to=<u(\d+)@live\.example>, relay=127\.0\.0\.1.*status=sent", inst.log())
    assert sorted(int(x) for x in sent) == list(range(n))
