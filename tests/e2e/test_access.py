"""Access tables (access(5)) in smtpd: Postfix's lookup order, the actions,
restriction classes, restriction lists as table values, and
smtpd_data_restrictions -- each seen on the wire and in the log. Tables are
texthash: (read from the source file, no postmap)."""
import os

from smtp_helpers import BASE_EXTRA, SMTP_CF, Raw, content, dump, incoming, queued_id

TAIL = "; from=<%s> to=<%s> proto=ESMTP helo=<client.example>"


def make(instance, extra, tables):
    inst = instance(master_cf=SMTP_CF, main_cf_extra=BASE_EXTRA + "local_recipient_maps =\n"
                    "mydestination = $myhostname, localhost\n" + extra, start=False)
    for name, text in tables.items():
        with open(os.path.join(inst.tmp, name), "w") as f:
            f.write(text)
    inst.postfix("start")
    inst.master_pid = inst.read_pid()
    inst.wait_log(r"daemon started")
    return inst


def session(inst, sender="a@client.example"):
    c = Raw(inst.port("smtp"))
    assert c.reply()[0].startswith("220")
    c.cmd("EHLO client.example")
    assert c.cmd("MAIL FROM:<%s>" % sender)[0].startswith("250")
    return c


def rejected(inst, reply, sender, rcpt, stage="RCPT"):
    """The NOQUEUE line exactly as Postfix writes it (pflogsumm, fail2ban)."""
    line = "NOQUEUE: reject: %s from localhost[127.0.0.1]: %s%s" % (stage, reply,
                                                                    TAIL % (sender, rcpt))
    inst.wait_log(re_escape(line))


def re_escape(s):
    import re
    return re.escape(s)


RCPT_TABLE = """\
blocked@mta-test.example REJECT
ext@mta-test.example 550 5.1.1 custom text
warnme@ WARN watch this
infome@mta-test.example INFO noted
deferme@mta-test.example DEFER later
dip@mta-test.example DEFER_IF_PERMIT maybe
classy@mta-test.example myclass
listy@mta-test.example dunno, reject
okay@mta-test.example OK
badcode@mta-test.example 250 fine
"""


def test_recipient_actions(instance):
    inst = make(instance, "recipient_delimiter = +\nsmtpd_restriction_classes = myclass\nmyclass = reject_non_fqdn_sender, reject\n"
                "smtpd_recipient_restrictions = check_recipient_access texthash:{tmp}/rcpt\n",
                {"rcpt": RCPT_TABLE})
    s = "a@client.example"
    c = session(inst)
    want = {
        "blocked": "554 5.7.1 <blocked@mta-test.example>: Recipient address rejected: Access denied",
        "ext+foo": "550 5.1.1 <ext+foo@mta-test.example>: Recipient address rejected: custom text",
        "deferme": "450 4.7.1 <deferme@mta-test.example>: Recipient address rejected: later",
        "dip": "450 4.7.1 <dip@mta-test.example>: Recipient address rejected: maybe",
        "classy": "554 5.7.1 <classy@mta-test.example>: Recipient address rejected: Access denied",
        "listy": "554 5.7.1 <listy@mta-test.example>: Recipient address rejected: Access denied",
        "badcode": "451 4.3.5 Server configuration error",
    }
    for user, reply in want.items():
        rcpt = user + "@mta-test.example"
        assert c.cmd("RCPT TO:<%s>" % rcpt) == [reply], user
        rejected(inst, reply, s, rcpt)
    for user in ("warnme", "infome", "okay", "nobody"):
        assert c.cmd("RCPT TO:<%s@mta-test.example>" % user)[0].startswith("250"), user
    inst.wait_log(re_escape("NOQUEUE: warn: RCPT from localhost[127.0.0.1]: watch this" +
                            TAIL % (s, "warnme@mta-test.example")))
    # The queue file is open after the first accepted recipient: its ID, as Postfix.
    inst.wait_log(r"[0-9A-F]+: " + re_escape("info: RCPT from localhost[127.0.0.1]: noted" +
                                             TAIL % (s, "infome@mta-test.example")))
    inst.wait_log(re_escape('access table texthash:%s/rcpt: invalid result "250 fine" for '
                            'badcode@mta-test.example: bad SMTP reply code 250' % inst.tmp))
    c.cmd("QUIT")
    c.close()


