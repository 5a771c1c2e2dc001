"""The smtp and lmtp delivery agents against real peers (Debian's Postfix,
smtp-sink, Dovecot LMTP), driven through the deliver_request protocol by
tests/helpers/deliver_req (a stand-in for qmgr: it queues one message and
sends one request to private/smtp or private/lmtp)."""
import os
import re
import subprocess

import pytest

import peers
from agent_helpers import deliver, message, self_signed, tls_receiver
from peers_fixtures import *  # noqa: F401,F403

AGENT_CF = """\
smtp unix - - n - - smtp
relay unix - - n - - smtp
lmtp unix - - n - - lmtp
"""

EXTRA = """\
smtp_connect_timeout = 5s
smtp_helo_timeout = 20s
"""


def agent(instance, extra=""):
    inst = instance(master_cf=AGENT_CF, main_cf_extra=EXTRA + extra)
    inst.wait_log(r"daemon started")
    return inst


def sink_body(raw):
    """smtp-sink's dump: its own X-* headers, then the message as received."""
    return raw


def test_sink_two_recipients_dots_and_log(instance, smtp_sink):
    inst = agent(instance)
    body = b"line one\n.starts with a dot\n..two dots\n.\nend\n"
    qid, res = deliver(inst, "[127.0.0.1]:%d" % smtp_sink.port, "a@client.test",
                       ["x@dest.test", "y@dest.test"], message(body))
    assert res["x@dest.test"][:3] == ("sent", "2.0.0", "D")
    assert res["y@dest.test"][:3] == ("sent", "2.0.0", "D")
    smtp_sink.wait_for(1)
    raw = smtp_sink.messages()[0]
    assert b"X-Rcpt-Args: <x@dest.test>" in raw and b"X-Rcpt-Args: <y@dest.test>" in raw
    # smtp-sink stores the content with dot-stuffing undone: exactly ours.
    assert raw.endswith(b"\n\n" + message(body) + b"\n") or message(body) in raw
    line = inst.wait_log(r"postfix/smtp\[\d+\]: %s: to=<x@dest\.test>, relay=127\.0\.0\.1"
                         r"\[127\.0\.0\.1\]:%d, delay=[0-9.]+, delays=[0-9.]+/[0-9.]+/[0-9.]+/"
                         r"[0-9.]+, dsn=2\.0\.0, status=sent \(250 2\.0\.0 Ok" % (qid, smtp_sink.port))
    assert line


def test_connection_refused_defers_then_delivers(instance, start_peer):
    inst = agent(instance)
    port = peers.free_port()
    qid, res = deliver(inst, "[127.0.0.1]:%d" % port, "a@client.test", "x@dest.test", message())
    status, dsn, mark, reason = res["x@dest.test"]
    assert (status, dsn, mark) == ("deferred", "4.4.1", "T")
    assert reason == "connect to 127.0.0.1[127.0.0.1]:%d: Connection refused" % port
    inst.wait_log(r"%s: to=<x@dest\.test>, relay=none, delay=[0-9.]+, delays=[0-9./]+, "
                  r"dsn=4\.4\.1, status=deferred \(connect to 127\.0\.0\.1\[127\.0\.0\.1\]:%d: "
                  r"Connection refused\)" % (qid, port))
    sink = start_peer(peers.SmtpSink(port=port))
    qid, res = deliver(inst, "[127.0.0.1]:%d" % port, "a@client.test", "x@dest.test", message())
    assert res["x@dest.test"][0] == "sent"
    sink.wait_for(1)


