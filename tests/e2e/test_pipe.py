"""The pipe(8) delivery agent, and the error(8)/retry and discard(8) agents.

A script transport (a small Python program run by pipe as a per-run test
user) records the argv, stdin, ids, working directory and environment it
got, so the tests see exactly what pipe(8) executed; Dovecot's real
dovecot-lda delivers through pipe into a Maildir.
"""
import json
import os
import pwd
import re
import shutil
import time

from conftest import REPO, per_run
from peers_fixtures import *  # noqa: F401,F403
from delivery_helpers import PIPELINE_CF, ensure_user, maildir_new, read, start_pipeline, \
    wait_maildir
from smtp_helpers import Raw, queued_id

SCRIPT = r'''#!/usr/bin/python3
import json, os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
data = sys.stdin.buffer.read()
try:
    with open(os.path.join(here, "ctl.json")) as f:
        ctl = json.load(f)
except FileNotFoundError:
    ctl = {}
rec = {"argv": sys.argv, "uid": os.getuid(), "gid": os.getgid(), "cwd": os.getcwd(),
       "env": dict(os.environ), "stdin": data.decode("latin-1")}
name = "%.6f-%d.json" % (time.time(), os.getpid())
with open(os.path.join(here, "out", name), "w") as f:
    json.dump(rec, f)
if ctl.get("sleep"):
    time.sleep(ctl["sleep"])
sys.stdout.write(ctl.get("output", ""))
sys.stdout.flush()
sys.exit(ctl.get("exit", 0))
'''

USER = per_run("tester")


def pipe_instance(instance, services, extra="", master_extra="", files=None):
    """A pipeline instance with pipe services `services` (master.cf text
    after the service columns) and the script installed as {tmp}/script;
    `files` {name: text} are written into {tmp} first."""
    ensure_user(USER)
    cf = PIPELINE_CF + master_extra
    for name, attrs in services.items():
        cf += "%s unix - n n - - pipe\n  %s\n" % (name, attrs.replace("{", "{{").replace("}", "}}")
                                                   .replace("{{tmp}}", "{tmp}"))
    inst = start_pipeline(instance, extra=extra, master_cf=cf, start=False)
    path = os.path.join(inst.tmp, "script")
    with open(path, "w") as f:
        f.write(SCRIPT)
    os.chmod(path, 0o755)
    for name, text in (files or {}).items():
        with open(os.path.join(inst.tmp, name), "w") as f:
            f.write(text.replace("{tmp}", inst.tmp))
        os.chmod(os.path.join(inst.tmp, name), 0o644)
    os.makedirs(os.path.join(inst.tmp, "out"))
    os.chmod(os.path.join(inst.tmp, "out"), 0o777)
    inst.start()
    inst.wait_log(r"daemon started")
    return inst


def control(inst, **ctl):
    with open(os.path.join(inst.tmp, "ctl.json"), "w") as f:
        json.dump(ctl, f)


def runs(inst, count=1, timeout=20):
    out = os.path.join(inst.tmp, "out")

    def got():
        names = sorted(os.listdir(out))
        return len(names) >= count and names
    names = inst.wait_for(got, timeout=timeout, what="%d script run(s)" % count)
    recs = []
    for n in names:
        with open(os.path.join(out, n)) as f:
            recs.append(json.load(f))
    return recs


def send(inst, sender, rcpts, body="Subject: pipe\r\n\r\nhello\r\n"):
    """Raw SMTP, so that hostile (quoted) local parts reach the server as
    written. Returns the queue ID."""
    c = Raw(inst.port("smtp"))
    assert c.reply()[0].startswith("220")
    assert c.cmd("EHLO client.example")[0].startswith("250")
    assert c.cmd("MAIL FROM:<%s>" % sender)[0].startswith("250")
    for r in rcpts:
        reply = c.cmd("RCPT TO:<%s>" % r)
        assert reply[0].startswith("250"), (r, reply)
    assert c.cmd("DATA")[0].startswith("354")
    c.send(re.sub(r"(?m)^\.", "..", body) + ".\r\n")  # SMTP dot-stuffing
    qid = queued_id(c.reply()[0])
    c.cmd("QUIT")
    c.close()
    return qid


HOSTILE = ['"a b"@pipe.example', '"x;y`id`$HOME$(ls)"@pipe.example', '-rf@pipe.example',
           '"it\'s \\"q\\""@pipe.example', 'plain+ext@pipe.example']
