"""smtpd + cleanup end to end: real clients, the lab's telnet dialog, the
queue file that results."""
import os
import smtplib
import subprocess

from smtp_helpers import Raw, content, dump, incoming, queue_mode, queued_id, recipients, start


def test_lab_telnet_dialog(instance):
    inst = start(instance)
    c = Raw(inst.port("smtp"))
    assert c.reply() == ["220 mta-test.example ESMTP Postfix"]
    assert c.cmd("HELO client.example") == ["250 mta-test.example"]
    assert c.cmd("mail from: user@yahoo.com") == ["250 2.1.0 Ok"]
    assert c.cmd("rcpt to: root@mta-test.example") == ["250 2.1.5 Ok"]
    assert c.cmd("data") == ["354 End data with <CR><LF>.<CR><LF>"]
    c.send("Subject: hello\r\n\r\nthis is a test\r\n.\r\n")
    r = c.reply()
    assert r[0].startswith("250 2.0.0 Ok: queued as ")
    qid = queued_id(r[0])
    assert c.cmd("quit") == ["221 2.0.0 Bye"]
    c.close()
    assert incoming(inst) == [qid]
    assert queue_mode(inst, qid) == 0o700
    lines = dump(inst, qid)
    assert "S user@yahoo.com" in lines
    assert recipients(lines) == ["root@mta-test.example"]
    body = content(lines)
    assert body[0] == "Received: from client.example (localhost [127.0.0.1])"
    assert body[1] == "\tby mta-test.example (Postfix) with SMTP id %s" % qid
    assert body[2].startswith("\tfor <root@mta-test.example>; ")
    assert "Subject: hello" in body
    assert body[-1] == "this is a test"
    inst.wait_log(r"connect from localhost\[127\.0\.0\.1\]")
    inst.wait_log(r"%s: client=localhost\[127\.0\.0\.1\]" % qid)
    inst.wait_log(r"%s: message-id=<\d{14}\.%s@mta-test\.example>" % (qid, qid))
    inst.wait_log(r"disconnect from localhost\[127\.0\.0\.1\] helo=1 mail=1 rcpt=1 data=1 quit=1 "
                  r"commands=5")


def test_smtplib_multiple_recipients(instance):
    inst = start(instance)
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=20) as s:
        code, msg = s.ehlo("client.example")
        assert code == 250
        for kw in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "dsn", "smtputf8",
                   "chunking"):
            assert s.has_extn(kw), kw
        assert not s.has_extn("starttls") and not s.has_extn("auth") and not s.has_extn("vrfy")
        refused = s.sendmail("sender@example.org", ["root@mta-test.example", "root@localhost",
                                                    "daemon@mta-test.example"],
                             "Subject: three\r\n\r\nbody\r\n")
        assert refused == {}
    ids = inst.wait_for(lambda: incoming(inst), what="queue file")
    assert len(ids) == 1
    assert queue_mode(inst, ids[0]) == 0o700
    lines = dump(inst, ids[0])
    assert sorted(recipients(lines)) == ["daemon@mta-test.example", "root@localhost",
                                         "root@mta-test.example"]
    body = content(lines)
    # several recipients: no "for <...>", the date goes on the "by" line
    assert body[1].startswith("\tby mta-test.example (Postfix) with ESMTP id %s; " % ids[0])
    # a client on our own interface is "local": missing headers are added
    assert any(ln.startswith("Message-Id: <") and ids[0] in ln for ln in body)
    assert any(ln.startswith("Date: ") for ln in body)
    assert "From: sender@example.org" in body


def test_swaks(instance):
    inst = start(instance)
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(inst.port("smtp")),
                        "--from", "someone@example.org", "--to", "root@mta-test.example",
                        "--helo", "swaks.example", "--header", "Subject: via swaks",
                        "--body", "hello from swaks", "--timeout", "20"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as" in r.stdout
    ids = incoming(inst)
    assert len(ids) == 1
    lines = dump(inst, ids[0])
    assert recipients(lines) == ["root@mta-test.example"]
    assert "Subject: via swaks" in content(lines)
    assert "hello from swaks" in content(lines)


