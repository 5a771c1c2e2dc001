"""header_checks / mime_header_checks / body_checks in cleanup (Postfix
header_checks(5)): the reply at end of DATA, the log line, the delivered
message."""
import os

from conftest import per_run
from delivery_helpers import read, start_pipeline, wait_maildir
from smtp_helpers import Raw, queued_id

HEADER_RULES = r"""
/^Subject: .*reject me/          REJECT no spam here
/^Subject: .*default reject/     REJECT
/^Subject: .*warn me/            WARN looks odd
/^X-Drop-Me:/                    IGNORE
/^X-Old: (.*)/                   REPLACE X-New: $1
/^Subject: .*tag me/             PREPEND X-Tagged: yes
/^Subject: folded[[:space:]]+second/ REJECT folded matched
/^Subject: .*fine/               DUNNO
"""
MIME_RULES = r"""
/^Content-Type: .*application\/x-evil/   REJECT evil attachment
/^Content-Disposition: .*name="?old\.txt/ REPLACE Content-Disposition: attachment; filename=new.txt
"""
NESTED_RULES = r"""
/^X-Part-Tag: bad/   REJECT nested header refused
/^X-Part-Tag: drop/  IGNORE
"""
BODY_RULES = r"""
/^bad body line/      REJECT body refused
/^drop this line/     IGNORE
/^late marker/        REJECT too late to see
"""


def start_checks(instance, extra=""):
    inst = start_pipeline(instance, start=False, extra=(
        "header_checks = regexp:{tmp}/header_checks\n"
        "mime_header_checks = regexp:{tmp}/mime_header_checks\n"
        "nested_header_checks = regexp:{tmp}/nested_header_checks\n"
        "body_checks = regexp:{tmp}/body_checks\n" + extra))
    for name, text in (("header_checks", HEADER_RULES), ("mime_header_checks", MIME_RULES),
                       ("nested_header_checks", NESTED_RULES), ("body_checks", BODY_RULES)):
        with open(os.path.join(inst.tmp, name), "w") as f:
            f.write(text)
    inst.start()
    inst.wait_log(r"daemon started")
    return inst


def send(inst, message):
    c = Raw(inst.port("smtp"))
    assert c.reply()[0].startswith("220 ")
    assert c.cmd("HELO client.example")[0].startswith("250")
    assert c.cmd("MAIL FROM:<user@yahoo.com>")[0].startswith("250")
    assert c.cmd(per_run("RCPT TO:<tester@mta-test.example>"))[0].startswith("250")
    assert c.cmd("DATA")[0].startswith("354")
    c.send(message.replace("\n", "\r\n") + ".\r\n")
    r = c.reply()
    c.cmd("QUIT")
    c.close()
    return r


def test_actions(instance):
    inst = start_checks(instance)
    r = send(inst, "Subject: please reject me\n\nbody\n")
    assert r == ["550 5.7.1 no spam here"], r
    inst.wait_log(per_run(r"\w+: reject: header Subject: please reject me from "
                          r"localhost\[127\.0\.0\.1\]; from=<user@yahoo\.com> "
                          r"to=<tester@mta-test\.example> proto=SMTP helo=<client\.example>: "
                          r"5\.7\.1 no spam here"))
    assert send(inst, "Subject: a default reject\n\nbody\n") == \
        ["550 5.7.1 message content rejected"]
    assert send(inst, "Subject: folded\n second line\n\nbody\n") == \
        ["550 5.7.1 folded matched"]
    r = send(inst, "Subject: warn me tag me\nX-Drop-Me: gone\nX-Old: value 1\n\n"
                   "drop this line\nkept line\n")
    assert r[0].startswith("250 2.0.0 Ok: queued as "), r
    qid = queued_id(r[0])
    inst.wait_log(per_run(r"%s: warning: header Subject: warn me tag me from "
                          r"localhost\[127\.0\.0\.1\]; from=<user@yahoo\.com> "
                          r"to=<tester@mta-test\.example> proto=SMTP helo=<client\.example>: "
                          r"looks odd") % qid)
    files = wait_maildir(inst, per_run("tester"))
    text = read(files[0])
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    assert "Subject: warn me tag me" in lines
    assert "X-Tagged: yes" not in lines      # WARN was first: the PREPEND rule not reached
    assert "X-New: value 1" in lines and not any(ln.startswith("X-Old") for ln in lines)
    assert not any(ln.startswith("X-Drop-Me") for ln in lines)
    assert body == "kept line\n"
    r = send(inst, "Subject: tag me\n\nbody\n")
    qid = queued_id(r[0])
    inst.wait_log(r"%s: prepend: header Subject: tag me from localhost\[127\.0\.0\.1\]; "
                  r"from=<user@yahoo\.com> .*: X-Tagged: yes" % qid)
    files = wait_maildir(inst, per_run("tester"), count=2)
    texts = [read(f) for f in files]
    tagged = [t for t in texts if "Subject: tag me" in t][0]
    assert "\nX-Tagged: yes\nSubject: tag me\n" in tagged


