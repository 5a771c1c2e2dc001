"""Virtual domains at RCPT (smtpd_unlisted): an address of a
virtual_mailbox_domains / virtual_alias_domains domain, or of a relay
domain with relay_recipient_maps, that its table does not list is refused
with 550 5.1.1 and Postfix's NOQUEUE line; listed ones, catch-alls and
extensions are accepted."""
import pathlib

from smtp_helpers import Raw, start

VIRT = ("virtual_mailbox_domains = vdom.example\n"
        "virtual_mailbox_maps = texthash:{tmp}/vmailbox\n"
        "virtual_alias_domains = adom.example\n"
        "virtual_alias_maps = texthash:{tmp}/valias\n"
        "relay_domains = backup.example\n"
        "relay_recipient_maps = texthash:{tmp}/relayrcpt\n"
        "recipient_delimiter = +\n")


def tables(inst):
    # smtpd opens them at its first client, after this
    tmp = pathlib.Path(inst.tmp)
    (tmp / "vmailbox").write_text("alice@vdom.example vdom.example/alice/\n"
                                  "@catch.vdom.example catch/\n")
    (tmp / "valias").write_text("bob@adom.example alice@vdom.example\n"
                                "carol@vdom.example alice@vdom.example\n")
    (tmp / "relayrcpt").write_text("known@backup.example x\n")


def rcpt(c, addr):
    return c.cmd("RCPT TO:<%s>" % addr)


def test_unlisted_virtual_recipients(instance):
    inst = start(instance, VIRT + "virtual_mailbox_domains = vdom.example, catch.vdom.example\n")
    tables(inst)
    c = Raw(inst.port("smtp"))
    c.reply()
    c.cmd("EHLO client.example")
    assert c.cmd("MAIL FROM:<s@sender.example>") == ["250 2.1.0 Ok"]
    assert rcpt(c, "nobody@vdom.example") == [
        "550 5.1.1 <nobody@vdom.example>: Recipient address rejected: "
        "User unknown in virtual mailbox table"]
    assert rcpt(c, "nobody@adom.example") == [
        "550 5.1.1 <nobody@adom.example>: Recipient address rejected: "
        "User unknown in virtual alias table"]
    assert rcpt(c, "nobody@backup.example") == [
        "550 5.1.1 <nobody@backup.example>: Recipient address rejected: "
        "User unknown in relay recipient table"]
    # the table result is not a key: a value is never looked up as an address
    assert rcpt(c, "vdom.example/alice/@vdom.example")[0].startswith("550 5.1.1")
    # no recipient accepted yet, so no queue file: NOQUEUE
    ok = ["250 2.1.5 Ok"]
    assert rcpt(c, "alice@vdom.example") == ok
    assert rcpt(c, "alice+tag@vdom.example") == ok       # extension stripped
    assert rcpt(c, "carol@vdom.example") == ok           # virtual_alias_maps answers too
    assert rcpt(c, "anyone@catch.vdom.example") == ok    # @domain catch-all
    assert rcpt(c, "bob@adom.example") == ok
    assert rcpt(c, "known@backup.example") == ok
    c.cmd("QUIT")
    inst.wait_log(r"NOQUEUE: reject: RCPT from \S+\[127\.0\.0\.1\]: 550 5\.1\.1 "
                  r"<nobody@vdom\.example>: Recipient address rejected: User unknown in "
                  r"virtual mailbox table; from=<s@sender\.example> to=<nobody@vdom\.example> "
                  r"proto=ESMTP helo=<client\.example>\n")
    inst.wait_log(r"NOQUEUE: reject: RCPT from \S+\[127\.0\.0\.1\]: 550 5\.1\.1 "
                  r"<nobody@adom\.example>: Recipient address rejected: User unknown in "
                  r"virtual alias table; from=<s@sender\.example> to=<nobody@adom\.example> "
                  r"proto=ESMTP helo=<client\.example>\n")


def test_unreadable_table_is_a_temporary_failure(instance):
    inst = start(instance, VIRT)
    tables(inst)
    (pathlib.Path(inst.tmp) / "vmailbox").unlink()
    c = Raw(inst.port("smtp"))
    c.reply()
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<s@sender.example>")
    assert rcpt(c, "alice@vdom.example") == [
        "451 4.3.0 <alice@vdom.example>: Temporary lookup failure"]
    c.cmd("QUIT")


