"""smtpd TLS (STARTTLS, smtps wrapper mode) and SASL AUTH (real Dovecot 2.3,
Cyrus libsasl2 with an sasldb2 file) end to end, with real clients: Python's
smtplib/ssl, swaks, openssl s_client."""
import base64
import contextlib
import os
import pwd
import shutil
import smtplib
import socket
import ssl
import subprocess

import pytest

import peers
from smtp_helpers import BASE_EXTRA, SMTP_CF, Raw, content, dump, incoming, queued_id

OUTSIDE = "127.0.0.2"  # a client outside mynetworks = 127.0.0.1/32
REMOTE_RCPT = "someone@remote.example.net"
LOCAL_RCPT = "root@mta-test.example"


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """A self-signed certificate and key (PEM) for CN=mta-test.example."""
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=mta-test.example", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)  # root only: smtpd must read it before dropping privileges
    return {"cert": str(crt), "key": str(key)}


def client_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tls_extra(cert, level="may", more=""):
    return (BASE_EXTRA + "smtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\n"
            "smtpd_tls_security_level = %s\nsmtpd_tls_loglevel = 1\n" % (
                cert["cert"], cert["key"], level) + more)


def start(instance, extra, master_cf=SMTP_CF):
    inst = instance(master_cf=master_cf, main_cf_extra=extra)
    inst.wait_log(r"daemon started")
    return inst


@contextlib.contextmanager
def dovecot_for(inst):
    """Real Dovecot with its auth socket in our queue's private/auth."""
    d = peers.Dovecot(auth_socket=peers.Path(inst.queue_dir) / "private" / "auth")
    d.start()
    try:
        yield d
    finally:
        d.stop()
        d.cleanup()


SASL_DOVECOT = """\
mynetworks = 127.0.0.1/32
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
"""


def plain(user, pw):
    return base64.b64encode(("\0%s\0%s" % (user, pw)).encode()).decode()


# ---- TLS ---------------------------------------------------------------------


def test_starttls_smtplib_resets_session_and_hides_starttls(instance, cert):
    inst = start(instance, tls_extra(cert, more="smtpd_tls_received_header = yes\n"))
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=20) as s:
        s.ehlo("client.example")
        assert s.has_extn("starttls")
        s.starttls(context=client_ctx())
        assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
        s.ehlo("client.example")
        assert not s.has_extn("starttls")
        assert s.sendmail("a@example.org", [LOCAL_RCPT], "Subject: t\r\n\r\nx\r\n") == {}
    qid = inst.wait_for(lambda: incoming(inst), what="queue file")[0]
    body = content(dump(inst, qid))
    assert body[1].startswith("\t(using TLSv1.3 with cipher TLS_")
    assert body[2].startswith("\t key-exchange ")
    assert body[3] == "\t(No client certificate requested)"
    assert body[4].startswith("\tby mta-test.example (Postfix) with ESMTPS id ")
    inst.wait_log(r"Anonymous TLS connection established from localhost\[127\.0\.0\.1\]: "
                  r"TLSv1\.3 with cipher TLS_\S+ \(\d+/\d+ bits\) key-exchange \S+ "
                  r"server-signature RSA-PSS \(2048 bits\) server-digest SHA256")
    inst.wait_log(r"disconnect from localhost\[127\.0\.0\.1\] ehlo=2 starttls=1 mail=1 rcpt=1 "
                  r"data=1 quit=1 commands=7")


def test_swaks_and_openssl_s_client(instance, cert):
    inst = start(instance, tls_extra(cert))
    port = inst.port("smtp")
    r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port, "--tls", "--to", LOCAL_RCPT,
                        "--from", "a@example.org", "--helo", "client.example"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "TLS started" in r.stdout
    r = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                        "127.0.0.1:%d" % port, "-crlf", "-ign_eof"],
                       input="QUIT\n", capture_output=True, text=True, timeout=60)
    # (s_client writes stdin as soon as TLS is up: one command, or it would
    # be unannounced pipelining before EHLO)
    assert "New, TLSv1.3" in r.stdout, r.stdout + r.stderr
    assert "221 2.0.0 Bye" in r.stdout


