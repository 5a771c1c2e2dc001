"""check_policy_service at the protocol level: a recording policy server in
the test process checks what smtpd sends (every attribute of Postfix 3.7's
request, in Postfix's order, with the values of the session), how it reuses
connections (one connection for all requests of all sessions of an smtpd
process; request_limit), and how it takes answers: access(5) actions of
every kind, and hostile replies (an over-long line, a NUL, no action)
which get the default action. The real servers are in test_policy.py."""
import os
import re
import smtplib
import socket
import ssl
import subprocess
import threading

from smtp_helpers import Raw, content, dump, queued_id, start

RCPT = "root@mta-test.example"
ONE_SMTPD = """\
127.0.0.1:{port_smtp} inet n - n - 1 smtpd
cleanup unix n - n - 0 cleanup
"""
# Postfix 3.7's request (smtpd_check.c's order), with 3.8's last two.
ATTRIBUTES = [
    "request", "protocol_state", "protocol_name", "client_address", "client_name", "client_port",
    "reverse_client_name", "server_address", "server_port", "helo_name", "sender", "recipient",
    "recipient_count", "queue_id", "instance", "size", "etrn_domain", "stress", "sasl_method",
    "sasl_username", "sasl_sender", "ccert_subject", "ccert_issuer", "ccert_fingerprint",
    "ccert_pubkey_fingerprint", "encryption_protocol", "encryption_cipher",
    "encryption_keysize", "policy_context", "compatibility_level", "mail_version",
]


class PolicyServer:
    """Answers each request with answer(request) (bytes, sent as is), and
    records (connection number, [(name, value)...]) per request."""

    def __init__(self, answer, unix_path=None):
        self.answer = answer
        self.requests = []
        self.connections = 0
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
            os.chmod(unix_path, 0o666)  # smtpd runs as mail_owner
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        self.sock.listen(8)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, self.connections),
                             daemon=True).start()

    def _serve(self, conn, number):
        f = conn.makefile("rb")
        attrs = []
        try:
            for line in f:
                line = line.decode("utf-8", "replace").rstrip("\n")
                if line:
                    name, _, value = line.partition("=")
                    attrs.append((name, value))
                    continue
                self.requests.append((number, attrs))
                conn.sendall(self.answer(dict(attrs)))
                attrs = []
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.sock.close()


def dunno(_):
    return b"action=DUNNO\n\n"


def restrictions(spec, extra=""):
    return ("smtpd_recipient_restrictions = reject_unauth_destination, check_policy_service %s\n"
            "smtpd_data_restrictions = check_policy_service %s\n" % (spec, spec)) + extra


def session(inst, sender, rcpts=(RCPT,), mail_params="", data=True, helo="client.example"):
    c = Raw(inst.port("smtp"))
    c.reply()
    c.cmd("EHLO " + helo)
    assert c.cmd("MAIL FROM:<%s>%s" % (sender, mail_params))[0].startswith("250")
    replies = [c.cmd("RCPT TO:<%s>" % r)[0] for r in rcpts]
    qid = None
    if data and any(r.startswith("250") for r in replies):
        d = c.cmd("DATA")
        if d[0].startswith("354"):
            d = c.cmd("Subject: t\r\n\r\nbody\r\n.")
            if d[0].startswith("250"):
                qid = queued_id(d[0])
        replies.append(d[0])
    local_port = c.sock.getsockname()[1]
    c.cmd("QUIT")
    c.close()
    return replies, qid, local_port


def test_request_attributes_and_connection_reuse(instance):
    srv = PolicyServer(dunno)
    try:
        spec = "{{ inet:127.0.0.1:%d, policy_context=submission }}" % srv.port
        inst = start(instance, restrictions(spec), master_cf=ONE_SMTPD)
        replies, qid, cport = session(inst, "a@example.org", mail_params=" SIZE=321")
        assert replies[0].startswith("250") and qid, replies
        session(inst, "b@example.org", rcpts=(RCPT, "daemon@mta-test.example"))
        (_, rcpt), (_, data) = srv.requests[0], srv.requests[1]
        assert [n for n, _ in rcpt] == ATTRIBUTES
        assert [n for n, _ in data] == ATTRIBUTES
        r, d = dict(rcpt), dict(data)
        want = {
            "request": "smtpd_access_policy", "protocol_state": "RCPT", "protocol_name": "ESMTP",
            "client_address": "127.0.0.1", "client_name": "localhost",
            "client_port": str(cport), "reverse_client_name": "localhost",
            "server_address": "127.0.0.1", "server_port": str(inst.port("smtp")),
            "helo_name": "client.example", "sender": "a@example.org", "recipient": RCPT,
            "recipient_count": "0", "size": "321", "etrn_domain": "", "stress": "",
            "sasl_method": "", "sasl_username": "", "sasl_sender": "", "ccert_subject": "",
            "encryption_protocol": "", "encryption_keysize": "0",
            "policy_context": "submission", "compatibility_level": "3.6",
        }
        assert {k: r[k] for k in want} == want, r
        assert re.fullmatch(r"[0-9a-f]+\.[0-9a-f]+\.[0-9a-f]+\.[0-9a-f]+", r["instance"]), r
        assert r["mail_version"]
        # DATA: the one recipient and the count; the same transaction.
        assert (d["protocol_state"], d["recipient"], d["recipient_count"]) == ("DATA", RCPT, "1")
        assert d["instance"] == r["instance"] and d["queue_id"] in ("", qid)
        # The second session: two recipients, so none named at DATA; a new
        # instance; and still the first connection (one smtpd process).
        later = [dict(a) for _, a in srv.requests[2:]]
        assert [a["protocol_state"] for a in later] == ["RCPT", "RCPT", "DATA"]
        assert (later[2]["recipient"], later[2]["recipient_count"]) == ("", "2")
        assert later[0]["instance"] != r["instance"]
        assert {n for n, _ in srv.requests} == {1} and srv.connections == 1
    finally:
        srv.close()