def test_reject_bounces_and_soft_reject_defers(instance, start_peer):
    inst = agent(instance)
    hard = start_peer(peers.SmtpSink(hard_reject=["RCPT"]))
    qid, res = deliver(inst, "[127.0.0.1]:%d" % hard.port, "a@client.test", "x@dest.test",
                       message())
    status, dsn, mark, reason = res["x@dest.test"]
    assert (status, mark) == ("bounced", "T")
    assert dsn.startswith("5.")
    assert re.match(r"host 127\.0\.0\.1\[127\.0\.0\.1\] said: 5\d\d .* \(in reply to RCPT TO "
                    r"command\)$", reason), reason
    soft = start_peer(peers.SmtpSink(soft_reject=["MAIL"]))
    qid, res = deliver(inst, "[127.0.0.1]:%d" % soft.port, "a@client.test", "x@dest.test",
                       message())
    status, dsn, mark, reason = res["x@dest.test"]
    assert status == "deferred" and dsn.startswith("4.")
    assert reason.endswith("(in reply to MAIL FROM command)")


def test_next_host_after_refusal(instance, smtp_sink):
    """smtp_fallback_relay: the destination refuses connections, the
    fallback relay takes the mail."""
    dead = peers.free_port()
    inst = agent(instance, "smtp_fallback_relay = [127.0.0.1]:%d\n" % smtp_sink.port)
    qid, res = deliver(inst, "[127.0.0.1]:%d" % dead, "a@client.test", "x@dest.test", message())
    assert res["x@dest.test"][0] == "sent"
    inst.wait_log(r"connect to 127\.0\.0\.1\[127\.0\.0\.1\]:%d: Connection refused" % dead)
    smtp_sink.wait_for(1)


def _postfix_maildir_message(user, n=1):
    files = user.maildir().wait_for(n)
    return files


