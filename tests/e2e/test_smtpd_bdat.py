"""BDAT (CHUNKING) under hostile input, over raw sockets.

A BDAT command announces how many bytes of raw content follow it. When the
command is malformed nobody knows where that content ends, so it must never
be read as commands: Postfix answers "521 5.5.4 Syntax: BDAT count [LAST]"
and hangs up. Inside a chunk, a bare CR or bare LF is handled as DATA
handles it (a line break, or with smtpd_forbid_bare_newline = reject the
message is refused), so no queue file -- and nothing relayed from it -- can
hold a <CR> that a next hop might read as a line end (<CR>.<CR> smuggling).
"""
import os
import subprocess

from smtp_helpers import BIN, Raw, incoming, queued_id, start

RCPT = "root@mta-test.example"
BDAT_SYNTAX = "521 5.5.4 Syntax: BDAT count [LAST]"

# What a smuggler puts into the "chunk" of a broken BDAT command: if smtpd
# ever read it as commands, a second message would be queued.
SMUGGLED = (b"RSET\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<root@mta-test.example>\r\n"
            b"DATA\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\n")


def transaction(inst):
    c = Raw(inst.port("smtp"))
    assert c.reply()[0].startswith("220 ")
    c.cmd("EHLO bdat.example")
    assert c.cmd("MAIL FROM:<a@example.org>") == ["250 2.1.0 Ok"]
    assert c.cmd("RCPT TO:<%s>" % RCPT) == ["250 2.1.5 Ok"]
    return c


def rest_of_session(c):
    """Every reply line until the server closes (a timeout fails the test)."""
    lines = []
    while True:
        r = c.reply()
        if not r:
            return lines
        lines += r


def qf_lines(inst, qid):
    """Content lines of a queue file, exactly (qf_dump shows CR as \\x0D)."""
    path = os.path.join(inst.queue_dir, "incoming", qid)
    r = subprocess.run([os.path.join(BIN, "qf_dump"), path], capture_output=True)
    assert r.returncode == 0, r.stderr
    return [ln[2:].decode("latin-1") for ln in r.stdout.split(b"\n") if ln.startswith(b"N ")]


MALFORMED = [b"BDAT", b"BDAT ", b"BDAT abc", b"BDAT -5", b"BDAT +5", b"BDAT 5x", b"BDAT 0x10",
             b"BDAT 99999999999999999999", b"BDAT 9223372036854775808", b"BDAT 5 FIRST",
             b"BDAT 5 LAST extra", b"BDAT 5 LAST LAST", b"BDAT 5\x00 LAST", b"BDAT 5\rLAST",
             b"BDAT 5 LAST\x00"]


def test_malformed_bdat_answers_521_and_hangs_up(instance):
    inst = start(instance)
    for bad in MALFORMED:
        mark = inst.log_mark()
        c = transaction(inst)
        c.send(bad + b"\r\n" + SMUGGLED)
        assert rest_of_session(c) == [BDAT_SYNTAX], bad
        c.close()
        inst.wait_log(r"warning: [0-9A-F]+: malformed BDAT command syntax from "
                      r"localhost\[127\.0\.0\.1\]: BDAT", since=mark)
        inst.wait_log(r"disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1 "
                      r"bdat=0/1 commands=3/4\n", since=mark)
        inst.wait_for(lambda: incoming(inst) == [], what="no queue file after %r" % bad)
    assert "smuggled" not in inst.log()


def test_overlong_bdat_command_hangs_up(instance):
    # Cut at line_length_limit, "BDAT 000...05" would read as "BDAT 0": the
    # count is unknowable, so this too ends the session.
    inst = start(instance)
    c = transaction(inst)
    c.send(b"BDAT " + b"0" * 3000 + b"5 LAST\r\nhello" + SMUGGLED)
    assert rest_of_session(c) == [BDAT_SYNTAX]
    inst.wait_for(lambda: incoming(inst) == [], what="no queue file")


def test_bdat_with_bare_lf_hangs_up_when_bare_newlines_are_rejected(instance):
    inst = start(instance, "smtpd_forbid_bare_newline = reject\n")
    c = transaction(inst)
    c.send(b"BDAT %d LAST\n" % len(SMUGGLED) + SMUGGLED)
    assert rest_of_session(c) == ["550 5.5.2 Error: bare <LF> received"]
    inst.wait_for(lambda: incoming(inst) == [], what="no queue file")


def send_bdat(inst, *chunks):
    """One message in the given chunks; returns the final reply."""
    c = transaction(inst)
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        c.send(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b"") + chunk)
        r = c.reply()
        if not last:
            assert r == ["250 2.0.0 Ok: %d bytes" % len(chunk)], r
    assert c.cmd("QUIT") == ["221 2.0.0 Bye"]
    c.close()
    return r


BARE_CR = b"Subject: cr\r\n\r\nfirst\r.\rMAIL FROM:<evil@example.org>\r\nlast\r"


def test_bare_cr_in_chunk_is_a_line_break(instance):
    inst = start(instance)
    # The same content whole and cut inside "\r\n" and right after a bare CR.
    for chunks in ([BARE_CR], [BARE_CR[:21], BARE_CR[21:25], BARE_CR[25:]],
                   [BARE_CR[:14], BARE_CR[14:]]):
        before = set(incoming(inst))
        r = send_bdat(inst, *chunks)
        assert r[0].startswith("250 2.0.0 Ok: %d bytes queued as " % len(BARE_CR)), r
        qid = queued_id(r[0])
        assert qid not in before
        body = qf_lines(inst, qid)
        assert not any("\\x0D" in ln for ln in body), body
        assert body[-5:] == ["", "first", ".", "MAIL FROM:<evil@example.org>", "last"], body


def test_bare_newlines_in_chunk_rejected_like_data(instance):
    inst = start(instance, "smtpd_forbid_bare_newline = reject\n")
    for content, why in ((BARE_CR, "550 5.5.2 Error: bare <CR> received"),
                         (b"Subject: lf\r\n\r\nfirst\n.\nsecond\r\n",
                          "550 5.5.2 Error: bare <LF> received")):
        r = send_bdat(inst, content[:10], content[10:])
        assert r == [why], r
    # A CRLF split across two chunks is no bare newline.
    r = send_bdat(inst, b"Subject: ok\r", b"\n\r\nfine\r\n")
    assert r[0].startswith("250 2.0.0 Ok: "), r
    assert qf_lines(inst, queued_id(r[0]))[-1] == "fine"
