"""`postfix check` walks the lab's checklist (commands/postfix_lab.h): each
problem is a "lab check:" line followed by a "fix:" line, and the command
still succeeds. Every case runs in a throw-away configuration; DNS answers come
from the dnsmasq zones of test_dns_restrictions (withmx.test has an MX,
onlya.test only an A record, everything else under .test does not
exist)."""
import os
import pwd
import re
import socket
import subprocess

from conftest import ensure_run_user, run_user
from test_dns_restrictions import zones  # noqa: F401  (the fixture)

CF = "127.0.0.1:{port_smtp} inet n - n - - smtpd\n"
GOOD = ("myhostname = {host}\nmydomain = withmx.test\n"
        "mydestination = $myhostname, localhost, $mydomain\n")


def host():
    return socket.gethostname()


def check(instance, extra, cf=CF):
    inst = instance(master_cf=cf, main_cf_extra=extra.replace("{host}", host()), start=False)
    r = inst.postfix("check", check=False)
    assert r.returncode == 0, r.stderr
    return inst, r.stderr


def findings(stderr):
    """[(problem, fix)] in the order printed."""
    lines = stderr.splitlines()
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"postfix/postfix-script: lab check: (.*)$", line)
        if m and i + 1 < len(lines) and lines[i + 1].startswith("postfix/postfix-script: fix: "):
            out.append((m.group(1), lines[i + 1][len("postfix/postfix-script: fix: "):]))
    return out


def test_clean_configuration_has_no_findings(instance, zones):  # noqa: F811
    _, err = check(instance, GOOD)
    assert findings(err) == [], err
    assert "lab check:" not in err and "warning:" not in err, err


def test_findings_are_logged_not_warned(instance, zones):  # noqa: F811
    inst, err = check(instance, GOOD.replace("myhostname = {host}", "myhostname = nohost.test"))
    assert "warning:" not in err, err
    assert re.search(r"postfix/postfix-script\[\d+\]: lab check: myhostname nohost.test does not "
                     r"resolve", inst.log()), inst.log()
    assert re.search(r"postfix/postfix-script\[\d+\]: fix: ", inst.log())


def test_myhostname(instance, zones):  # noqa: F811
    _, err = check(instance, GOOD.replace("myhostname = {host}", "myhostname = nohost.test"))
    f = dict(findings(err))
    p = [k for k in f if k.startswith("myhostname nohost.test does not resolve")]
    assert p and "/etc/hosts" in f[p[0]], err
    p = [k for k in f if k.startswith("myhostname nohost.test is not this host's name")]
    assert p and "hostnamectl set-hostname nohost.test" in f[p[0]], err
    # resolving but another name: only the second finding
    _, err = check(instance, GOOD.replace("myhostname = {host}", "myhostname = mail.withmx.test"))
    probs = [p for p, _ in findings(err)]
    assert not [p for p in probs if "does not resolve" in p], err
    assert [p for p in probs if p.startswith("myhostname mail.withmx.test is not this host")], err


def test_mydestination_without_mydomain(instance, zones):  # noqa: F811
    _, err = check(instance, GOOD.replace(", $mydomain\n", "\n"))
    f = findings(err)
    assert [(p, x) for p, x in f if p.startswith("mydestination does not include $mydomain "
                                                 "(withmx.test)") and "$mydomain'" in x], err
    # a virtual mailbox domain is not local on purpose
    _, err = check(instance, GOOD.replace(", $mydomain\n", "\n") +
                   "virtual_mailbox_domains = withmx.test\nvirtual_mailbox_base = /tmp\n")
    assert not [p for p, _ in findings(err) if p.startswith("mydestination")], err


