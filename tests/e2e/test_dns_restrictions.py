"""DNS-based smtpd restrictions against zones served on loopback.

The whole test process (and so every instance it starts: master, smtpd)
runs in a private mount namespace where /etc/resolv.conf is bind-mounted to
a file naming a dnsmasq on a dedicated loopback address, port 53 (libresolv
only talks to port 53). Nothing changes for the rest of the machine; see
README-peers.md, "DNS zones for smtpd restrictions"."""
import os
import socket
import tempfile
import threading

import pytest

from dns_zone import private_zone
from smtp_helpers import Raw, start

TXT = "Listed since 2026; see http://rbl.test/q?127.0.0.5"

ZONES = """\
local=/test/
local=/127.in-addr.arpa/
host-record=5.0.0.127.rbl.test,127.0.0.2
txt-record=5.0.0.127.rbl.test,"{txt}"
host-record=6.0.0.127.rbl.test,127.0.0.2
host-record=2.0.0.127.rbl.test,127.0.0.2
host-record=6.0.0.127.wl.test,127.0.0.2
host-record=bad.example.rhsbl.test,127.0.0.2
mx-host=withmx.test,mail.withmx.test,10
host-record=mail.withmx.test,127.0.0.1
host-record=onlya.test,127.0.0.9
host-record=helo.test,127.0.0.1
mx-host=mxhelo.test,mail.withmx.test,10
ptr-record=7.0.0.127.in-addr.arpa,ptr-only.test
host-record=fcrdns.test,127.0.0.8
host-record=fcrdns.test.rhsbl.test,127.0.0.2
host-record=ptr-only.test.rhsbl.test,127.0.0.2
host-record=9.0.0.127.rbl.test,127.0.0.10
server=/fail.test/127.0.0.1#{servfail_port}
"""