def test_sender_parent_domains_and_table_reload(instance):
    inst = make(instance, "smtpd_sender_restrictions = check_sender_access texthash:{tmp}/senders\n"
                "access_map_reject_code = 553\n",
                {"senders": "example.org REJECT spam domain\n"})
    c = session(inst, "x@mail.example.org")
    reply = "553 5.7.1 <x@mail.example.org>: Sender address rejected: spam domain"
    assert c.cmd("RCPT TO:<u@mta-test.example>") == [reply]
    rejected(inst, reply, "x@mail.example.org", "u@mta-test.example")
    # The table is replaced: the same smtpd process sees the new contents.
    path = os.path.join(inst.tmp, "senders")
    with open(path + ".new", "w") as f:
        f.write("example.org OK\nx@mail.example.org DEFER_IF_REJECT not sure\n")
    os.rename(path + ".new", path)
    assert c.cmd("RCPT TO:<u@mta-test.example>")[0].startswith("250")
    c.cmd("QUIT")
    c.close()


def test_client_ip_prefix(instance):
    inst = make(instance, "smtpd_client_restrictions = check_client_access texthash:{tmp}/clients\n",
                {"clients": "127.0 REJECT no loopback here\n"})
    c = session(inst)
    reply = "554 5.7.1 <localhost[127.0.0.1]>: Client host rejected: no loopback here"
    assert c.cmd("RCPT TO:<u@mta-test.example>") == [reply]
    rejected(inst, reply, "a@client.example", "u@mta-test.example")
    c.close()


def test_data_restrictions(instance):
    inst = make(instance, "smtpd_data_restrictions = check_sender_access texthash:{tmp}/d\n",
                {"d": "bad@client.example REJECT no data for you\n"})
    c = session(inst)
    assert c.cmd("RCPT TO:<u@mta-test.example>")[0].startswith("250")
    assert c.cmd("DATA")[0].startswith("354")
    c.send("Subject: t\r\n\r\nhi\r\n.\r\n")
    assert c.reply()[0].startswith("250")
    assert c.cmd("MAIL FROM:<bad@client.example>")[0].startswith("250")
    assert c.cmd("RCPT TO:<u@mta-test.example>")[0].startswith("250")
    # The answer is about what the table looked up (Postfix), not the stage.
    reply = "554 5.7.1 <bad@client.example>: Sender address rejected: no data for you"
    assert c.cmd("DATA") == [reply]
    # One recipient: Postfix names it (to=); with several it names none.
    inst.wait_log(r"[0-9A-F]+: " + re_escape("reject: DATA from localhost[127.0.0.1]: %s; "
                            "from=<bad@client.example> to=<u@mta-test.example> proto=ESMTP "
                            "helo=<client.example>" % reply))
    c.cmd("RSET")
    assert c.cmd("MAIL FROM:<bad@client.example>")[0].startswith("250")
    assert c.cmd("RCPT TO:<u@mta-test.example>")[0].startswith("250")
    assert c.cmd("RCPT TO:<v@mta-test.example>")[0].startswith("250")
    assert c.cmd("DATA") == [reply]
    inst.wait_log(r"[0-9A-F]+: " + re_escape("reject: DATA from localhost[127.0.0.1]: %s; "
                            "from=<bad@client.example> proto=ESMTP helo=<client.example>" % reply))
    c.cmd("QUIT")
    c.close()


EOD_TABLE = """\
bad@client.example REJECT no mail for you
later@client.example DEFER try again
held@client.example REDIRECT other@mta-test.example
"""