# The same addresses in internal (unquoted) form, as pipe passes them.
HOSTILE_INTERNAL = ['a b@pipe.example', 'x;y`id`$HOME$(ls)@pipe.example', '-rf@pipe.example',
                    'it\'s "q"@pipe.example', 'plain+ext@pipe.example']


def test_script_gets_the_exact_argv_without_a_shell(instance):
    inst = pipe_instance(
        instance,
        {"script": "user=%s argv={tmp}/script -f ${sender} -n $nexthop -s ${size} "
                   "-q $(queue_id) x$${recipient} -- ${recipient}" % USER},
        extra="transport_maps = inline:{{pipe.example=script:Next.Hop}}\n"
              "allow_min_user = yes\n")  # else -rf@ is bounced by qmgr (see below)
    sender = "we$ird;`x`@client.example"
    qid = send(inst, '"we$ird;`x`"@client.example', HOSTILE)
    rec = runs(inst)[0]
    pw = pwd.getpwnam(USER)
    size = rec["argv"][6]
    # One invocation for all recipients (recipient limit 50): the element
    # holding ${recipient} expands once per recipient, each address one
    # argv element whatever it contains; nothing is expanded twice; "$$"
    # is a literal "$" (so "x$${recipient}" is no reference).
    assert rec["argv"][1:] == (["-f", sender, "-n", "Next.Hop", "-s", size, "-q", qid,
                                "x${recipient}", "--"] + HOSTILE_INTERNAL)
    assert int(size) >= len("Subject: pipe\n\nhello\n")
    assert (rec["uid"], rec["gid"]) == (pw.pw_uid, pw.pw_gid)
    assert rec["cwd"] == os.path.join(inst.tmp, "queue")
    assert rec["env"]["PATH"] == "/usr/bin:/bin"
    assert not {"SENDER", "RECIPIENT", "HOME", "USER"} & set(rec["env"])
    # No flags: the queued message as it is (cleanup added its headers).
    assert rec["stdin"].startswith("Received: from client.example")
    assert "\nSubject: pipe\n" in rec["stdin"] and rec["stdin"].endswith("\n\nhello\n")
    for r in HOSTILE_INTERNAL:
        inst.wait_log(r"%s: to=<%s>, relay=script, delay=[\d.]+, delays=[\d./]+, dsn=2\.0\.0, "
                      r"status=sent \(delivered via script service\)" % (qid, re.escape(r)))
    inst.wait_log(r"%s: removed" % qid)


def test_flags_shape_the_content_and_the_addresses(instance):
    inst = pipe_instance(
        instance,
        {"flagged": "flags=BDFOR.> user=%s argv={tmp}/script ${original_recipient}" % USER,
         "crlf": "eol=\\r\\n user=%s argv={tmp}/script" % USER,
         "folded": "flags=quh user=%s argv={tmp}/script ${recipient} ${user} ${extension} "
                   "${mailbox} ${domain} ${nexthop} ${sender} ${user?has-user} "
                   "${client_address} ${client_helo} ${client_protocol} ${client_port} "
                   "${sasl_method}" % USER},
        extra="transport_maps = inline:{{f.example=flagged: c.example=crlf: "
              "q.example=folded:Up.Example}}\n"
              "flagged_destination_recipient_limit = 1\nrecipient_delimiter = +\n"
              "virtual_alias_maps = inline:{{alias@f.example=real@f.example}}\n")
    body = "Subject: flags\r\n\r\nFrom me\r\n.dot line\r\nlast\r\n"
    send(inst, "Some.One@client.example", ["alias@f.example", "Real2@F.example"], body)
    recs = runs(inst, 2)
    by_rcpt = {r["argv"][1]: r["stdin"] for r in recs}
    stamp = r"From Some\.One@client\.example  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n"
    got = by_rcpt["alias@f.example"]
    assert re.match(stamp + "Return-Path: <Some\\.One@client\\.example>\nX-Original-To: "
                    "alias@f\\.example\nDelivered-To: real@f\\.example\nReceived: ", got), got
    assert "\nSubject: flags\n" in got and got.endswith("\n\n>From me\n..dot line\nlast\n\n"), got
    assert "Delivered-To: real2@f.example\n" in by_rcpt["Real2@F.example"]

    send(inst, "s@client.example", ["x@c.example"], "Subject: crlf\r\n\r\nFrom me\r\n.dot\r\n")
    recs = runs(inst, 3)
    got = [r["stdin"] for r in recs if "Subject: crlf" in r["stdin"]][0]
    assert got.endswith("\r\n\r\nFrom me\r\n.dot\r\n") and "\n" not in \
        got.replace("\r\n", ""), repr(got)

    send(inst, "Odd Sender@client.example".replace(" ", ""), ['"Mixed Case"+Ext@Q.Example'])
    recs = runs(inst, 4)
    argv = [r["argv"] for r in recs if r["argv"][0].endswith("script") and len(r["argv"]) > 5][0]
    assert argv[1:-2] == ['"mixed case+ext"@q.example', "mixed case", "ext", "mixed case+ext",
                          "q.example", "up.example", "OddSender@client.example", "has-user",
                          "127.0.0.1", "client.example", "ESMTP"], argv
    # The client's TCP port; no AUTH, so no SASL method.
    assert argv[-2].isdigit() and int(argv[-2]) > 0 and argv[-1] == "", argv


