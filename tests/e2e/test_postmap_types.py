"""`postmap -q` answers what Debian's Postfix `postmap -q` answers for the
same source, for every table type we read (pcre, cidr, texthash, inline,
static, hash, btree, regexp is test_postmap_regexp.py) and for the key forms
access tables are searched with (domain, .domain, user@, user@domain, IP
address prefixes, IPv6). The exit status and the answer on stdout must
match; warnings on stderr may be worded differently."""
import pytest

from test_postmap import postfix, run_ours  # noqa: F401  (the fixture)

PCRE = r"""
# if/endif, negation, flags, substitution
if /^From:/
!/example\.org/i        OUTSIDE
endif
/^Subject: (\S+) (\S+)/ SWAP $2 $1
/^(?i)mixed CASE$/      mixed
/^x   y$/x              extended ignored spaces
/^a.b$/s                dotall
/^dollar$/              cost $$5
/^greedy(.*)$/U         ungreedy <$1>
/^(a)(b)?$/             g1=$1 g2=$2
"""
PCRE_QUERIES = ["From: bob@spam.example", "From: ann@EXAMPLE.org", "Subject: one two",
                "Subject: one", "MIXED case", "mixed case", "xy", "x   y", "a\nb", "a-b",
                "dollar", "greedyabc", "a", "ab", "", "From:"]

CIDR = """
# CIDR access table
192.168.0.0/16          OK
192.168.5.0/24          REJECT inner (never reached: first match wins)
10.0.0.1                REJECT single host
10.1.0.0/255.255.0.0    bad mask form
172.16.0.0/12           DUNNO
2001:db8::/32           v6 net
::1                     v6 loopback
0.0.0.0/0               catch-all
"""
CIDR_QUERIES = ["192.168.1.1", "192.168.5.5", "10.0.0.1", "10.0.0.2", "172.20.1.1",
                "2001:db8::1", "2001:db9::1", "::1", "::2", "8.8.8.8", "not-an-ip", "",
                "192.168.1", "[10.0.0.1]"]

ACCESS = """
example.com             REJECT domain
.example.com            REJECT subdomains
user@                   OK localpart
user@example.net        OK full address
Mixed.Case.ORG          folded
1.2.3                   REJECT net prefix
1.2.3.4                 OK host
2001:db8                REJECT v6 prefix
<>                      null sender
key with spaces         never (the key ends at the first space)
"""
ACCESS_QUERIES = ["example.com", "EXAMPLE.COM", ".example.com", "sub.example.com", "user@",
                  "user@example.net", "USER@Example.NET", "mixed.case.org", "1.2.3", "1.2.3.4",
                  "1.2", "2001:db8", "<>", "key", "key with spaces", "nothing", ""]


def same(postfix, spec, queries, our_spec=None):  # noqa: F811
    """Every query answered alike; the differences listed together."""
    diff = []
    for q in queries:
        theirs = postfix("postmap", "-q", q, spec)
        mine = run_ours("postmap", "-q", q, our_spec or spec)
        if (mine.returncode, mine.stdout) != (theirs.returncode, theirs.stdout):
            diff.append((q, "ours", mine.returncode, mine.stdout, mine.stderr.strip(),
                         "postfix", theirs.returncode, theirs.stdout, theirs.stderr.strip()))
    assert not diff, "\n".join(map(repr, diff))


def test_pcre_same_as_postfix(postfix, tmp_path):  # noqa: F811
    src = tmp_path / "table.pcre"
    src.write_text(PCRE)
    same(postfix, "pcre:%s" % src, PCRE_QUERIES)


def test_cidr_same_as_postfix(postfix, tmp_path):  # noqa: F811
    src = tmp_path / "table.cidr"
    src.write_text(CIDR)
    same(postfix, "cidr:%s" % src, CIDR_QUERIES)


def test_texthash_access_keys_same_as_postfix(postfix, tmp_path):  # noqa: F811
    src = tmp_path / "access"
    src.write_text(ACCESS)
    same(postfix, "texthash:%s" % src, ACCESS_QUERIES)


@pytest.mark.parametrize("dbtype", ["hash", "btree"])
def test_indexed_access_keys_same_as_postfix(postfix, tmp_path, dbtype):  # noqa: F811
    """Each side queries the table its own postmap built."""
    for who, run in (("theirs", postfix), ("ours", run_ours)):
        d = tmp_path / who
        d.mkdir()
        (d / "access").write_text(ACCESS)
        r = run("postmap", "%s:%s" % (dbtype, d / "access"))
        assert r.returncode == 0, (who, r.stderr)
    same(postfix, "%s:%s" % (dbtype, tmp_path / "theirs" / "access"), ACCESS_QUERIES,
         our_spec="%s:%s" % (dbtype, tmp_path / "ours" / "access"))


@pytest.mark.parametrize("spec", ["inline:{example.com=REJECT, {user@ = OK here}, Key=Value}",
                                  "static:{REJECT no mail here}", "static:one"])
def test_inline_and_static_same_as_postfix(postfix, spec):  # noqa: F811
    same(postfix, spec, ["example.com", "user@", "key", "KEY", "other", ""])
