"""postconf: output and edits pinned byte for byte against Postfix 3.7.11.

The golden files in tests/data/postconf/ were produced by Debian's postconf
3.7.11 (run from the unpacked .deb) on the same main.cf/master.cf, with the
configuration directory replaced by "{dir}". Where this postconf differs on
purpose the test says so. No MTA instance is needed: only build/bin/postconf.
"""
import os
import shutil
import tempfile
import pathlib
import stat
import subprocess
import threading

import pytest

from conftest import BIN, DATA, build_default_config_dir

POSTCONF = os.path.join(BIN, "postconf")
GOLD = os.path.join(DATA, "postconf")

# Parameters whose default depends on the machine or on our version.
MACHINE = {"myhostname", "mydomain", "mynetworks", "mail_version", "process_id",
           "process_name", "milter_macro_v"}
# Our own parameters (tools/gen_config_defaults.py EXTENSIONS): not in Postfix.
EXTENSIONS = {"smtpd_pregreet_wait", "local_destination_batch_limit"}


@pytest.fixture
def confdir():
    # A path of fixed length: the directory name appears in the output, and
    # `postconf -f` folds lines by length, so pytest's growing tmp_path
    # names (pytest-9 -> pytest-10) would change the folding.
    path = pathlib.Path(tempfile.mkdtemp(prefix="pcf", dir="/tmp"))
    shutil.copy(os.path.join(GOLD, "main.cf"), path / "main.cf")
    shutil.copy(os.path.join(GOLD, "master.cf"), path / "master.cf")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run(confdir, *args, env=None):
    return subprocess.run([POSTCONF, "-c", str(confdir), *args], capture_output=True,
                          text=True, env=env)


def golden(name, confdir):
    with open(os.path.join(GOLD, name)) as f:
        return f.read().replace("{dir}", str(confdir))


@pytest.mark.parametrize("name,args", [
    ("n.out", ["-n"]),
    ("f.out", ["-nf"]),
    ("x.out", ["-x", "myorigin", "mydestination", "smtpd_banner", "relay_domains",
               "mynetworks_style", "smtp_tls_session_cache_database", "alias_maps",
               "smtpd_relay_restrictions", "append_dot_mydomain", "smtpd_timeout",
               "smtpd_recipient_restrictions", "mua_client_restrictions"]),
    ("names.out", ["myorigin", "relayhost", "nosuch_parameter", "mua_client_restrictions",
                   "smtpd_timeout"]),
    ("h.out", ["-h", "myorigin", "relayhost", "smtpd_recipient_restrictions"]),
    ("HH.out", ["-H", "myorigin", "relayhost"]),
    ("M.out", ["-M"]),
    ("Mf.out", ["-Mf"]),
    ("Mx.out", ["-Mx", "submission/inet", "relay/unix"]),
    ("Msel.out", ["-M", "smtp", "pickup/unix", "nosuch/inet"]),
    ("F.out", ["-F"]),
    ("Fsel.out", ["-F", "submission/inet/command", "pickup/unix/wakeup"]),
    ("P.out", ["-P"]),
    ("Px.out", ["-Px"]),
    ("Psel.out", ["-P", "submission/inet/syslog_name"]),
    ("PH.out", ["-PH"]),
])
def test_output_matches_postfix(confdir, name, args):
    r = run(confdir, *args)
    assert r.returncode == 0, r.stderr
    assert r.stdout == golden(name, confdir)


def test_warnings(confdir):
    r = run(confdir, "myorigin", "nosuch_parameter")
    assert "postconf: warning: nosuch_parameter: unknown parameter\n" in r.stderr
    # master.cf -o name that nothing uses (Postfix omits the line number).
    assert f"postconf: warning: {confdir}/master.cf, line 19: unused parameter: xyz_unused=1\n" \
        in r.stderr
    # mua_client_restrictions is used through master.cf's $mua_client_restrictions.
    assert "mua_client_restrictions" not in r.stderr
    with open(confdir / "main.cf", "a") as f:
        f.write("typo_parameter = 1\n")
    r = run(confdir, "-n")
    assert r.returncode == 0
    lines = (confdir / "main.cf").read_text().count("\n")
    assert (f"postconf: warning: {confdir}/main.cf, line {lines}: unused parameter: "
            "typo_parameter=1\n") in r.stderr
    assert "typo_parameter" not in r.stdout


