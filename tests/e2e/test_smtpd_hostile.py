"""smtpd under hostile input: long lines, NUL bytes, recipient floods, huge
DATA, SMTP smuggling, pipelining abuse, disconnects, timeouts, full disk."""
import os
import socket
import subprocess
import threading
import time

from smtp_helpers import Raw, content, dump, incoming, queued_id, start

RCPT = "root@mta-test.example"


def normal_mail_works(inst):
    c = Raw(inst.port("smtp"))
    assert c.reply()[0].startswith("220 ")
    c.cmd("EHLO ok.example")
    assert c.cmd("MAIL FROM:<ok@example.org>") == ["250 2.1.0 Ok"]
    assert c.cmd("RCPT TO:<%s>" % RCPT) == ["250 2.1.5 Ok"]
    assert c.cmd("DATA")[0].startswith("354")
    c.send("Subject: still alive\r\n\r\nok\r\n.\r\n")
    r = c.reply()
    assert r[0].startswith("250 2.0.0 Ok: queued as"), r
    c.cmd("QUIT")
    c.close()
    return queued_id(r[0])


def session(inst, ehlo=True, **kw):
    c = Raw(inst.port("smtp"), **kw)
    assert c.reply()[0].startswith("220 ")
    if ehlo:
        c.cmd("EHLO test.example")
    return c


def test_one_megabyte_command_line(instance):
    inst = start(instance)
    c = session(inst)
    c.send("MAIL FROM:<" + "a" * (1 << 20) + "@example.org>\r\n")
    r = c.reply()
    assert r[0][0] == "5", r
    assert c.cmd("NOOP") == ["250 2.0.0 Ok"]  # exactly one reply for the long line
    c.cmd("QUIT")
    inst.wait_log(r"warning: \S+: request longer than 2048: MAIL FROM:<aaaa")
    normal_mail_works(inst)


def test_nul_bytes(instance):
    inst = start(instance)
    c = session(inst)
    assert c.cmd("MAIL FROM:<a\x00b@example.org>")[0].startswith("500 5.5.2")
    assert c.cmd("MAIL FROM:<ab@example.org>") == ["250 2.1.0 Ok"]
    assert c.cmd("RCPT TO:<%s>" % RCPT) == ["250 2.1.5 Ok"]
    c.cmd("DATA")
    c.send(b"Subject: nul\r\n\r\nbefore\x00after\r\n.\r\n")
    r = c.reply()
    assert r[0].startswith("250 "), r
    c.cmd("QUIT")
    normal_mail_works(inst)


def test_ten_thousand_recipients(instance):
    inst = start(instance, "recipient_delimiter = +\n")
    c = session(inst)
    c.cmd("MAIL FROM:<flood@example.org>")
    payload = "".join("RCPT TO:<root+%d@mta-test.example>\r\n" % i for i in range(10000))
    t = threading.Thread(target=lambda: _send_quietly(c, payload.encode()))
    t.start()
    replies = []
    while True:
        r = c.reply()
        if not r:
            break
        replies.append(r[-1])
        if r[-1].startswith("421"):
            break
    t.join()
    ok = [r for r in replies if r.startswith("250")]
    over = [r for r in replies if r.startswith("452 4.5.3 Error: too many recipients")]
    assert len(ok) <= 1000
    assert over, replies[-5:]
    assert replies[-1] == "421 4.7.0 mta-test.example Error: too many errors"
    c.close()
    normal_mail_works(inst)


def _send_quietly(c, data):
    try:
        c.sock.sendall(data)
    except OSError:
        pass


def test_hundred_megabytes_over_size_limit(instance):
    inst = start(instance)
    c = session(inst)
    c.cmd("MAIL FROM:<big@example.org>")
    c.cmd("RCPT TO:<%s>" % RCPT)
    assert c.cmd("DATA")[0].startswith("354")
    line = b"x" * 998 + b"\r\n"
    block = line * 1024  # 1 MB

    def stream_it():
        try:
            c.sock.sendall(b"Subject: big\r\n\r\n")
            for _ in range(100):
                c.sock.sendall(block)
            c.sock.sendall(b".\r\n")
        except OSError:
            pass

    t = threading.Thread(target=stream_it)
    t.start()
    r = c.reply()
    t.join()
    assert r == ["552 5.3.4 Error: message file too big"], r
    assert c.cmd("QUIT") == ["221 2.0.0 Bye"]
    # smtpd aborts the cleanup stream without waiting for it; the
    # incomplete (0600) file disappears when cleanup sees the abort.
    inst.wait_for(lambda: incoming(inst) == [], what="aborted queue file removed")
    normal_mail_works(inst)


SMUGGLING = [b"\n.\n", b"\r.\r", b"\r.\n", b"\n.\r\n", b"\n.\r", b"\r\n.\n", b"\r.\r\n",
             b"\r\n\x00.\r\n"]