def test_sasl_macros(instance, start_peer, mail_user):
    """${sasl_method} and ${sasl_username}: recorded by smtpd for an
    authenticated client (real Dovecot auth), expanded by pipe."""
    import base64
    import peers
    inst = pipe_instance(
        instance,
        {"script": "user=%s argv={tmp}/script ${sasl_method} ${sasl_username} "
                   "${client_protocol}" % USER},
        extra="transport_maps = inline:{{pipe.example=script:}}\n"
              "smtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\n"
              "smtpd_sasl_path = private/auth\n")
    start_peer(peers.Dovecot(auth_socket=peers.Path(inst.queue_dir) / "private" / "auth"))
    c = Raw(inst.port("smtp"))
    c.reply()
    c.cmd("EHLO client.example")
    auth = base64.b64encode(("\0%s\0%s" % (mail_user.name, mail_user.password)).encode())
    assert c.cmd("AUTH PLAIN " + auth.decode()) == ["235 2.7.0 Authentication successful"]
    assert c.cmd("MAIL FROM:<a@example.org>")[0].startswith("250")
    assert c.cmd("RCPT TO:<x@pipe.example>")[0].startswith("250")
    assert c.cmd("DATA")[0].startswith("354")
    c.send("Subject: sasl\r\n\r\nbody\r\n.\r\n")
    assert c.reply()[0].startswith("250")
    c.cmd("QUIT")
    c.close()
    assert runs(inst)[0]["argv"][1:] == ["PLAIN", mail_user.name, "ESMTPA"]


def test_flag_D_refuses_a_delivery_loop(instance):
    inst = pipe_instance(instance, {"dflag": "flags=D user=%s argv={tmp}/script" % USER},
                         extra="transport_maps = inline:{{f.example=dflag:}}\n"
                               "dflag_destination_recipient_limit = 1\n")
    qid = send(inst, "", ["loop@f.example"],
               "Delivered-To: LOOP@f.example\r\nSubject: loop\r\n\r\nx\r\n")
    inst.wait_log(r"%s: to=<loop@f\.example>, relay=dflag, .*dsn=5\.4\.6, status=bounced "
                  r"\(mail forwarding loop for loop@f\.example\)" % qid)
    assert not os.listdir(os.path.join(inst.tmp, "out"))


def test_exit_status_maps_through_sysexits(instance):
    local = "%s@mta-test.example" % USER
    inst = pipe_instance(instance, {"script": "user=%s argv={tmp}/script" % USER},
                         extra="transport_maps = inline:{{pipe.example=script:}}\n")
    control(inst, exit=75, output="try\tlater\n")
    qid = send(inst, local, ["a@pipe.example"])
    inst.wait_log(r"%s: to=<a@pipe\.example>, relay=script, .*dsn=4\.3\.0, status=deferred "
                  r"\(temporary failure\. Command output: try later \)" % qid)
    control(inst, exit=67, output="no such user\n")
    qid = send(inst, local, ["b@pipe.example"])
    inst.wait_log(r"%s: to=<b@pipe\.example>, relay=script, .*dsn=5\.1\.1, status=bounced "
                  r"\(user unknown\. Command output: no such user \)" % qid)
    # The bounce comes back to the (local) sender with the command's words.
    files = wait_maildir(inst, USER)
    assert "user unknown. Command output: no such user" in read(files[0])
    control(inst, exit=1, output="5.7.1 go away\n")
    qid = send(inst, local, ["c@pipe.example"])
    inst.wait_log(r"%s: to=<c@pipe\.example>, relay=script, .*dsn=5\.7\.1, status=bounced "
                  r"\(go away \)" % qid)
    control(inst, exit=3)
    qid = send(inst, local, ["d@pipe.example"])
    inst.wait_log(r"%s: to=<d@pipe\.example>, relay=script, .*dsn=5\.3\.0, status=bounced "
                  r"\(Command died with status 3: \"%s/script\"\)" % (qid, re.escape(inst.tmp)))