def _servfail_responder():
    """fail.test's upstream: answers every query at once with SERVFAIL, so a
    temporary DNS failure costs no resolver timeouts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                q, peer = sock.recvfrom(4096)
            except OSError:
                return
            if len(q) >= 12:
                # QR=1, opcode and RD kept, RA=1, RCODE=2; the question echoed.
                flags = bytes([0x80 | (q[2] & 0x79), 0x82])
                sock.sendto(q[:2] + flags + q[4:6] + b"\0\0\0\0\0\0" + q[12:], peer)

    threading.Thread(target=serve, daemon=True).start()
    return sock


def _answers():
    try:
        return socket.gethostbyname("mail.withmx.test") == "127.0.0.1"
    except OSError:
        return False


@pytest.fixture(scope="module")
def zones():
    servfail = _servfail_responder()
    try:
        zone = ZONES.format(txt=TXT, servfail_port=servfail.getsockname()[1])
        for ip, _ in private_zone(zone, _answers, log_queries=True):
            yield ip
    finally:
        servfail.close()


def dialog(inst, source, helo, sender, rcpt):
    c = Raw(inst.port("smtp"), source=source)
    c.reply()
    c.cmd("EHLO " + helo)
    r = c.cmd("MAIL FROM:<%s>" % sender)
    if r[0].startswith("250"):
        r = c.cmd("RCPT TO:<%s>" % rcpt)
    c.cmd("QUIT")
    c.close()
    return r[0]


def reject_log(inst, host, addr, reply, sender, rcpt, helo):
    pat = ("NOQUEUE: reject: RCPT from %s[%s]: %s; from=<%s> to=<%s> proto=ESMTP helo=<%s>" %
           (host, addr, reply, sender, rcpt, helo))
    import re
    inst.wait_log("(?m)" + re.escape(pat) + "$")


RCPT = "root@mta-test.example"


def table_file(name, text):
    """A table smtpd (unprivileged) can read."""
    d = tempfile.mkdtemp(prefix="mta-dns-")
    os.chmod(d, 0o755)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def test_reject_rbl_client(instance, zones):
    inst = start(instance, "smtpd_client_restrictions = reject_rbl_client rbl.test\n")
    want = ("554 5.7.1 Service unavailable; Client host [127.0.0.5] blocked using rbl.test; "
            + TXT)
    assert dialog(inst, "127.0.0.5", "client.example", "a@example.org", RCPT) == want
    reject_log(inst, "unknown", "127.0.0.5", want, "a@example.org", RCPT, "client.example")
    # Listed without TXT: the reply has no "; reason".
    assert dialog(inst, "127.0.0.2", "c.example", "a@example.org", RCPT) == (
        "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using rbl.test")
    # Not listed.
    assert dialog(inst, "127.0.0.1", "c.example", "a@example.org", RCPT).startswith("250")


def test_rbl_filter_and_reply_maps(instance, zones):
    replies = table_file("rbl_reply",
                         "rbl.test 550 go away $client_address (${rbl_reason?$rbl_reason})\n")
    inst = start(instance, "smtpd_client_restrictions = reject_rbl_client rbl.test=127.0.0.3, "
                 "reject_rbl_client rbl.test=127.0.0.2\n"
                 "rbl_reply_maps = texthash:%s\n" % replies)
    assert dialog(inst, "127.0.0.5", "c.example", "a@example.org", RCPT) == (
        "550 5.7.1 go away 127.0.0.5 (%s)" % TXT)


def test_rbl_filter_patterns(instance, zones):
    """postconf(5)'s filter forms: ranges and ";" lists inside [] match the A
    answer (127.0.0.5 is listed as 127.0.0.2, 127.0.0.9 as 127.0.0.10)."""
    inst = start(instance, "smtpd_client_restrictions = reject_rbl_client rbl.test=127.0.0.[3..11]\n")
    assert dialog(inst, "127.0.0.9", "c.example", "a@example.org", RCPT) == (
        "554 5.7.1 Service unavailable; Client host [127.0.0.9] blocked using rbl.test")
    assert dialog(inst, "127.0.0.5", "c.example", "a@example.org", RCPT).startswith("250")
    inst.stop()
    inst = start(instance, "smtpd_client_restrictions = reject_rbl_client rbl.test=127.0.0.[1;2;20..30]\n")
    assert dialog(inst, "127.0.0.5", "c.example", "a@example.org", RCPT).startswith("554 5.7.1")
    assert dialog(inst, "127.0.0.9", "c.example", "a@example.org", RCPT).startswith("250")


def test_rbl_filter_malformed(instance, zones):
    """A ";" list outside [] is no filter (postconf(5)): postfix check names
    it, and smtpd answers 451 4.3.5 rather than ignore the list."""
    spec = "rbl.test=127.0.0.2;127.0.0.3"
    inst = start(instance, "smtpd_client_restrictions = reject_rbl_client %s\n" % spec)
    r = inst.postfix("check", check=False)
    assert r.returncode != 0
    assert ("parameter smtpd_client_restrictions: restriction reject_rbl_client: bad reply filter "
            "\"127.0.0.2;127.0.0.3\": \";\" is allowed only inside [] (write 127.0.0.[2;3])"
            in r.stderr), r.stderr
    assert dialog(inst, "127.0.0.1", "c.example", "a@example.org", RCPT) == (
        "451 4.3.5 Server configuration error")
    inst.wait_log(re_escape('warning: DNS list %s: bad reply filter "127.0.0.2;127.0.0.3": '
                            '";" is allowed only inside [] (write 127.0.0.[2;3]); answering 451 4.3.5'
                            % spec))


def re_escape(text):
    import re
    return re.escape(text)


def test_unknown_address_tempfail_action(instance, zones):
    """A DNS failure (fail.test's server does not answer): by default
    (defer_if_permit) 450 4.4.3 only when nothing rejects; with defer at once."""
    lists = ("smtpd_sender_restrictions = reject_unknown_sender_domain, "
             "check_sender_access texthash:%s\n" % table_file("s", "x@fail.test REJECT\n"))
    want = "450 4.4.3 <y@fail.test>: Sender address rejected: Domain not found"
    inst = start(instance, lists)
    assert dialog(inst, "127.0.0.1", "c.example", "y@fail.test", RCPT) == want
    reject_log(inst, "localhost", "127.0.0.1", want, "y@fail.test", RCPT, "c.example")
    assert dialog(inst, "127.0.0.1", "c.example", "x@fail.test", RCPT) == (
        "554 5.7.1 <x@fail.test>: Sender address rejected: Access denied")
    inst.stop()
    inst = start(instance, lists + "unknown_address_tempfail_action = defer\n")
    assert dialog(inst, "127.0.0.1", "c.example", "x@fail.test", RCPT) == (
        "450 4.4.3 <x@fail.test>: Sender address rejected: Domain not found")


def test_check_reverse_client_hostname_access(instance, zones):
    """The unverified PTR name (127.0.0.7 -> ptr-only.test, no forward
    record), its parent domains, then the address."""
    table = table_file("rev", "ptr-only.test REJECT no unverified names\n127.0.0.11 REJECT by address\n")
    inst = start(instance, "smtpd_client_restrictions = check_reverse_client_hostname_access "
                 "texthash:%s\n" % table)
    want = "554 5.7.1 <ptr-only.test>: Unverified Client host rejected: no unverified names"
    assert dialog(inst, "127.0.0.7", "c.example", "a@example.org", RCPT) == want
    reject_log(inst, "unknown", "127.0.0.7", want, "a@example.org", RCPT, "c.example")
    assert dialog(inst, "127.0.0.11", "c.example", "a@example.org", RCPT) == (
        "554 5.7.1 <unknown>: Unverified Client host rejected: by address")
    assert dialog(inst, "127.0.0.1", "c.example", "a@example.org", RCPT).startswith("250")


def test_permit_dnswl_client(instance, zones):
    inst = start(instance, "smtpd_client_restrictions = permit_dnswl_client wl.test, "
                 "reject_rbl_client rbl.test\n")
    assert dialog(inst, "127.0.0.6", "c.example", "a@example.org", RCPT).startswith("250")
    assert dialog(inst, "127.0.0.5", "c.example", "a@example.org", RCPT).startswith("554 5.7.1")


def test_reject_rhsbl_sender(instance, zones):
    inst = start(instance, "smtpd_sender_restrictions = reject_rhsbl_sender rhsbl.test\n")
    want = "554 5.7.1 Service unavailable; Sender address [bad.example] blocked using rhsbl.test"
    assert dialog(inst, "127.0.0.1", "c.example", "x@bad.example", RCPT) == want
    reject_log(inst, "localhost", "127.0.0.1", want, "x@bad.example", RCPT, "c.example")
    assert dialog(inst, "127.0.0.1", "c.example", "x@good.example", RCPT).startswith("250")


def test_reject_rhsbl_client_and_reverse_client(instance, zones):
    inst = start(instance, "smtpd_client_restrictions = reject_rhsbl_client rhsbl.test, "
                 "reject_rhsbl_reverse_client rhsbl.test\n")
    # 127.0.0.8 has forward-confirmed reverse DNS: its client name is listed.
    want = "554 5.7.1 Service unavailable; Client host [fcrdns.test] blocked using rhsbl.test"
    assert dialog(inst, "127.0.0.8", "c.example", "a@example.org", RCPT) == want
    reject_log(inst, "fcrdns.test", "127.0.0.8", want, "a@example.org", RCPT, "c.example")
    # 127.0.0.7's PTR name has no forward record: client name "unknown", but
    # the reverse name is listed.
    assert dialog(inst, "127.0.0.7", "c.example", "a@example.org", RCPT) == (
        "554 5.7.1 Service unavailable; Unverified Client host [ptr-only.test] blocked using "
        "rhsbl.test")
    assert dialog(inst, "127.0.0.1", "c.example", "a@example.org", RCPT).startswith("250")


def test_reject_rhsbl_helo(instance, zones):
    inst = start(instance, "smtpd_helo_restrictions = reject_rhsbl_helo rhsbl.test\n")
    assert dialog(inst, "127.0.0.1", "bad.example", "x@example.org", RCPT) == (
        "554 5.7.1 Service unavailable; Helo command [bad.example] blocked using rhsbl.test")


def test_reject_unknown_sender_domain(instance, zones):
    inst = start(instance, "smtpd_sender_restrictions = reject_unknown_sender_domain\n")
    want = "450 4.1.8 <x@nx.test>: Sender address rejected: Domain not found"
    assert dialog(inst, "127.0.0.1", "c.example", "x@nx.test", RCPT) == want
    reject_log(inst, "localhost", "127.0.0.1", want, "x@nx.test", RCPT, "c.example")
    assert dialog(inst, "127.0.0.1", "c.example", "x@withmx.test", RCPT).startswith("250")
    assert dialog(inst, "127.0.0.1", "c.example", "x@onlya.test", RCPT).startswith("250")


def test_reject_unknown_sender_domain_code(instance, zones):
    inst = start(instance, "smtpd_sender_restrictions = reject_unknown_sender_domain\n"
                 "unknown_address_reject_code = 550\n")
    assert dialog(inst, "127.0.0.1", "c.example", "x@nx.test", RCPT) == (
        "550 5.1.8 <x@nx.test>: Sender address rejected: Domain not found")


def test_reject_unknown_recipient_domain(instance, zones):
    inst = start(instance, "smtpd_relay_restrictions = permit_mynetworks, reject\n"
                 "smtpd_recipient_restrictions = reject_unknown_recipient_domain\n")
    assert dialog(inst, "127.0.0.1", "c.example", "a@example.org", "r@nx.test") == (
        "450 4.1.2 <r@nx.test>: Recipient address rejected: Domain not found")


def test_reject_unknown_client_hostname(instance, zones):
    inst = start(instance, "smtpd_client_restrictions = reject_unknown_client_hostname\n")
    want = "450 4.7.25 Client host rejected: cannot find your hostname, [127.0.0.5]"
    assert dialog(inst, "127.0.0.5", "c.example", "a@example.org", RCPT) == want
    reject_log(inst, "unknown", "127.0.0.5", want, "a@example.org", RCPT, "c.example")
    assert dialog(inst, "127.0.0.1", "c.example", "a@example.org", RCPT).startswith("250")


def test_reject_unknown_reverse_client_hostname(instance, zones):
    inst = start(instance, "smtpd_client_restrictions = reject_unknown_reverse_client_hostname\n")
    assert dialog(inst, "127.0.0.5", "c.example", "a@example.org", RCPT) == (
        "450 4.7.25 Client host rejected: cannot find your reverse hostname, [127.0.0.5]")
    # A PTR without a matching forward record is enough for the reverse check.
    assert dialog(inst, "127.0.0.7", "c.example", "a@example.org", RCPT).startswith("250")


def test_reject_unknown_helo_hostname(instance, zones):
    inst = start(instance, "smtpd_helo_restrictions = reject_unknown_helo_hostname\n")
    assert dialog(inst, "127.0.0.1", "nx.test", "a@example.org", RCPT) == (
        "450 4.7.1 <nx.test>: Helo command rejected: Host not found")
    assert dialog(inst, "127.0.0.1", "helo.test", "a@example.org", RCPT).startswith("250")
    # An MX record is enough (postconf(5): "no DNS A or MX record").
    assert dialog(inst, "127.0.0.1", "mxhelo.test", "a@example.org", RCPT).startswith("250")


def test_check_sender_mx_and_a_access(instance, zones):
    table = table_file("servers.cidr",
                       "127.0.0.1/32 REJECT mail server blocked\n127.0.0.9/32 550 address blocked\n")
    inst = start(instance, "smtpd_sender_restrictions = check_sender_mx_access cidr:%s, "
                 "check_sender_a_access cidr:%s\n" % (table, table))
    want = "554 5.7.1 <x@withmx.test>: Sender address rejected: mail server blocked"
    assert dialog(inst, "127.0.0.1", "c.example", "x@withmx.test", RCPT) == want
    reject_log(inst, "localhost", "127.0.0.1", want, "x@withmx.test", RCPT, "c.example")
    # onlya.test has no MX: its A record (127.0.0.9) is looked up.
    assert dialog(inst, "127.0.0.1", "c.example", "x@onlya.test", RCPT) == (
        "550 5.7.1 <x@onlya.test>: Sender address rejected: address blocked")
    assert dialog(inst, "127.0.0.1", "c.example", "x@nx.test", RCPT).startswith("250")
