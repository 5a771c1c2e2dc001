"""Installing the MTA as the system's mail server (issue 17): `cmake
--install` into a DESTDIR, the systemd unit, the Debian package (fields,
paths, conffiles, maintainer scripts run for real in a throw-away overlay
of this system) and the CentOS RPM (rpm -qpl / --provides).

The packages are built by scripts/package.sh, as a user would, into build
directories that persist between runs (MTA_PACKAGE_BUILD_DIR_DEB / _RPM,
default <repo>/build-package-{deb,rpm}), so reruns are incremental. Nothing
is installed on the host: the .deb goes into an overlay root in a private
mount and network namespace (tests/e2e/packaging/deb_lifecycle.sh)."""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import BUILD, REPO

DAEMONS = ["master", "smtpd", "cleanup", "qmgr", "local", "virtual", "smtp", "lmtp", "pickup",
           "showq", "tlsmgr", "pipe", "error", "discard"]
COMMANDS = ["postconf", "postdrop", "postfix", "postmap", "postqueue", "postsuper"]
# postalias is postmap under another name (argv[0]), a link beside it.


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    assert r.returncode == 0, "%s failed (%d):\n%s%s" % (cmd, r.returncode, r.stdout, r.stderr)
    return r.stdout


def cache_value(name):
    with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
        m = re.search(r"^%s:\w+=(.*)$" % name, f.read(), re.M)
    assert m, name
    return m.group(1)


