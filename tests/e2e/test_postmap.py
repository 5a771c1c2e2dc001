"""postmap/postalias/newaliases: behaviour and file compatibility with
Debian's Postfix (its postmap reads our .db files and we read its files).

Our binaries come from $MTA_BUILD_DIR/bin (default <repo>/build/bin).
Debian's Postfix is never installed: the tests run the package unpacked
by peers.ensure_postfix_tree (scripts/install-deps.sh --test does it first).
"""
import os
import subprocess
from pathlib import Path

import pytest

import peers

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("MTA_BUILD_DIR", REPO / "build")) / "bin"


def ours(name):
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} not built (set MTA_BUILD_DIR or build into {REPO / 'build'})")
    return str(path)


@pytest.fixture(scope="module")
def postfix(tmp_path_factory):
    root = peers.ensure_postfix_tree()
    conf = tmp_path_factory.mktemp("pfxconf")
    lib = root / "usr/lib/postfix"
    # pcre: tables come from postfix-pcre's plugin (unpacked beside postfix).
    (conf / "dynamicmaps.cf").write_text("pcre\tpostfix-pcre.so\tdict_pcre_open\n")
    (conf / "main.cf").write_text(
        "compatibility_level = 3.6\n"
        f"shlib_directory = {lib}\n"
        f"daemon_directory = {lib}/sbin\n"
        f"meta_directory = {conf}\n"
        f"queue_directory = {conf}/queue\n"
        f"data_directory = {conf}/data\n"
    )
    env = dict(os.environ, LD_LIBRARY_PATH=str(lib))

    def run(tool, *args, stdin=None):
        return subprocess.run([str(root / "usr/sbin" / tool), "-c", str(conf), *args],
                              capture_output=True, text=True, env=env, input=stdin,
                              timeout=60)

    r = run("postmap", "-q", "x", "inline:{x=y}")
    assert r.returncode == 0 and r.stdout == "y\n", f"Debian's postmap does not run: {r.stderr}"
    return run


def run_ours(tool, *args, stdin=None, conf=None):
    cmd = [ours(tool)]
    if conf:
        cmd += ["-c", str(conf)]
    return subprocess.run(cmd + list(args), capture_output=True, text=True,
                          input=stdin, timeout=60)


SOURCE = """# a table
Foo        bar
baz        qux quux
  continued
user@Example.COM   local
"""

EXPECTED = {"foo": "bar", "baz": "qux quux  continued", "user@example.com": "local"}


def dump_to_dict(text, sep="\t"):
    out = {}
    for line in text.splitlines():
        k, v = line.split(sep, 1)
        out[k] = v
    return out


@pytest.mark.parametrize("dbtype", ["hash", "btree"])
@pytest.mark.parametrize("nul", [[], ["-N"]])
def test_ours_built_theirs_read(postfix, tmp_path, dbtype, nul):
    src = tmp_path / "table"
    src.write_text(SOURCE)
    r = run_ours("postmap", *nul, f"{dbtype}:{src}", conf=tmp_path)
    assert r.returncode == 0, r.stderr
    for key, value in EXPECTED.items():
        t = postfix("postmap", "-q", key.upper(), f"{dbtype}:{src}")
        assert (t.returncode, t.stdout) == (0, value + "\n"), t.stderr
    t = postfix("postmap", "-s", f"{dbtype}:{src}")
    assert t.returncode == 0, t.stderr
    assert dump_to_dict(t.stdout) == EXPECTED
    assert postfix("postmap", "-q", "nothere", f"{dbtype}:{src}").returncode == 1


