"""A sender never chooses what local delivery runs or writes.

The attack: with recipient_delimiter = +, a recipient such as
"victim+x,/home/victim/somefile"@host once pasted its extension into
forward_path before the list was split, so the list gained a path of the
sender's choosing, read as a .forward: its |command lines ran as the
victim. Every test here plants such a "somefile" (a |command that creates
a marker, and a /file line) where the attack would reach it, sends the
hostile address by SMTP, and asserts that the message reached the
victim's own mailbox, that nothing ran, and that nothing was written
outside the mailbox. A positive control proves the planted file does run
when it is the victim's real .forward, so "nothing ran" is not vacuous.
"""
import os
import pwd
import re

import pytest

from conftest import per_run
from delivery_helpers import (maildir_new, read, reset_user, smtp_send, start_pipeline,
                              wait_queue_empty, write_aliases)
from smtp_helpers import Raw, queued_id

VICTIM = per_run("tester")
DOMAIN = "mta-test.example"


@pytest.fixture
def victim():
    pw = reset_user(VICTIM)
    planted = []

    def plant(path, text, owner=pw):
        with open(path, "w") as f:
            f.write(text)
        if owner is not None:
            os.chown(path, owner.pw_uid, owner.pw_gid)
        planted.append(path)
        return path

    yield pw, plant, planted
    for p in reversed(planted):
        if os.path.isdir(p) and not os.path.islink(p):
            os.rmdir(p)
        elif os.path.lexists(p):
            os.unlink(p)


def out_dir(inst):
    """A world-writable directory: what a hijacked delivery would write to
    (commands run as the victim, who may write here)."""
    out = os.path.join(inst.tmp, "out")
    os.makedirs(out, exist_ok=True)
    os.chmod(out, 0o1777)
    return out


def evil_forward(out):
    """What the attacker wants read as a .forward: a command and a file."""
    return "|/usr/bin/touch %s/ran\n%s/written\n" % (out, out)


def home_listing(pw):
    """The victim's home, recursively, minus the Maildir (where mail may go)."""
    names = set()
    for root, dirs, files in os.walk(pw.pw_dir):
        if root == pw.pw_dir and "Maildir" in dirs:
            dirs.remove("Maildir")
        for n in dirs + files:
            names.add(os.path.relpath(os.path.join(root, n), pw.pw_dir))
    return names


def hostile_instance(instance, extra=""):
    return start_pipeline(instance, extra="recipient_delimiter = +\n" + extra)


# A local sender, so that a bounce is delivered (to tester2) and the
# queue empties.
SENDER = per_run("tester2@") + DOMAIN


def send_raw_rcpt(inst, rcpt, subject):
    """Send with the RCPT argument byte for byte as given (quoted local
    parts, blanks, even a bare LF). Returns (rcpt code, queue id or None)."""
    c = Raw(inst.port("smtp"))
    try:
        assert c.reply()[0].startswith("220")
        assert c.cmd("EHLO client.example")[-1].startswith("250")
        assert c.cmd("MAIL FROM:<%s>" % SENDER)[0].startswith("250")
        r = c.cmd("RCPT TO:<%s>" % rcpt)
        code = int(r[0][:3]) if r else None
        if code != 250:
            return code, None
        assert c.cmd("DATA")[0].startswith("354")
        c.send("Subject: %s\r\n\r\nbody\r\n.\r\n" % subject)
        r = c.reply()
        assert r[0].startswith("250"), r
        return 250, queued_id(r[0])
    finally:
        c.close()


def assert_nothing_ran(out, before, pw):
    assert not os.path.exists(os.path.join(out, "ran")), "a planted |command ran"
    assert not os.path.exists(os.path.join(out, "written")), "a planted /file was written"
    assert os.listdir(out) == [], os.listdir(out)
    assert home_listing(pw) == before, home_listing(pw) ^ before


