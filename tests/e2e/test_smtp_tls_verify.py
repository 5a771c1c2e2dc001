"""Outbound TLS that verifies: smtp_tls_security_level verify, secure and
fingerprint, smtp_tls_policy_maps, against our own smtpd with STARTTLS and
a certificate from a test CA made here (openssl CLI). Each failure must
defer the mail with Postfix's 4.7.5 "Server certificate not verified" and
log Postfix's lines; each success logs "Verified TLS connection
established". The smtp agent is driven by deliver_req (agent_helpers); one test has
Debian's Postfix as the server."""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

import peers
from agent_helpers import deliver, message, tls_receiver
from peers_fixtures import *  # noqa: F401,F403

AGENT_CF = "smtp unix - - n - - smtp\n"
EXTRA = "smtp_connect_timeout = 5s\nsmtp_helo_timeout = 20s\n"


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True,
                   timeout=60)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
            "-out", name + ".pem", "-days", "2", "-subj", "/CN=" + name.replace("-", " "),
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    return os.path.join(d, name + ".pem")


def make_cert(d, ca, name, dns_names):
    """A server certificate signed by `ca` with these DNS subjectAltNames."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
            name + ".csr", "-subj", "/CN=" + dns_names[0], cwd=d)
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n"
                % ",".join("DNS:" + n for n in dns_names))
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-CAcreateserial", "-days", "2", "-out", name + ".pem", "-extfile", ext, cwd=d)
    key = os.path.join(d, name + ".key")
    os.chmod(key, 0o644)
    return os.path.join(d, name + ".pem"), key


def fingerprint(cert, pubkey=False):
    """Postfix's format: upper-case hex pairs joined by ':' (sha256)."""
    if pubkey:
        pem = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"],
                             check=True, capture_output=True).stdout
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem,
                             check=True, capture_output=True).stdout
    else:
        der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                             check=True, capture_output=True).stdout
    import hashlib
    return ":".join("%02X" % b for b in hashlib.sha256(der).digest())


@pytest.fixture(scope="module")
def pki():
    # Readable by the unprivileged smtp agent (the policy tables are
    # checked for changes after the privilege drop).
    d = tempfile.mkdtemp(prefix="mta-pki-")
    os.chmod(d, 0o755)
    make_ca(d, "MTA-Test-CA")
    make_ca(d, "Other-CA")
    certs = {
        "localhost": make_cert(d, "MTA-Test-CA", "localhost", ["localhost"]),
        "wrong": make_cert(d, "MTA-Test-CA", "wrong", ["other.test"]),
        "peer": make_cert(d, "MTA-Test-CA", "peer", ["mx.peer.test", "localhost"]),
    }
    yield {"dir": d, "ca": os.path.join(d, "MTA-Test-CA.pem"),
            "other_ca": os.path.join(d, "Other-CA.pem"), "certs": certs}
    shutil.rmtree(d, ignore_errors=True)


def agent(instance, extra):
    inst = instance(master_cf=AGENT_CF, main_cf_extra=EXTRA + extra)
    inst.wait_log(r"daemon started")
    return inst


def policy_table(pki, text):
    path = os.path.join(pki["dir"], "tls_policy_%d" % abs(hash(text)))
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return "texthash:" + path


def send(inst, nexthop):
    qid, res = deliver(inst, nexthop, "a@client.test", "x@dest.test", message())
    return qid, res["x@dest.test"]


def expect_verified(inst, nexthop, relay_re):
    qid, (status, dsn, mark, reason) = send(inst, nexthop)
    assert status == "sent", reason
    inst.wait_log(r"Verified TLS connection established to %s" % relay_re)


def expect_unverified(inst, nexthop):
    """Deferred as Postfix defers an unverified server."""
    qid, (status, dsn, mark, reason) = send(inst, nexthop)
    assert (status, dsn, reason) == ("deferred", "4.7.5", "Server certificate not verified")
    return qid


def relay(rx):
    return r"localhost\[127\.0\.0\.1\]:%d" % rx.port("smtp")


