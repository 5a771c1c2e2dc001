"""Reference tests: every peer helper works against real traffic.

These prove the fixtures themselves (Debian's Postfix, Dovecot, smtp-sink,
smtp-source, s-nail, pflogsumm) and show the shape the tests against our own
MTA take: start what you need, send real mail, count what arrives.
"""

import imaplib
import os
import pwd
import smtplib
import ssl
import stat
import time

import pytest

import peers
from peers_fixtures import *  # noqa: F401,F403  (fixtures by name)


def local(user):
    return f"{user.name}@localhost"


# --- Postfix as a receiving peer ---------------------------------------------


def test_postfix_delivers_smtplib_message_to_maildir(postfix_peer, mail_user):
    refused = postfix_peer.send("alice@client.test", local(mail_user), subject="maildir test")
    assert refused == {}
    mail_user.maildir.wait_for(1, timeout=20)
    [msg] = mail_user.maildir.messages()
    assert msg["Subject"] == "maildir test"
    assert msg["Delivered-To"] == local(mail_user)
    assert msg["Return-Path"] == "<alice@client.test>"
    # The Maildir file belongs to the recipient, as local(8) writes it.
    st = os.stat(mail_user.maildir.files()[0])
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (mail_user.uid, 0o600)
    postfix_peer.wait_log(rf"to=<{local(mail_user)}>, relay=local, .*status=sent "
                          r"\(delivered to maildir\)")


def test_postfix_rejects_unknown_local_user(postfix_peer):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
        postfix_peer.send("alice@client.test", "nosuchuser@localhost")
    code, text = e.value.recipients["nosuchuser@localhost"]
    assert code == 550 and b"User unknown in local recipient table" in text
    postfix_peer.wait_log(r"NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 550 5\.1\.1")


def test_postfix_refuses_to_send_off_box(postfix_peer, mail_user):
    """Without relayhost/transport, the error transport makes smtpd refuse
    any recipient that is not local: no test mail can leave the machine."""
    with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
        postfix_peer.send(local(mail_user), "someone@example.org")
    code, text = e.value.recipients["someone@example.org"]
    assert code == 550 and b"outbound mail disabled in tests" in text


def test_snail_sends_through_postfix_sendmail_and_reads_maildir(postfix_peer, mail_user):
    peers.snail_send(postfix_peer.sendmail_path, local(mail_user), "hello from s-nail",
                     "body\n", sender="root@localhost", env=postfix_peer.sendmail_env())
    mail_user.maildir.wait_for(1, timeout=20)
    postfix_peer.wait_log(r"postfix/pickup\[\d+\]: \w+: uid=0 from=<root@localhost>")
    [line] = peers.snail_headers(mail_user.maildir.path)
    assert "root@localhost" in line and "hello from s-nail" in line


# --- Postfix as a relay, smtp-sink as the next hop --------------------------


def test_postfix_relays_to_smtp_sink(start_peer):
    sink = start_peer(peers.SmtpSink())
    pf = start_peer(peers.PostfixPeer(transport={"relay.test": sink.port}))
    pf.send("alice@client.test", "bob@relay.test", subject="relayed")
    sink.wait_for(1, timeout=20)
    [dump] = sink.messages()
    assert b"X-Rcpt-Args: <bob@relay.test>" in dump
    assert b"Subject: relayed" in dump
    pf.wait_log(rf"to=<bob@relay\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{sink.port}, "
                r".*dsn=2\.0\.0, status=sent \(250 2\.0\.0 Ok")


def test_postfix_relayhost_defers_on_sink_4xx(start_peer):
    sink = start_peer(peers.SmtpSink(soft_reject=["RCPT"]))
    pf = start_peer(peers.PostfixPeer(relayhost=sink.port))
    pf.send("alice@client.test", "bob@far.test")
    pf.wait_log(r"to=<bob@far\.test>, relay=.*dsn=4\.3\.0, status=deferred")
    assert not pf.queue_empty()
    assert sink.count() == 0
    counts = peers.pflogsumm(pf.log_path)
    assert (counts["deferred"], counts["delivered"]) == (1, 0), counts["_output"]