def test_no_mailbox_table_no_check(instance):
    # Postfix: an empty virtual_mailbox_maps / relay_recipient_maps checks nothing
    inst = start(instance, "virtual_mailbox_domains = vdom.example\nrelay_domains = backup.example\n")
    c = Raw(inst.port("smtp"))
    c.reply()
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<s@sender.example>")
    assert rcpt(c, "whoever@vdom.example") == ["250 2.1.5 Ok"]
    assert rcpt(c, "whoever@backup.example") == ["250 2.1.5 Ok"]
    c.cmd("QUIT")


# --- delivery by virtual(8) ---------------------------------------------------

import os
import re
import shutil
import tempfile

from delivery_helpers import PIPELINE_CF, smtp_send, start_pipeline

VIRTUAL_CF = PIPELINE_CF + "virtual unix - n n - - virtual\n"
VUID = 5071  # no account needed: virtual(8) takes ids from its tables


def vmail_base():
    base = tempfile.mkdtemp(prefix="mta-vmail-")
    os.chmod(base, 0o755)
    dom = os.path.join(base, "vdom.example")
    os.mkdir(dom, 0o700)
    os.chown(dom, VUID, VUID)
    return base


def start_virtual(instance, base, extra=""):
    inst = start_pipeline(instance, master_cf=VIRTUAL_CF, start=False, extra=(
        "virtual_mailbox_domains = vdom.example\n"
        "virtual_mailbox_base = %s\n"
        "virtual_mailbox_maps = texthash:{tmp}/vmailbox\n"
        "virtual_uid_maps = static:%d\n"
        "virtual_gid_maps = texthash:{tmp}/vgid\n"
        "recipient_delimiter = +\n" % (base, VUID)) + extra)
    tmp = pathlib.Path(inst.tmp)
    (tmp / "vmailbox").write_text("alice@vdom.example vdom.example/alice/\n"
                                  "bob@vdom.example vdom.example/bob\n"
                                  "evil@vdom.example ../../escape/\n"
                                  "@vdom.example vdom.example/catchall/\n")
    (tmp / "vgid").write_text("@vdom.example %d\n" % VUID)
    inst.start()
    inst.wait_log(r"daemon started")
    return inst


def new_files(d):
    p = os.path.join(d, "new")
    return [os.path.join(p, f) for f in os.listdir(p)] if os.path.isdir(p) else []