@pytest.mark.parametrize("dbtype", ["hash", "btree"])
@pytest.mark.parametrize("nul", [[], ["-N"]])
def test_theirs_built_ours_read(postfix, tmp_path, dbtype, nul):
    src = tmp_path / "table"
    src.write_text(SOURCE)
    t = postfix("postmap", *nul, f"{dbtype}:{src}")
    assert t.returncode == 0, t.stderr
    for key, value in EXPECTED.items():
        r = run_ours("postmap", "-q", key.upper(), f"{dbtype}:{src}", conf=tmp_path)
        assert (r.returncode, r.stdout) == (0, value + "\n"), r.stderr
    r = run_ours("postmap", "-s", f"{dbtype}:{src}", conf=tmp_path)
    assert r.returncode == 0, r.stderr
    assert dump_to_dict(r.stdout) == EXPECTED
    r = run_ours("postmap", "-q", "-", f"{dbtype}:{src}", stdin="FOO\nnothere\nbaz\n",
                 conf=tmp_path)
    assert r.stdout == "FOO\tbar\nbaz\tqux quux  continued\n"


ALIASES = """# aliases
Postmaster: root
root: admin, "|/usr/bin/procmail -a x",
    /var/log/copy, :include:/etc/postfix/list
"""
ALIAS_EXPECTED = {
    "postmaster": "root",
    "root": 'admin, "|/usr/bin/procmail -a x", /var/log/copy, :include:/etc/postfix/list',
    "@": "@",
}


def test_postalias_both_ways(postfix, tmp_path):
    ours_src = tmp_path / "ours"
    theirs_src = tmp_path / "theirs"
    ours_src.write_text(ALIASES)
    theirs_src.write_text(ALIASES)
    assert run_ours("postalias", str(ours_src), conf=tmp_path).returncode == 0
    assert postfix("postalias", str(theirs_src)).returncode == 0
    for key, value in ALIAS_EXPECTED.items():
        t = postfix("postalias", "-q", key, f"hash:{ours_src}")
        assert (t.returncode, t.stdout) == (0, value + "\n"), t.stderr
        r = run_ours("postalias", "-q", key, f"hash:{theirs_src}", conf=tmp_path)
        assert (r.returncode, r.stdout) == (0, value + "\n"), r.stderr
    # Their dump of our file equals their dump of their own, minus the NIS
    # bookkeeping entries (YP_*) their build adds.
    theirs = dump_to_dict(postfix("postalias", "-s", str(theirs_src)).stdout, ":\t")
    mine = dump_to_dict(postfix("postalias", "-s", str(ours_src)).stdout, ":\t")
    assert {k: v for k, v in theirs.items() if not k.startswith("YP_")} == mine


# Values postalias rewrites (RFC 822 tokens re-joined), with the key's
# quotes removed; every line here was checked against Debian's postalias.
TRICKY_ALIASES = r"""a1: x,y
a2: x ,  y,,z
a3: x y
a4: "|cmd  with   spaces" ,   /file
a5: foo (comment)  bar
a6: <x@y>  ,  Name <x@y>
a7: "quoted"@dom,\x
a8: x@ y . z
a9:x;y
"two words": v1
Mixed.Case: v2
a.b : v3
c: x,
d: "x"@[1.2.3.4] , y.
e: \root, a\,b
f: <>
"""


def test_postalias_value_normalisation(postfix, tmp_path):
    ours_src = tmp_path / "ours"
    theirs_src = tmp_path / "theirs"
    ours_src.write_text(TRICKY_ALIASES)
    theirs_src.write_text(TRICKY_ALIASES)
    assert run_ours("postalias", str(ours_src), conf=tmp_path).returncode == 0
    assert postfix("postalias", str(theirs_src)).returncode == 0
    theirs = dump_to_dict(postfix("postalias", "-s", str(theirs_src)).stdout, ":\t")
    mine = dump_to_dict(run_ours("postalias", "-s", str(ours_src), conf=tmp_path).stdout, ":\t")
    assert {k: v for k, v in theirs.items() if not k.startswith("YP_")} == mine