def tree(root):
    """{relative path: (kind, link target or None)} of everything under root."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            rel = "/" + os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("l", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("d", None)
            else:
                out[rel] = ("f", None)
    return out


def test_destdir_install(tmp_path):
    daemon_dir = cache_value("MTA_DAEMON_DIR")
    command_dir = cache_value("MTA_COMMAND_DIR")
    dest = tmp_path / "root"
    run(["cmake", "--install", BUILD, "--prefix", "/"], env=dict(os.environ, DESTDIR=str(dest)))
    t = tree(dest)
    files = {p for p, (k, _) in t.items() if k == "f"}
    built = [d for d in DAEMONS if os.path.exists(os.path.join(BUILD, "bin", d))]
    assert "master" in built and "smtpd" in built
    expected = {"%s/%s" % (daemon_dir, d) for d in built}
    expected |= {"%s/%s" % (command_dir, c) for c in COMMANDS + ["sendmail"]}
    expected |= {"/usr/share/postfix/main.cf.dist", "/usr/share/postfix/master.cf.dist",
                 "/lib/systemd/system/postfix.service", "/etc/logrotate.d/postfix"}
    assert files == expected
    # Daemons are executables; a program this tree does not build is not listed.
    for d in built:
        assert os.access(str(dest) + daemon_dir + "/" + d, os.X_OK)
    assert not os.path.exists(str(dest) + daemon_dir + "/bounce") or "bounce" in built
    # mailq/newaliases in command_directory and, as Debian has them, /usr/bin.
    assert t[command_dir + "/postalias"] == ("l", "postmap")
    for link in ("mailq", "newaliases"):
        assert t[command_dir + "/" + link] == ("l", "sendmail")
        assert t["/usr/bin/" + link] == ("l", "../sbin/sendmail")
        assert os.path.realpath(str(dest) + "/usr/bin/" + link) == \
            os.path.realpath(str(dest) + command_dir + "/sendmail")
    with open(str(dest) + "/usr/share/postfix/master.cf.dist") as f, \
            open(os.path.join(REPO, "conf", "master.cf")) as g:
        assert f.read() == g.read()


UNIT_KEYS = {
    "Type": "forking",
    "PIDFile": "{queue}/pid/master.pid",
    "ExecStart": "{cmd}/postfix start",
    "ExecReload": "{cmd}/postfix reload",
    "ExecStop": "{cmd}/postfix stop",
    "WantedBy": "multi-user.target",
}


def unit_values(text):
    return dict(re.findall(r"^(\w+)=(.*)$", text, re.M))


def test_systemd_unit():
    with open(os.path.join(BUILD, "generated", "postfix.service")) as f:
        values = unit_values(f.read())
    want = {k: v.format(queue=cache_value("MTA_QUEUE_DIR"), cmd=cache_value("MTA_COMMAND_DIR"))
            for k, v in UNIT_KEYS.items()}
    assert {k: values.get(k) for k in want} == want


def test_systemd_analyze_verify(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    # verify checks that ExecStart's program exists, and /usr/sbin/postfix
    # need not on a test host: the template is filled with this build's
    # bin/. --man=no: the unit names man:postfix(1), not shipped yet.
    with open(os.path.join(REPO, "packaging", "postfix.service.in")) as f:
        text = f.read()
    text = (text.replace("@MTA_COMMAND_DIR@", os.path.join(BUILD, "bin"))
            .replace("@MTA_QUEUE_DIR@", cache_value("MTA_QUEUE_DIR"))
            .replace("@MTA_CONFIG_DIR@", cache_value("MTA_CONFIG_DIR")))
    assert "@" not in text
    unit = tmp_path / "postfix.service"
    unit.write_text(text)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr


def build_package(fmt, out):
    env = dict(os.environ)
    env["MTA_PACKAGE_BUILD_DIR"] = os.environ.get(
        "MTA_PACKAGE_BUILD_DIR_" + fmt.upper(), os.path.join(REPO, "build-package-" + fmt))
    paths = run([os.path.join(REPO, "scripts", "package.sh"), fmt, str(out)], env=env).split()
    assert len(paths) == 1 and paths[0].endswith("." + fmt), paths
    return paths[0]


@pytest.fixture(scope="module")
def deb():
    if not shutil.which("dpkg-deb"):
        pytest.skip("dpkg-deb not available")
    out = tempfile.mkdtemp(prefix="mta-deb-")
    yield build_package("deb", out)
    shutil.rmtree(out, ignore_errors=True)


def control(deb_path):
    fields = {}
    for line in run(["dpkg-deb", "-f", deb_path]).splitlines():
        if line[:1] not in (" ", ""):
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return fields


def relation(value):
    return {re.sub(r"\s*\(.*\)", "", p).strip() for p in value.split(",")}


def test_deb_control(deb):
    f = control(deb)
    assert relation(f["Provides"]) >= {"mail-transport-agent", "default-mta"}
    assert "postfix" in relation(f["Conflicts"])
    assert "postfix" in relation(f["Replaces"])
    assert f["Section"] == "mail"
    # adduser for postinst; the libraries from dpkg-shlibdeps.
    assert relation(f["Depends"]) >= {"adduser", "libc6", "libssl3", "libdb5.3", "libsasl2-2"}
    info = run(["dpkg-deb", "-I", deb])
    for script in ("postinst", "prerm", "postrm", "conffiles"):
        assert re.search(r"\b%s\b" % script, info), script
    conffiles = run(["dpkg-deb", "--info", deb, "conffiles"]).split()
    assert conffiles == ["/etc/logrotate.d/postfix"]
    postinst = run(["dpkg-deb", "--info", deb, "postinst"])
    # Started only where systemd runs, and then through deb-systemd-invoke.
    assert re.search(r"if \[ -d /run/systemd/system \]; then(.|\n)*deb-systemd-invoke", postinst)


def test_deb_paths(deb):
    listing = {}
    for line in run(["dpkg-deb", "-c", deb]).splitlines():
        parts = line.split()
        path = parts[5].lstrip(".")
        listing[path.rstrip("/") or "/"] = (parts[0], parts[1], parts[7] if len(parts) > 7 else None)
    for d in DAEMONS:
        assert listing["/usr/lib/postfix/sbin/" + d][0] == "-rwxr-xr-x", d
    for c in COMMANDS + ["sendmail"]:
        assert listing["/usr/sbin/" + c][0] == "-rwxr-xr-x", c
    assert listing["/usr/sbin/postalias"][2] == "postmap"
    for link in ("mailq", "newaliases"):
        assert listing["/usr/sbin/" + link][2] == "sendmail"
        assert listing["/usr/bin/" + link][2] == "../sbin/sendmail"
    assert "/lib/systemd/system/postfix.service" in listing
    assert all(owner == "root/root" for _, owner, _ in listing.values())
    # /etc/postfix is the admin's (written by postinst when missing), never
    # shipped: dpkg would otherwise ask about a migrated Postfix configuration.
    assert not [p for p in listing if p.startswith("/etc/postfix")]
    # Everything is under the FHS places Debian's postfix uses.
    assert {p.split("/")[1] for p in listing if p != "/"} <= {"etc", "lib", "usr"}


def test_deb_install_remove_purge(deb, tmp_path):
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) not available")
    probe = subprocess.run(["unshare", "-m", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no mount/network namespaces here: %s" % probe.stderr.decode().strip())
    work = tmp_path / "ov"
    r = subprocess.run(["unshare", "-m", "-n", "sh",
                        os.path.join(REPO, "tests", "e2e", "packaging", "deb_lifecycle.sh"),
                        str(work), deb], capture_output=True, text=True, timeout=120)
    # The overlay's upper layer holds a copy of dpkg's database: drop it now.
    shutil.rmtree(work, ignore_errors=True)
    out = r.stdout
    assert r.returncode == 0 and "== done" in out, out + r.stderr

    def fact(name, section):
        body = out.split("== " + section)[1].split("\n== ")[0]
        m = re.search(r"^%s: (.*)$" % re.escape(name), body, re.M)
        return m.group(1) if m else None

    assert fact("status", "install") == "install ok installed"
    assert fact("user", "install") == "postfix:/var/spool/postfix:/usr/sbin/nologin"
    assert fact("group", "install") == "postdrop"
    mailname = fact("mailname", "install")
    assert mailname and fact("myhostname", "install") == mailname
    assert fact("aliases", "install").startswith("postmaster:")
    assert fact("aliases.db", "install") == "yes"
    assert fact("postdrop", "install") == "2755 postdrop"
    assert fact("maildrop", "install") == "730 postfix postdrop"
    assert fact("enabled", "install") == "yes"
    # No systemd in the overlay: postinst must not have started anything.
    assert fact("running", "install") == "no"
    assert "systemd is not running" in out
    assert fact("started", "install") == "yes"
    assert fact("kept edits", "reinstall") == "1"
    assert re.fullmatch(r"\d+", fact("pid before remove", "remove") or "")
    assert fact("still running", "remove") == "no"
    assert fact("binary left", "remove") == "no"
    assert fact("main.cf kept", "remove") == "yes"
    assert fact("conffile kept", "remove") == "yes"
    assert fact("etc left", "purge") == "no"
    assert fact("conffile left", "purge") == "no"


def test_rpm(tmp_path):
    if not shutil.which("rpmbuild") or not shutil.which("rpm"):
        pytest.skip("rpmbuild/rpm not installed (Debian package rpm)")
    rpm = build_package("rpm", tmp_path)
    files = set(run(["rpm", "-qpl", rpm]).split())
    for d in DAEMONS:
        assert "/usr/libexec/postfix/" + d in files, d
    for c in COMMANDS + ["postalias"]:
        assert "/usr/sbin/" + c in files, c
    # sendmail, mailq and newaliases belong to alternatives, as on CentOS.
    assert {"/usr/sbin/sendmail.postfix", "/usr/bin/mailq.postfix",
            "/usr/bin/newaliases.postfix"} <= files
    assert not files & {"/usr/sbin/sendmail", "/usr/bin/mailq", "/usr/bin/newaliases"}
    assert "/usr/lib/systemd/system/postfix.service" in files
    # No system directories and no /usr/lib/postfix (Debian's path).
    assert not files & {"/usr", "/usr/sbin", "/usr/bin", "/etc", "/usr/libexec", "/usr/share"}
    assert not [p for p in files if p.startswith(("/usr/lib/postfix", "/usr/lib/.build-id"))]
    provides = {re.sub(r"\s*=.*", "", p) for p in run(["rpm", "-qp", "--provides", rpm]).splitlines()}
    assert provides >= {"MTA", "smtpdaemon", "server(smtp)"}
    assert "postfix" in run(["rpm", "-qp", "--conflicts", rpm]).split()
    assert run(["rpm", "-qp", "--configfiles", rpm]).split() == ["/etc/logrotate.d/postfix"]
    scripts = run(["rpm", "-qp", "--scripts", rpm])
    assert re.search(r"alternatives --install /usr/sbin/sendmail mta /usr/sbin/sendmail\.postfix",
                     scripts)
    assert "alternatives --remove mta /usr/sbin/sendmail.postfix" in scripts