def test_size_limit_and_null_sender(instance):
    inst = pipe_instance(
        instance,
        {"small": "size=100 user=%s argv={tmp}/script" % USER,
         "nulldef": "flags=qR user=%s argv={tmp}/script ${sender}" % USER,
         "nullset": "flags=FR null_sender= user=%s argv={tmp}/script -f ${sender}" % USER},
        extra="transport_maps = inline:{{s.example=small: d.example=nulldef: "
              "n.example=nullset:}}\n")
    qid = send(inst, "", ["a@s.example"], "Subject: big\r\n\r\n" + "x" * 200 + "\r\n")
    inst.wait_log(r"%s: to=<a@s\.example>, relay=small, .*dsn=5\.2\.3, status=bounced "
                  r"\(message too large\)" % qid)
    # allow_min_user = no (default): qmgr sends a recipient starting with
    # '-' to error:5.1.3, no command ever sees it as an option.
    qid = send(inst, "", ["-oi@d.example"])
    inst.wait_log(r"%s: to=<-oi@d\.example>, relay=none, .*dsn=5\.1\.3, status=bounced "
                  r"\(bad address syntax\)" % qid)
    assert not os.listdir(os.path.join(inst.tmp, "out"))
    send(inst, "", ["b@d.example"])
    rec = runs(inst)[0]
    # <> is MAILER-DAEMON by default, in $sender and in Return-Path:.
    assert rec["argv"][1:] == ["MAILER-DAEMON"]
    assert rec["stdin"].startswith("Return-Path: <MAILER-DAEMON>\n")
    send(inst, "", ["c@n.example"])
    rec = [r for r in runs(inst, 2) if r["argv"][1:2] == ["-f"]][0]
    # null_sender= (empty): an empty argument, as Postfix's content filters want.
    assert rec["argv"][1:] == ["-f", ""]
    assert re.match(r"From MAILER-DAEMON  .*\nReturn-Path: <>\n", rec["stdin"]), rec["stdin"]


def test_time_limit_kills_the_command(instance):
    inst = pipe_instance(instance, {"slow": "user=%s argv={tmp}/script" % USER},
                         extra="transport_maps = inline:{{pipe.example=slow:}}\n"
                               "slow_time_limit = 1s\n")
    control(inst, sleep=30)
    start = time.time()
    qid = send(inst, "", ["a@pipe.example"])
    # Postfix's pipe_command(): the time limit bounces (5.3.0).
    inst.wait_log(r"%s: to=<a@pipe\.example>, relay=slow, .*dsn=5\.3\.0, status=bounced "
                  r"\(Command time limit exceeded: \"%s/script\"\)" % (qid, re.escape(inst.tmp)),
                  timeout=15)
    assert time.time() - start < 10
    # The whole process group was killed: no script left sleeping.
    script = os.path.join(inst.tmp, "script").encode()
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if len(argv) > 1 and argv[1] == script:  # /usr/bin/python3 <script>
            left.append(pid)
    assert left == []


def test_user_root_is_refused(instance):
    inst = pipe_instance(instance, {"rootpipe": "user=root argv={tmp}/script"},
                         extra="transport_maps = inline:{{pipe.example=rootpipe:}}\n")
    qid = send(inst, "", ["a@pipe.example"])
    inst.wait_log(r"fatal: file %s/master\.cf: service rootpipe: user= command-line attribute "
                  r"specifies root privileges" % re.escape(inst.config_dir))
    # Nothing ran; the mail stays queued (master throttles the service, qmgr
    # defers when its request times out).
    time.sleep(0.5)
    assert not os.listdir(os.path.join(inst.tmp, "out"))
    assert "%s: to=<a@pipe.example>" % qid not in inst.log()


AGENTS_CF = ("error unix - - n - - error\nretry unix - - n - - error\n"
             "discard unix - - n - - discard\n")


