"""Manual pages (docs/man): installed with the programs, one for every
command and daemon the install tree holds (and their other names), every
page renders with `groff -ww -man` and `man -l` without a warning, `man`
finds them by name in the installed tree, and postconf(5), generated from
the parameter tables, lists exactly what `postconf -d` knows, honoured
parameters apart from the others."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BIN, BUILD

PROGRAM_DIRS = {"/usr/sbin": "1", "/usr/bin": "1", "/usr/lib/postfix/sbin": "8"}


def cache_value(name):
    with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
        m = re.search(r"^%s:\w+=(.*)$" % name, f.read(), re.M)
    return m.group(1) if m else None


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    dest = tmp_path_factory.mktemp("man-root")
    r = subprocess.run(["cmake", "--install", BUILD, "--prefix", "/"], capture_output=True,
                       text=True, timeout=120, env=dict(os.environ, DESTDIR=str(dest)))
    assert r.returncode == 0, r.stderr
    return str(dest)


def pages(root):
    out = []
    mandir = os.path.join(root, "usr/share/man")
    for sect in sorted(os.listdir(mandir)):
        for name in sorted(os.listdir(os.path.join(mandir, sect))):
            out.append(os.path.join(sect, name))
    return mandir, out


def test_every_program_has_a_page(root):
    dirs = {cache_value("MTA_COMMAND_DIR") or "/usr/sbin": "1", "/usr/bin": "1",
            cache_value("MTA_DAEMON_DIR") or "/usr/lib/postfix/sbin": "8"}
    mandir, have = pages(root)
    missing = []
    for d, sect in dirs.items():
        full = root + d
        if not os.path.isdir(full):
            continue
        for prog in os.listdir(full):
            if not os.path.exists(os.path.join(mandir, "man%s" % sect, "%s.%s" % (prog, sect))):
                missing.append("%s/%s" % (d, prog))
    assert not missing, missing
    assert "man5/postconf.5" in have


def test_pages_render_without_warnings(root):
    mandir, have = pages(root)
    assert len(have) >= 20, have
    for page in have:
        # From the top of the tree, so ".so man1/sendmail.1" resolves.
        r = subprocess.run(["groff", "-ww", "-man", "-Tutf8", "-z", page], cwd=mandir,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stderr == "", (page, r.stderr)
        if shutil.which("man"):
            r = subprocess.run(["man", "--warnings", "-l", "-Tutf8", page], cwd=mandir,
                               capture_output=True, text=True, timeout=60,
                               env=dict(os.environ, MANWIDTH="80"))
            assert r.returncode == 0 and r.stderr == "", (page, r.stderr)
            assert "NAME" in re.sub(".\b", "", r.stdout), page


def test_man_finds_installed_pages(root):
    if not shutil.which("man"):
        pytest.skip("man-db not installed")
    mandir, _ = pages(root)
    for name, text in (("postqueue", "fast-flush"), ("postcat", "ENVELOPE RECORDS"),
                       ("mailq", "Sendmail"), ("lmtp", "LMTP")):
        r = subprocess.run(["man", "-M", mandir, "-P", "cat", name], capture_output=True,
                           text=True, timeout=60, env=dict(os.environ, MANWIDTH="200"))
        assert r.returncode == 0 and text in r.stdout, (name, r.stdout[:500], r.stderr)


def test_postconf5_lists_the_parameter_tables(root):
    mandir, _ = pages(root)
    with open(os.path.join(mandir, "man5", "postconf.5")) as f:
        text = f.read()
    honoured_part, _, other_part = text.split('.SH "HONOURED PARAMETERS"')[1].partition(
        '.SH "OTHER PARAMETERS"')
    honoured_part = honoured_part.split('.SH "PER-SERVICE PARAMETERS"')[0]
    honoured = set(re.findall(r"^\.B (\S+)$", honoured_part, re.M))
    others = set(re.findall(r"^([A-Za-z0-9_]+)$", other_part, re.M))
    known = {line.split("=")[0].strip() for line in subprocess.run(
        [os.path.join(BIN, "postconf"), "-d"], capture_output=True, text=True,
        timeout=60).stdout.splitlines()}
    assert honoured and others and not honoured & others
    # every parameter postconf knows, once (postconf -d also prints the
    # per-service ones master.cf creates, which the page lists generically)
    assert known - honoured - others == set(), sorted(known - honoured - others)[:20]
    assert (honoured | others) - known == set(), sorted((honoured | others) - known)[:20]
    assert {"maillog_file_rotate_suffix", "myhostname", "mydestination"} <= honoured
    assert "smtpd_proxy_filter" in others
    # defaults as postconf -d prints them (roff-escaped)
    assert re.search(r"^\.B maillog_file_rotate_suffix\nDefault: \\&%Y%m%d\\-%H%M%S\n",
                     honoured_part, re.M), honoured_part[:300]
    assert re.search(r"^\.B biff\nDefault: .*\n(.*\n)*?.*always behaves as with the value "
                     r"\\&no;", honoured_part, re.M)