def test_end_of_data_restrictions(instance):
    """smtpd_end_of_data_restrictions run after the last byte, before the
    queue file is committed: the reject is logged with the queue ID and
    "END-OF-MESSAGE", and the message is gone; an accepted one is queued."""
    inst = make(instance, "smtpd_end_of_data_restrictions = check_sender_access texthash:{tmp}/eod, "
                "reject_unauth_destination, warn_if_reject, reject\n", {"eod": EOD_TABLE})
    c = session(inst, "bad@client.example")
    assert c.cmd("RCPT TO:<u@mta-test.example>")[0].startswith("250")
    assert c.cmd("DATA")[0].startswith("354")
    c.send("Subject: t\r\n\r\nhi\r\n.\r\n")
    reply = "554 5.7.1 <bad@client.example>: Sender address rejected: no mail for you"
    assert c.reply() == [reply]
    m = inst.wait_log(r"([0-9A-F]+): " + re_escape("reject: END-OF-MESSAGE from localhost[127.0.0.1]: "
                      "%s; from=<bad@client.example> to=<u@mta-test.example> proto=ESMTP "
                      "helo=<client.example>" % reply))
    bad_qid = m.group(1)
    # BDAT ends the same way; a 4xx action with two recipients names none.
    assert c.cmd("MAIL FROM:<later@client.example>")[0].startswith("250")
    assert c.cmd("RCPT TO:<u@mta-test.example>")[0].startswith("250")
    assert c.cmd("RCPT TO:<v@mta-test.example>")[0].startswith("250")
    body = b"Subject: t\r\n\r\nhi\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(body) + body)
    reply = "450 4.7.1 <later@client.example>: Sender address rejected: try again"
    assert c.reply() == [reply]
    inst.wait_log(r"[0-9A-F]+: " + re_escape("reject: END-OF-MESSAGE from localhost[127.0.0.1]: "
                  "%s; from=<later@client.example> proto=ESMTP helo=<client.example>" % reply))
    # A message action found there still reaches cleanup.
    c.cmd("MAIL FROM:<held@client.example>")
    c.cmd("RCPT TO:<u@mta-test.example>")
    c.cmd("DATA")
    c.send("Subject: t\r\n\r\nhi\r\n.\r\n")
    held = queued_id(c.reply()[0])
    inst.wait_log(re_escape("%s: redirect: END-OF-MESSAGE from localhost[127.0.0.1]: "
                            "<held@client.example>: Sender address triggers REDIRECT "
                            "other@mta-test.example; from=<held@client.example> "
                            "to=<u@mta-test.example>" % held))
    assert "A redirect=other@mta-test.example" in dump(inst, held)
    # The stage's own answer (reject), here only logged (warn_if_reject).
    c.cmd("MAIL FROM:<good@client.example>")
    c.cmd("RCPT TO:<u@mta-test.example>")
    c.cmd("DATA")
    c.send("Subject: t\r\n\r\nhi\r\n.\r\n")
    good = queued_id(c.reply()[0])
    inst.wait_log(re_escape("%s: reject_warning: END-OF-MESSAGE from localhost[127.0.0.1]: 554 5.7.1 "
                            "<END-OF-MESSAGE>: End-of-data rejected: Access denied; "
                            "from=<good@client.example> to=<u@mta-test.example> proto=ESMTP "
                            "helo=<client.example>" % good))
    c.cmd("QUIT")
    c.close()
    # No qmgr here: what was accepted stays in incoming/, the rejected is gone.
    assert good in incoming(inst) and held in incoming(inst)
    assert bad_qid not in incoming(inst)


def test_invalid_helo_and_defer_if(instance):
    inst = make(instance, "smtpd_helo_restrictions = reject_invalid_helo_hostname\n"
                "smtpd_recipient_restrictions = check_recipient_access texthash:{tmp}/r,\n"
                "    defer_if_reject, reject_non_fqdn_recipient, defer_if_permit\n",
                {"r": "ok@mta-test.example OK\n"})
    c = Raw(inst.port("smtp"))
    c.reply()
    c.cmd("EHLO bad_name!")
    c.cmd("MAIL FROM:<a@client.example>")
    reply = "501 5.5.2 <bad_name!>: Helo command rejected: Invalid name"
    assert c.cmd("RCPT TO:<u@mta-test.example>") == [reply]
    inst.wait_log(re_escape("NOQUEUE: reject: RCPT from localhost[127.0.0.1]: %s; "
                            "from=<a@client.example> to=<u@mta-test.example> proto=ESMTP "
                            "helo=<bad_name!>" % reply))
    c.close()
    c = session(inst)
    # OK ends the list before defer_if_permit.
    assert c.cmd("RCPT TO:<ok@mta-test.example>")[0].startswith("250")
    # reject_non_fqdn_recipient would reject: defer_if_reject turns it into 450.
    assert c.cmd("RCPT TO:<u@localhost>") == [
        "450 4.7.1 <u@localhost>: Recipient address rejected: defer_if_reject requested"]
    # Nothing rejects, then defer_if_permit: the accept becomes 450.
    assert c.cmd("RCPT TO:<u@mta-test.example>") == [
        "450 4.7.1 <u@mta-test.example>: Recipient address rejected: defer_if_permit requested"]
    c.close()


