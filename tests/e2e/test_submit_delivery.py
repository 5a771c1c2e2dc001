"""Local submission all the way to delivery: sendmail -> postdrop -> pickup
-> cleanup -> qmgr -> local/smtp, with the lab's `mail` (s-nail), ordinary
users, a script loop, and postqueue -f / -i against a relay that comes
back."""
import os
import pwd
import re
import subprocess
import time

import peers
from conftest import BIN, per_run
from delivery_helpers import PIPELINE_CF, maildir_new, queue_files, read, start_pipeline
from peers_fixtures import *  # noqa: F401,F403
from test_submit import USER1, alt_config, local_users  # noqa: F401  (fixtures)

SUBMIT_CF = PIPELINE_CF + """\
pickup unix n - n 60 1 pickup
showq unix n - n - - showq
smtp unix - - n - - smtp
"""


def start(instance, extra=""):
    return start_pipeline(instance, master_cf=SUBMIT_CF, extra=extra)


def env(inst):
    return dict(os.environ, MAIL_CONFIG=inst.config_dir)


def wait_delivered(inst, user, n, timeout=30):
    return inst.wait_for(lambda: len(maildir_new(user)) >= n and maildir_new(user),
                         timeout=timeout, what="%d message(s) for %s" % (n, user))


def test_snail_as_root_and_as_user_is_delivered(instance, alt_config):
    inst = start(instance)
    alt_config(inst.config_dir)
    sendmail = os.path.join(BIN, "sendmail")
    for user in (None, USER1):
        cmd = ["s-nail", "-:/", "-Sv15-compat", "-Smta=" + sendmail, "-s", "test",
               per_run("tester@mta-test.example")]
        if user:
            cmd = ["runuser", "-u", user, "--"] + cmd
        r = subprocess.run(cmd, input=b"hi\n", capture_output=True, timeout=30, env=env(inst))
        assert r.returncode == 0, r.stderr
    files = wait_delivered(inst, per_run("tester"), 2)
    senders = set()
    for f in files:
        text = read(f)
        assert "Subject: test\n" in text and text.endswith("\nhi\n")
        senders.add(text.split("\n", 1)[0])
    assert senders == {"Return-Path: <root@mta-test.example>",
                       "Return-Path: <%s@mta-test.example>" % USER1}, senders
    inst.wait_log(per_run(r"to=<tester@mta-test\.example>, relay=local, .*status=sent"), count=2)


def test_sendmail_bs_as_unprivileged_user(instance, alt_config):
    inst = start(instance)
    alt_config(inst.config_dir)
    dialog = (b"EHLO me\r\nMAIL FROM:<" + USER1.encode() + per_run(b"@mta-test.example>\r\n"
              b"RCPT TO:<tester@mta-test.example>\r\nDATA\r\n"
              b"Subject: bs as user\r\n\r\n..dot-stuffed\r\nline\r\n.\r\nQUIT\r\n"))
    r = subprocess.run(["runuser", "-u", USER1, "--", os.path.join(BIN, "sendmail"), "-bs"],
                       input=dialog, capture_output=True, timeout=30, env=env(inst))
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    codes = [ln[:4] for ln in out.split("\r\n") if ln]
    assert codes[0] == "220 " and codes[-1] == "221 ", out
    assert "354 " in codes and "250 2.0.0 Ok: queued" in out, out
    files = wait_delivered(inst, per_run("tester"), 1)
    text = read(files[0])
    assert text.startswith("Return-Path: <%s@mta-test.example>\n" % USER1)
    assert text.endswith("\n.dot-stuffed\nline\n")
    uid = pwd.getpwnam(USER1).pw_uid
    inst.wait_log(r"pickup\[\d+\]: \w+: uid=%d from=<%s@mta-test\.example>" % (uid, re.escape(USER1)))


