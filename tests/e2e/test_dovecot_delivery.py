"""Our local(8) and a real Dovecot, as in the lab: Dovecot reads the Maildir
we write (mail_location = maildir:~/Maildir) over IMAP, and
mailbox_transport = lmtp:... hands mailbox delivery to Dovecot's LMTP."""
import os
import socket

import peers
from delivery_helpers import PIPELINE_CF, smtp_send, start_pipeline
from peers_fixtures import *  # noqa: F401,F403
from smtp_helpers import Raw, queued_id

# local(8) passes mailbox deliveries to the lmtp agent (master.cf as Debian's).
LMTP_CF = PIPELINE_CF + "lmtp unix - - n - - lmtp\n"


def imap_subjects(dc, user):
    return sorted(str(m["Subject"]) for m in dc.inbox(user.name, user.password))


def test_dovecot_imap_sees_the_lab_telnet_dialog(instance, dovecot, mail_user):
    inst = start_pipeline(instance, users=())
    rcpt = "%s@mta-test.example" % mail_user.name
    c = Raw(inst.port("smtp"))
    assert c.reply()[0].startswith("220 ")
    assert c.cmd("HELO client.example")[0].startswith("250")
    assert c.cmd("mail from: user@yahoo.com") == ["250 2.1.0 Ok"]
    assert c.cmd("rcpt to: %s" % rcpt) == ["250 2.1.5 Ok"]
    assert c.cmd("data")[0].startswith("354")
    c.send("Subject: lab test over imap\r\n\r\nthis is a test\r\n.\r\n")
    qid = queued_id(c.reply()[0])
    assert c.cmd("quit") == ["221 2.0.0 Bye"]
    c.close()
    inst.wait_log(r"%s: to=<%s>, relay=local, .*status=sent \(delivered to maildir\)"
                  % (qid, rcpt), timeout=20)
    # The Maildir file name ends in the machine's host name (Postfix's
    # get_hostname(), not $myhostname, whose "mta-test.example" this is not).
    files = mail_user.maildir.files()
    assert len(files) == 1
    host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
    name = os.path.basename(str(files[0]))
    assert name.endswith("." + host), (name, host)
    assert ".V" in name and "I" in name and "M" in name
    msgs = dovecot.inbox(mail_user.name, mail_user.password)
    assert len(msgs) == 1
    m = msgs[0]
    assert str(m["Subject"]) == "lab test over imap"
    assert m["Return-Path"] == "<user@yahoo.com>"
    assert m["Delivered-To"] == rcpt
    assert m.get_content().replace("\r\n", "\n") == "this is a test\n"  # IMAP sends CRLF


def lmtp_pipeline(instance, dovecot, nexthop, aliases="postmaster: root\n", extra=""):
    return start_pipeline(instance, users=(), master_cf=LMTP_CF, aliases=aliases,
                          extra="mailbox_transport = lmtp:%s\n%s" % (nexthop, extra))


def test_mailbox_transport_lmtp_inet_into_dovecot(instance, dovecot, mail_user):
    inst = lmtp_pipeline(instance, dovecot, "inet:127.0.0.1:%d" % dovecot.lmtp_port,
                         aliases="postmaster: root\nstaff: %s\n" % mail_user.name)
    direct = "%s@mta-test.example" % mail_user.name
    qid = smtp_send(inst, "user@yahoo.com", direct, "Subject: direct\r\n\r\nvia lmtp\r\n")
    # the lmtp agent logs the delivery, with Dovecot as the relay
    inst.wait_log(r"postfix/lmtp\[\d+\]: %s: to=<%s>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, "
                  r".*dsn=2\.0\.0, status=sent \(250 2\.0\.0 " % (qid, direct, dovecot.lmtp_port),
                  timeout=30)
    inst.wait_log(r"%s: removed" % qid, timeout=20)
    # after alias expansion too; Postfix's orig_to shows the alias
    qid2 = smtp_send(inst, "user@yahoo.com", "staff@mta-test.example",
                     "Subject: alias\r\n\r\nvia alias and lmtp\r\n")
    inst.wait_log(r"postfix/lmtp\[\d+\]: %s: to=<%s>, orig_to=<staff@mta-test\.example>, "
                  r"relay=127\.0\.0\.1.*status=sent" % (qid2, direct), timeout=30)
    inst.wait_log(r"%s: removed" % qid2, timeout=20)
    mail_user.maildir.wait_for(2)
    assert imap_subjects(dovecot, mail_user) == ["alias", "direct"]
    # local(8) did not write the mailbox itself and did not log a second line
    assert "relay=local" not in inst.log()