def test_starttls_injection_is_discarded(instance, cert):
    inst = start(instance, tls_extra(cert))
    c = Raw(inst.port("smtp"))
    c.reply()
    assert c.cmd("EHLO client.example")[-1] == "250 CHUNKING"
    # CVE-2011-0411: a command in the same packet as STARTTLS.
    c.send("STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
    assert c.reply() == ["220 2.0.0 Ready to start TLS"]
    t = client_ctx().wrap_socket(c.sock)
    f = t.makefile("rb")

    def reply():
        out = []
        while True:
            ln = f.readline().decode()
            out.append(ln.rstrip("\r\n"))
            if ln[3:4] != "-":
                return out

    t.sendall(b"RCPT TO:<root@mta-test.example>\r\n")
    assert reply() == ["503 5.5.1 Error: need MAIL command"]  # the MAIL was not executed
    t.sendall(b"EHLO client.example\r\n")
    r = reply()
    assert r[0] == "250-mta-test.example" and "250-STARTTLS" not in r
    t.sendall(b"QUIT\r\n")
    assert reply() == ["221 2.0.0 Bye"]
    t.close()
    inst.wait_log(r"discarding \d+ bytes pipelined after STARTTLS from localhost")


def test_encrypt_level_requires_starttls(instance, cert):
    inst = start(instance, tls_extra(cert, level="encrypt"))
    c = Raw(inst.port("smtp"))
    c.reply()
    assert "250-STARTTLS" in c.cmd("EHLO client.example")
    assert c.cmd("MAIL FROM:<a@example.org>") == ["530 5.7.0 Must issue a STARTTLS command first"]
    c.close()
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=20) as s:
        s.starttls(context=client_ctx())
        assert s.sendmail("a@example.org", [LOCAL_RCPT], "Subject: t\r\n\r\nx\r\n") == {}


def test_smtps_wrappermode_and_session_resumption(instance, cert):
    inst = start(instance, tls_extra(cert, more="smtpd_tls_wrappermode = yes\n"))
    ctx = client_ctx()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # session object is ready right after handshake
    with smtplib.SMTP_SSL("127.0.0.1", inst.port("smtp"), timeout=20, context=ctx) as s:
        s.ehlo("client.example")
        assert not s.has_extn("starttls")
        assert s.sendmail("a@example.org", [LOCAL_RCPT], "Subject: t\r\n\r\nx\r\n") == {}
        session = s.sock.session
    assert session is not None and session.has_ticket
    raw = socket.create_connection(("127.0.0.1", inst.port("smtp")), timeout=20)
    t = ctx.wrap_socket(raw, session=session)
    assert t.session_reused
    assert t.recv(1024).startswith(b"220 ")
    t.close()
    inst.wait_log(r"Anonymous TLS connection established from localhost\[127\.0\.0\.1\]: "
                  r"TLSv1\.2 with cipher ", count=2)


def test_protocols_and_ciphers_are_applied(instance, cert):
    inst = start(instance, tls_extra(cert, more="smtpd_tls_protocols = !SSLv2, !SSLv3, !TLSv1, "
                                     "!TLSv1.1, !TLSv1.3\nsmtpd_tls_ciphers = high\n"))
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=20) as s:
        s.starttls(context=client_ctx())
        assert s.sock.version() == "TLSv1.2"
    ctx = client_ctx()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=20) as s:
        with pytest.raises((ssl.SSLError, OSError)):
            s.starttls(context=ctx)
    inst.wait_log(r"SSL_accept error from localhost\[127\.0\.0\.1\]")


# ---- SASL through Dovecot -----------------------------------------------------


def test_dovecot_auth_plain_relay(instance, cert):
    inst = start(instance, BASE_EXTRA + SASL_DOVECOT)
    with peers.temp_user() as user, dovecot_for(inst):
        # Without AUTH, a client outside mynetworks may not relay.
        c = Raw(inst.port("smtp"), source=OUTSIDE)
        c.reply()
        ehlo = c.cmd("EHLO client.example")
        assert "250-AUTH PLAIN LOGIN" in ehlo
        assert c.cmd("MAIL FROM:<a@example.org>") == ["250 2.1.0 Ok"]
        assert c.cmd("RCPT TO:<%s>" % REMOTE_RCPT) == [
            "454 4.7.1 <%s>: Relay access denied" % REMOTE_RCPT]  # defer_unauth_destination
        assert c.cmd("RSET") == ["250 2.0.0 Ok"]
        # AUTH PLAIN with an initial response.
        assert c.cmd("AUTH PLAIN " + plain(user.name, user.password)) == [
            "235 2.7.0 Authentication successful"]
        assert c.cmd("AUTH PLAIN " + plain(user.name, user.password)) == [
            "503 5.5.1 Error: already authenticated"]
        assert c.cmd("MAIL FROM:<a@example.org>") == ["250 2.1.0 Ok"]
        assert c.cmd("RCPT TO:<%s>" % REMOTE_RCPT) == ["250 2.1.5 Ok"]
        assert c.cmd("DATA")[0].startswith("354")
        c.send("Subject: relayed\r\n\r\nbody\r\n.\r\n")
        qid = queued_id(c.reply()[0])
        c.cmd("QUIT")
        c.close()
        lines = dump(inst, qid)
        body = content(lines)
        assert "with ESMTPA id %s" % qid in body[1]
        inst.wait_log(r"%s: client=unknown\[127\.0\.0\.2\], sasl_method=PLAIN, "
                      r"sasl_username=%s\n" % (qid, user.name))