def test_smuggling_never_splits_a_message(instance):
    inst = start(instance)
    for variant in SMUGGLING:
        before = set(incoming(inst))
        c = session(inst)
        c.cmd("MAIL FROM:<a@example.org>")
        c.cmd("RCPT TO:<%s>" % RCPT)
        assert c.cmd("DATA")[0].startswith("354")
        c.send(b"Subject: smuggle\r\n\r\nfirst" + variant +
               b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<root@mta-test.example>\r\n"
               b"DATA\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\n")
        r = c.reply()
        assert r[0].startswith("250 2.0.0 Ok: queued as"), (variant, r)
        # nothing else was answered: the rest was message content
        assert c.cmd("QUIT") == ["221 2.0.0 Bye"], variant
        c.close()
        new = set(incoming(inst)) - before
        assert len(new) == 1, variant
        body = "\n".join(content(dump(inst, new.pop())))
        assert "MAIL FROM:<evil@example.org>" in body, variant
        assert "second" in body


def test_pregreeting_pipelining(instance):
    # The banner goes out at once by default: then whether these bytes beat
    # it is a race. smtpd_pregreet_wait makes the pre-greeting test certain.
    inst = start(instance, "smtpd_pregreet_wait = 2s\n")
    s = socket.create_connection(("127.0.0.1", inst.port("smtp")), timeout=10)
    s.sendall(b"EHLO early.example\r\nMAIL FROM:<a@example.org>\r\n")
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    assert not data.startswith(b"220"), data
    assert data.startswith(b"554 5.5.0 Error: SMTP protocol synchronization"), data
    inst.wait_log(r"improper command pipelining after CONNECT from \S+: EHLO early\.example")
    normal_mail_works(inst)


def test_unauth_pipelining_after_helo(instance):
    inst = start(instance)
    c = session(inst, ehlo=False)
    assert c.cmd("HELO old.example") == ["250 mta-test.example"]
    c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n" % RCPT)
    r = c.reply()
    assert r == ["554 5.5.0 Error: SMTP protocol synchronization"], r
    assert c.reply() == []  # closed


def test_content_pipelined_after_data(instance):
    inst = start(instance)
    c = session(inst)
    c.cmd("MAIL FROM:<a@example.org>")
    c.cmd("RCPT TO:<%s>" % RCPT)
    c.send("DATA\r\nSubject: eager\r\n\r\nx\r\n.\r\n")
    assert c.reply() == ["554 5.5.0 Error: SMTP protocol synchronization"]
    inst.wait_for(lambda: incoming(inst) == [], what="no queue file")


def test_disconnect_mid_data_leaves_no_file(instance):
    inst = start(instance)
    c = session(inst)
    c.cmd("MAIL FROM:<a@example.org>")
    c.cmd("RCPT TO:<%s>" % RCPT)
    c.cmd("DATA")
    c.send("Subject: cut\r\n\r\n" + "partial line\r\n" * 1000)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()
    inst.wait_log(r"lost connection after DATA \(\d+ bytes\) from")
    time.sleep(0.3)
    assert incoming(inst) == []
    normal_mail_works(inst)


def test_forbidden_command(instance):
    inst = start(instance)
    c = session(inst, ehlo=False)
    c.send("GET / HTTP/1.0\r\nHost: example\r\n\r\n")
    assert c.reply() == ["221 2.7.0 Error: I can break rules, too. Goodbye."]
    assert c.reply() == []
    inst.wait_log(r"warning: non-SMTP command from \S+: GET / HTTP/1\.0")


def test_idle_timeout_and_trickle(instance):
    inst = start(instance, "smtpd_timeout = 2s\n")
    c = session(inst)
    t0 = time.time()
    assert c.reply() == ["421 4.4.2 mta-test.example Error: timeout exceeded"]
    assert time.time() - t0 < 5
    # one byte every half second never completes a request in time
    c = session(inst)
    t0 = time.time()
    for ch in "NOOP NOOP NOOP NOOP":
        try:
            c.send(ch)
        except OSError:
            break
        time.sleep(0.5)
    r = c.reply()
    assert r == ["421 4.4.2 mta-test.example Error: timeout exceeded"], r
    assert time.time() - t0 < 12
    inst.wait_log(r"timeout after EHLO from")


def test_error_limits_and_unknown_commands(instance):
    inst = start(instance, "smtpd_hard_error_limit = 5\n")
    c = session(inst)
    for _ in range(4):
        assert c.cmd("BOGUS") == ["500 5.5.2 Error: command not recognized"]
    assert c.cmd("BOGUS") == ["500 5.5.2 Error: command not recognized"]
    assert c.reply() == ["421 4.7.0 mta-test.example Error: too many errors"]
    inst.wait_log(r"disconnect from \S+ ehlo=1 unknown=0/5 commands=1/6")