def test_positive_control_the_planted_file_runs_as_a_real_forward(instance, victim):
    pw, plant, _ = victim
    inst = hostile_instance(instance)
    out = out_dir(inst)
    plant(os.path.join(pw.pw_dir, ".forward+ctl"), evil_forward(out))
    qid = smtp_send(inst, SENDER, "%s+ctl@%s" % (VICTIM, DOMAIN))
    inst.wait_log(r"%s: removed" % qid)
    assert os.path.exists(os.path.join(out, "ran"))
    assert os.path.exists(os.path.join(out, "written"))


@pytest.mark.parametrize("local_part", [
    '"{v}+x,{home}/somefile"',        # comma: a second forward_path element
    '"{v}+x {home}/somefile"',        # blank
    '"{v}+x\\\t{home}/somefile"',     # tab (quoted-pair)
    '"{v}+x,\\"{home}/somefile\\""',  # quotes inside the extension
    '{v}+x/../../..{home}/somefile',  # unquoted: slashes and ..
    '{v}+/../somefile',
    '"{v}+,{home}/somefile,"',
    '"{v}+x\n{home}/somefile"',       # newline (smtpd must refuse it)
])
def test_extension_cannot_add_a_forward_file(instance, victim, local_part):
    pw, plant, planted = victim
    inst = hostile_instance(instance)
    out = out_dir(inst)
    plant(os.path.join(pw.pw_dir, "somefile"), evil_forward(out))
    # Directories through which a '/' in the extension would climb back.
    for d in (".forward+x", ".forward+"):
        os.mkdir(os.path.join(pw.pw_dir, d))
        planted.append(os.path.join(pw.pw_dir, d))
    before = home_listing(pw)
    rcpt = local_part.format(v=VICTIM, home=pw.pw_dir) + "@" + DOMAIN
    code, qid = send_raw_rcpt(inst, rcpt, "hostile")
    if qid:
        inst.wait_log(r"%s: removed" % qid)
        files = maildir_new(VICTIM)
        assert len(files) == 1 and "Subject: hostile" in read(files[0])
        assert re.search(r"%s: to=<.*>, .*relay=local, .*status=sent \(delivered to maildir\)"
                         % qid, inst.log())
    else:
        assert code is None or code >= 500, code
    wait_queue_empty(inst)
    assert_nothing_ran(out, before, pw)


def test_dot_dot_extension_cannot_climb_out_of_a_forward_directory(instance, victim):
    """forward_path = DIR/${extension}/forward: an extension ".." would name
    DIR/../forward. The element is skipped (logged), the mail delivered."""
    pw, plant, _ = victim
    inst = hostile_instance(instance, extra=(
        "forward_path = {tmp}/fwd/${{extension}}/forward, $home/.forward\n"))
    out = out_dir(inst)
    os.makedirs(os.path.join(inst.tmp, "fwd", "list"))
    plant(os.path.join(inst.tmp, "forward"), evil_forward(out), owner=pw)
    before = home_listing(pw)
    for ext in ("..", "."):
        qid = smtp_send(inst, SENDER, "%s+%s@%s" % (VICTIM, ext, DOMAIN))
        inst.wait_log(r"%s: removed" % qid)
    assert len(maildir_new(VICTIM)) == 2
    inst.wait_log(r"forward_path element .* not an absolute path without \. or \.\. components")
    assert_nothing_ran(out, before, pw)