def test_unix_socket_relative_to_the_queue_directory(instance):
    inst = start(instance, restrictions("unix:private/policy"))
    srv = PolicyServer(lambda a: b"action=REJECT over the socket\n\n",
                       unix_path=os.path.join(inst.queue_dir, "private", "policy"))
    try:
        assert session(inst, "a@example.org", data=False)[0] == [
            "554 5.7.1 <%s>: Recipient address rejected: over the socket" % RCPT]
    finally:
        srv.close()


def test_request_limit_opens_new_connections(instance):
    srv = PolicyServer(dunno)
    try:
        inst = start(instance, restrictions("{{ inet:127.0.0.1:%d, request_limit=2 }}" % srv.port),
                     master_cf=ONE_SMTPD)
        session(inst, "a@example.org", rcpts=(RCPT, RCPT))  # 2 RCPT + DATA
        assert [n for n, _ in srv.requests] == [1, 1, 2]
    finally:
        srv.close()


def test_actions_are_access_table_actions(instance):
    answers = {
        "reject@example.org": b"action=REJECT 5.7.9 go away\n\n",
        "defer@example.org": b"action=defer_if_permit\n\n",
        "numeric@example.org": b"action=554 5.7.1 policy says no\n\n",
        "prepend@example.org": b"action=PREPEND X-Policy: seen\n\n",
        "hold@example.org": b"action=HOLD\n\n",
        "class@example.org": b"action=reject_non_fqdn_helo_hostname\n\n",
    }
    srv = PolicyServer(lambda a: answers.get(a["sender"], b"action=DUNNO\n\n")
                       if a["protocol_state"] == "RCPT" else b"action=DUNNO\n\n")
    try:
        inst = start(instance, restrictions("inet:127.0.0.1:%d" % srv.port))
        rcpt_reject = "<%s>: Recipient address rejected:" % RCPT
        assert session(inst, "reject@example.org")[0] == [
            "554 5.7.9 %s go away" % rcpt_reject]
        assert session(inst, "defer@example.org")[0] == [
            "450 4.7.1 %s Service unavailable" % rcpt_reject]
        assert session(inst, "numeric@example.org")[0] == [
            "554 5.7.1 %s policy says no" % rcpt_reject]
        inst.wait_log(re.escape("NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 %s "
                                "policy says no; from=<numeric@example.org> to=<%s> proto=ESMTP "
                                "helo=<client.example>" % (rcpt_reject, RCPT)))
        replies, qid, _ = session(inst, "prepend@example.org")
        assert "X-Policy: seen" in content(dump(inst, qid))
        replies, qid, _ = session(inst, "hold@example.org")
        assert replies[-1].startswith("250"), replies
        inst.wait_log(re.escape("NOQUEUE: hold: RCPT from localhost[127.0.0.1]: <%s>: Recipient "
                                "address triggers HOLD action; from=<hold@example.org> to=<%s> "
                                "proto=ESMTP helo=<client.example>" % (RCPT, RCPT)))
        # A restriction as the answer, evaluated in place.
        assert session(inst, "class@example.org", helo="nodots")[0] == [
            "504 5.5.2 <nodots>: Helo command rejected: need fully-qualified hostname"]
    finally:
        srv.close()


def test_hostile_replies_get_the_default_action(instance):
    bad = {
        "long@example.org": b"action=DUNNO " + b"x" * 5000 + b"\n\n",
        "nul@example.org": b"action=OK\0\n\n",
        "noaction@example.org": b"foo=bar\n\n",
        "noequals@example.org": b"OK\n\n",
    }
    srv = PolicyServer(lambda a: bad.get(a["sender"], b"action=OK\n\n"))
    try:
        inst = start(instance, restrictions(
            "{{ inet:127.0.0.1:%d, try_limit=1, {{ default_action = 450 4.7.1 Try again }} }}"
            % srv.port), master_cf=ONE_SMTPD)
        for sender in bad:
            assert session(inst, sender, data=False)[0] == [
                "450 4.7.1 <%s>: Recipient address rejected: Try again" % RCPT], sender
        log = inst.log()
        for why in ("attribute longer than", "NUL byte in attribute", "missing attribute action",
                    "malformed attribute \"OK\""):
            assert re.search(r"warning: malformed reply from 127\.0\.0\.1:%d: %s" %
                             (srv.port, re.escape(why)), log), (why, log)
        assert log.count("warning: problem talking to server 127.0.0.1:%d:" % srv.port) == 4
        # Each bad reply closed its connection; a good answer works again.
        assert session(inst, "fine@example.org")[0][0].startswith("250")
        assert srv.connections == 5
    finally:
        srv.close()


