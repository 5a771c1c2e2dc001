"""sendmail -bv: recipients are verified (aliases, .forward, user lookup,
routing), a "Mail Delivery Status Report" is mailed to the sender, and
nothing is delivered. The report is the only mail that arrives, so the
"no delivery" assertions need no waiting: the report is queued only after
every verdict is in."""
import os
import re
import subprocess

from conftest import BIN, per_run
from delivery_helpers import maildir_new, queue_files, read, write_aliases
from test_submit import USER1, alt_config, local_users  # noqa: F401  (fixtures)
from test_submit_delivery import start

DOMAIN = "mta-test.example"
REPORTER = per_run("tester3@") + DOMAIN


def verify(inst, *rcpts, user=None, sender=REPORTER):
    cmd = [os.path.join(BIN, "sendmail"), "-bv", "-f", sender] + list(rcpts)
    if user:
        cmd = ["runuser", "-u", user, "--"] + cmd
    env = dict(os.environ, MAIL_CONFIG=inst.config_dir)
    r = subprocess.run(cmd, input=b"Subject: probe\n\nbody\n", capture_output=True, env=env,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "Mail Delivery Status Report will be mailed to <%s>.\n" % sender
    return r


def report(inst):
    """The one message in tester3's Maildir: the report."""
    files = inst.wait_for(lambda: maildir_new(per_run("tester3")), timeout=30, what="the report")
    assert len(files) == 1, files
    text = read(files[0])
    assert "\nSubject: Mail Delivery Status Report\n" in text
    assert "Return-Path: <>\n" in text
    assert "Enclosed is the mail delivery report that you requested." in text
    assert "Content-Description: Message Headers\n" in text and "Subject: probe\n" in text
    return text


def assert_probe_gone(inst):
    inst.wait_for(lambda: not any(queue_files(inst, q) for q in ("incoming", "active",
                                                                  "deferred")),
                  timeout=20, what="an empty queue")
    assert not queue_files(inst, "trace")


def test_bv_local_user_and_remote_route(instance):
    inst = start(instance)
    verify(inst, per_run("tester@") + DOMAIN, "someone@remote.example")
    text = report(inst)
    assert per_run("<tester@%s>: delivers to maildir\n") % DOMAIN in text, text
    assert "<someone@remote.example>: delivers via smtp to remote.example\n" in text, text
    assert text.count("Action: deliverable\nStatus: 2.0.0\n") == 2
    assert maildir_new(per_run("tester")) == []
    inst.wait_log(per_run(r"to=<tester@mta-test\.example>, relay=local, .*dsn=2\.0\.0, "
                  r"status=deliverable \(delivers to maildir\)"))
    inst.wait_log(r"to=<someone@remote\.example>, relay=none, .*status=deliverable")
    # The only delivery is the report's, to tester3.
    assert re.findall(r"to=<([^>]*)>.*status=sent", inst.log()) == [REPORTER]
    assert_probe_gone(inst)


def test_bv_alias_expands_to_two_users(instance, alt_config):
    inst = start(instance)
    alt_config(inst.config_dir)
    write_aliases(inst, per_run("postmaster: root\nteam: tester, tester2\n"))
    verify(inst, "team@" + DOMAIN, user=USER1)
    text = report(inst)
    for u in (per_run("tester"), per_run("tester2")):
        assert ("<%s@%s> (expanded from <team@%s>): delivers to maildir\n" % (u, DOMAIN, DOMAIN)
                in text)
        assert "Final-Recipient: rfc822; %s@%s\n" % (u, DOMAIN) in text
        assert maildir_new(u) == []
    assert text.count("Action: deliverable\n") == 2
    inst.wait_log(per_run(r"to=<tester2@mta-test\.example>, orig_to=<team@mta-test\.example>, "
                  r"relay=local, .*status=deliverable \(delivers to maildir\)"))
    assert_probe_gone(inst)


def test_bv_unknown_user_is_undeliverable_without_a_bounce(instance):
    inst = start(instance)
    verify(inst, "nosuchuser@" + DOMAIN)
    text = report(inst)
    assert '<nosuchuser@%s>: unknown user: "nosuchuser"\n' % DOMAIN in text
    assert "Action: undeliverable\nStatus: 5.1.1\n" in text
    inst.wait_log(r'to=<nosuchuser@mta-test\.example>, relay=local, .*dsn=5\.1\.1, '
                  r'status=undeliverable \(unknown user: "nosuchuser"\)')
    assert_probe_gone(inst)
    # No non-delivery notice besides the report.
    assert len(maildir_new(per_run("tester3"))) == 1
    assert "notification" not in "".join(
        l for l in inst.log().splitlines() if "delivery status notification" not in l)


def test_bv_with_t_is_a_usage_error(instance):
    inst = start(instance)
    env = dict(os.environ, MAIL_CONFIG=inst.config_dir)
    r = subprocess.run([os.path.join(BIN, "sendmail"), "-bv", "-t"], input=b"To: x\n\n",
                       capture_output=True, env=env, timeout=30)
    assert r.returncode == 64
    assert b"-t option cannot be used with -bv" in r.stderr