def test_shell_metacharacters_reach_mailbox_command_only_censored(instance, victim):
    """mailbox_command is not expanded (Postfix: no $name substitution), and
    what it gets from the address is in the environment, censored with
    command_expansion_filter. A command that uses $EXTENSION unquoted and
    even through eval must not run anything of the sender's."""
    pw, plant, _ = victim
    out_tmpl = "{tmp}/out"
    inst = hostile_instance(instance, extra=(
        "mailbox_command = /bin/sh -c 'env > %s/env.txt; eval \"echo $EXTENSION\" "
        "> %s/eval.txt; echo \"[$extension]\" > %s/raw.txt'\n"
        % (out_tmpl, out_tmpl, out_tmpl)))
    out = out_dir(inst)
    ext = "a;touch${IFS}%s/ran|b`id`$(id)&c" % out
    code, qid = send_raw_rcpt(inst, '"%s+%s"@%s' % (VICTIM, ext, DOMAIN), "meta")
    assert code == 250
    inst.wait_log(r"%s: removed" % qid)
    env = dict(line.split("=", 1) for line in read(os.path.join(out, "env.txt")).splitlines()
               if "=" in line)
    allowed = set("1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    for name in ("EXTENSION", "RECIPIENT", "LOCAL", "DOMAIN", "SENDER", "USER", "HOME"):
        assert set(env[name]) <= allowed, (name, env[name])
    # (local(8) folds the local part to lower case, as Postfix does.)
    assert env["EXTENSION"].lower().startswith("a_touch__ifs_"), env["EXTENSION"]
    assert "touch" in env["RECIPIENT"] and ";" not in env["RECIPIENT"]
    # $extension in the command text stayed the shell's (unset) variable.
    assert read(os.path.join(out, "raw.txt")) == "[]\n"
    assert not os.path.exists(os.path.join(out, "ran"))
    assert "uid=" not in read(os.path.join(out, "eval.txt"))


def test_regexp_alias_substitution_is_refused(instance, victim):
    """$1 in alias_maps regexp/pcre results would put the recipient's text
    into a |command: the rule is skipped (warned, naming file and line),
    at smtpd's recipient check and in local(8) alike."""
    pw, plant, _ = victim
    inst = hostile_instance(instance)
    out = out_dir(inst)
    for kind in ("regexp", "pcre"):
        table = os.path.join(inst.config_dir, "aliases." + kind)
        with open(table, "w") as f:
            f.write("/^run-(.*)$/ |/usr/bin/touch %s/$1\n"
                    "/^fixed$/ %s\n" % (out, VICTIM))
    inst.stop()
    conf = os.path.join(inst.config_dir, "main.cf")
    with open(conf, "a") as f:
        f.write("alias_maps = hash:%s/aliases, regexp:%s/aliases.regexp, pcre:%s/aliases.pcre\n"
                % (inst.config_dir, inst.config_dir, inst.config_dir))
    write_aliases(inst, "postmaster: root\n")
    inst.start()
    inst.wait_log(r"daemon started")
    before = home_listing(pw)
    code, qid = send_raw_rcpt(inst, "run-ran@%s" % DOMAIN, "regsub")
    assert code == 550, code
    inst.wait_log(r"regexp map .*aliases\.regexp, line 1: regular expression substitution "
                  r"is not allowed")
    # A rule without $n still works.
    qid = smtp_send(inst, SENDER, "fixed@%s" % DOMAIN)
    inst.wait_log(r"%s: removed" % qid)
    assert len(maildir_new(VICTIM)) == 1
    # local(8) refuses it too when smtpd does not check recipients.
    inst.stop()
    with open(conf, "a") as f:
        f.write("local_recipient_maps =\n")
    inst.start()
    inst.wait_log(r"daemon started")
    code, qid = send_raw_rcpt(inst, "run-ran@%s" % DOMAIN, "regsub2")
    assert code == 250
    inst.wait_log(r"%s: to=<run-ran@%s>, relay=local, .*status=bounced \(unknown user"
                  % (qid, re.escape(DOMAIN)))
    wait_queue_empty(inst)
    assert_nothing_ran(out, before, pw)


def test_forward_file_checks(instance, victim):
    """A .forward that is a symlink, world-writable, or owned by someone
    else is ignored (warned): the victim's mailbox gets the mail."""
    pw, plant, _ = victim
    inst = hostile_instance(instance)
    out = out_dir(inst)
    target = plant(os.path.join(inst.tmp, "evil-forward"), evil_forward(out), owner=pw)
    fwd = os.path.join(pw.pw_dir, ".forward")
    cases = []
    os.symlink(target, fwd)
    cases.append("is a symbolic link")
    before = home_listing(pw)
    try:
        for why in cases + ["world writable", "bad owner"]:
            if why == "world writable":
                os.unlink(fwd)
                plant(fwd, evil_forward(out))
                os.chmod(fwd, 0o666)
            elif why == "bad owner":
                os.chmod(fwd, 0o644)
                nobody = pwd.getpwnam("nobody")
                os.chown(fwd, nobody.pw_uid, nobody.pw_gid)
            qid = smtp_send(inst, SENDER, "%s@%s" % (VICTIM, DOMAIN))
            inst.wait_log(r"%s: removed" % qid)
            inst.wait_log(re.escape(why))
    finally:
        if os.path.lexists(fwd):
            os.unlink(fwd)
    assert len(maildir_new(VICTIM)) == 3
    before.discard(".forward")
    assert_nothing_ran(out, before, pw)


def mbox_instance(instance):
    return hostile_instance(instance, extra="home_mailbox = mbox\n")


def test_symlinked_mbox_defers_and_writes_nothing(instance, victim):
    pw, plant, _ = victim
    inst = mbox_instance(instance)
    secret = os.path.join(inst.tmp, "root-secret")
    with open(secret, "w") as f:
        f.write("secret\n")
    mbox = os.path.join(pw.pw_dir, "mbox")
    os.symlink(secret, mbox)
    try:
        qid = smtp_send(inst, SENDER, "%s@%s" % (VICTIM, DOMAIN))
        inst.wait_log(r"%s: to=<%s@%s>, relay=local, .*status=deferred" % (qid, VICTIM,
                                                                              re.escape(DOMAIN)))
    finally:
        os.unlink(mbox)
    assert read(secret) == "secret\n"


@pytest.mark.parametrize("owner", ["root", "victim"])
def test_hard_linked_mbox_defers_and_writes_nothing(instance, victim, owner):
    """A second name for another file (root's, or the victim's own linked
    elsewhere) is refused after open: fstat must show one link, the
    expected owner and the inode lstat saw."""
    pw, plant, _ = victim
    inst = mbox_instance(instance)
    # Inside the home: same file system, so the link can be made.
    secret = os.path.join(pw.pw_dir, ".secret-target")
    with open(secret, "w") as f:
        f.write("secret\n")
    if owner == "victim":
        os.chown(secret, pw.pw_uid, pw.pw_gid)
    else:
        os.chmod(secret, 0o666)  # writable by the victim: only the link check stops it
    mbox = os.path.join(pw.pw_dir, "mbox")
    os.link(secret, mbox)
    try:
        qid = smtp_send(inst, SENDER, "%s@%s" % (VICTIM, DOMAIN))
        inst.wait_log(r"%s: to=<%s@%s>, relay=local, .*status=deferred .*hard links"
                      % (qid, VICTIM, re.escape(DOMAIN)))
    finally:
        os.unlink(mbox)
    assert read(secret) == "secret\n"
    os.unlink(secret)


def test_spool_mbox_owned_by_someone_else_defers(instance, victim):
    """mail_spool_directory/USER that belongs to another account (created
    by an attacker in a sticky spool) is not appended to."""
    pw, plant, _ = victim
    inst = hostile_instance(instance, extra="home_mailbox =\n")
    spool = os.path.join(inst.tmp, "spool", VICTIM)
    nobody = pwd.getpwnam("nobody")
    with open(spool, "w") as f:
        f.write("attacker's\n")
    os.chown(spool, nobody.pw_uid, nobody.pw_gid)
    qid = smtp_send(inst, SENDER, "%s@%s" % (VICTIM, DOMAIN))
    inst.wait_log(r"%s: to=<%s@%s>, relay=local, .*status=deferred" % (qid, VICTIM,
                                                                          re.escape(DOMAIN)))
    assert read(spool) == "attacker's\n"


def test_root_forward_command_runs_as_default_privs(instance, victim):
    """A |command reached through root's mailbox never runs as root
    (Postfix: default_privs)."""
    pw, plant, _ = victim
    inst = hostile_instance(instance, extra=(
        "mailbox_command = /bin/sh -c 'id -u > {tmp}/out/uid.txt'\n"))
    out = out_dir(inst)
    qid = smtp_send(inst, SENDER, "root@%s" % DOMAIN)
    inst.wait_log(r"%s: removed" % qid)
    uid = int(read(os.path.join(out, "uid.txt")))
    assert uid == pwd.getpwnam("nobody").pw_uid, uid