def test_virtual_maildir_mbox_and_catchall(instance):
    base = vmail_base()
    try:
        inst = start_virtual(instance, base)
        qid = smtp_send(inst, "s@sender.example",
                        ["alice+tag@vdom.example", "bob@vdom.example", "zed@vdom.example"])
        inst.wait_log(r"%s: to=<alice\+tag@vdom\.example>, relay=virtual, delay=\S+, "
                      r"delays=\S+, dsn=2\.0\.0, status=sent \(delivered to maildir\)" % qid)
        inst.wait_log(r"%s: to=<bob@vdom\.example>, relay=virtual, .*dsn=2\.0\.0, "
                      r"status=sent \(delivered to mailbox\)" % qid)
        inst.wait_log(r"%s: to=<zed@vdom\.example>, relay=virtual, .*status=sent "
                      r"\(delivered to maildir\)" % qid)
        files = new_files(os.path.join(base, "vdom.example", "alice"))
        assert len(files) == 1
        st = os.stat(files[0])
        assert (st.st_uid, st.st_gid) == (VUID, VUID)
        text = open(files[0]).read()
        assert text.startswith("Return-Path: <s@sender.example>\nX-Original-To: alice+tag@vdom.example\n"
                               "Delivered-To: alice+tag@vdom.example\n")
        assert "hello" in text
        mbox = os.path.join(base, "vdom.example", "bob")
        assert os.stat(mbox).st_uid == VUID
        m = open(mbox).read()
        assert m.startswith("From s@sender.example ") and "Delivered-To: bob@vdom.example\n" in m
        assert len(new_files(os.path.join(base, "vdom.example", "catchall"))) == 1
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_virtual_hostile_result_and_minimum_uid(instance):
    base = vmail_base()
    try:
        inst = start_virtual(instance, base, "virtual_minimum_uid = 6000\n")
        qid = smtp_send(inst, "s@sender.example", ["alice@vdom.example"])
        inst.wait_log(r"warning: recipient alice@vdom\.example: bad uid %d in virtual_uid_maps "
                      r"\(unacceptable numerical id %d \(minimum 6000\)\)" % (VUID, VUID))
        inst.wait_log(r"%s: to=<alice@vdom\.example>, relay=virtual, .*dsn=4\.3\.5, status=deferred "
                      r"\(mail system configuration error\)" % qid)
        assert new_files(os.path.join(base, "vdom.example", "alice")) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)
    base = vmail_base()
    try:
        inst = start_virtual(instance, base)
        qid = smtp_send(inst, "s@sender.example", ["evil@vdom.example"])
        inst.wait_log(r"warning: recipient evil@vdom\.example: virtual_mailbox_maps result "
                      r"is an absolute pathname|contains a \"\.\.\" component")
        inst.wait_log(r"%s: to=<evil@vdom\.example>, relay=virtual, .*status=deferred" % qid)
        assert not os.path.exists(os.path.join(os.path.dirname(base), "escape"))
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_virtual_mailbox_limit(instance):
    base = vmail_base()
    try:
        inst = start_virtual(instance, base, "virtual_mailbox_limit = 2000\n")
        qid = smtp_send(inst, "s@sender.example", ["bob@vdom.example"],
                        msg="Subject: big\r\n\r\n" + ("x" * 70 + "\r\n") * 100)
        inst.wait_log(r"%s: to=<bob@vdom\.example>, relay=virtual, .*dsn=5\.2\.2, "
                      r"status=bounced \(cannot update mailbox" % qid)
        mbox = os.path.join(base, "vdom.example", "bob")
        assert not os.path.exists(mbox) or os.path.getsize(mbox) == 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_relocated_user_refused_at_rcpt(instance):
    inst = start(instance, "relocated_maps = texthash:{tmp}/relocated\n")
    (pathlib.Path(inst.tmp) / "relocated").write_text(
        "gone@mta-test.example new@elsewhere.example\n"
        "@old.mta-test.example the new domain\n"
        "olduser   olduser@new.example\n")
    c = Raw(inst.port("smtp"))
    c.reply()
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<s@sender.example>")
    assert rcpt(c, "gone@mta-test.example") == [
        "550 5.1.6 <gone@mta-test.example>: Recipient address rejected: "
        "User has moved to new@elsewhere.example"]
    # the bare local part matches for a local domain only
    assert rcpt(c, "olduser@mta-test.example") == [
        "550 5.1.6 <olduser@mta-test.example>: Recipient address rejected: "
        "User has moved to olduser@new.example"]
    assert rcpt(c, "olduser@example.org") == ["250 2.1.5 Ok"]  # relayed from mynetworks
    assert rcpt(c, "root@mta-test.example") == ["250 2.1.5 Ok"]
    c.cmd("QUIT")
    inst.wait_log(r"reject: RCPT from \S+\[127\.0\.0\.1\]: 550 5\.1\.6 <gone@mta-test\.example>: "
                  r"Recipient address rejected: User has moved to new@elsewhere\.example; "
                  r"from=<s@sender\.example> to=<gone@mta-test\.example> proto=ESMTP "
                  r"helo=<client\.example>\n")


def test_virtual_unknown_user_at_delivery_bounces(instance):
    # accepted because smtpd does not check; virtual(8) bounces as Postfix's does
    base = vmail_base()
    try:
        inst = start_virtual(instance, base, "virtual_mailbox_domains = vdom.example, o.example\n"
                                             "smtpd_reject_unlisted_recipient = no\n")
        qid = smtp_send(inst, "s@sender.example", ["x@o.example"])
        inst.wait_log(r"%s: to=<x@o\.example>, relay=virtual, .*dsn=5\.1\.1, status=bounced "
                      r"\(unknown user: \"x@o\.example\"\)" % qid)
    finally:
        shutil.rmtree(base, ignore_errors=True)