def test_verify_trusted_name_matches(instance, pki):
    rx = tls_receiver(instance, *pki["certs"]["localhost"])
    inst = agent(instance, "smtp_tls_security_level = verify\nsmtp_tls_CAfile = %s\n" % pki["ca"])
    qid, (status, dsn, mark, reason) = send(inst, "[localhost]:%d" % rx.port("smtp"))
    assert status == "sent", reason
    inst.wait_log(r"postfix/smtp\[\d+\]: Verified TLS connection established to %s: "
                  r"TLSv1\.[23] with cipher \S+ \(\d+/\d+ bits\)" % relay(rx))
    assert "certificate verification failed" not in inst.log()


def test_verify_wrong_name_defers(instance, pki):
    rx = tls_receiver(instance, *pki["certs"]["wrong"])
    inst = agent(instance, "smtp_tls_security_level = verify\nsmtp_tls_CAfile = %s\n" % pki["ca"])
    qid = expect_unverified(inst, "[localhost]:%d" % rx.port("smtp"))
    log = inst.wait_log(r"%s: to=<x@dest\.test>, relay=none, delay=[0-9.]+, delays=[0-9./]+, "
                        r"dsn=4\.7\.5, status=deferred \(Server certificate not verified\)" % qid)
    assert log
    text = inst.log()
    a = text.index("server certificate verification failed for localhost[127.0.0.1]:%d: "
                   "num=62:hostname mismatch" % rx.port("smtp"))
    b = text.index("Untrusted TLS connection established to localhost[127.0.0.1]:%d"
                   % rx.port("smtp"))
    assert a < b
    # Nothing was sent over the unverified connection.
    assert not re.search(r"\bclient=localhost", rx.log())


def test_verify_unknown_ca_defers(instance, pki):
    rx = tls_receiver(instance, *pki["certs"]["localhost"])
    inst = agent(instance, "smtp_tls_security_level = verify\nsmtp_tls_CAfile = %s\n"
                 % pki["other_ca"])
    expect_unverified(inst, "[localhost]:%d" % rx.port("smtp"))
    inst.wait_log(r"(?m)server certificate verification failed for %s: untrusted issuer "
                  r"/CN=MTA Test CA$" % relay(rx))


def test_may_level_only_reports_trust(instance, pki):
    """The same unverifiable server at "may": delivered, logged as
    Untrusted, no verification failure logged (it decides nothing)."""
    rx = tls_receiver(instance, *pki["certs"]["wrong"])
    inst = agent(instance, "smtp_tls_security_level = may\nsmtp_tls_CAfile = %s\n" % pki["ca"])
    qid, (status, dsn, mark, reason) = send(inst, "[localhost]:%d" % rx.port("smtp"))
    assert status == "sent", reason
    inst.wait_log(r"Trusted TLS connection established to %s" % relay(rx))
    assert "verification failed" not in inst.log()


def test_secure_default_and_match(instance, pki):
    rx = tls_receiver(instance, *pki["certs"]["peer"])
    port = rx.port("smtp")
    table = policy_table(pki, "[localhost]:%d secure match=.peer.test\n"
                              "[127.0.0.1]:%d secure match=nomatch.peer.test:.other.test\n"
                         % (port, port))
    inst = agent(instance, "smtp_tls_security_level = secure\nsmtp_tls_CAfile = %s\n"
                 "smtp_tls_policy_maps = %s\n" % (pki["ca"], table))
    # match=.peer.test: mx.peer.test is a subdomain.
    expect_verified(inst, "[localhost]:%d" % port, relay(rx))
    # No name in the certificate matches.
    expect_unverified(inst, "[127.0.0.1]:%d" % port)
    inst.wait_log(r"server certificate verification failed for 127\.0\.0\.1\[127\.0\.0\.1\]:%d: "
                  r"num=62:hostname mismatch" % port)


