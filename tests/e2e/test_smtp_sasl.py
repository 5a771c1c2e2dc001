"""The smtp client's SASL AUTH against a relayhost that needs it: Debian's
Postfix with Dovecot SASL behind STARTTLS, as in the lab (issue 7).

Our pipeline (smtpd -> cleanup -> qmgr -> smtp) relays through
relayhost = [127.0.0.1]:<peer> with smtp_tls_security_level = encrypt and
a hash: password table built by our postmap; the peer relays only for
authenticated clients (smtpd_relay_restrictions = permit_sasl_authenticated,
reject) and delivers to a local user's Maildir."""
import json
import os
import subprocess

import peers
from conftest import BIN, per_run
from delivery_helpers import PIPELINE_CF, queue_files, read, smtp_send, start_pipeline, trigger
from peers_fixtures import *  # noqa: F401,F403

CF = PIPELINE_CF + ("smtp unix - - n - - smtp\nrelay unix - - n - - smtp\n"
                    "showq unix n - n - - showq\n")


def self_signed(dirpath):
    key = os.path.join(dirpath, "key.pem")
    cert = os.path.join(dirpath, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=peer.test"], check=True,
                   capture_output=True, timeout=60)
    os.chmod(key, 0o644)
    return cert, key


def sasl_peer(start_peer, tmp_path):
    """Postfix requiring AUTH (offered only after STARTTLS), checked by
    Dovecot over its private/auth socket."""
    cert, key = self_signed(str(tmp_path))
    pf = peers.PostfixPeer(main_cf={
        "smtpd_tls_security_level": "may",
        "smtpd_tls_cert_file": cert,
        "smtpd_tls_key_file": key,
        "smtpd_tls_auth_only": "yes",
        "smtpd_sasl_auth_enable": "yes",
        "smtpd_sasl_type": "dovecot",
        "smtpd_sasl_path": "private/auth",
        "mynetworks": "127.0.0.2/32",
        "smtpd_relay_restrictions": "permit_sasl_authenticated, reject",
    })
    start_peer(peers.Dovecot(auth_socket=pf.queue_dir / "private" / "auth"))
    return start_peer(pf)


def our_relay(instance, pf, user, password, extra=""):
    """Our pipeline relaying everything to the peer, with a hash: password
    table for it built by our postmap."""
    inst = start_pipeline(instance, (
        "relayhost = [127.0.0.1]:%d\n"
        "smtp_tls_security_level = encrypt\n"
        "smtp_sasl_auth_enable = yes\n"
        "smtp_sasl_password_maps = hash:{tmp}/etc/sasl_passwd\n"
        # Postfix's default (noplaintext) rules out PLAIN and LOGIN even over
        # TLS; a relayhost with PLAIN/LOGIN needs this, as in Postfix.
        "smtp_sasl_tls_security_options = noanonymous\n" % pf.port) + extra, master_cf=CF,
        users=())  # the shared test users are not ours to reset
    write_passwd(inst, "[127.0.0.1]:%d %s:%s\n" % (pf.port, user, password))
    return inst