def test_delay_reject_no(instance):
    """smtpd_delay_reject = no: each list answers at its own command."""
    inst = make(instance, "smtpd_delay_reject = no\n"
                "smtpd_helo_restrictions = check_helo_access texthash:{tmp}/h\n"
                "smtpd_sender_restrictions = check_sender_access texthash:{tmp}/s\n",
                {"h": "bad.example REJECT go away\n", "s": "spam.example REJECT no spam\n"})
    c = Raw(inst.port("smtp"))
    assert c.reply()[0].startswith("220")
    reply = "554 5.7.1 <x.bad.example>: Helo command rejected: go away"
    assert c.cmd("HELO x.bad.example") == [reply]
    inst.wait_log(re_escape("NOQUEUE: reject: HELO from localhost[127.0.0.1]: %s; proto=SMTP "
                            "helo=<x.bad.example>" % reply))
    c.cmd("EHLO client.example")
    reply = "554 5.7.1 <a@spam.example>: Sender address rejected: no spam"
    assert c.cmd("MAIL FROM:<a@spam.example>") == [reply]
    inst.wait_log(re_escape("NOQUEUE: reject: MAIL from localhost[127.0.0.1]: %s; "
                            "from=<a@spam.example> proto=ESMTP helo=<client.example>" % reply))
    # The rejected MAIL left no transaction.
    assert c.cmd("RCPT TO:<u@mta-test.example>")[0].startswith("503")
    assert c.cmd("MAIL FROM:<a@client.example>")[0].startswith("250")
    assert c.cmd("RCPT TO:<u@mta-test.example>")[0].startswith("250")
    c.close()


def test_delay_reject_no_client(instance):
    inst = make(instance, "smtpd_delay_reject = no\n"
                "smtpd_client_restrictions = check_client_access texthash:{tmp}/c\n",
                {"c": "localhost REJECT not you\n"})
    c = Raw(inst.port("smtp"))
    reply = "554 5.7.1 <localhost[127.0.0.1]>: Client host rejected: not you"
    assert c.reply() == [reply]
    inst.wait_log(re_escape("NOQUEUE: reject: CONNECT from localhost[127.0.0.1]: %s; "
                            "proto=SMTP" % reply))
    assert c.cmd("EHLO client.example") == [
        "503 5.7.0 Error: access denied for localhost[127.0.0.1]"]
    assert c.cmd("QUIT")[0].startswith("221")
    c.close()


def test_prepend(instance):
    """PREPEND: the header is in the queued message, before smtpd's Received:,
    once even though delay_reject evaluates the sender list per recipient."""
    inst = make(instance, "smtpd_sender_restrictions = check_sender_access texthash:{tmp}/s\n"
                "smtpd_recipient_restrictions = check_recipient_access texthash:{tmp}/r\n",
                {"s": "a@client.example PREPEND X-Sender-Tag: checked\n",
                 "r": "v@mta-test.example PREPEND X-Rcpt-Tag: vip\n"})
    c = session(inst)
    for rcpt in ("u@mta-test.example", "v@mta-test.example", "w@mta-test.example"):
        assert c.cmd("RCPT TO:<%s>" % rcpt)[0].startswith("250")
    assert c.cmd("DATA")[0].startswith("354")
    c.send("Subject: t\r\n\r\nhi\r\n.\r\n")
    qid = queued_id(c.reply()[0])
    c.cmd("QUIT")
    c.close()
    lines = content(dump(inst, qid))
    assert lines[:2] == ["X-Sender-Tag: checked", "X-Rcpt-Tag: vip"], lines
    assert lines[2].startswith("Received: from client.example"), lines
    assert sum(1 for ln in lines if ln.startswith("X-")) == 2, lines


def test_reject_unlisted_sender(instance):
    inst = make(instance, "smtpd_sender_restrictions = reject_unlisted_sender\n"
                "local_recipient_maps = texthash:{tmp}/users\n", {"users": "known x\n"})
    c = session(inst, "nobody@mta-test.example")
    reply = ("550 5.1.0 <nobody@mta-test.example>: Sender address rejected: User unknown in "
             "local recipient table")
    assert c.cmd("RCPT TO:<known@mta-test.example>") == [reply]
    rejected(inst, reply, "nobody@mta-test.example", "known@mta-test.example")
    c.cmd("RSET")
    assert c.cmd("MAIL FROM:<known@mta-test.example>")[0].startswith("250")
    assert c.cmd("RCPT TO:<known@mta-test.example>")[0].startswith("250")
    c.close()