def test_body_reject_and_mime_header(instance):
    inst = start_checks(instance)
    assert send(inst, "Subject: x\n\nok\nbad body line here\n") == ["550 5.7.1 body refused"]
    inst.wait_log(r"reject: body bad body line here from localhost\[127\.0\.0\.1\];")
    msg = ("Subject: x\nMime-Version: 1.0\nContent-Type: application/x-evil\n\nbody\n")
    assert send(inst, msg) == ["550 5.7.1 evil attachment"]


def test_body_checks_size_limit(instance):
    inst = start_checks(instance, "body_checks_size_limit = 100\n")
    filler = "".join("filler line %03d\n" % i for i in range(20))
    r = send(inst, "Subject: x\n\n" + filler + "late marker\n")
    assert r[0].startswith("250 2.0.0 Ok"), r
    assert send(inst, "Subject: x\n\nlate marker\n") == ["550 5.7.1 too late to see"]


def test_no_header_body_checks(instance):
    inst = start_checks(instance, "receive_override_options = no_header_body_checks\n")
    r = send(inst, "Subject: please reject me\n\nbody\n")
    assert r[0].startswith("250 2.0.0 Ok"), r


MULTIPART = """Subject: parts
Mime-Version: 1.0
Content-Type: multipart/mixed;
 boundary="b-123"

preamble
--b-123
Content-Type: text/plain
X-Part-Tag: %s

drop this line
first part
--b-123
Content-Type: %s
Content-Disposition: attachment; filename="old.txt"

second part
--b-123--
"""


def test_multipart_part_headers(instance):
    inst = start_checks(instance)
    # A MIME header of a part goes to mime_header_checks ...
    assert send(inst, MULTIPART % ("x", "application/x-evil")) == ["550 5.7.1 evil attachment"]
    inst.wait_log(r"reject: header Content-Type: application/x-evil from localhost")
    # ... another header of a part to nested_header_checks, not header_checks.
    assert send(inst, MULTIPART % ("bad", "text/plain")) == ["550 5.7.1 nested header refused"]
    r = send(inst, MULTIPART % ("drop", "text/plain"))
    assert r[0].startswith("250 2.0.0 Ok"), r
    text = read(wait_maildir(inst, per_run("tester"))[0])
    assert "X-Part-Tag" not in text
    assert "Content-Disposition: attachment; filename=new.txt\n" in text
    assert "old.txt" not in text
    # Part bodies are body lines: body_checks applies.
    assert "drop this line" not in text and "first part\n" in text
    assert "--b-123\nContent-Type: text/plain\n\nfirst part" in text


NESTED = """Subject: nested
Mime-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

plain text
--inner
Content-Type: message/rfc822

Subject: please reject me
X-Part-Tag: %s
Content-Type: multipart/mixed; boundary=deep

--deep
Content-Type: %s

deep body
--deep--
--inner--
after inner
--outer--
"""


def test_nested_parts_and_attached_messages(instance):
    """Every level: the headers of a message attached inside a nested
    multipart go to nested_header_checks (its Subject is not header_checks'
    business), MIME headers at any depth to mime_header_checks."""
    inst = start_checks(instance)
    assert send(inst, NESTED % ("bad", "text/plain")) == ["550 5.7.1 nested header refused"]
    inst.wait_log(r"reject: header X-Part-Tag: bad from localhost")
    assert send(inst, NESTED % ("ok", "application/x-evil")) == ["550 5.7.1 evil attachment"]
    r = send(inst, NESTED % ("drop", "text/plain"))
    assert r[0].startswith("250 2.0.0 Ok"), r
    text = read(wait_maildir(inst, per_run("tester"))[0])
    assert "X-Part-Tag" not in text
    assert "Subject: please reject me\n" in text and "deep body\n" in text
    assert "--outer--\n" in text and "after inner\n" in text
    # A digest's parts are messages: their headers are nested ones.
    digest = ("Subject: d\nMime-Version: 1.0\nContent-Type: multipart/digest; boundary=dg\n\n"
              "--dg\n\nX-Part-Tag: bad\nSubject: inside\n\nbody\n--dg--\n")
    assert send(inst, digest) == ["550 5.7.1 nested header refused"]