def test_mailbox_transport_lmtp_unix_private_socket(instance, dovecot, mail_user):
    # smtpd accepts any local part (no local_recipient_maps): Dovecot decides
    inst = lmtp_pipeline(instance, dovecot, "unix:private/dovecot-lmtp",
                         extra="local_recipient_maps =\n")
    # The lab's Dovecot puts its socket into Postfix's queue directory; ours
    # lives in Dovecot's work dir, so link it there.
    os.symlink(dovecot.lmtp_socket, os.path.join(inst.queue_dir, "private", "dovecot-lmtp"))
    rcpts = ["%s@mta-test.example" % mail_user.name, "nosuchuser@mta-test.example"]
    qid = smtp_send(inst, "user@yahoo.com", rcpts, "Subject: unix\r\n\r\nvia unix socket\r\n")
    inst.wait_log(r"postfix/lmtp\[\d+\]: %s: to=<%s>, relay=.*status=sent" % (qid, rcpts[0]),
                  timeout=30)
    # not in passwd: still handed to Dovecot (Postfix semantics), which says 550
    inst.wait_log(r"postfix/lmtp\[\d+\]: %s: to=<%s>, relay=.*status=bounced" % (qid, rcpts[1]),
                  timeout=30)
    inst.wait_log(r"%s: removed" % qid, timeout=20)
    mail_user.maildir.wait_for(1)
    assert imap_subjects(dovecot, mail_user) == ["unix"]


def test_mailbox_transport_down_defers_then_delivers(instance, start_peer, mail_user):
    lmtp_port = peers.free_port()
    inst = lmtp_pipeline(instance, None, "inet:127.0.0.1:%d" % lmtp_port)
    rcpt = "%s@mta-test.example" % mail_user.name
    qid = smtp_send(inst, "user@yahoo.com", rcpt, "Subject: later\r\n\r\nwait for it\r\n")
    inst.wait_log(r"%s: to=<%s>, relay=none, .*status=deferred \(connect to "
                  r"127\.0\.0\.1\[127\.0\.0\.1\]:%d: Connection refused\)" % (qid, rcpt, lmtp_port),
                  timeout=30)
    dc = start_peer(peers.Dovecot(lmtp_port=lmtp_port))
    mark = inst.log_mark()
    inst.wait_log(r"%s: to=<%s>, relay=127\.0\.0\.1.*status=sent" % (qid, rcpt), timeout=30,
                  since=mark)
    mail_user.maildir.wait_for(1)
    assert imap_subjects(dc, mail_user) == ["later"]


def test_mailbox_command_gets_the_message(instance, mail_user):
    out = os.path.join(mail_user.home, "cmd-out")
    inst = start_pipeline(instance, users=(),
                          extra='mailbox_command = /bin/sh -c "cat > %s; env > %s.env"\n'
                          % (out, out))
    rcpt = "%s@mta-test.example" % mail_user.name
    qid = smtp_send(inst, "user@yahoo.com", rcpt, "Subject: cmd\r\n\r\nto a command\r\n")
    inst.wait_log(r"%s: to=<%s>, relay=local, .*status=sent \(delivered to command: "
                  % (qid, rcpt), timeout=20)
    st = os.stat(out)
    assert st.st_uid == mail_user.uid
    data = open(out).read()
    assert data.startswith("From user@yahoo.com ")
    assert "Delivered-To: %s\n" % rcpt in data and data.endswith("to a command\n")
    env = open(out + ".env").read().splitlines()
    assert "SENDER=user@yahoo.com" in env and "RECIPIENT=%s" % rcpt in env
    assert "USER=%s" % mail_user.name in env