def test_dovecot_auth_login_wrong_password_and_abort(instance, cert):
    inst = start(instance, BASE_EXTRA + SASL_DOVECOT + "smtpd_sasl_authenticated_header = yes\n")
    with peers.temp_user() as user, dovecot_for(inst):
        with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=20,
                          source_address=(OUTSIDE, 0)) as s:
            s.ehlo("client.example")
            with pytest.raises(smtplib.SMTPAuthenticationError) as e:
                s.login(user.name, "wrong-password")
            assert e.value.smtp_code == 535
            assert e.value.smtp_error.startswith(b"5.7.8 Error: authentication failed: ")
            s.user, s.password = user.name, user.password
            code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
            assert code == 235
            assert s.sendmail("a@example.org", [REMOTE_RCPT], "Subject: t\r\n\r\nx\r\n") == {}
        inst.wait_log(r"warning: unknown\[127\.0\.0\.2\]: SASL (LOGIN|PLAIN) authentication "
                      r"failed: ")
        assert "wrong-password" not in inst.log()
        qid = inst.wait_for(lambda: incoming(inst), what="queue file")[0]
        assert "\t(Authenticated sender: %s)" % user.name in content(dump(inst, qid))

        c = Raw(inst.port("smtp"), source=OUTSIDE)
        c.reply()
        assert c.cmd("AUTH PLAIN") == ["503 5.5.1 Error: send EHLO first"]
        c.cmd("EHLO client.example")
        assert c.cmd("AUTH LOGIN") == ["334 VXNlcm5hbWU6"]
        assert c.cmd("*") == ["501 5.7.0 Authentication aborted"]
        assert c.cmd("AUTH CRAM-MD5") == [
            "535 5.7.8 Error: authentication failed: Invalid authentication mechanism"]
        assert c.cmd("AUTH PLAIN !!notbase64") == [
            "535 5.7.8 Error: authentication failed: Invalid base64 data in initial response"]
        c.cmd("QUIT")
        c.close()
        inst.wait_log(r"warning: unknown\[127\.0\.0\.2\]: SASL LOGIN authentication aborted")


def test_failed_auth_counts_toward_error_limit(instance):
    inst = start(instance, BASE_EXTRA + SASL_DOVECOT + "smtpd_hard_error_limit = 3\n")
    with peers.temp_user() as user, dovecot_for(inst):
        c = Raw(inst.port("smtp"), source=OUTSIDE)
        c.reply()
        c.cmd("EHLO client.example")
        for _ in range(3):
            assert c.cmd("AUTH PLAIN " + plain(user.name, "nope"))[0].startswith("535 5.7.8")
        assert c.reply() == ["421 4.7.0 mta-test.example Error: too many errors"]
        c.close()
        inst.wait_log(r"SASL PLAIN authentication failed: .*, sasl_username=%s" % user.name)
        inst.wait_log(r"disconnect from unknown\[127\.0\.0\.2\] ehlo=1 auth=0/3 commands=1/4")


def test_sender_login_maps(instance):
    inst = start(instance, BASE_EXTRA + SASL_DOVECOT + (
        "smtpd_sender_login_maps = texthash:{tmp}/login_maps\n"
        "smtpd_sender_restrictions = reject_sender_login_mismatch\n"))
    maps = peers.Path(inst.tmp) / "login_maps"  # smtpd (not root) reads it at its first client
    with peers.temp_user() as user, dovecot_for(inst):
        maps.write_text("mine@example.org %s\nboss@example.org somebody\n" % user.name)
        c = Raw(inst.port("smtp"))  # from mynetworks: relay is not the question here
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<boss@example.org>")
        assert c.cmd("RCPT TO:<%s>" % LOCAL_RCPT) == [
            "553 5.7.1 <boss@example.org>: Sender address rejected: not logged in"]
        c.cmd("RSET")
        assert c.cmd("AUTH PLAIN " + plain(user.name, user.password))[0].startswith("235")
        c.cmd("MAIL FROM:<boss@example.org>")
        assert c.cmd("RCPT TO:<%s>" % LOCAL_RCPT) == [
            "553 5.7.1 <boss@example.org>: Sender address rejected: not owned by user %s"
            % user.name]
        c.cmd("RSET")
        c.cmd("MAIL FROM:<mine@example.org>")
        assert c.cmd("RCPT TO:<%s>" % LOCAL_RCPT) == ["250 2.1.5 Ok"]
        c.cmd("QUIT")
        c.close()