def test_secure_nexthop_default(instance, pki):
    """smtp_tls_secure_cert_match = nexthop, dot-nexthop: the certificate
    name "localhost" is the next hop's."""
    rx = tls_receiver(instance, *pki["certs"]["localhost"])
    inst = agent(instance, "smtp_tls_security_level = secure\nsmtp_tls_CAfile = %s\n" % pki["ca"])
    expect_verified(inst, "[localhost]:%d" % rx.port("smtp"), relay(rx))


def test_fingerprint_right_and_wrong(instance, pki):
    cert, key = pki["certs"]["wrong"]  # any name: fingerprints ignore names and CAs
    rx = tls_receiver(instance, cert, key)
    port = rx.port("smtp")
    other = fingerprint(pki["certs"]["localhost"][0])
    table = policy_table(pki, "[127.0.0.1]:%d fingerprint match=%s\n"
                              "[localhost]:%d fingerprint match=%s|%s\n"
                         % (port, other, port, other, fingerprint(cert, pubkey=True)))
    inst = agent(instance, "smtp_tls_security_level = fingerprint\n"
                 "smtp_tls_fingerprint_cert_match = %s\n"
                 "smtp_tls_policy_maps = %s\n" % (fingerprint(cert), table))
    # the table: a wrong digest, then the public key's digest among others.
    expect_unverified(inst, "[127.0.0.1]:%d" % port)
    inst.wait_log(r"server certificate verification failed for 127\.0\.0\.1\[127\.0\.0\.1\]:%d: "
                  r"num=65:no matching DANE TLSA records" % port)
    expect_verified(inst, "[localhost]:%d" % port, relay(rx))


def test_fingerprint_from_main_cf(instance, pki):
    cert, key = pki["certs"]["wrong"]
    rx = tls_receiver(instance, cert, key)
    inst = agent(instance, "smtp_tls_security_level = fingerprint\n"
                 "smtp_tls_fingerprint_cert_match = %s\n" % fingerprint(cert))
    expect_verified(inst, "[localhost]:%d" % rx.port("smtp"), relay(rx))


def test_policy_maps_per_destination(instance, pki):
    """One server with a certificate for another name: the destination the
    table says "verify" for defers, the one it does not list is delivered
    at main.cf's "may"; a broken entry defers with a warning."""
    rx = tls_receiver(instance, *pki["certs"]["wrong"])
    port = rx.port("smtp")
    table = policy_table(pki, "[localhost]:%d verify\n[127.0.0.3]:%d sometimes\n"
                         % (port, port))
    inst = agent(instance, "smtp_tls_security_level = may\nsmtp_tls_CAfile = %s\n"
                 "smtp_tls_policy_maps = %s\n" % (pki["ca"], table))
    expect_unverified(inst, "[localhost]:%d" % port)
    qid, (status, dsn, mark, reason) = send(inst, "[127.0.0.1]:%d" % port)
    assert status == "sent", reason
    inst.wait_log(r"Trusted TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:%d" % port)
    qid, (status, dsn, mark, reason) = send(inst, "[127.0.0.3]:%d" % port)
    assert (status, dsn, reason) == ("deferred", "4.7.5", "client TLS configuration problem")
    inst.wait_log(r"warning: smtp_tls_policy_maps, next-hop destination \"\[127\.0\.0\.3\]:%d\": "
                  r"invalid TLS level \"sometimes\"" % port)


def test_verify_without_starttls_defers(instance, smtp_sink):
    inst = agent(instance, "smtp_tls_security_level = verify\n")
    qid, (status, dsn, mark, reason) = send(inst, "[127.0.0.1]:%d" % smtp_sink.port)
    assert status == "deferred" and dsn == "4.7.4"
    assert reason == "TLS is required, but was not offered by host 127.0.0.1[127.0.0.1]"