def test_defaults_match_postfix(confdir):
    """postconf -d prints the table exactly as Postfix 3.7.11 prints it."""
    (confdir / "master.cf").write_text("")
    r = run(confdir, "-d")
    assert r.returncode == 0, r.stderr
    ours = [l for l in r.stdout.splitlines(True)
            if l.split(" =")[0] not in MACHINE | EXTENSIONS]
    with open(os.path.join(DATA, "postconf-d-3.7.txt")) as f:
        theirs = [l for l in f if l.split(" =")[0] not in MACHINE]
    # A test build compiles in its own config_directory (conftest).
    theirs = [("config_directory = %s\n" % build_default_config_dir())
              if l.startswith("config_directory =") else l for l in theirs]
    assert "".join(ours) == "".join(theirs)


def test_defaults_ignore_main_cf(confdir):
    r = run(confdir, "-d", "compatibility_level", "myorigin", "config_directory")
    assert r.stdout == ("compatibility_level = 0\nmyorigin = $myhostname\n"
                        "config_directory = %s\n" % build_default_config_dir())
    r = run(confdir, "-dx", "mynetworks_style", "relay_domains")
    assert r.stdout == "mynetworks_style = subnet\nrelay_domains = $myhostname, " \
        "localhost.$mydomain, localhost\n".replace("$myhostname", run(
            confdir, "-dxh", "myhostname").stdout.strip()).replace(
            "$mydomain", run(confdir, "-dxh", "mydomain").stdout.strip())


def test_service_defined_parameters(confdir):
    r = run(confdir, "relay_destination_concurrency_limit", "maildrop_time_limit")
    assert r.stdout == ("relay_destination_concurrency_limit = "
                        "$default_destination_concurrency_limit\n"
                        "maildrop_time_limit = $command_time_limit\n")
    r = run(confdir, "-x", "relay_destination_concurrency_limit")
    assert r.stdout == "relay_destination_concurrency_limit = 20\n"


def test_override_option(confdir):
    r = run(confdir, "-o", "relayhost=[mx.example]:25", "-x", "relayhost", "myorigin")
    assert r.stdout == "relayhost = [mx.example]:25\nmyorigin = /etc/mailname\n"
    r = run(confdir, "-n", "-o", "compatibility_level=2")
    assert "compatibility_level = 2\n" in r.stdout


def test_expansion_errors_name_file_line_parameter(confdir):
    (confdir / "main.cf").write_text("myorigin = $relayhost\nrelayhost = ${myorigin\n")
    r = run(confdir, "-x", "myorigin")
    assert r.returncode == 1
    assert r.stderr.endswith(f"postconf: fatal: {confdir}/main.cf, line 2: parameter relayhost: "
                             "unterminated \"${\" in \"${myorigin\"\n")
    (confdir / "main.cf").write_text("myorigin = $relayhost\nrelayhost = $myorigin\n")
    r = run(confdir, "-x", "myorigin")
    assert r.returncode == 1
    assert "parameter relayhost: expansion loop: $myorigin -> $relayhost -> $myorigin" \
        in r.stderr
    # Without -x nothing is expanded, so nothing fails.
    assert run(confdir, "myorigin").stdout == "myorigin = $relayhost\n"