def test_sendmail_bs_whole_dialog_at_once_as_root(instance):
    """root's sendmail -bs runs smtpd -S on a pipe. A script writes the whole
    dialog before reading a reply: that is no network client talking too
    early, so neither the pre-greeting check, the unauth-pipelining check
    (after HELO, and content pipelined after DATA) nor bare-LF rejection
    applies (Postfix: not in stand-alone mode)."""
    inst = start(instance, "smtpd_forbid_bare_newline = reject\nsmtpd_pregreet_wait = 1s\n")
    dialogs = {
        "helo": per_run(b"HELO me\r\nMAIL FROM:<root@mta-test.example>\r\n"
                b"RCPT TO:<tester@mta-test.example>\r\nDATA\r\n"
                b"Subject: bs helo\r\n\r\n..dot-stuffed\r\n.\r\nQUIT\r\n"),
        "ehlo-lf": per_run(b"EHLO me\nMAIL FROM:<root@mta-test.example>\n"
                   b"RCPT TO:<tester@mta-test.example>\nDATA\n"
                   b"Subject: bs ehlo-lf\n\nline\n.\nQUIT\n"),
    }
    for name, dialog in dialogs.items():
        r = subprocess.run([os.path.join(BIN, "sendmail"), "-bs"], input=dialog,
                           capture_output=True, timeout=30, env=env(inst))
        out = r.stdout.decode()
        assert r.returncode == 0, (name, out, r.stderr)
        codes = [ln[:3] for ln in out.split("\r\n") if ln and ln[3:4] != "-"]
        assert codes == ["220", "250", "250", "250", "354", "250", "221"], (name, out)
        assert "synchronization" not in out and "bare <LF>" not in out, out
    files = wait_delivered(inst, per_run("tester"), 2)
    texts = sorted(read(f) for f in files)
    assert any("Subject: bs helo\n" in t and t.endswith("\n.dot-stuffed\n") for t in texts), texts
    assert any("Subject: bs ehlo-lf\n" in t and t.endswith("\nline\n") for t in texts), texts
    assert "improper command pipelining" not in inst.log()


def test_thousand_message_loop_all_delivered(instance):
    inst = start(instance)
    script = (per_run('for i in $(seq 1 1000); do echo "message $i" | %s/sendmail -i '
              'tester@mta-test.example || exit 1; done') % BIN)
    r = subprocess.run(["sh", "-c", script], env=env(inst), capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr
    files = wait_delivered(inst, per_run("tester"), 1000, timeout=300)
    bodies = sorted(read(f).rsplit("\n", 2)[-2] for f in files)
    assert bodies == sorted("message %d" % i for i in range(1, 1001))
    assert not queue_files(inst, "corrupt")


def postqueue(inst, *args):
    r = subprocess.run([os.path.join(BIN, "postqueue")] + list(args), capture_output=True,
                       env=env(inst), timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def test_postqueue_f_and_i_deliver_once_relay_is_back(instance, start_peer):
    port = peers.free_port()
    # long back-off: only postqueue can make the retry happen within the test
    inst = start(instance, "relayhost = [127.0.0.1]:%d\nminimal_backoff_time = 3600s\n"
                           "maximal_backoff_time = 3600s\nqueue_run_delay = 3600s\n" % port)
    ids = []
    for n in (1, 2):
        r = subprocess.run([os.path.join(BIN, "sendmail"), "-f", "s@mta-test.example",
                            "far%d@remote.example" % n], input=b"Subject: r%d\n\nbody\n" % n,
                           env=env(inst), capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
    for n in (1, 2):
        m = inst.wait_log(r"(\w+): to=<far%d@remote\.example>, relay=none, .*status=deferred "
                          r"\(connect to 127\.0\.0\.1\[127\.0\.0\.1\]:%d: Connection refused\)"
                          % (n, port), timeout=30)
        ids.append(m.group(1))
    inst.wait_for(lambda: len(queue_files(inst, "deferred")) == 2, timeout=30, what="2 deferred")
    out = postqueue(inst, "-p")
    assert "(connect to 127.0.0.1[127.0.0.1]:%d: Connection refused)" % port in out
    sink = start_peer(peers.SmtpSink(port=port))
    mark = inst.log_mark()
    # -i: only that message
    postqueue(inst, "-i", ids[0])
    inst.wait_log(r"%s: to=<far1@remote\.example>, relay=127\.0\.0\.1.*status=sent" % ids[0],
                  since=mark, timeout=30)
    inst.wait_log(r"%s: removed" % ids[0], since=mark, timeout=30)
    sink.wait_for(1)
    time.sleep(0.5)  # not a pass condition: a wrongly flushed second message would show here
    assert queue_files(inst, "deferred") == [ids[1]]
    # -f: everything
    postqueue(inst, "-f")
    inst.wait_log(r"%s: to=<far2@remote\.example>, relay=127\.0\.0\.1.*status=sent" % ids[1],
                  since=mark, timeout=30)
    inst.wait_log(r"%s: removed" % ids[1], since=mark, timeout=30)
    sink.wait_for(2)
    assert postqueue(inst, "-p") == "Mail queue is empty\n"
