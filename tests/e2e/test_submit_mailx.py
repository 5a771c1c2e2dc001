"""Issue 5's acceptance test: `echo hi | mail -s test tester@...` with Debian's
bsd-mailx is delivered, as root and as an ordinary user.

bsd-mailx is never installed (its Depends: default-mta | mail-transport-agent
would pull in exim4): scripts/install-deps.sh --test unpacks the .deb into
/var/cache/mta-tests/bsd-mailx-root. Its compiled-in default is
/usr/sbin/sendmail, but it honours the documented `sendmail` variable, so a
private MAILRC with "set sendmail=<our build>/sendmail" points it at the
build under test and the host's /usr/sbin stays untouched.
"""
import os
import pwd
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import BIN, per_run
from delivery_helpers import read
from test_submit import USER1, alt_config, local_users  # noqa: F401  (fixtures)
from test_submit_delivery import start, wait_delivered

CACHE = os.environ.get("MTA_TEST_CACHE", "/var/cache/mta-tests")
MAILX = os.path.join(CACHE, "bsd-mailx-root", "usr", "bin", "bsd-mailx")


@pytest.fixture
def mailrc():
    if not os.access(MAILX, os.X_OK):
        pytest.skip("bsd-mailx not unpacked: run scripts/install-deps.sh --test")
    # Not under tmp_path: pytest's /tmp/pytest-of-root is 0700, and the
    # unprivileged user's mailx must read this file (else it silently
    # falls back to /usr/sbin/sendmail).
    d = tempfile.mkdtemp(prefix="mta-mailrc-")
    os.chmod(d, 0o755)
    path = os.path.join(d, "mailrc")
    with open(path, "w") as f:
        f.write("set sendmail=%s\n" % os.path.join(BIN, "sendmail"))
    os.chmod(path, 0o644)
    yield path
    shutil.rmtree(d, ignore_errors=True)


def test_bsd_mailx_as_root_and_as_user_is_delivered(instance, alt_config, mailrc):
    inst = start(instance)
    alt_config(inst.config_dir)
    for user in (None, USER1):
        cmd = [MAILX, "-s", "test", per_run("tester@mta-test.example")]
        if user:
            cmd = ["runuser", "-u", user, "--"] + cmd
        # HOME=/nonexistent: no ~/.mailrc of the account can interfere.
        env = dict(os.environ, MAIL_CONFIG=inst.config_dir, MAILRC=mailrc, HOME="/nonexistent")
        r = subprocess.run(cmd, input=b"hi\n", capture_output=True, timeout=30, env=env)
        assert r.returncode == 0, r.stderr
        assert r.stderr == b"", r.stderr
    files = wait_delivered(inst, per_run("tester"), 2)
    senders = set()
    for f in files:
        text = read(f)
        assert "\nSubject: test\n" in text and text.endswith("\nhi\n"), text
        senders.add(text.split("\n", 1)[0])
    assert senders == {"Return-Path: <root@mta-test.example>",
                       "Return-Path: <%s@mta-test.example>" % USER1}, senders
    # Both went through postdrop/pickup, each under its own uid.
    inst.wait_log(r"pickup\[\d+\]: \w+: uid=0 from=<root>")
    inst.wait_log(r"pickup\[\d+\]: \w+: uid=%d from=<%s>" % (pwd.getpwnam(USER1).pw_uid,
                                                                   re.escape(USER1)))
    inst.wait_log(per_run(r"to=<tester@mta-test\.example>, relay=local, .*status=sent"), count=2)
