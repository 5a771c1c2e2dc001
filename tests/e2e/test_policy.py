"""check_policy_service against real policy servers on loopback.

postgrey (greylisting: first attempt 450 4.2.0, accepted after its delay,
its X-Greylist header prepended), postfix-policyd-spf-python (SPF against
a local DNS zone: a forged sender gets 550 5.7.23, a good one is accepted
with a Received-SPF header). Postfix runs policyd-spf through spawn(8); we
have no spawn daemon, so socat gives each TCP connection its own
policyd-spf, as spawn gives each UNIX-domain connection one. A server that
is down or stopped (SIGSTOP) gets the default action after the timeout and
try limit, with Postfix's warning lines.

The SPF test runs, like test_dns_restrictions.py, in a private mount
namespace whose /etc/resolv.conf names a dnsmasq on a loopback address
(libresolv and policyd-spf's python3-dns both read it)."""
import os
import pwd
import re
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import free_port
from dns_zone import private_zone
from peers import CACHE_DIR
from smtp_helpers import Raw, content, dump, queued_id, start

RCPT = "root@mta-test.example"
GREY = ("450 4.2.0 <%s>: Recipient address rejected: Greylisted, see "
        "http://postgrey.schweikert.ch/help/mta-test.example.html" % RCPT)


def wait_port(port, proc, what):
    deadline = time.time() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            pass
        assert proc.poll() is None, "%s died" % what
        assert time.time() < deadline, "%s not listening on %d" % (what, port)
        time.sleep(0.1)


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGCONT)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture
def postgrey():
    """postgrey in the foreground on a free port, a fresh database, 2s delay."""
    if not os.path.exists("/usr/sbin/postgrey"):
        pytest.skip("postgrey not installed (scripts/install-deps.sh --test)")
    db = tempfile.mkdtemp(prefix="mta-postgrey-")
    pw = pwd.getpwnam("postgrey")
    os.chown(db, pw.pw_uid, pw.pw_gid)
    port = free_port()
    p = subprocess.Popen(["/usr/sbin/postgrey", "--inet=127.0.0.1:%d" % port, "--dbdir=" + db,
                          "--delay=2", "--user=postgrey", "--group=postgrey"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    wait_port(port, p, "postgrey")
    yield port, p
    stop(p)


def session(inst, sender, rcpt=RCPT, helo="client.example", source=None, data=False):
    """One SMTP session; the RCPT reply (and the queue id when data)."""
    c = Raw(inst.port("smtp"), source=source)
    c.reply()
    c.cmd("EHLO " + helo)
    r = c.cmd("MAIL FROM:<%s>" % sender)
    assert r[0].startswith("250"), r
    r = c.cmd("RCPT TO:<%s>" % rcpt)[0]
    qid = None
    if data and r.startswith("250"):
        assert c.cmd("DATA")[0].startswith("354")
        d = c.cmd("Subject: policy\r\n\r\nbody\r\n.")
        assert d[0].startswith("250"), d
        qid = queued_id(d[0])
    c.cmd("QUIT")
    c.close()
    return r, qid


def reject_line(reply, sender, rcpt=RCPT, helo="client.example", client="localhost[127.0.0.1]"):
    return "(?m)" + re.escape("NOQUEUE: reject: RCPT from %s: %s; from=<%s> to=<%s> proto=ESMTP "
                              "helo=<%s>" % (client, reply, sender, rcpt, helo)) + "$"


def test_postgrey_greylists_then_accepts(instance, postgrey):
    port, _ = postgrey
    inst = start(instance, "smtpd_recipient_restrictions = reject_unauth_destination,\n"
                 "    check_policy_service inet:127.0.0.1:%d\n" % port)
    r, _ = session(inst, "a@example.org")
    assert r == GREY
    inst.wait_log(reject_line(GREY, "a@example.org"))
    # Another triplet is greylisted on its own.
    r, _ = session(inst, "b@example.org")
    assert r == GREY
    time.sleep(2.5)
    r, qid = session(inst, "a@example.org", data=True)
    assert r.startswith("250"), r
    # postgrey's PREPEND answer became a header of the message.
    headers = "\n".join(content(dump(inst, qid)))
    assert re.search(r"(?m)^X-Greylist: delayed \d+ seconds by postgrey-[\d.]+ at ", headers), \
        headers


def test_server_down_gets_the_default_action(instance):
    port = free_port()  # nobody listens there
    inst = start(instance, "smtpd_recipient_restrictions = reject_unauth_destination,\n"
                 "    check_policy_service inet:127.0.0.1:%d\n"
                 "smtpd_policy_service_retry_delay = 1s\n" % port)
    t0 = time.time()
    r, _ = session(inst, "a@example.org")
    want = "451 4.3.5 <%s>: Recipient address rejected: Server configuration problem" % RCPT
    assert r == want
    assert time.time() - t0 >= 1  # two tries, retry_delay apart
    inst.wait_log(reject_line(want, "a@example.org"))
    log = inst.log()
    # Postfix's attr_clnt lines: each try's connect failure and the
    # "problem talking" line (refused is not a quiet failure).
    assert log.count("warning: connect to 127.0.0.1:%d: Connection refused" % port) == 2, log
    assert log.count("warning: problem talking to server 127.0.0.1:%d: Connection refused"
                     % port) == 2, log


def test_stopped_server_times_out_to_per_service_default(instance, postgrey):
    port, proc = postgrey
    inst = start(instance, "smtpd_recipient_restrictions = reject_unauth_destination,\n"
                 "    check_policy_service {{ inet:127.0.0.1:%d, timeout=1s, try_limit=1,\n"
                 "        default_action=DUNNO }}\n" % port)
    os.killpg(proc.pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        r, qid = session(inst, "slow@example.org", data=True)
        took = time.time() - t0
    finally:
        os.killpg(proc.pid, signal.SIGCONT)
    assert r.startswith("250"), r  # DUNNO: the list goes on, nothing rejects
    assert qid
    assert 1 <= took < 10, took
    inst.wait_log(r"warning: problem talking to server 127\.0\.0\.1:%d: Connection timed out"
                  % port)
    # Running again, postgrey answers through the same settings.
    r, _ = session(inst, "later@example.org")
    assert r == GREY


def test_bad_service_spec_fails_check_and_gets_451(instance):
    inst = instance(master_cf="127.0.0.1:{port_smtp} inet n - n - - smtpd\n",
                    main_cf_extra="smtpd_recipient_restrictions = reject_unauth_destination,\n"
                    "    check_policy_service {{ inet:127.0.0.1:1, colour=blue }}\n",
                    start=False)
    r = inst.postfix("check", check=False)
    assert r.returncode != 0
    assert re.search(r"error: \S+/main\.cf, line \d+: parameter smtpd_recipient_restrictions: "
                     r"restriction check_policy_service: policy service setting "
                     r"\"colour=blue\": unknown name \"colour\"; smtpd answers 451 4\.3\.5",
                     r.stderr), r.stderr
    inst.start()
    r, _ = session(inst, "a@example.org")
    assert r == "451 4.3.5 Server configuration error"
    inst.wait_log(r"warning: check_policy_service: policy service setting \"colour=blue\": "
                  r"unknown name \"colour\"")


# ---- SPF: policyd-spf with a local DNS zone ----
# Unpacked by scripts/install-deps.sh (installing the package would pull in
# Debian's postfix); its engine, python3-spf-engine, is installed.
POLICYD_SPF = str(CACHE_DIR / "postfix-policyd-spf-python-root" / "usr" / "bin" / "policyd-spf")

ZONE = """\
local=/test/
txt-record=spf.test,"v=spf1 ip4:127.0.0.10 -all"
"""
SPF_CONF = """\
debugLevel = 1
TestOnly = 1
HELO_reject = Fail
Mail_From_reject = Fail
PermError_reject = False
TempError_Defer = False
skip_addresses = 192.0.2.0/24
"""


def _spf_answers():
    # Asked the way policyd-spf asks: pyspf on the system python.
    r = subprocess.run(["/usr/bin/python3", "-c", "import spf; print(spf.check2("
                        "i='127.0.0.10', s='a@spf.test', h='x.test'))"],
                       capture_output=True, text=True)
    return "pass" in r.stdout


@pytest.fixture(scope="module")
def spf_zone():
    assert os.path.exists(POLICYD_SPF), "run scripts/install-deps.sh --test (it unpacks policyd-spf)"
    for _, tmp in private_zone(ZONE, _spf_answers):
        spf_conf = os.path.join(tmp, "policyd-spf.conf")
        with open(spf_conf, "w") as f:
            f.write(SPF_CONF)
        os.chmod(tmp, 0o755)
        os.chmod(spf_conf, 0o644)
        port = free_port()
        # One policyd-spf per connection, as spawn(8) would run it.
        so = subprocess.Popen(["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % port,
                               "EXEC:/usr/bin/python3 %s %s" % (POLICYD_SPF, spf_conf)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
        try:
            wait_port(port, so, "socat")
            yield port
        finally:
            stop(so)


def test_spf_forged_sender_rejected_good_one_accepted(instance, spf_zone):
    inst = start(instance, "smtpd_recipient_restrictions = reject_unauth_destination,\n"
                 "    check_policy_service inet:127.0.0.1:%d\n"
                 "smtpd_policy_service_timeout = 10s\n" % spf_zone)
    r, _ = session(inst, "forger@spf.test", source="127.0.0.20", helo="helo.none.test")
    assert r.startswith("550 5.7.23 <%s>: Recipient address rejected: Message rejected due to: "
                        "SPF fail - not authorized." % RCPT), r
    inst.wait_log(reject_line(r, "forger@spf.test", helo="helo.none.test",
                              client="unknown[127.0.0.20]"))
    r, qid = session(inst, "good@spf.test", source="127.0.0.10", helo="helo.none.test",
                     data=True)
    assert r.startswith("250"), r
    headers = "\n".join(content(dump(inst, qid)))
    assert re.search(r"(?m)^Received-SPF: Pass \(mailfrom\) identity=mailfrom; "
                     r"client-ip=127\.0\.0\.10;", headers), headers
