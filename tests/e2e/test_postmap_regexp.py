"""`postmap -q` on regexp: tables (if/endif blocks, flags, negation, $n
substitution) answers what Debian's Postfix postmap answers for the same
source file. Skips, saying why, when the unpacked Postfix is unavailable
(see test_postmap.py)."""
import pytest

from test_postmap import postfix, run_ours  # noqa: F401  (the fixture)

TABLES = {
    "nested": r"""
# if/endif, nested, with a negated condition
if /^From:/
if !/example\.org/
/spam/          REJECT spam from outside
endif
/^From: (.*)@(.*)$/   FROM $2 $1
endif
/^Subject: (.*)/      SUBJECT ${1}
""",
    "flags": r"""
/^case$/i                 toggled case
/^two words$/             extended
/^a.b$/                   dot
/^x$/m                    multiline
!/^keep/                  negated $$dollar
""",
    "plain": r"""
/^(ab)(cd)?$/             g1=$1 g2=$2
/[[:digit:]]{3}/          three digits
""",
}

QUERIES = ["From: bob@spam.example", "From: spam@example.org", "FROM: Ann@Host",
           "Subject: hello", "subject: HELLO", "CASE", "case", "two words", "a\nb", "axb",
           "x", "keep this", "other", "ab", "abcd", "no 123 yes", "", "From:"]


@pytest.mark.parametrize("name", sorted(TABLES))
def test_postmap_q_regexp_same_as_postfix(postfix, tmp_path, name):  # noqa: F811
    src = tmp_path / name
    src.write_text(TABLES[name])
    for q in QUERIES:
        theirs = postfix("postmap", "-q", q, "regexp:%s" % src)
        mine = run_ours("postmap", "-q", q, "regexp:%s" % src)
        assert (mine.returncode, mine.stdout) == (theirs.returncode, theirs.stdout), \
            (name, q, mine.stderr, theirs.stderr)


def test_postmap_q_bad_regexp_files_fail_like_postfix(postfix, tmp_path):  # noqa: F811
    for i, text in enumerate(["if /a/\n/b/ x\n", "endif\n", "/a/q x\n", "/a x\n"]):
        src = tmp_path / ("bad%d" % i)
        src.write_text(text)
        theirs = postfix("postmap", "-q", "a", "regexp:%s" % src)
        mine = run_ours("postmap", "-q", "a", "regexp:%s" % src)
        # Both refuse or warn; neither answers a value the other does not.
        assert mine.stdout == theirs.stdout, (text, mine.stderr, theirs.stderr)
        assert (mine.returncode == 0) == (theirs.returncode == 0), \
            (text, mine.returncode, theirs.returncode, mine.stderr, theirs.stderr)
