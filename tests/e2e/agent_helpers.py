"""Helpers for tests that drive a delivery agent directly: deliver_req (a
stand-in for qmgr: it queues one message and sends one request to
private/<transport>), and a TLS-capable receiving instance of our own."""
import os
import subprocess

from conftest import BIN


def deliver(inst, nexthop, sender, rcpts, message, transport="smtp", timeout=120):
    """Queue `message` (bytes) and have `transport` deliver it to nexthop.
    Returns (queue id, {rcpt: (status, dsn, mark, reason)})."""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    r = subprocess.run([os.path.join(BIN, "deliver_req"), inst.queue_dir, transport, nexthop,
                        sender] + list(rcpts), input=message, capture_output=True,
                       timeout=timeout)
    out = r.stdout.decode(errors="replace").splitlines()
    assert r.returncode == 0, (r.stdout, r.stderr, inst.log()[-3000:])
    qid = out[0].split()[1]
    res = {}
    for ln in out[1:]:
        addr, status, dsn, mark, reason = ln.split(" ", 4)
        res[addr] = (status, dsn, mark, reason)
    return qid, res


def message(body=b"hello\n", subject=b"test", extra_headers=b""):
    return (b"From: sender@client.test\nTo: someone@dest.test\nSubject: " + subject + b"\n" +
            b"Date: Mon, 24 Nov 2025 10:00:00 +0000\nMessage-ID: <t1@client.test>\n" +
            extra_headers + b"\n" + body)


def self_signed(dirpath):
    key = os.path.join(dirpath, "key.pem")
    cert = os.path.join(dirpath, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=peer.test"], check=True,
                   capture_output=True, timeout=60)
    os.chmod(key, 0o644)
    return cert, key


RECEIVER_CF = """\
127.0.0.1:{port_smtp} inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
"""


def tls_receiver(instance, cert, key):
    """Our own smtpd with STARTTLS; it logs "Reusing old session" when a
    client resumes (smtpd_tls_loglevel 2). Mail stays in its incoming/."""
    inst = instance(master_cf=RECEIVER_CF, main_cf_extra=(
        "mydestination = dest.test\nlocal_recipient_maps =\nalias_maps =\n"
        "smtpd_tls_security_level = may\nsmtpd_tls_loglevel = 2\n"
        "smtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\n" % (cert, key)))
    inst.wait_log(r"daemon started")
    return inst
