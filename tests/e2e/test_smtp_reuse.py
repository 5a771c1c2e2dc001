"""Connection reuse on demand (smtp_connection_cache_on_demand): messages
waiting for one next hop when a delivery starts go to the smtp agent as
one batch, which sends them over one connection (Postfix's connection
cache, without the scache daemon).

What is asserted, with a real receiving server (Debian's aiosmtpd and
tests/e2e/aiosmtpd_counter.py, which records the client port of every
message it accepts):
  * 12 messages deferred while the next hop is down, then flushed: every
    one delivered exactly once, over fewer connections than messages, and
    the log's delivery lines say conn_use=N (N > 1) for the reused ones,
    as Postfix's do;
  * a server that hangs up after each message: every message is still
    delivered, each on its own connection; the broken reuse is logged
    ("trying a new connection") and nothing is deferred;
  * smtp_connection_cache_on_demand = no: one connection per message.
"""
import collections
import os
import re
import sys

import peers
from conftest import per_run
from delivery_helpers import PIPELINE_CF, queue_files, smtp_send, start_pipeline, trigger, \
    wait_queue_empty

HERE = os.path.dirname(os.path.abspath(__file__))
CF = PIPELINE_CF + "smtp unix - - n - - smtp\n"
N = 12


class CountingServer:
    def __init__(self, inst, port, hangup=False):
        self.log = os.path.join(inst.tmp, "counter.log")
        args = [sys.executable, "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:%d" % port,
                "-c", "aiosmtpd_counter.Counter", self.log] + (["hangup"] if hangup else [])
        self.port = port
        self.daemon = peers.Daemon("aiosmtpd", args, env=dict(os.environ, PYTHONPATH=HERE),
                                   log_path=peers.Path(inst.tmp) / "aiosmtpd.log")
        peers.wait_until(lambda: self.daemon.check_alive() or peers.port_open(port), 10,
                         "aiosmtpd listening on %d" % port)

    def messages(self):
        try:
            with open(self.log) as f:
                return [ln.split(" ", 1) for ln in f.read().splitlines()]
        except FileNotFoundError:
            return []

    def stop(self):
        self.daemon.stop()


def queue_while_down(instance, extra=""):
    """N messages for one next hop, deferred while nothing listens there."""
    port = peers.free_port()
    inst = start_pipeline(instance, "relayhost = [127.0.0.1]:%d\n%s" % (port, extra),
                          master_cf=CF)
    ids = []
    for i in range(N):
        ids.append(smtp_send(inst, per_run("tester@mta-test.example"), ["friend@remote.test"],
                             msg="Subject: reuse %d\r\n\r\nbody %d\r\n" % (i, i)))
    inst.wait_for(lambda: sorted(queue_files(inst, "deferred")) == sorted(ids),
                  what="all %d messages deferred" % N, timeout=30)
    return inst, port, ids


def flush_to(inst, server):
    inst.flush_mark = inst.log_mark()
    trigger(inst, b"FADI")
    inst.wait_for(lambda: len(server.messages()) >= N, what="%d messages received" % N,
                  timeout=30)
    wait_queue_empty(inst)
    got = server.messages()
    subjects = collections.Counter(subject for _port, subject in got)
    assert subjects == collections.Counter("reuse %d" % i for i in range(N)), subjects
    return collections.Counter(port for port, _subject in got)


def test_backlog_goes_over_fewer_connections(instance):
    inst, port, ids = queue_while_down(instance)
    server = CountingServer(inst, port)
    try:
        per_conn = flush_to(inst, server)
    finally:
        server.stop()
    assert len(per_conn) < N, per_conn
    log = inst.log()
    sent = re.findall(r"postfix/smtp\[\d+\]: (\w+): to=<friend@remote\.test>, "
                      r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, (?:conn_use=(\d+), )?delay=[0-9.]+, "
                      r"delays=[0-9./]+, dsn=2\.0\.0, status=sent" % port, log)
    assert sorted(q for q, _use in sent) == sorted(ids), sent
    uses = [int(u) for _q, u in sent if u]
    assert uses and max(uses) == max(per_conn.values()), (uses, per_conn)


def test_server_hanging_up_after_each_message(instance):
    inst, port, ids = queue_while_down(instance)
    server = CountingServer(inst, port, hangup=True)
    try:
        per_conn = flush_to(inst, server)
    finally:
        server.stop()
    assert len(per_conn) == N and set(per_conn.values()) == {1}, per_conn
    log = inst.log()[inst.flush_mark:]
    broken = re.findall(r"(\w+): lost connection with 127\.0\.0\.1\[127\.0\.0\.1\] while "
                        r"sending MAIL FROM; trying a new connection", log)
    # One per message that came second or later in its batch.
    assert broken, log[-3000:]
    assert "status=deferred" not in log, log[-3000:]


def test_no_reuse_without_cache_on_demand(instance):
    inst, port, ids = queue_while_down(instance, "smtp_connection_cache_on_demand = no\n")
    server = CountingServer(inst, port)
    try:
        per_conn = flush_to(inst, server)
    finally:
        server.stop()
    assert len(per_conn) == N, per_conn
    assert "conn_use=" not in inst.log()