def test_sendmail_reject_bounces_to_sender(instance):
    """A header_checks REJECT of sendmail mail: nobody reads a reply, so, as
    Postfix's cleanup does, the message is returned to the sender with the
    reject text; nothing goes to corrupt/, nothing is lost."""
    import subprocess
    from conftest import BIN
    from delivery_helpers import PIPELINE_CF, queue_files, wait_queue_empty
    inst = start_pipeline(instance, master_cf=PIPELINE_CF + "pickup unix n - n 60 1 pickup\n",
                          start=False, extra="header_checks = regexp:{tmp}/header_checks\n")
    with open(os.path.join(inst.tmp, "header_checks"), "w") as f:
        f.write(HEADER_RULES)
    inst.start()
    inst.wait_log(r"daemon started")
    sender, rcpt = per_run("tester2@mta-test.example"), per_run("tester@mta-test.example")
    r = subprocess.run([os.path.join(BIN, "sendmail"), "-f", sender, rcpt],
                       input=b"Subject: please reject me\n\nthe body\n", capture_output=True,
                       timeout=30, env=dict(os.environ, MAIL_CONFIG=inst.config_dir))
    assert r.returncode == 0, r.stderr
    m = inst.wait_log(per_run(r"(\w+): reject: header Subject: please reject me from local; "
                              r"from=<tester2@mta-test\.example> to=<tester@mta-test\.example>: "
                              r"5\.7\.1 no spam here"))
    qid = m.group(1)
    inst.wait_log(per_run(r"%s: to=<tester@mta-test\.example>, relay=none, .*dsn=5\.7\.1, "
                          r"status=bounced \(no spam here\)" % qid))
    notice = read(wait_maildir(inst, per_run("tester2"))[0])
    assert "no spam here" in notice and "Subject: please reject me" in notice, notice
    assert maildir_new_count(per_run("tester")) == 0
    wait_queue_empty(inst)
    assert queue_files(inst, "corrupt") == [] and queue_files(inst, "maildrop") == []


def maildir_new_count(user):
    from delivery_helpers import maildir_new
    return len(maildir_new(user))


def test_relocated_at_delivery_bounces(instance):
    """relocated_maps for mail that bypassed smtpd's RCPT check (sendmail):
    qmgr bounces it as Postfix's trivial-rewrite does (error class, 5.1.6
    "User has moved to ..."), the other recipient is delivered."""
    import subprocess
    from conftest import BIN
    from delivery_helpers import PIPELINE_CF, wait_queue_empty
    inst = start_pipeline(instance, master_cf=PIPELINE_CF + "pickup unix n - n 60 1 pickup\n",
                          start=False, extra="relocated_maps = texthash:{tmp}/relocated\n")
    moved = per_run("tester3@mta-test.example")
    with open(os.path.join(inst.tmp, "relocated"), "w") as f:
        f.write("%s new.home@elsewhere.example\n" % moved)
    inst.start()
    inst.wait_log(r"daemon started")
    sender = per_run("tester2@mta-test.example")
    r = subprocess.run([os.path.join(BIN, "sendmail"), "-f", sender, moved,
                        per_run("tester@mta-test.example")],
                       input=b"Subject: are you there\n\nhello\n", capture_output=True,
                       timeout=30, env=dict(os.environ, MAIL_CONFIG=inst.config_dir))
    assert r.returncode == 0, r.stderr
    inst.wait_log(per_run(r"to=<tester3@mta-test\.example>, relay=none, .*dsn=5\.1\.6, "
                          r"status=bounced \(User has moved to new\.home@elsewhere\.example\)"))
    wait_maildir(inst, per_run("tester"))
    notice = read(wait_maildir(inst, per_run("tester2"))[0])
    assert "User has moved to new.home@elsewhere.example" in notice, notice
    wait_queue_empty(inst)