def test_commands_postfix_does_not_know(instance):
    """Postfix's smtpd has no EXPN or LHLO: they get the unknown-command
    reply, like any other word it does not know."""
    inst = start(instance)
    c = session(inst)
    for cmd in ("XYZZY", "EXPN root", "LHLO client.example", "MAILX FROM:<a@example.org>"):
        assert c.cmd(cmd) == ["500 5.5.2 Error: command not recognized"], cmd
    assert c.cmd("QUIT") == ["221 2.0.0 Bye"]
    inst.wait_log(r"disconnect from \S+ ehlo=1 quit=1 unknown=0/4 commands=2/6")


def test_full_disk(instance):
    import smtp_helpers
    inst = instance(master_cf=smtp_helpers.SMTP_CF,
                    main_cf_extra=smtp_helpers.BASE_EXTRA + "message_size_limit = 1000000\n",
                    start=False)
    os.makedirs(inst.queue_dir, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", inst.queue_dir], check=True)
    try:
        inst.start()
        inst.wait_log(r"daemon started")
        c = session(inst)
        assert c.cmd("MAIL FROM:<a@example.org>") == ["250 2.1.0 Ok"]
        assert c.cmd("RCPT TO:<%s>" % RCPT) == ["250 2.1.5 Ok"]
        # the disk fills up while the client is talking
        filler = os.path.join(inst.queue_dir, "filler")
        subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=64k"], capture_output=True)
        assert c.cmd("DATA")[0].startswith("354")
        c.send("Subject: full\r\n\r\n" + ("y" * 100 + "\r\n") * 5000 + ".\r\n")
        r = c.reply()
        assert r == ["452 4.3.1 Insufficient system storage"], r
        c.cmd("QUIT")
        assert incoming(inst) == []
        # a full disk is refused at MAIL already
        c = session(inst)
        assert c.cmd("MAIL FROM:<a@example.org>") == ["452 4.3.1 Insufficient system storage"]
        c.cmd("QUIT")
        os.unlink(filler)
        normal_mail_works(inst)
    finally:
        inst.teardown()
        subprocess.run(["umount", "-l", inst.queue_dir])


def _unwritable_incoming(inst):
    """cleanup (the mail owner) can no longer create files; root can."""
    d = os.path.join(inst.queue_dir, "incoming")
    mode = os.stat(d).st_mode & 0o7777
    os.chmod(d, 0)
    return lambda: os.chmod(d, mode)


def test_queue_file_refused_after_rcpt(instance):
    """smtpd answers RCPT while cleanup creates the queue file; when that
    fails, the client learns it with cleanup's reason at the end of DATA,
    at the next RCPT, or, with DATA restrictions, at DATA: never a 250 for
    the message, nothing queued, and the next message goes through."""
    inst = start(instance)
    restore = _unwritable_incoming(inst)
    try:
        c = session(inst)
        assert c.cmd("MAIL FROM:<a@example.org>") == ["250 2.1.0 Ok"]
        assert c.cmd("RCPT TO:<%s>" % RCPT) == ["250 2.1.5 Ok"]
        assert c.cmd("DATA")[0].startswith("354")
        c.send("Subject: refused\r\n\r\nbody\r\n.\r\n")
        assert c.reply() == ["452 4.3.1 Insufficient system storage"]
        # The transaction is over: a new one, two recipients.
        assert c.cmd("MAIL FROM:<a@example.org>") == ["250 2.1.0 Ok"]
        assert c.cmd("RCPT TO:<%s>" % RCPT) == ["250 2.1.5 Ok"]
        assert c.cmd("RCPT TO:<%s>" % RCPT) == ["452 4.3.1 Insufficient system storage"]
        assert c.cmd("DATA") == ["452 4.3.1 Insufficient system storage"]
        assert c.cmd("RSET") == ["250 2.0.0 Ok"]
        c.cmd("QUIT")
        assert incoming(inst) == []
        assert inst.wait_log(r"create queue file: .*incoming")
    finally:
        restore()
    normal_mail_works(inst)


def test_queue_file_refused_data_restrictions(instance):
    """With smtpd_data_restrictions (which may log the queue ID) smtpd waits
    for the file at DATA and refuses DATA itself."""
    inst = start(instance, extra="smtpd_data_restrictions = permit_mynetworks\n")
    restore = _unwritable_incoming(inst)
    try:
        c = session(inst)
        assert c.cmd("MAIL FROM:<a@example.org>") == ["250 2.1.0 Ok"]
        assert c.cmd("RCPT TO:<%s>" % RCPT) == ["250 2.1.5 Ok"]
        assert c.cmd("DATA") == ["452 4.3.1 Insufficient system storage"]
        c.cmd("QUIT")
        assert incoming(inst) == []
    finally:
        restore()
    normal_mail_works(inst)
