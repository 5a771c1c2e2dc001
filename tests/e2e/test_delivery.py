"""The whole pipeline: smtpd -> cleanup -> qmgr -> local, with real clients."""
import os
import re

from delivery_helpers import (maildir_new, read, smtp_send, start_pipeline, wait_maildir,
                              wait_queue_empty)
from smtp_helpers import Raw, queued_id


def test_lab_telnet_dialog_to_maildir(instance):
    inst = start_pipeline(instance)
    c = Raw(inst.port("smtp"))
    assert c.reply()[0].startswith("220 ")
    assert c.cmd("HELO client.example")[0].startswith("250")
    assert c.cmd("mail from: user@yahoo.com") == ["250 2.1.0 Ok"]
    assert c.cmd("rcpt to: tester@mta-test.example") == ["250 2.1.5 Ok"]
    assert c.cmd("data")[0].startswith("354")
    c.send("Subject: lab test\r\n\r\nthis is a test\r\n.\r\n")
    r = c.reply()
    assert r[0].startswith("250 2.0.0 Ok: queued as "), r
    qid = queued_id(r[0])
    assert c.cmd("quit") == ["221 2.0.0 Bye"]
    c.close()
    files = wait_maildir(inst, "tester")
    assert len(files) == 1
    text = read(files[0])
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    assert lines[0] == "Return-Path: <user@yahoo.com>"
    assert "Delivered-To: tester@mta-test.example" in lines
    assert any(ln.startswith("Received: from client.example") for ln in lines)
    assert "Subject: lab test" in lines
    assert body == "this is a test\n"
    inst.wait_log(r"%s: from=<user@yahoo\.com>, size=\d+, nrcpt=1 \(queue active\)" % qid)
    inst.wait_log(r"%s: to=<tester@mta-test\.example>, relay=local, delay=[\d.]+, "
                  r"delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=2\.0\.0, status=sent "
                  r"\(delivered to maildir\)" % qid)
    inst.wait_log(r"%s: removed" % qid)
    wait_queue_empty(inst)
