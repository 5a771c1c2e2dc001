"""DANE (smtp_tls_security_level = dane | dane-only) against a DNSSEC-signed
zone on loopback: the zone is signed here with ldns-signzone (ldnsutils),
served by NSD, and validated by Unbound whose only trust anchor is the
zone's key-signing key. As in test_dns_restrictions.py, this test process
(and so every instance it starts) runs in a private mount namespace whose
/etc/resolv.conf names that Unbound (port 53 on a loopback address of its
own); the rest of the machine is untouched.

Zone dane.test (signed):  dane.test MX mx (TLSA 3 1 1 = the receiver's key),
bad.dane.test MX mxbad (TLSA 3 1 1 of another key), none.dane.test MX
mxnone (no TLSA), unusable.dane.test MX mxunusable (only a PKIX-EE TLSA), ta.dane.test MX
mxta (TLSA 2 0 1 = a test CA),
bogus.dane.test MX mxbogus (a TLSA RRset altered after signing: bogus).
Zone plain.test (unsigned): MX and TLSA records nobody can validate.
TLSA owners are wildcards (*._tcp.mx...) because receivers get free ports."""
import ctypes
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from agent_helpers import deliver, message, tls_receiver
from peers_fixtures import *  # noqa: F401,F403

CLONE_NEWNS = 0x00020000
AGENT_CF = "smtp unix - - n - - smtp\n"
EXTRA = ("smtp_connect_timeout = 5s\nsmtp_helo_timeout = 20s\n"
         "smtp_dns_support_level = dnssec\n")


def _free_ip(port, kind=socket.SOCK_DGRAM, prefix="127.53"):
    for _ in range(50):
        ip = "%s.%d.%d" % (prefix, random.randint(1, 254), random.randint(1, 254))
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind((ip, port))
            return ip
        except OSError:
            continue
        finally:
            s.close()
    raise AssertionError("no free loopback address for port %d" % port)


def _run(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=60)
    assert r.returncode == 0, (cmd, r.stdout, r.stderr)
    return r.stdout.decode().strip()


def spki_sha256(cert):
    pem = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"], check=True,
                         capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem,
                         check=True, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def self_signed(d, name, cn):
    key, cert = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
          cert, "-days", "2", "-subj", "/CN=" + cn], d)
    os.chmod(key, 0o644)
    return cert, key


def cert_sha256(cert):
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def signed_chain(d, name, dns_name, ca, ca_key):
    """A certificate for dns_name signed by ca; the file holds leaf + CA."""
    key = os.path.join(d, name + ".key")
    _run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
          name + ".csr", "-subj", "/CN=" + dns_name], d)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("subjectAltName=DNS:%s\n" % dns_name)
    _run(["openssl", "x509", "-req", "-in", name + ".csr", "-CA", ca, "-CAkey", ca_key,
          "-CAcreateserial", "-days", "2", "-out", name + ".leaf", "-extfile", name + ".ext"], d)
    chain = os.path.join(d, name + ".pem")
    with open(chain, "w") as f:
        f.write(open(os.path.join(d, name + ".leaf")).read() + open(ca).read())
    os.chmod(key, 0o644)
    return chain, key


ZONE = """\
$ORIGIN dane.test.
$TTL 60
@ IN SOA ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 60
@ IN NS ns
ns IN A {nsd_ip}
@ IN MX 10 mx
mx IN A 127.0.0.1
*._tcp.mx IN TLSA 3 1 1 {good}
bad IN MX 10 mxbad
mxbad IN A 127.0.0.1
*._tcp.mxbad IN TLSA 3 1 1 {other}
none IN MX 10 mxnone
mxnone IN A 127.0.0.1
unusable IN MX 10 mxunusable
ta IN MX 10 mxta
mxta IN A 127.0.0.1
*._tcp.mxta IN TLSA 2 0 1 {ca}
bogus IN MX 10 mxbogus
mxbogus IN A 127.0.0.1
*._tcp.mxbogus IN TLSA 3 1 1 {good}
mxunusable IN A 127.0.0.1
*._tcp.mxunusable IN TLSA 1 1 1 {good}
"""