def test_syntax_errors(confdir):
    (confdir / "main.cf").write_text("a = 1\n\nfoo\n")
    r = run(confdir, "-n")
    assert r.returncode == 1
    assert r.stderr.endswith(f"postconf: fatal: {confdir}/main.cf, line 3: missing '=' after "
                             "attribute name: \"foo\"\n")
    (confdir / "main.cf").write_bytes(b"myorigin = a\nrelayhost = b\0c\n")
    r = run(confdir, "-n")
    assert r.returncode == 1
    assert "main.cf, line 2: NUL character in configuration file" in r.stderr
    os.unlink(confdir / "main.cf")
    r = run(confdir, "-n")
    assert r.returncode == 1
    assert f"open {confdir}/main.cf: No such file or directory" in r.stderr


def test_usage_errors(confdir):
    assert run(confdir, "-h", "-H", "myorigin").returncode == 64
    assert run(confdir, "-m").returncode == 64
    r = run(confdir, "-Z")
    assert r.returncode == 64 and "usage:" in r.stderr
    r = run(confdir, "-e")
    assert r.returncode == 64


def test_config_dir_from_environment(confdir):
    env = dict(os.environ, MAIL_CONFIG=str(confdir))
    r = subprocess.run([POSTCONF, "-h", "myorigin"], capture_output=True, text=True, env=env)
    assert r.stdout == "/etc/mailname\n"


@pytest.mark.parametrize("out,args", [
    ("edit-e.cf", ["-e", "myorigin = new  value ", "relayhost=[smtp.example.com]:587",
                   "inet_interfaces = loopback-only"]),
    ("edit-X.cf", ["-X", "myorigin", "mydestination", "nosuch"]),
    ("edit-comment.cf", ["-#", "myorigin", "smtpd_banner"]),
])
def test_edit_matches_postfix(confdir, out, args):
    shutil.copy(os.path.join(GOLD, "edit-input.cf"), confdir / "main.cf")
    os.chmod(confdir / "main.cf", 0o640)
    r = run(confdir, *args)
    assert r.returncode == 0, r.stderr
    assert (confdir / "main.cf").read_text() == golden(out, confdir)
    # Mode kept, no temporary file left behind.
    assert stat.S_IMODE(os.stat(confdir / "main.cf").st_mode) == 0o640
    assert sorted(os.listdir(confdir)) == ["main.cf", "master.cf"]


def test_edit_appends_after_unterminated_last_line(confdir):
    # Postfix would glue the new line onto "last = x"; we do not.
    (confdir / "main.cf").write_text("last = x")
    assert run(confdir, "-e", "myorigin=example.com").returncode == 0
    assert (confdir / "main.cf").read_text() == "last = x\nmyorigin = example.com\n"


def test_edit_rejects_bad_input(confdir):
    before = (confdir / "main.cf").read_text()
    for arg in ["bad name=1", "=1", "noequals"]:
        r = run(confdir, "-e", arg)
        assert r.returncode == 64, arg
        assert "attribute name" in r.stderr
    r = run(confdir, "-e", "a=1\nb=2")
    assert r.returncode == 64 and "multi-line" in r.stderr
    assert (confdir / "main.cf").read_text() == before


def test_edit_missing_main_cf(confdir):
    os.unlink(confdir / "main.cf")
    r = run(confdir, "-e", "myorigin=x")
    assert r.returncode == 1
    assert f"open {confdir}/main.cf for reading: No such file or directory" in r.stderr
    assert not (confdir / "main.cf.tmp").exists()


def test_concurrent_edits_are_serialized(confdir):
    (confdir / "main.cf").write_text("# start\n")
    errors = []

    def edit(i):
        r = run(confdir, "-e", f"param_{i} = {i}")
        if r.returncode != 0:
            errors.append(r.stderr)

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    text = (confdir / "main.cf").read_text()
    for i in range(20):
        assert f"param_{i} = {i}\n" in text
    assert text.startswith("# start\n")


def test_edited_values_read_back(confdir):
    assert run(confdir, "-e", "smtpd_banner = $myhostname ESMTP",
               "message_size_limit=52428800").returncode == 0
    r = run(confdir, "-h", "message_size_limit", "smtpd_banner")
    assert r.stdout == "52428800\n$myhostname ESMTP\n"