def test_pattern_tables_get_the_full_key_only(instance):
    """regexp/pcre/cidr tables are asked the whole address, never the
    domain or user@ partial keys (Postfix)."""
    inst = make(instance, "smtpd_sender_restrictions = check_sender_access regexp:{tmp}/re\n",
                {"re": "/^example\\.org$/ REJECT domain key\n/^x@$/ REJECT local key\n"
                       "/^y@example\\.org$/ REJECT full key\n"})
    c = session(inst, "x@example.org")
    assert c.cmd("RCPT TO:<u@mta-test.example>")[0].startswith("250")
    c.cmd("RSET")
    c.cmd("MAIL FROM:<y@example.org>")
    assert c.cmd("RCPT TO:<u@mta-test.example>") == [
        "554 5.7.1 <y@example.org>: Sender address rejected: full key"]
    c.close()


def test_warn_if_reject(instance):
    inst = make(instance, "smtpd_recipient_restrictions = warn_if_reject,\n"
                "    reject_non_fqdn_recipient, check_recipient_access texthash:{tmp}/r\n",
                {"r": "u@localhost REJECT real\n"})
    c = session(inst)
    # The warned reject does not end the list: the table still rejects.
    assert c.cmd("RCPT TO:<u@localhost>") == [
        "554 5.7.1 <u@localhost>: Recipient address rejected: real"]
    inst.wait_log(re_escape("NOQUEUE: reject_warning: RCPT from localhost[127.0.0.1]: 504 5.5.2 "
                            "<u@localhost>: Recipient address rejected: need fully-qualified "
                            "address" + TAIL % ("a@client.example", "u@localhost")))
    assert c.cmd("RCPT TO:<v@localhost>")[0].startswith("250")
    c.close()


def test_reject_unauth_pipelining(instance):
    """Postfix's per-session flag: commands sent ahead by a client that was
    not offered PIPELINING (HELO), or behind a command that ends a group
    (EHLO), make reject_unauth_pipelining refuse; a client that waits for
    each reply is not refused. smtpd_forbid_unauth_pipelining = no lets the
    session go on, as Postfix 3.7 does."""
    inst = make(instance, "smtpd_forbid_unauth_pipelining = no\n"
                "smtpd_data_restrictions = reject_unauth_pipelining\n", {})
    reply = "503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining"
    c = Raw(inst.port("smtp"))
    assert c.reply()[0].startswith("220")
    c.send("HELO client.example\r\nMAIL FROM:<a@client.example>\r\nRCPT TO:<u@mta-test.example>\r\n")
    assert c.reply()[0].startswith("250")
    assert c.reply()[0].startswith("250")
    assert c.reply()[0].startswith("250")
    assert c.cmd("DATA") == [reply]
    c.cmd("QUIT")
    c.close()
    inst.wait_log(re_escape("improper command pipelining after HELO from localhost[127.0.0.1]: "
                            "MAIL FROM:<a@client.example>"))
    inst.wait_log(r"[0-9A-F]+: " + re_escape("reject: DATA from localhost[127.0.0.1]: %s; "
                                             "from=<a@client.example> to=<u@mta-test.example> "
                                             "proto=SMTP helo=<client.example>" % reply))
    # Pipelining after EHLO (which must end a group) sets it too.
    c = Raw(inst.port("smtp"))
    c.reply()
    c.send("EHLO client.example\r\nMAIL FROM:<a@client.example>\r\n")
    c.reply()
    assert c.reply()[0].startswith("250")
    assert c.cmd("RCPT TO:<u@mta-test.example>")[0].startswith("250")
    assert c.cmd("DATA") == [reply]
    c.close()
    # Proper pipelining after EHLO (MAIL, RCPT in one send) is allowed.
    c = session(inst)
    c.send("RCPT TO:<u@mta-test.example>\r\nRCPT TO:<v@mta-test.example>\r\n")
    assert c.reply()[0].startswith("250")
    assert c.reply()[0].startswith("250")
    assert c.cmd("DATA")[0].startswith("354")
    c.send("Subject: t\r\n\r\nhi\r\n.\r\n")
    assert c.reply()[0].startswith("250")
    c.cmd("QUIT")
    c.close()


def test_undefined_restriction_class_answers_451(instance):
    """A class listed in smtpd_restriction_classes without a definition:
    451 4.3.5 (smtpd cannot know what it would have rejected), logged."""
    inst = make(instance, "smtpd_restriction_classes = ghost\n"
                "smtpd_recipient_restrictions = ghost, permit\n", {})
    c = session(inst)
    assert c.cmd("RCPT TO:<u@mta-test.example>") == ["451 4.3.5 Server configuration error"]
    c.close()
    inst.wait_log(re_escape("warning: restriction class ghost: no definition; answering 451 4.3.5"))
