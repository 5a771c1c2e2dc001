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