STOCK_SUBMISSION = SMTP_CF + """\
127.0.0.1:{port_submission} inet n       -       n       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_reject_unlisted_recipient=no
  -o smtpd_client_restrictions=$mua_client_restrictions
  -o smtpd_helo_restrictions=
  -o smtpd_sender_restrictions=
  -o smtpd_relay_restrictions=
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
127.0.0.1:{port_smtps} inet n  -       n       -       -       smtpd
  -o syslog_name=postfix/submissions
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_reject_unlisted_recipient=no
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_helo_restrictions=
  -o smtpd_sender_restrictions=
  -o smtpd_relay_restrictions=
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
"""


def test_stock_submission_and_smtps_entries(instance, cert):
    inst = start(instance, BASE_EXTRA + (
        "mynetworks = 127.0.0.1/32\nsmtpd_sasl_type = dovecot\nsmtpd_sasl_path = private/auth\n"
        "mua_client_restrictions = permit_sasl_authenticated, reject\n"
        "smtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\n") % (cert["cert"], cert["key"]),
        master_cf=STOCK_SUBMISSION)
    with peers.temp_user() as user, dovecot_for(inst):
        c = Raw(inst.port("submission"), source=OUTSIDE)
        c.reply()
        ehlo = c.cmd("EHLO client.example")
        assert "250-STARTTLS" in ehlo and not any("AUTH" in x for x in ehlo)
        assert c.cmd("AUTH PLAIN " + plain(user.name, user.password)) == [
            "530 5.7.0 Must issue a STARTTLS command first"]
        assert c.cmd("MAIL FROM:<a@example.org>") == [
            "530 5.7.0 Must issue a STARTTLS command first"]
        c.close()
        with smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=20,
                          source_address=(OUTSIDE, 0)) as s:
            s.starttls(context=client_ctx())
            s.ehlo("client.example")
            assert "PLAIN" in s.esmtp_features["auth"]
            s.login(user.name, user.password)
            assert s.sendmail("a@example.org", [REMOTE_RCPT], "Subject: t\r\n\r\nx\r\n") == {}
        inst.wait_log(r"postfix/submission/smtpd\[\d+\]: \w+: client=unknown\[127\.0\.0\.2\], "
                      r"sasl_method=PLAIN, sasl_username=%s" % user.name)
        with smtplib.SMTP_SSL("127.0.0.1", inst.port("smtps"), timeout=20,
                              source_address=(OUTSIDE, 0), context=client_ctx()) as s:
            s.ehlo("client.example")
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                s.sendmail("a@example.org", [REMOTE_RCPT], "Subject: t\r\n\r\nx\r\n")
            s.login(user.name, user.password)
            assert s.sendmail("a@example.org", [REMOTE_RCPT], "Subject: t\r\n\r\nx\r\n") == {}
        inst.wait_log(r"postfix/submissions/smtpd\[\d+\]: \w+: client=unknown\[127\.0\.0\.2\], "
                      r"sasl_method=PLAIN")


# ---- SASL through Cyrus libsasl2 (sasldb2) ---------------------------------------


def test_cyrus_sasldb(instance):
    if not shutil.which("saslpasswd2"):
        pytest.skip("saslpasswd2 missing: scripts/install-deps.sh --test installs sasl2-bin")
    inst = instance(master_cf=SMTP_CF, main_cf_extra=BASE_EXTRA + (
        "mynetworks = 127.0.0.1/32\nsmtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = cyrus\n"
        "smtpd_sasl_path = smtpd\n"), start=False)
    db = os.path.join(inst.tmp, "sasldb2")
    subprocess.run(["saslpasswd2", "-c", "-p", "-f", db, "-u", "mta-test.example", "cyrususer"],
                   input=b"s3cret-pw", check=True)
    pf = pwd.getpwnam("postfix")
    os.chown(db, pf.pw_uid, pf.pw_gid)
    os.makedirs(os.path.join(inst.config_dir, "sasl"))
    with open(os.path.join(inst.config_dir, "sasl", "smtpd.conf"), "w") as f:
        f.write("pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: %s\n"
                "mech_list: PLAIN LOGIN\n" % db)
    inst.start()
    inst.wait_log(r"daemon started")
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=20,
                      source_address=(OUTSIDE, 0)) as s:
        s.ehlo("client.example")
        assert set(s.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login("cyrususer", "wrong")
        assert e.value.smtp_code == 535
        s.login("cyrususer", "s3cret-pw")
        assert s.sendmail("a@example.org", [REMOTE_RCPT], "Subject: t\r\n\r\nx\r\n") == {}
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=20,
                      source_address=(OUTSIDE, 0)) as s:
        s.ehlo("client.example")
        s.user, s.password = "cyrususer", "s3cret-pw"
        assert s.auth("LOGIN", s.auth_login, initial_response_ok=False)[0] == 235
    inst.wait_log(r"warning: unknown\[127\.0\.0\.2\]: SASL \w+ authentication failed: "
                  r"authentication failure")
    inst.wait_log(r"client=unknown\[127\.0\.0\.2\], sasl_method=\w+, sasl_username=cyrususer")