def test_postfix_bounces_on_sink_5xx(start_peer, mail_user):
    sink = start_peer(peers.SmtpSink(hard_reject=["RCPT"]))
    pf = start_peer(peers.PostfixPeer(relayhost=sink.port))
    pf.send(local(mail_user), "bob@far.test")
    pf.wait_log(r"to=<bob@far\.test>, relay=.*dsn=5\.3\.0, status=bounced")
    pf.wait_log(r"sender non-delivery notification")
    mail_user.maildir.wait_for(1, timeout=20)
    [dsn] = mail_user.maildir.messages()
    assert "Undelivered Mail Returned to Sender" in dsn["Subject"]
    pf.wait_log(r"status=sent \(delivered to maildir\)")
    counts = peers.pflogsumm(pf.log_path)
    # received 1 + the bounce (cleanup), bounced 1, the DSN delivered locally
    assert (counts["bounced"], counts["delivered"]) == (1, 1), counts["_output"]


# --- smtp-source as the load generator ---------------------------------------


def test_smtp_source_to_postfix_delivers_all(postfix_peer, mail_user):
    n = 40
    res = peers.smtp_source(postfix_peer.host, postfix_peer.port, messages=n, sessions=4,
                            size=5 * 1024, recipient=local(mail_user))
    assert res.returncode == 0, res.output
    assert mail_user.maildir.wait_for(n, timeout=60) == n
    sizes = {p.stat().st_size for p in mail_user.maildir.files()}
    assert min(sizes) > 5 * 1024


# --- Dovecot: SASL auth socket, IMAP, LMTP -----------------------------------


def test_dovecot_auth_socket_plain(start_peer, mail_user):
    """Speak Dovecot's auth protocol as Postfix's smtpd does: the right Linux
    password (shadow) and the passwd-file password succeed, wrong ones FAIL."""
    dc = start_peer(peers.Dovecot(passwd_users={mail_user.name: "file-secret"}))
    st = os.stat(dc.auth_socket)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_uid == pwd.getpwnam("postfix").pw_uid
    with dc.auth_client() as auth:
        assert auth.server_version[0] == 1
        assert "PLAIN" in auth.mechs and "LOGIN" in auth.mechs
        ok, fields = auth.auth_plain(mail_user.name, mail_user.password)
        assert ok and fields["user"] == mail_user.name
        ok, _ = auth.auth_plain(mail_user.name, "file-secret")
        assert ok
        ok, fields = auth.auth_plain(mail_user.name, "wrong-password")
        assert not ok
        ok, _ = auth.auth_plain("no-such-user", "whatever", no_penalty=True)
        assert not ok


def test_dovecot_imap_lists_maildir_message(dovecot, mail_user):
    new = mail_user.maildir.path / "new"
    for sub in ("new", "cur", "tmp"):
        (mail_user.maildir.path / sub).mkdir(parents=True, exist_ok=True)
        os.chown(mail_user.maildir.path / sub, mail_user.uid, mail_user.gid)
    os.chown(mail_user.maildir.path, mail_user.uid, mail_user.gid)
    f = new / f"{int(time.time())}.P1.test"
    f.write_bytes(b"From: a@b.test\r\nSubject: placed by hand\r\n\r\nhello\r\n")
    os.chown(f, mail_user.uid, mail_user.gid)
    [msg] = dovecot.inbox(mail_user.name, mail_user.password)
    assert msg["Subject"] == "placed by hand"
    with pytest.raises(imaplib.IMAP4.error):
        dovecot.imap(mail_user.name, "wrong-password")


def test_dovecot_imap_starttls_self_signed(start_peer, mail_user):
    dc = start_peer(peers.Dovecot(ssl=True))
    conn = imaplib.IMAP4(dc.host, dc.imap_port, timeout=15)
    try:
        conn.starttls(ssl_context=ssl._create_unverified_context())
        assert conn.login(mail_user.name, mail_user.password)[0] == "OK"
    finally:
        conn.logout()


def test_dovecot_lmtp_delivers_to_maildir(dovecot, mail_user):
    with smtplib.LMTP(dovecot.host, dovecot.lmtp_port, timeout=15) as lmtp:
        refused = lmtp.sendmail("alice@client.test", [mail_user.name],
                                b"Subject: via lmtp\r\n\r\nhi\r\n")
    assert refused == {}
    assert mail_user.maildir.wait_for(1, timeout=10) == 1
    assert [m["Subject"] for m in dovecot.inbox(mail_user.name, mail_user.password)] == ["via lmtp"]


