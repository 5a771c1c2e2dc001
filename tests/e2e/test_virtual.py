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