def test_to_debian_postfix_8bit_and_large_byte_identical(instance, start_peer, mail_user):
    pf = start_peer(peers.PostfixPeer())
    inst = agent(instance)
    body8 = "Grüße aus Jerewan: Բարեւ\n".encode() * 20
    msg8 = message(body8, extra_headers=b"MIME-Version: 1.0\nContent-Type: text/plain; "
                   b"charset=utf-8\nContent-Transfer-Encoding: 8bit\n")
    line = b"0123456789abcdefghijklmnopqrstuvwxyz.ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789\n"
    big = message(b".leading dot\n" + line * (5 * 1024 * 1024 // len(line)))
    for m in (msg8, big):
        qid, res = deliver(inst, "[127.0.0.1]:%d" % pf.port, "a@client.test",
                           "%s@localhost" % mail_user.name, m)
        assert res["%s@localhost" % mail_user.name][0] == "sent", res
    files = mail_user.maildir.files()
    peers.wait_until(lambda: len(mail_user.maildir.files()) >= 2, 60, "2 messages in Maildir")
    got = [p.read_bytes() for p in mail_user.maildir.files()]
    for m in (msg8, big):
        assert any(g.endswith(m) for g in got), "message not byte-identical at Postfix"
    del files


def test_starttls_opportunistic_to_postfix(instance, start_peer, mail_user, tmp_path):
    cert, key = self_signed(str(tmp_path))
    pf = start_peer(peers.PostfixPeer(main_cf={
        "smtpd_tls_security_level": "may", "smtpd_tls_cert_file": cert,
        "smtpd_tls_key_file": key}))
    inst = agent(instance, "smtp_tls_security_level = may\n")
    qid, res = deliver(inst, "[127.0.0.1]:%d" % pf.port, "a@client.test",
                       "%s@localhost" % mail_user.name, message(b"secret\n"))
    assert res["%s@localhost" % mail_user.name][0] == "sent", res
    inst.wait_log(r"postfix/smtp\[\d+\]: Untrusted TLS connection established to "
                  r"127\.0\.0\.1\[127\.0\.0\.1\]:%d: TLSv1\.[23] with cipher \S+ \(\d+/\d+ bits\)"
                  % pf.port)
    pf.wait_log(r"disconnect from .* starttls=1 ")
    mail_user.maildir.wait_for(1)


def test_tls_session_cache_resumes_sessions(instance, tmp_path):
    """smtp_tls_session_cache_database (set by Debian's stock main.cf):
    tlsmgr keeps the session the server handed out, and the next delivery
    to that server -- another connection, maybe another smtp process --
    resumes it instead of a full handshake."""
    cert, key = self_signed(str(tmp_path))
    rx = tls_receiver(instance, cert, key)
    # One smtp process per delivery, both chrooted as in Debian's master.cf:
    # the sessions are shared through tlsmgr, not kept in a process.
    inst = instance(master_cf="smtp unix - - y - - smtp -o max_use=1\n"
                    "tlsmgr unix - - y 1000? 1 tlsmgr\n",
                    main_cf_extra=EXTRA + "smtp_tls_security_level = may\n"
                    "smtp_tls_session_cache_database = btree:${{data_directory}}/smtp_scache\n")
    inst.wait_log(r"daemon started")
    for n in range(1, 4):
        qid, res = deliver(inst, "[127.0.0.1]:%d" % rx.port("smtp"), "a@client.test",
                           "x@dest.test", message())
        assert res["x@dest.test"][0] == "sent", res
        rx.wait_log(r"Anonymous TLS connection established from", count=n)
    assert rx.log().count("Reusing old session") == 2, rx.log()[-3000:]
    assert len(set(re.findall(r"postfix/smtp\[(\d+)\]: \S+: to=<x@dest", inst.log()))) == 3
    st = os.stat(os.path.join(inst.data_dir, "smtp_scache.db"))
    assert st.st_mode & 0o777 == 0o600
    assert "warning" not in inst.log(), inst.log()[-3000:]


def test_tls_sessions_not_reused_without_the_cache(instance, tmp_path):
    """The same deliveries without smtp_tls_session_cache_database: every
    connection is a full handshake (what the cache above changes)."""
    cert, key = self_signed(str(tmp_path))
    rx = tls_receiver(instance, cert, key)
    inst = agent(instance, "smtp_tls_security_level = may\n")
    for n in range(1, 3):
        qid, res = deliver(inst, "[127.0.0.1]:%d" % rx.port("smtp"), "a@client.test",
                           "x@dest.test", message())
        assert res["x@dest.test"][0] == "sent", res
        rx.wait_log(r"Anonymous TLS connection established from", count=n)
    assert "Reusing old session" not in rx.log()


def test_encrypt_level_without_starttls_defers(instance, smtp_sink):
    inst = agent(instance, "smtp_tls_security_level = encrypt\n")
    qid, res = deliver(inst, "[127.0.0.1]:%d" % smtp_sink.port, "a@client.test", "x@dest.test",
                       message())
    status, dsn, mark, reason = res["x@dest.test"]
    assert status == "deferred"
    assert reason == ("TLS is required, but was not offered by host "
                      "127.0.0.1[127.0.0.1]"), reason


def test_lmtp_into_dovecot(instance, start_peer, mail_user):
    dc = start_peer(peers.Dovecot())
    inst = agent(instance)
    qid, res = deliver(inst, "inet:127.0.0.1:%d" % dc.lmtp_port, "a@client.test",
                       "%s@localhost" % mail_user.name, message(b"via lmtp\n"), transport="lmtp")
    assert res["%s@localhost" % mail_user.name][:3] == ("sent", "2.0.0", "D"), res
    mail_user.maildir.wait_for(1)
    inst.wait_log(r"postfix/lmtp\[\d+\]: %s: to=<%s@localhost>, relay=127\.0\.0\.1\[127\.0\.0\.1\]"
                  r":%d, .*status=sent" % (qid, mail_user.name, dc.lmtp_port))
    qid, res = deliver(inst, "unix:%s" % dc.lmtp_socket, "a@client.test",
                       ["%s@localhost" % mail_user.name, "nosuchuser@localhost"],
                       message(b"via lmtp unix\n"), transport="lmtp")
    assert res["%s@localhost" % mail_user.name][0] == "sent", res
    assert res["nosuchuser@localhost"][0] == "bounced", res
    mail_user.maildir.wait_for(2)