def test_error_retry_discard_from_transport_maps_and_filter(instance):
    inst = pipe_instance(
        instance, {}, master_extra=AGENTS_CF,
        files={"transport": "err.example error:5.7.1 no mail here\n"
                            "ret.example retry:4.4.1 come back later\n"
                            "dis.example discard:dropped it\n",
               "access": "filt@pipe.example FILTER error:5.7.2 filtered\n"},
        extra="transport_maps = texthash:{tmp}/transport\n"
              "smtpd_recipient_restrictions = check_recipient_access "
              "texthash:{tmp}/access, "
              "permit_mynetworks, reject\n")
    qid = send(inst, "", ["a@err.example", "b@ret.example", "c@dis.example"])
    inst.wait_log(r"postfix/error\[\d+\]: %s: to=<a@err\.example>, relay=none, delay=[\d.]+, "
                  r"delays=[\d./]+, dsn=5\.7\.1, status=bounced \(no mail here\)" % qid)
    inst.wait_log(r"postfix/\w+\[\d+\]: %s: to=<b@ret\.example>, relay=none, .*dsn=4\.4\.1, "
                  r"status=deferred \(come back later\)" % qid)
    inst.wait_log(r"postfix/discard\[\d+\]: %s: to=<c@dis\.example>, relay=none, .*dsn=2\.0\.0, "
                  r"status=sent \(dropped it\)" % qid)
    qid2 = send(inst, "", ["filt@pipe.example"])
    inst.wait_log(r"postfix/error\[\d+\]: %s: to=<filt@pipe\.example>, relay=none, .*"
                  r"dsn=5\.7\.2, status=bounced \(filtered\)" % qid2)


def test_stock_pipe_services_start(instance):
    """The stock master.cf's pipe rows (conf/master.cf) run: mailman's
    command is not installed here, so its delivery defers (not a skipped
    service, not "transport unavailable")."""
    with open(os.path.join(REPO, "conf", "master.cf")) as f:
        stock = f.read()
    rows = stock[stock.index("maildrop  unix"):]
    inst = start_pipeline(instance, master_cf=PIPELINE_CF + AGENTS_CF +
                          rows.replace("{", "{{").replace("}", "}}"),
                          extra="transport_maps = inline:{{mm.example=mailman:}}\n")
    qid = send(inst, "", ["list@mm.example"])
    inst.wait_log(r"%s: to=<list@mm\.example>, relay=mailman, .*dsn=4\.3\.0, status=deferred "
                  r"\(system resource problem\. Command output: " % qid)
    assert "skipped" not in inst.log()


def test_dovecot_lda_through_pipe(instance, dovecot, mail_user):
    """Postfix's documented dovecot-lda row, run by our pipe(8) as the
    mailbox's user; dovecot-lda asks the test's own Dovecot (its -c config,
    its auth-userdb socket) for the user, writes the Maildir, and Dovecot
    serves the message over IMAP."""
    inst = pipe_instance(
        instance,
        {"dovecot": "flags=DRhu user=%s argv=/usr/lib/dovecot/dovecot-lda -c %s "
                    "-o log_path=/dev/stderr -o info_log_path=/dev/stderr "
                    "-f ${sender} -d ${user}" % (mail_user.name, dovecot.config_path)},
        extra="transport_maps = inline:{{lda.example=dovecot:}}\n"
              "dovecot_destination_recipient_limit = 1\n")
    rcpt = "%s@LDA.example" % mail_user.name.upper()
    qid = send(inst, "sender@client.example", [rcpt],
               "Subject: via dovecot-lda\r\n\r\ndelivered by Dovecot\r\n")
    inst.wait_log(r"%s: to=<%s>, relay=dovecot, .*dsn=2\.0\.0, status=sent "
                  r"\(delivered via dovecot service\)" % (qid, re.escape(rcpt)), timeout=30)
    mail_user.maildir.wait_for(1)
    msgs = dovecot.inbox(mail_user.name, mail_user.password)
    assert len(msgs) == 1
    m = msgs[0]
    assert str(m["Subject"]) == "via dovecot-lda"
    # R and dovecot-lda's -f: the envelope sender; D: the recipient, lowercased (u, h).
    assert m["Return-Path"] == "<sender@client.example>"
    assert m["Delivered-To"] == rcpt.lower()
    assert m.get_content().replace("\r\n", "\n") == "delivered by Dovecot\n"