def test_postfix_smtpd_sasl_via_dovecot_then_imap(start_peer, mail_user):
    """The lab's setup end to end: SMTP AUTH checked by Dovecot over
    private/auth, delivery to Maildir, read back over IMAP."""
    pf = peers.PostfixPeer(main_cf={
        "smtpd_sasl_type": "dovecot",
        "smtpd_sasl_path": "private/auth",
        "smtpd_sasl_auth_enable": "yes",
        "mynetworks": "127.0.0.2/32",  # relaying only for authenticated clients
    })
    dc = start_peer(peers.Dovecot(auth_socket=pf.queue_dir / "private" / "auth"))
    start_peer(pf)
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        pf.send(local(mail_user), local(mail_user), login=(mail_user.name, "wrong"))
    assert e.value.smtp_code == 535
    pf.wait_log(r"warning: localhost\[127\.0\.0\.1\]: SASL (PLAIN|LOGIN) authentication failed")
    pf.send(local(mail_user), local(mail_user), subject="authenticated",
            login=(mail_user.name, mail_user.password))
    pf.wait_log(rf"client=localhost\[127\.0\.0\.1\], sasl_method=\w+, "
                rf"sasl_username={mail_user.name}")
    mail_user.maildir.wait_for(1, timeout=20)
    assert [m["Subject"] for m in dc.inbox(mail_user.name, mail_user.password)] == ["authenticated"]


def test_postfix_delivers_through_dovecot_lmtp(start_peer, mail_user):
    dc = start_peer(peers.Dovecot())
    pf = start_peer(peers.PostfixPeer(main_cf={
        "mailbox_transport": f"lmtp:inet:127.0.0.1:{dc.lmtp_port}"}))
    pf.send("alice@client.test", local(mail_user), subject="postfix to lmtp")
    pf.wait_log(rf"to=<{local(mail_user)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{dc.lmtp_port}, "
                r".*status=sent")
    mail_user.maildir.wait_for(1, timeout=20)
    assert mail_user.maildir.messages()[0]["Subject"] == "postfix to lmtp"


# --- pflogsumm on the real log ----------------------------------------------


def test_pflogsumm_counts_postfix_log(postfix_peer, mail_user):
    n = 5
    for i in range(n):
        postfix_peer.send("alice@client.test", local(mail_user), subject=f"m{i}")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        postfix_peer.send("alice@client.test", "nosuchuser@localhost")
    mail_user.maildir.wait_for(n, timeout=30)
    postfix_peer.wait_log(r"status=sent", count=n)
    postfix_peer.wait_log(r": removed$", count=n)
    counts = peers.pflogsumm(postfix_peer.log_path)
    summary = {k: counts[k] for k in ("received", "delivered", "deferred", "bounced", "rejected")}
    assert summary == {"received": n, "delivered": n, "deferred": 0, "bounced": 0,
                       "rejected": 1}, counts["_output"]


# --- helpers themselves ------------------------------------------------------


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def test_stop_ends_every_process(peers_root):
    pf = peers.PostfixPeer()
    with pf:
        master = pf.master_pid
        tree = peers.process_tree(master)
        assert master in tree and len(tree) > 3  # master, qmgr, pickup, postlogd...
        assert peers.tree_cpu_seconds(master) >= 0
        rss, pss = peers.tree_memory_kb(master)
        assert rss > pss > 0
    assert not [p for p in tree if "postfix-root" in _cmdline(p)]
    assert not pf.workdir.exists() or os.environ.get("MTA_KEEP_TMP")


def test_broken_postfix_fails_fast_with_its_log(peers_root):
    t0 = time.monotonic()
    with pytest.raises(peers.PeerError) as e:
        with peers.PostfixPeer(main_cf={"mail_owner": "no-such-user-xyz"}):
            pass
    assert time.monotonic() - t0 < 10
    assert "no-such-user-xyz" in str(e.value)


def test_free_ports_are_distinct():
    ports = {peers.free_port() for _ in range(50)}
    assert len(ports) == 50
    with pytest.raises(peers.PeerError):
        peers.assert_loopback("192.0.2.1")