def test_every_restriction_stage(instance):
    srv = PolicyServer(dunno)
    try:
        spec = "inet:127.0.0.1:%d" % srv.port
        lists = "".join("smtpd_%s_restrictions = check_policy_service %s\n" % (name, spec)
                        for name in ("client", "helo", "sender"))
        inst = start(instance, restrictions(spec, lists + "smtpd_delay_reject = no\n"),
                     master_cf=ONE_SMTPD)
        replies, qid, _ = session(inst, "a@example.org")
        assert qid, replies
        states = [dict(a)["protocol_state"] for _, a in srv.requests]
        assert states == ["CONNECT", "EHLO", "MAIL", "RCPT", "DATA"]
        # CONNECT knows only the client; MAIL the sender, not yet a recipient.
        first, mail = dict(srv.requests[0][1]), dict(srv.requests[2][1])
        assert (first["helo_name"], first["sender"], first["instance"]) == ("", "", "")
        assert (mail["sender"], mail["recipient"]) == ("a@example.org", "")
        assert mail["instance"]
        # With smtpd_delay_reject (the default) all of them are asked at RCPT.
        del srv.requests[:]
        inst = start(instance, restrictions(spec, lists), master_cf=ONE_SMTPD)
        session(inst, "b@example.org", data=False)
        assert [dict(a)["protocol_state"] for _, a in srv.requests] == ["RCPT"] * 4
    finally:
        srv.close()


def test_tls_attributes(instance, tmp_path):
    key, crt = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=mta-test.example", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True)
    srv = PolicyServer(dunno)
    try:
        inst = start(instance, restrictions(
            "inet:127.0.0.1:%d" % srv.port,
            "smtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\n"
            "smtpd_tls_security_level = may\n" % (crt, key)), master_cf=ONE_SMTPD)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=20) as c:
            c.starttls(context=ctx)
            c.ehlo("client.example")
            c.sendmail("tls@example.org", [RCPT], "Subject: t\r\n\r\nbody\r\n")
            version, cipher = c.sock.version(), c.sock.cipher()
        r = dict(srv.requests[0][1])
        assert (r["protocol_state"], r["sender"]) == ("RCPT", "tls@example.org")
        assert (r["encryption_protocol"], r["encryption_cipher"]) == (version, cipher[0]), r
        assert r["encryption_keysize"] == str(cipher[2]), r
        # No client certificate was asked for.
        assert [r[k] for k in ("ccert_subject", "ccert_issuer", "ccert_fingerprint",
                               "ccert_pubkey_fingerprint")] == [""] * 4
    finally:
        srv.close()


def test_sasl_sender_is_mail_froms_auth(instance):
    srv = PolicyServer(dunno)
    try:
        inst = start(instance, restrictions("inet:127.0.0.1:%d" % srv.port,
                                            "smtpd_sasl_auth_enable = yes\n"
                                            "smtpd_sasl_type = dovecot\n"
                                            "smtpd_sasl_path = private/auth\n"),
                     master_cf=ONE_SMTPD)
        session(inst, "a@example.org", mail_params=" AUTH=b@example.org", data=False)
        session(inst, "a@example.org", mail_params=" AUTH=<>", data=False)
        assert [dict(a)["sasl_sender"] for _, a in srv.requests] == ["b@example.org", ""]
    finally:
        srv.close()


def test_bdat_is_asked_as_data(instance):
    srv = PolicyServer(lambda a: b"action=REJECT no chunks\n\n"
                       if a["protocol_state"] == "DATA" else b"action=DUNNO\n\n")
    try:
        inst = start(instance, restrictions("inet:127.0.0.1:%d" % srv.port), master_cf=ONE_SMTPD)
        c = Raw(inst.port("smtp"))
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<a@example.org>")
        assert c.cmd("RCPT TO:<%s>" % RCPT)[0].startswith("250")
        body = b"Subject: t\r\n\r\nbody\r\n"
        c.send(b"BDAT %d LAST\r\n" % len(body) + body)
        assert c.reply() == ["554 5.7.1 <DATA>: Data command rejected: no chunks"]
        c.cmd("QUIT")
        c.close()
        assert [dict(a)["protocol_state"] for _, a in srv.requests] == ["RCPT", "DATA"]
        assert dict(srv.requests[1][1])["recipient_count"] == "1"
    finally:
        srv.close()