def test_bdat(instance):
    inst = start(instance)
    c = Raw(inst.port("smtp"))
    c.reply()
    c.cmd("EHLO bdat.example")
    assert c.cmd("MAIL FROM:<a@example.org>") == ["250 2.1.0 Ok"]
    assert c.cmd("RCPT TO:<root@mta-test.example>") == ["250 2.1.5 Ok"]
    chunk = "Subject: x\r\n\r\nbody1\r\n"
    c.send("BDAT %d\r\n%s" % (len(chunk), chunk))
    assert c.reply() == ["250 2.0.0 Ok: %d bytes" % len(chunk)]
    c.send("BDAT 7 LAST\r\nbody2\r\n")
    r = c.reply()
    assert r[0].startswith("250 2.0.0 Ok: %d bytes queued as " % (len(chunk) + 7)), r
    qid = queued_id(r[0])
    c.cmd("QUIT")
    body = content(dump(inst, qid))
    assert body[-2:] == ["body1", "body2"]


def test_relay_denied_outside_mynetworks(instance):
    inst = start(instance, "mynetworks = 127.0.0.1/32\n"
                           "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n")
    c = Raw(inst.port("smtp"), source="127.0.0.2")
    c.reply()
    c.cmd("EHLO outside.example")
    assert c.cmd("MAIL FROM:<a@b.example>") == ["250 2.1.0 Ok"]
    assert c.cmd("RCPT TO:<x@example.org>") == ["554 5.7.1 <x@example.org>: Relay access denied"]
    # local mail is still accepted from outside
    assert c.cmd("RCPT TO:<root@mta-test.example>") == ["250 2.1.5 Ok"]
    c.cmd("QUIT")
    inst.wait_log(r"NOQUEUE: reject: RCPT from [^\[ ]+\[127\.0\.0\.2\]: 554 5\.7\.1 <x@example\.org>: "
                  r"Relay access denied; from=<a@b\.example> to=<x@example\.org> proto=ESMTP "
                  r"helo=<outside\.example>\n")
    # inside mynetworks relaying is permitted
    c = Raw(inst.port("smtp"))
    c.reply()
    c.cmd("EHLO inside.example")
    c.cmd("MAIL FROM:<a@b.example>")
    assert c.cmd("RCPT TO:<x@example.org>") == ["250 2.1.5 Ok"]
    # and a routed address never relays
    c2 = Raw(inst.port("smtp"), source="127.0.0.2")
    c2.reply()
    c2.cmd("EHLO outside.example")
    c2.cmd("MAIL FROM:<a@b.example>")
    assert c2.cmd("RCPT TO:<x%example.org@mta-test.example>")[0].startswith("554 5.7.1")


def test_default_relay_restrictions_defer(instance):
    inst = start(instance, "mynetworks = 127.0.0.1/32\n")
    c = Raw(inst.port("smtp"), source="127.0.0.2")
    c.reply()
    c.cmd("EHLO outside.example")
    c.cmd("MAIL FROM:<a@b.example>")
    assert c.cmd("RCPT TO:<x@example.org>") == ["454 4.7.1 <x@example.org>: Relay access denied"]


def test_unknown_local_user(instance):
    inst = start(instance)
    c = Raw(inst.port("smtp"))
    c.reply()
    c.cmd("EHLO h.example")
    c.cmd("MAIL FROM:<a@b.example>")
    assert c.cmd("RCPT TO:<nosuchuser@mta-test.example>") == [
        "550 5.1.1 <nosuchuser@mta-test.example>: Recipient address rejected: "
        "User unknown in local recipient table"]
    assert c.cmd("DATA") == ["554 5.5.1 Error: no valid recipients"]
    c.cmd("QUIT")
    inst.wait_log(r"NOQUEUE: reject: RCPT from \S+\[127\.0\.0\.1\]: 550 5\.1\.1 "
                  r"<nosuchuser@mta-test\.example>: Recipient address rejected: User unknown in "
                  r"local recipient table; from=<a@b\.example> to=<nosuchuser@mta-test\.example> "
                  r"proto=ESMTP helo=<h\.example>")
    inst.wait_log(r"disconnect from \S+ ehlo=1 mail=1 rcpt=0/1 data=0/1 quit=1 commands=3/5")
    assert incoming(inst) == []


def test_remote_client_gets_no_added_headers(instance):
    inst = start(instance, "mynetworks = 127.0.0.0/8\n")
    c = Raw(inst.port("smtp"), source="127.0.0.2")
    c.reply()
    c.cmd("EHLO h.example")
    c.cmd("MAIL FROM:<a@b.example>")
    c.cmd("RCPT TO:<root@mta-test.example>")
    c.cmd("DATA")
    c.send("Subject: no ids\r\n\r\nx\r\n.\r\n")
    qid = queued_id(c.reply()[0])
    body = content(dump(inst, qid))
    assert not any(ln.lower().startswith(("message-id:", "date:", "from:")) for ln in body)
    inst.wait_log(r"%s: message-id=<>" % qid)
