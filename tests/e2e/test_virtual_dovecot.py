"""virtual_transport = lmtp:unix:private/dovecot-lmtp, the usual Dovecot
set-up for virtual domains: smtpd validates the address against
virtual_mailbox_maps at RCPT, qmgr routes the virtual mailbox class to
$virtual_transport and Dovecot's LMTP stores the message."""
import os
import pathlib

from delivery_helpers import PIPELINE_CF, smtp_send, start_pipeline
from peers_fixtures import *  # noqa: F401,F403
from smtp_helpers import Raw

LMTP_CF = PIPELINE_CF + "lmtp unix - - n - - lmtp\n"


def test_virtual_domain_user_into_dovecot_lmtp(instance, dovecot, mail_user):
    inst = start_pipeline(instance, users=(), master_cf=LMTP_CF, start=False, extra=(
        "virtual_mailbox_domains = vdom.example\n"
        "virtual_mailbox_maps = texthash:{tmp}/vmailbox\n"
        "virtual_transport = lmtp:unix:private/dovecot-lmtp\n"))
    rcpt = "%s@vdom.example" % mail_user.name
    pathlib.Path(inst.tmp, "vmailbox").write_text("%s whatever/\n" % rcpt)
    inst.start()
    inst.wait_log(r"daemon started")
    os.symlink(dovecot.lmtp_socket, os.path.join(inst.queue_dir, "private", "dovecot-lmtp"))
    c = Raw(inst.port("smtp"))
    c.reply()
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<user@yahoo.com>")
    assert c.cmd("RCPT TO:<nobody@vdom.example>") == [
        "550 5.1.1 <nobody@vdom.example>: Recipient address rejected: "
        "User unknown in virtual mailbox table"]
    c.cmd("QUIT")
    qid = smtp_send(inst, "user@yahoo.com", rcpt, "Subject: vdom\r\n\r\nvirtual via lmtp\r\n")
    inst.wait_log(r"postfix/lmtp\[\d+\]: %s: to=<%s>, relay=.*dsn=2\.0\.0, status=sent "
                  r"\(250 2\.0\.0 " % (qid, rcpt), timeout=30)
    mail_user.maildir.wait_for(1)
    msgs = dovecot.inbox(mail_user.name, mail_user.password)
    assert [str(m["Subject"]) for m in msgs] == ["vdom"]