def test_trust_anchor_file(instance, pki):
    """tafile= (and smtp_tls_trust_anchor_file): the chain must lead to a
    certificate of that file instead of the CAfile's, and the names are
    still matched."""
    rx = tls_receiver(instance, *pki["certs"]["peer"])
    port = rx.port("smtp")
    table = policy_table(pki, "[localhost]:%d secure tafile=%s\n"
                              "[127.0.0.1]:%d secure tafile=%s match=.peer.test\n"
                         % (port, pki["ca"], port, pki["other_ca"]))
    inst = agent(instance, "smtp_tls_security_level = verify\n"
                 "smtp_tls_trust_anchor_file = %s\nsmtp_tls_policy_maps = %s\n"
                 % (pki["ca"], table))
    expect_verified(inst, "[localhost]:%d" % port, relay(rx))
    # Another CA's certificate as the only anchor.
    expect_unverified(inst, "[127.0.0.1]:%d" % port)
    inst.wait_log(r"server certificate verification failed for 127\.0\.0\.1\[127\.0\.0\.1\]:%d: "
                  % port)
    # main.cf's anchor file with the verify level and a certificate whose
    # names are not "hostname" (localhost).
    rx2 = tls_receiver(instance, *pki["certs"]["wrong"])
    expect_unverified(inst, "[localhost]:%d" % rx2.port("smtp"))
    inst.wait_log(r"server certificate verification failed for %s: num=62:hostname mismatch"
                  % relay(rx2))


def test_legacy_enforce_tls_verifies_the_name(instance, pki):
    """smtp_enforce_tls = yes (no security level) is Postfix's "verify"
    unless smtp_tls_enforce_peername = no, which makes it "encrypt"."""
    rx = tls_receiver(instance, *pki["certs"]["wrong"])
    inst = agent(instance, "smtp_tls_security_level =\nsmtp_enforce_tls = yes\n"
                 "smtp_tls_CAfile = %s\n" % pki["ca"])
    expect_unverified(inst, "[localhost]:%d" % rx.port("smtp"))
    inst2 = agent(instance, "smtp_tls_security_level =\nsmtp_enforce_tls = yes\n"
                  "smtp_tls_enforce_peername = no\nsmtp_tls_CAfile = %s\n" % pki["ca"])
    qid, (status, dsn, mark, reason) = send(inst2, "[localhost]:%d" % rx.port("smtp"))
    assert status == "sent", reason


def test_verify_against_debian_postfix(instance, start_peer, mail_user, pki):
    """A real Postfix (Debian's) as the server, with the test CA's
    certificate: verified, and the mail reaches the user's Maildir."""
    cert, key = pki["certs"]["localhost"]
    pf = start_peer(peers.PostfixPeer(main_cf={
        "smtpd_tls_security_level": "may", "smtpd_tls_cert_file": cert,
        "smtpd_tls_key_file": key}))
    inst = agent(instance, "smtp_tls_security_level = verify\nsmtp_tls_CAfile = %s\n" % pki["ca"])
    qid, res = deliver(inst, "[localhost]:%d" % pf.port, "a@client.test",
                       "%s@localhost" % mail_user.name, message(b"verified\n"))
    assert res["%s@localhost" % mail_user.name][0] == "sent", res
    inst.wait_log(r"Verified TLS connection established to localhost\[127\.0\.0\.1\]:%d"
                  % pf.port)
    pf.wait_log(r"disconnect from .* starttls=1 ")
    mail_user.maildir.wait_for(1)


def test_chrooted_agent_with_policy_table(instance, pki):
    """Debian's master.cf chroots smtp: the CAfile and the policy table are
    read before the chroot, and a table the chrooted process cannot see is
    not mistaken for a changed one (no restart before every request)."""
    rx = tls_receiver(instance, *pki["certs"]["localhost"])
    port = rx.port("smtp")
    table = policy_table(pki, "[localhost]:%d verify\n" % port)
    inst = instance(master_cf="smtp unix - - y - - smtp\n", main_cf_extra=(
        EXTRA + "smtp_tls_CAfile = %s\nsmtp_tls_policy_maps = %s\n" % (pki["ca"], table)))
    inst.wait_log(r"daemon started")
    expect_verified(inst, "[localhost]:%d" % port, relay(rx))
    inst.wait_log(r"warning: smtp_tls_policy_maps: its files are not visible to this process")
    assert "has changed -- restarting" not in inst.log()
