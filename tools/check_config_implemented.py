#!/usr/bin/env python3
"""Keep lib/global/config_implemented.c honest (run by ctest as config_implemented_drift).

Fails when
  - a program mentions a Postfix parameter by a literal name (a string
    literal equal to a parameter in lib/global/config_defaults.c: config_get("x"),
    split_param("x"), ...; in smtp/ also "smtp_" or "lmtp_" + a literal, the
    way smtp.c builds its names) and the parameter is neither in the table
    nor in NOT_HONOURED below;
  - a READ entry of the table is mentioned nowhere (the table claims more
    than the code does);
  - a NOT_HONOURED name is in the table, or no longer mentioned anywhere.
Usage: check_config_implemented.py [repository root]
"""
import glob
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAM_DIRS = ["master", "smtpd", "cleanup", "qmgr", "local", "smtp", "pickup", "showq",
                "tlsmgr", "commands", "lib/util", "lib/maps/maps", "lib/global", "virtual",
                "pipe"]
# Files that name parameters without reading them: the tables themselves.
NOT_READERS = {"lib/global/config_defaults.c", "lib/global/config_implemented.c",
               "lib/global/config_fidelity.c",
               "lib/global/smtpd_restriction.c"}

# Parameters a program mentions without honouring them, and why. Each one
# is "not implemented": postfix check and master warn when it is set.
NOT_HONOURED = {
    "mailbox_transport_maps": "local(8) refuses to start when it is set",
    "smtpd_sasl_exceptions_networks": "smtpd refuses to start when it is set",
    "smtpd_tls_ask_ccert": "smtpd refuses to start when it is yes (no client certificates)",
    "smtpd_tls_req_ccert": "smtpd refuses to start when it is yes (no client certificates)",
    "smtpd_tls_eccert_file": "smtpd ignores it with a warning (use smtpd_tls_chain_files)",
    "smtpd_tls_dcert_file": "smtpd ignores it with a warning (use smtpd_tls_chain_files)",
    "smtp_sasl_auth_cache_name": "the SMTP client refuses to start when it is set",
    "lmtp_sasl_auth_cache_name": "the LMTP client refuses to start when it is set",
    "lmtp_fallback_relay": "the LMTP client never uses fallback relays",
    "lmtp_sender_dependent_authentication": "the LMTP client never looks up the sender",
}


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def strip_comments(src):
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", src, flags=re.S)


def main():
    params = set(re.findall(r'^    \{"([A-Za-z0-9_]+)"', read("lib/global/config_defaults.c"), re.M))
    table_src = re.sub(r"^#define[^\n]*", "", strip_comments(read("lib/global/config_implemented.c")),
                       flags=re.M)
    table = {}
    for kind, body in re.findall(r"\b(READ|DYNAMIC|EXPANDED|INERT|ONLY|SMTP_LMTP)\(\s*(\"[^)]*)\)",
                                 table_src):
        name = re.match(r'"([^"]*)"', body).group(1)
        if kind == "SMTP_LMTP":
            table["smtp_" + name] = "READ"
            table["lmtp_" + name] = "READ"
        else:
            table[name] = "INERT" if kind == "ONLY" else kind

    mentioned = {}
    for d in PROGRAM_DIRS:
        for path in sorted(glob.glob(os.path.join(ROOT, d, "*.[ch]"))):
            rel = os.path.relpath(path, ROOT)
            if rel in NOT_READERS:
                continue
            src = strip_comments(read(rel))
            for lit in re.findall(r'"([A-Za-z0-9_]+)"', src):
                names = [lit] if lit in params else []
                if d == "smtp":
                    names += [p + lit for p in ("smtp_", "lmtp_") if p + lit in params]
                for n in names:
                    mentioned.setdefault(n, rel)

    problems = []
    for n, where in sorted(mentioned.items()):
        if n not in table and n not in NOT_HONOURED:
            problems.append("%s reads parameter %s, which lib/global/config_implemented.c does not list "
                            "(add it there, or to NOT_HONOURED here with the reason)" % (where, n))
    for n, kind in sorted(table.items()):
        if kind == "READ" and n not in mentioned:
            problems.append("lib/global/config_implemented.c lists %s as READ, but no program mentions "
                            "it" % n)
        if not n.startswith("*") and n not in params:
            problems.append("lib/global/config_implemented.c lists %s, which is not a Postfix "
                            "parameter" % n)
    for n in sorted(NOT_HONOURED):
        if n in table:
            problems.append("%s is in NOT_HONOURED and in lib/global/config_implemented.c" % n)
        if n not in mentioned:
            problems.append("NOT_HONOURED lists %s, which no program mentions any more" % n)
    for p in problems:
        print(p)
    print("%d parameters mentioned, %d honoured, %d problems" % (
        len(mentioned), len(table), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
