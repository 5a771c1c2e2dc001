"""master and the postfix command against main.cf/master.cf as a whole:
unused-parameter warnings, per-service parameters (qmgr), absorbed stock
services (bounce, defer, trace), what `postfix start` prints."""
import os
import re
import time

from conftest import DATA, per_run
from delivery_helpers import PIPELINE_CF, smtp_send, start_pipeline, wait_maildir

ECHO_CF = """\
127.0.0.1:{port_echo} inet n - n - 2 echo_service -o echo_special=$my_user_param
echo      unix  n       -       n       -       -       echo_service
relay     unix  -       -       n       -       -       smtp
"""

EXTRA = """\
smtpd_bogus_typo = 1
my_ref_target = x
my_user_param = $my_ref_target
relay_destination_concurrency_limit = 3
echo_special = 2
"""


def main_cf_line(inst, name):
    with open(os.path.join(inst.config_dir, "main.cf")) as f:
        for n, line in enumerate(f, 1):
            if line.startswith(name + " "):
                return n
    raise AssertionError(name)


def unused_re(inst, name, value, ident):
    return r"%s\[\d+\]: warning: %s, line %d: unused parameter: %s=%s" % (
        ident, re.escape(os.path.join(inst.config_dir, "main.cf")), main_cf_line(inst, name),
        name, re.escape(value))


def test_master_warns_once_about_unused_parameters(instance):
    inst = instance(ECHO_CF, main_cf_extra=EXTRA, start=False)
    r = inst.postfix("start")
    inst.master_pid = inst.read_pid()
    inst.wait_log(r"daemon started")
    log = inst.log()
    assert len(re.findall(unused_re(inst, "smtpd_bogus_typo", "1", "postfix/master"), log)) == 1
    # Referenced as $name, a per-service parameter of a master.cf entry, a
    # master.cf -o name: all used.
    assert len(re.findall(r"unused parameter", log)) == 1, log
    # `postfix start` shows the warning, not master's informational lines.
    assert "unused parameter: smtpd_bogus_typo=1" in r.stderr
    assert "daemon started" not in r.stderr and "handled inside" not in r.stderr, r.stderr
    assert "postfix/postfix-script: starting the Postfix mail system\n" in r.stderr
    for line in r.stderr.splitlines():
        assert line.startswith(("postfix/postfix-script: ", "master: warning: ")), line
    # A reload reads main.cf again and says it again, once.
    inst.reload()
    # master logs "reload --" before it reads master.cf and reports again.
    def count():
        return len(re.findall(unused_re(inst, "smtpd_bogus_typo", "1", "postfix/master"),
                              inst.log()))
    inst.wait_for(lambda: count() >= 2, what="the warning again after reload")
    inst.wait_log(r"postfix/master\[\d+\]: reload -- version")
    time.sleep(0.5)  # a duplicate would follow at once
    assert count() == 2


def test_postfix_check_reports_unused_parameters(instance):
    inst = instance(ECHO_CF, main_cf_extra=EXTRA, start=False)
    r = inst.postfix("check")
    assert re.search(r"warning: .*main\.cf, line %d: unused parameter: smtpd_bogus_typo=1"
                     % main_cf_line(inst, "smtpd_bogus_typo"), r.stderr), r.stderr
    assert r.stderr.count("unused parameter") == 1, r.stderr
    assert re.search(unused_re(inst, "smtpd_bogus_typo", "1", "postfix/postfix-script"),
                     inst.log())


def test_no_warning_without_unused_parameters(instance):
    inst = instance(ECHO_CF, main_cf_extra="")
    inst.wait_log(r"daemon started")
    assert "unused parameter" not in inst.log()
    assert "unused parameter" not in inst.postfix("check").stderr


def test_stock_bounce_defer_trace_are_absorbed(instance):
    with open(os.path.join(DATA, "master.cf.debian")) as f:
        text = f.read()
    text = text.replace("{", "{{").replace("}", "}}")
    text = re.sub(r"^smtp(\s+)inet", r"127.0.0.1:{port_smtp}\1inet", text, count=1, flags=re.M)
    inst = instance(text)
    inst.wait_log(r"daemon started")
    log = inst.log()
    for svc in ("bounce", "defer", "trace"):
        assert re.search(r"postfix/master\[\d+\]: service %s/unix \(command bounce\): handled "
                         r"inside the library or not needed -- not started" % svc, log), svc
    assert not re.search(r"warning: .*bounce", log), log
    # The stock main.cf parameters of these entries are not "unused" either.
    assert "unused parameter" not in log


PER_TRANSPORT_CF = PIPELINE_CF + "mylocal unix - n n - - local\n"


def test_qmgr_per_transport_parameters(instance):
    """qmgr reads <transport>_destination_concurrency_limit for a transport
    that only master.cf defines: its value is checked like any parameter
    (fatal, naming file and line, when malformed) and takes effect."""
    inst = start_pipeline(instance, master_cf=PER_TRANSPORT_CF,
                          extra="local_transport = mylocal\nservice_throttle_time = 1s\n"
                                "mylocal_destination_concurrency_limit = lots\n")
    smtp_send(inst, "someone@example.org", per_run("tester@mta-test.example"))
    line = main_cf_line(inst, "mylocal_destination_concurrency_limit")
    inst.wait_log(r"postfix/qmgr\[\d+\]: fatal: .*main\.cf, line %d: bad numerical "
                  r"configuration: mylocal_destination_concurrency_limit = lots" % line)
    # Fixed: the message is delivered through the mylocal transport.
    inst.rewrite(main_cf_extra=inst.main_cf_extra.replace("= lots", "= 2"))
    inst.reload()
    files = wait_maildir(inst, per_run("tester"), timeout=30)
    assert len(files) == 1
    inst.wait_log(per_run(r"to=<tester@mta-test\.example>, relay=\S+, .*status=sent"))


def test_daemon_stderr_reaches_the_instance_file(instance):
    """MTA_DAEMON_STDERR (set by the fixture): a daemon's stderr, where
    ASan/UBSan print, lands in <instance>/daemon.stderr, and the fixture
    recognises a sanitizer report there."""
    inst = instance(ECHO_CF)
    import socket
    s = socket.create_connection(("127.0.0.1", inst.port("echo")), timeout=5)
    f = s.makefile("rb")
    assert f.readline().startswith(b"hello ")
    s.sendall(b"stderr plain diagnostic\n")
    assert f.readline() == b"echo: stderr plain diagnostic\n"
    inst.wait_for(lambda: "plain diagnostic" in open(inst.daemon_stderr).read(),
                  what="the daemon's stderr in daemon.stderr")
    assert inst.sanitizer_reports() == ""
    s.sendall(b"stderr ==1==ERROR: AddressSanitizer: heap-use-after-free (a test)\n")
    assert f.readline().startswith(b"echo: ")
    s.close()
    inst.wait_for(inst.sanitizer_reports, what="a report recognised")
    st = os.stat(inst.daemon_stderr)
    assert st.st_uid == 0 and (st.st_mode & 0o777) == 0o600
    # Not a real report: keep the fixture from failing this test.
    open(inst.daemon_stderr, "w").close()