def test_query_exit_codes_and_errors(tmp_path):
    src = tmp_path / "t"
    src.write_text("a 1\nmissingvalue\nb 2\n")
    r = run_ours("postmap", str(src), conf=tmp_path)
    assert r.returncode == 0
    assert f"{src}, line 2: expected format: key whitespace value" in r.stderr
    assert run_ours("postmap", "-q", "a", str(src), conf=tmp_path).stdout == "1\n"
    assert run_ours("postmap", "-q", "zz", str(src), conf=tmp_path).returncode == 1
    r = run_ours("postmap", "-q", "x", f"hash:{tmp_path}/absent", conf=tmp_path)
    assert r.returncode != 0 and f"{tmp_path}/absent.db" in r.stderr
    r = run_ours("postmap", "-q", "x", "ldap:/etc/x.cf", conf=tmp_path)
    assert r.returncode != 0 and "unsupported table type" in r.stderr
    bad = tmp_path / "bad"
    bad.write_bytes(b"a 1\nb 2\x00x\n")
    r = run_ours("postmap", str(bad), conf=tmp_path)
    assert r.returncode != 0 and f"{bad}, line 2: NUL byte" in r.stderr
    assert not (tmp_path / "bad.db").exists()
    assert not list(tmp_path.glob("bad.db.*"))
    r = run_ours("postmap", "-b", str(src), conf=tmp_path)
    assert r.returncode == 64 and "not supported" in r.stderr
    # -d and -i work in place
    r = run_ours("postmap", "-i", str(src), stdin="C 3\n", conf=tmp_path)
    assert r.returncode == 0, r.stderr
    assert run_ours("postmap", "-q", "c", str(src), conf=tmp_path).stdout == "3\n"
    assert run_ours("postmap", "-d", "A", str(src), conf=tmp_path).returncode == 0
    assert run_ours("postmap", "-d", "a", str(src), conf=tmp_path).returncode == 1
    assert run_ours("postmap", "-q", "a", str(src), conf=tmp_path).returncode == 1


def test_default_database_type_and_newaliases(tmp_path):
    # newaliases is sendmail -bi: it runs $command_directory/postalias.
    cmd_dir = f"command_directory = {BIN}\n"
    aliases = tmp_path / "aliases"
    aliases.write_text("postmaster: root\n")
    (tmp_path / "main.cf").write_text(
        cmd_dir +
        "default_database_type = btree\n"
        f"alias_database = hash:{aliases}, {aliases}\n"
    )
    src = tmp_path / "t"
    src.write_text("k v\n")
    assert run_ours("postmap", str(src), conf=tmp_path).returncode == 0
    r = run_ours("postmap", "-q", "k", f"btree:{src}", conf=tmp_path)
    assert r.stdout == "v\n", r.stderr
    r = run_ours("newaliases", conf=tmp_path)
    assert r.returncode == 0, r.stderr
    # hash: first, then the bare name with the btree default: the last
    # build wins the file name, so the btree table is what's there now.
    r = run_ours("postalias", "-q", "postmaster", f"btree:{aliases}", conf=tmp_path)
    assert r.stdout == "root\n", r.stderr
    # main.cf values are expanded like everywhere else ($config_directory).
    (aliases.parent / "aliases.db").unlink()
    (tmp_path / "main.cf").write_text(cmd_dir + "alias_database = hash:$config_directory/aliases\n")
    r = run_ours("newaliases", conf=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "aliases.db").exists()
    # A broken main.cf is reported with file and line.
    (tmp_path / "main.cf").write_text(cmd_dir + "alias_database = ${oops\n")
    r = run_ours("newaliases", conf=tmp_path)
    assert r.returncode != 0 and "main.cf" in r.stderr, r.stderr


def test_db_mode_follows_source(tmp_path):
    src = tmp_path / "t"
    src.write_text("k v\n")
    os.chmod(src, 0o640)
    assert run_ours("postmap", str(src), conf=tmp_path).returncode == 0
    assert (os.stat(str(src) + ".db").st_mode & 0o777) == 0o640


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
def test_db_owner_follows_source(tmp_path):
    src = tmp_path / "owned"
    src.write_text("k v\n")
    os.chown(src, 65534, 65534)
    assert run_ours("postmap", str(src), conf=tmp_path).returncode == 0
    st = os.stat(str(src) + ".db")
    assert (st.st_uid, st.st_gid) == (65534, 65534)