def write_passwd(inst, text):
    path = os.path.join(inst.config_dir, "sasl_passwd")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    r = subprocess.run([os.path.join(BIN, "postmap"), "-c", inst.config_dir, "hash:" + path],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    os.chmod(path + ".db", 0o600)  # root only: smtp opens it before dropping privileges


def postqueue_json(inst):
    r = subprocess.run([os.path.join(BIN, "postqueue"), "-c", inst.config_dir, "-j"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [json.loads(ln) for ln in r.stdout.decode().splitlines()]


def test_relay_authenticates_over_starttls(instance, start_peer, mail_user, tmp_path):
    pf = sasl_peer(start_peer, tmp_path)
    inst = our_relay(instance, pf, mail_user.name, mail_user.password)
    rcpt = "%s@peer.test" % mail_user.name
    qid = smtp_send(inst, per_run("tester@mta-test.example"), [rcpt],
                    "Subject: via authenticated relay\r\n\r\nhello\r\n")
    inst.wait_log(r"postfix/smtp\[\d+\]: Untrusted TLS connection established to "
                  r"127\.0\.0\.1\[127\.0\.0\.1\]:%d: TLSv1\.[23]" % pf.port, timeout=30)
    inst.wait_log(r"postfix/smtp\[\d+\]: %s: to=<%s>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*"
                  r"dsn=2\.0\.0, status=sent \(250 2\.0\.0 Ok" % (qid, rcpt, pf.port), timeout=30)
    pf.wait_log(r"client=localhost\[127\.0\.0\.1\], sasl_method=PLAIN, sasl_username=%s"
                % mail_user.name)
    mail_user.maildir.wait_for(1, timeout=30)
    [m] = mail_user.maildir.messages()
    assert m["Subject"] == "via authenticated relay"
    assert mail_user.password not in inst.log()


def test_wrong_password_defers_with_the_peers_535(instance, start_peer, mail_user, tmp_path):
    pf = sasl_peer(start_peer, tmp_path)
    secret = "Wr0ng-Secret-%d" % os.getpid()
    inst = our_relay(instance, pf, mail_user.name, secret)
    rcpt = "%s@peer.test" % mail_user.name
    qid = smtp_send(inst, per_run("tester@mta-test.example"), [rcpt])
    line = inst.wait_log(
        r"postfix/smtp\[\d+\]: %s: to=<%s>, relay=none, delay=[0-9.]+, delays=[0-9./]+, "
        r"dsn=4\.7\.8, status=deferred \(SASL authentication failed; server "
        r"127\.0\.0\.1\[127\.0\.0\.1\] said: 535 5\.7\.8 Error: authentication failed: "
        % (qid, rcpt), timeout=30)
    assert line
    inst.wait_for(lambda: queue_files(inst, "deferred"), what="message in deferred/")
    [job] = inst.wait_for(lambda: [j for j in postqueue_json(inst)
                                   if j["recipients"][0].get("delay_reason")],
                          timeout=20, what="postqueue -j with a delay reason")
    reason = job["recipients"][0]["delay_reason"]
    assert reason.startswith("SASL authentication failed; server 127.0.0.1[127.0.0.1] said: "
                             "535 5.7.8 Error: authentication failed"), reason
    pf.wait_log(r"warning: localhost\[127\.0\.0\.1\]: SASL PLAIN authentication failed")
    log = inst.log()
    assert secret not in log
    for root, _d, files in os.walk(inst.queue_dir):
        if "defer" in root.split(os.sep):
            for f in files:
                assert secret not in read(os.path.join(root, f))
    assert mail_user.maildir.count() == 0

    # The right password (a new table: postmap again) lets the retry through.
    write_passwd(inst, "[127.0.0.1]:%d %s:%s\n" % (pf.port, mail_user.name, mail_user.password))
    trigger(inst, b"FADI")
    mail_user.maildir.wait_for(1, timeout=30)
    inst.wait_log(r"%s: to=<%s>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*status=sent"
                  % (qid, rcpt, pf.port), timeout=30)


def test_default_security_options_refuse_plaintext_mechanisms(instance, start_peer, mail_user,
                                                               tmp_path):
    """smtp_sasl_security_options' default (noplaintext) applies over TLS
    too: PLAIN and LOGIN are not used and the mail waits, as in Postfix."""
    pf = sasl_peer(start_peer, tmp_path)
    inst = our_relay(instance, pf, mail_user.name, mail_user.password,
                     "smtp_sasl_tls_security_options = $smtp_sasl_security_options\n")
    rcpt = "%s@peer.test" % mail_user.name
    qid = smtp_send(inst, per_run("tester@mta-test.example"), [rcpt])
    inst.wait_log(r"%s: to=<%s>, relay=none, .*dsn=4\.7\.0, status=deferred \(SASL "
                  r"authentication failed; cannot authenticate to server "
                  r"127\.0\.0\.1\[127\.0\.0\.1\]: no mechanism available\)" % (qid, rcpt),
                  timeout=30)


def test_mechanism_filter_and_no_credentials(instance, start_peer, mail_user, tmp_path):
    """LOGIN through smtp_sasl_mechanism_filter; then a table without an
    entry for the relay: no AUTH at all, and the peer refuses the recipient."""
    pf = sasl_peer(start_peer, tmp_path)
    inst = our_relay(instance, pf, mail_user.name, mail_user.password,
                     "smtp_sasl_mechanism_filter = login\n")
    rcpt = "%s@peer.test" % mail_user.name
    qid = smtp_send(inst, per_run("tester@mta-test.example"), [rcpt])
    inst.wait_log(r"%s: to=<%s>, .*status=sent" % (qid, rcpt), timeout=30)
    pf.wait_log(r"sasl_method=LOGIN, sasl_username=%s" % mail_user.name)
    mail_user.maildir.wait_for(1, timeout=30)  # before the user goes away

    write_passwd(inst, "[127.0.0.1]:1 %s:%s\n" % (mail_user.name, mail_user.password))
    qid = smtp_send(inst, per_run("tester@mta-test.example"), [rcpt])
    inst.wait_log(r"%s: to=<%s>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*status=bounced \(host "
                  r"127\.0\.0\.1\[127\.0\.0\.1\] said: 554 5\.7\.1 .*Access denied"
                  % (qid, rcpt, pf.port), timeout=30)