PLAIN = """\
$ORIGIN plain.test.
$TTL 60
@ IN SOA ns.plain.test. hostmaster.plain.test. 1 3600 600 86400 60
@ IN NS ns
ns IN A {nsd_ip}
@ IN MX 10 mx
mx IN A 127.0.0.1
*._tcp.mx IN TLSA 3 1 1 {good}
"""


@pytest.fixture(scope="module")
def dane_dns():
    if os.geteuid() != 0:
        pytest.skip("needs root (mount namespace, port 53)")
    for tool in ("nsd", "unbound", "ldns-signzone", "ldns-keygen"):
        if not shutil.which(tool):
            pytest.fail("%s missing: scripts/install-deps.sh --test installs it" % tool)
    tmp = tempfile.mkdtemp(prefix="mta-dane-")
    os.chmod(tmp, 0o755)
    cert, key = self_signed(tmp, "mx", "mx.dane.test")
    other, _ = self_signed(tmp, "other", "other.example")
    # DANE-TA(2): a CA published in DNS, a chain (leaf + CA) for the
    # right name (mxta.dane.test) and one for another name.
    ca, ca_key = self_signed(tmp, "ca", "DANE Test CA")
    ta_chain = signed_chain(tmp, "ta", "mxta.dane.test", ca, ca_key)
    ta_wrong = signed_chain(tmp, "tawrong", "elsewhere.dane.test", ca, ca_key)
    nsd_port = 5353
    nsd_ip = _free_ip(nsd_port, prefix="127.54")
    with open(os.path.join(tmp, "dane.test.zone"), "w") as f:
        f.write(ZONE.format(nsd_ip=nsd_ip, good=spki_sha256(cert), other=spki_sha256(other),
                            ca=cert_sha256(ca)))
    with open(os.path.join(tmp, "plain.test.zone"), "w") as f:
        f.write(PLAIN.format(nsd_ip=nsd_ip, good=spki_sha256(cert)))
    ksk = _run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", "dane.test"], tmp)
    zsk = _run(["ldns-keygen", "-a", "ECDSAP256SHA256", "dane.test"], tmp)
    _run(["ldns-signzone", "-o", "dane.test", "dane.test.zone", ksk, zsk], tmp)
    # Tamper with one TLSA RRset after signing: its signature no longer
    # verifies, so Unbound answers SERVFAIL (bogus) for it.
    signed = os.path.join(tmp, "dane.test.zone.signed")
    with open(signed) as f:
        lines = f.read().splitlines()
    bogus = [i for i, ln in enumerate(lines)
             if ln.startswith("*._tcp.mxbogus.") and "\tTLSA\t" in ln]
    assert len(bogus) == 1, lines
    lines[bogus[0]] = lines[bogus[0]].rsplit(None, 1)[0] + " " + spki_sha256(other)
    with open(signed, "w") as f:
        f.write("\n".join(lines) + "\n")
    nsd_conf = os.path.join(tmp, "nsd.conf")
    with open(nsd_conf, "w") as f:
        f.write("""server:
    ip-address: {ip}@{port}
    zonesdir: "{d}"
    pidfile: "{d}/nsd.pid"
    database: ""
    zonelistfile: "{d}/zone.list"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    username: ""
    chroot: ""
    logfile: "{d}/nsd.log"
    server-count: 1
remote-control:
    control-enable: no
zone:
    name: dane.test
    zonefile: dane.test.zone.signed
zone:
    name: plain.test
    zonefile: plain.test.zone
""".format(ip=nsd_ip, port=nsd_port, d=tmp))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        pytest.skip("unshare(CLONE_NEWNS): %s" % os.strerror(ctypes.get_errno()))
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    ub_ip = _free_ip(53)
    ub_conf = os.path.join(tmp, "unbound.conf")
    with open(ub_conf, "w") as f:
        f.write("""server:
    interface: {ub}
    port: 53
    do-ip6: no
    do-daemonize: no
    use-syslog: no
    logfile: "{d}/unbound.log"
    verbosity: 1
    val-log-level: 2
    chroot: ""
    username: ""
    directory: "{d}"
    pidfile: "{d}/unbound.pid"
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "validator iterator"
    trust-anchor-file: "{d}/{ksk}.key"
    local-zone: "test." nodefault
    cache-max-ttl: 5
stub-zone:
    name: "dane.test"
    stub-addr: {ns}@{port}
stub-zone:
    name: "plain.test"
    stub-addr: {ns}@{port}
""".format(ub=ub_ip, d=tmp, ksk=ksk, ns=nsd_ip, port=nsd_port))
    _run(["unbound-checkconf", ub_conf], tmp)
    procs = []
    for cmd in (["nsd", "-d", "-c", nsd_conf], ["unbound", "-d", "-c", ub_conf]):
        procs.append(subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.DEVNULL,
                                      stderr=open(os.path.join(tmp, cmd[0] + ".err"), "w"),
                                      start_new_session=True))
    resolv = os.path.join(tmp, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver %s\noptions timeout:1 attempts:2\n" % ub_ip)
    subprocess.run(["mount", "--bind", resolv, "/etc/resolv.conf"], check=True)
    try:
        deadline = time.time() + 15
        while True:
            # Ready when the signed zone answers through Unbound (the tests
            # themselves then show that answers validate: a TLSA mismatch
            # is only seen with validated records).
            try:
                if socket.gethostbyname("mx.dane.test") == "127.0.0.1":
                    break
            except OSError:
                pass
            for p in procs:
                assert p.poll() is None, open(os.path.join(tmp, "nsd.err")).read() + \
                    open(os.path.join(tmp, "unbound.err")).read()
            assert time.time() < deadline, "DNS not answering: " + \
                open(os.path.join(tmp, "unbound.log")).read()[-2000:]
            time.sleep(0.1)
        yield {"dir": tmp, "cert": cert, "key": key, "ta": ta_chain, "ta_wrong": ta_wrong,
               "ub_log": os.path.join(tmp, "unbound.log")}
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=10)
        subprocess.run(["umount", "/etc/resolv.conf"], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def agent(instance, level):
    inst = instance(master_cf=AGENT_CF,
                    main_cf_extra=EXTRA + "smtp_tls_security_level = %s\n" % level)
    inst.wait_log(r"daemon started")
    return inst


def send(inst, nexthop):
    qid, res = deliver(inst, nexthop, "a@client.test", "x@dest.test", message())
    return qid, res["x@dest.test"]


def test_dane_ee_match_verified(instance, dane_dns):
    rx = tls_receiver(instance, dane_dns["cert"], dane_dns["key"])
    port = rx.port("smtp")
    inst = agent(instance, "dane")
    qid, (status, dsn, mark, reason) = send(inst, "dane.test:%d" % port)
    assert status == "sent", (reason, inst.log()[-2000:])
    inst.wait_log(r"postfix/smtp\[\d+\]: Verified TLS connection established to "
                  r"mx\.dane\.test\[127\.0\.0\.1\]:%d: TLSv1\.[23] with cipher" % port)
    # dane-only is satisfied by the same records.
    inst2 = agent(instance, "dane-only")
    qid, (status, dsn, mark, reason) = send(inst2, "dane.test:%d" % port)
    assert status == "sent", reason
    # DANE sends the TLSA base domain as SNI; the receiver saw TLS.
    rx.wait_log(r"TLS connection established from", count=2)


def test_dane_mismatch_defers(instance, dane_dns):
    rx = tls_receiver(instance, dane_dns["cert"], dane_dns["key"])
    port = rx.port("smtp")
    inst = agent(instance, "dane")
    qid, (status, dsn, mark, reason) = send(inst, "bad.dane.test:%d" % port)
    assert (status, dsn, reason) == ("deferred", "4.7.5", "Server certificate not verified")
    inst.wait_log(r"server certificate verification failed for mxbad\.dane\.test"
                  r"\[127\.0\.0\.1\]:%d: num=65:no matching DANE TLSA records" % port)
    inst.wait_log(r"Untrusted TLS connection established to mxbad\.dane\.test")


@pytest.mark.parametrize("domain,mx,why", [
    # A validated denial: no TLSA records.
    ("none.dane.test", "mxnone.dane.test", "no TLSA records found"),
    # Only a PKIX-EE record, which SMTP does not use (RFC 7672 3.1.3).
    ("unusable.dane.test", "mxunusable.dane.test", "TLSA records unusable"),
    # TLSA records in an unsigned zone: nothing validates them.
    ("plain.test", "mx.plain.test", "non DNSSEC destination"),
])
def test_dane_fallback_and_dane_only(instance, dane_dns, domain, mx, why):
    """Without usable validated TLSA records "dane" still delivers over
    (unauthenticated) TLS, "dane-only" defers the host with the reason."""
    rx = tls_receiver(instance, dane_dns["cert"], dane_dns["key"])
    port = rx.port("smtp")
    inst = agent(instance, "dane")
    qid, (status, dsn, mark, reason) = send(inst, "%s:%d" % (domain, port))
    assert status == "sent", reason
    inst.wait_log(r"Untrusted TLS connection established to %s\[" % re.escape(mx))
    assert "verification failed" not in inst.log()
    only = agent(instance, "dane-only")
    qid, (status, dsn, mark, reason) = send(only, "%s:%d" % (domain, port))
    assert (status, dsn, reason) == ("deferred", "4.7.5", "%s: %s" % (mx, why))


def test_dane_ta_checks_names(instance, dane_dns):
    """DANE-TA(2) 0 1: the chain must lead to the published CA and the
    certificate carry the TLSA base domain (the MX host name)."""
    rx = tls_receiver(instance, *dane_dns["ta"])
    inst = agent(instance, "dane-only")
    qid, (status, dsn, mark, reason) = send(inst, "ta.dane.test:%d" % rx.port("smtp"))
    assert status == "sent", reason
    inst.wait_log(r"Verified TLS connection established to mxta\.dane\.test\[127\.0\.0\.1\]:%d"
                  % rx.port("smtp"))
    rx2 = tls_receiver(instance, *dane_dns["ta_wrong"])
    qid, (status, dsn, mark, reason) = send(inst, "ta.dane.test:%d" % rx2.port("smtp"))
    assert (status, dsn, reason) == ("deferred", "4.7.5", "Server certificate not verified")
    inst.wait_log(r"server certificate verification failed for mxta\.dane\.test"
                  r"\[127\.0\.0\.1\]:%d: num=62:hostname mismatch" % rx2.port("smtp"))


@pytest.mark.parametrize("level", ["dane", "dane-only"])
def test_bogus_tlsa_defers(instance, dane_dns, level):
    """A TLSA RRset that fails validation (the resolver's SERVFAIL) is a
    lookup error: the host is deferred at both DANE levels, never used
    without authentication."""
    rx = tls_receiver(instance, dane_dns["cert"], dane_dns["key"])
    port = rx.port("smtp")
    inst = agent(instance, level)
    qid, (status, dsn, mark, reason) = send(inst, "bogus.dane.test:%d" % port)
    assert (status, dsn, reason) == ("deferred", "4.7.5",
                                     "TLSA lookup error for mxbogus.dane.test:%d" % port)
    assert "TLS connection established" not in inst.log()


def test_dane_needs_dnssec_lookups(instance, dane_dns):
    rx = tls_receiver(instance, dane_dns["cert"], dane_dns["key"])
    port = rx.port("smtp")
    inst = instance(master_cf=AGENT_CF, main_cf_extra=(
        "smtp_connect_timeout = 5s\nsmtp_tls_security_level = dane-only\n"))
    inst.wait_log(r"daemon started")
    qid, (status, dsn, mark, reason) = send(inst, "dane.test:%d" % port)
    assert (status, dsn) == ("deferred", "4.7.5")
    assert reason == "mx.dane.test: dane configured with dnssec lookups disabled"
    inst.wait_log(r"warning: dane\.test:%d: dane-only configured with dnssec lookups disabled"
                  % port)