def test_unwritable_maildir(instance, zones):  # noqa: F811
    user = run_user("labuser")
    pw = ensure_run_user(user)
    maildir = os.path.join(pw.pw_dir, "Maildir")
    os.makedirs(os.path.join(maildir, "new"), exist_ok=True)
    os.chown(maildir, 0, 0)                      # as a root "mkdir" leaves it
    os.chmod(maildir, 0o755)
    _, err = check(instance, GOOD + "home_mailbox = Maildir/\n")
    mine = [(p, x) for p, x in findings(err) if " for %s " % user in p]
    assert len(mine) == 1, err
    assert "Maildir %s is not writable by its user (owner root, mode 0755)" % maildir in mine[0][0]
    assert mine[0][1].startswith("chown -R %s: %s/Maildir/" % (user, pw.pw_dir)), mine
    # fixed as the line says: no finding
    subprocess.run(["chown", "-R", "%s:" % user, maildir], check=True)
    _, err = check(instance, GOOD + "home_mailbox = Maildir/\n")
    assert not [p for p, _ in findings(err) if " for %s " % user in p], err
    # a missing Maildir under a home the user may not write
    subprocess.run(["rm", "-rf", maildir], check=True)
    os.chown(pw.pw_dir, 0, 0)
    try:
        _, err = check(instance, GOOD + "home_mailbox = Maildir/\n")
        assert [p for p, _ in findings(err) if " for %s " % user in p and
                "does not exist" in p], err
    finally:
        os.chown(pw.pw_dir, pw.pw_uid, pw.pw_gid)


def test_dovecot_socket(instance, zones):  # noqa: F811
    sasl = GOOD + ("smtpd_sasl_type = dovecot\nsmtpd_sasl_path = private/auth\n"
                   "smtpd_sasl_auth_enable = yes\n")
    inst, err = check(instance, sasl)
    path = os.path.join(inst.queue_dir, "private", "auth")
    f = findings(err)
    assert [(p, x) for p, x in f if p == "smtpd_sasl_type = dovecot: no Dovecot auth socket at "
            + path and "unix_listener %s" % path in x], err
    # a socket nobody listens on (Dovecot stopped), then a listening one
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    try:
        err = inst.postfix("check").stderr
        assert [p for p, _ in findings(err) if "nobody listens" in p], err
        s.listen(1)
        err = inst.postfix("check").stderr
        assert not [p for p, _ in findings(err) if "dovecot" in p], err
    finally:
        s.close()
        os.unlink(path)
    # only a master.cf service enables SASL: checked there
    inst.rewrite(master_cf=CF + "127.0.0.1:{port_sub} inet n - n - - smtpd\n"
                 "  -o smtpd_sasl_auth_enable=yes\n",
                 main_cf_extra=sasl.replace("smtpd_sasl_auth_enable = yes\n", "").replace(
                     "{host}", host()))
    err = inst.postfix("check").stderr
    assert [p for p, _ in findings(err) if p.startswith("master.cf service 127.0.0.1:")
            and "no Dovecot auth socket" in p], err


def test_port_taken(instance, zones):  # noqa: F811
    inst = instance(master_cf=CF, main_cf_extra=GOOD.replace("{host}", host()), start=False)
    port = inst.port("smtp")
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen(1)
    try:
        err = inst.postfix("check").stderr
        f = findings(err)
        want = ("master.cf service 127.0.0.1:%d: port %d on 127.0.0.1 is in use by another "
                "process: " % (port, port))
        mine = [(p, x) for p, x in f if p.startswith(want)]
        assert mine, err
        assert re.search(r"python3?\[%d\]$" % os.getpid(), mine[0][0]), mine
        assert "kill %d" % os.getpid() in mine[0][1], mine
    finally:
        s.close()
    # our own running master holds it: not a finding
    inst.start()
    err = inst.postfix("check").stderr
    assert not [p for p, _ in findings(err) if "in use" in p], err


def test_mydomain_dns(instance, zones):  # noqa: F811
    for dom, finding in (("withmx.test", False), ("onlya.test", False), ("nomx.test", True)):
        _, err = check(instance, GOOD.replace("mydomain = withmx.test", "mydomain = " + dom))
        f = [(p, x) for p, x in findings(err) if "MX or A record" in p]
        assert bool(f) == finding, (dom, err)
        if finding:
            assert f[0][0].startswith("no MX or A record for $mydomain (nomx.test) in DNS")
            assert '"nomx.test. IN MX 10 ' in f[0][1], f
