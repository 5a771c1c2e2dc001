#!/usr/bin/env python3
"""Every parameter a program reads by a literal name exists (ctest config_names).

config_get("x") of a name not in lib/global/config_defaults.c would
msg_panic at run time (unless main.cf happened to set it); this finds the
misspelling at build time instead. Checked: config_get, config_get_int,
config_get_bool, config_get_time, config_get_size, config_get_raw and
config_is_set with a string literal, and in smtp/ the helpers that prepend
"smtp_" or "lmtp_" (param, param_time, param_bool, sasl_param, sasl_bool).
Dynamic names (<transport>_destination_concurrency_limit) are built at run
time and are not checked here; config_is_defined guards them.
Usage: check_config_names.py [repository root]
"""
import glob
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "lib/global/config_defaults.c")
DIRS = ["master", "smtpd", "cleanup", "qmgr", "local", "smtp", "pickup", "showq", "tlsmgr",
        "commands", "lib", "virtual", "pipe"]

GETTER = re.compile(r'\bconfig_(?:get|get_int|get_bool|get_time|get_size|get_raw|is_set)\(\s*"([^"]*)"')
PREFIXED = re.compile(r'\b(?:param|param_time|param_bool|param_int|sasl_param|sasl_bool)\((?:[^,()"]*,\s*)?"([a-z0-9_]+)"')


def main():
    with open(TABLE, encoding="ascii") as f:
        names = set(re.findall(r'^\s*\{"([a-z0-9_]+)"', f.read(), re.M))
    if len(names) < 100:
        sys.exit(f"{TABLE}: could not read the table")
    bad = []
    checked = 0
    for d in DIRS:
        for path in sorted(glob.glob(os.path.join(ROOT, d, "**", "*.c"), recursive=True)):
            rel = os.path.relpath(path, ROOT)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for m in GETTER.finditer(text):
                checked += 1
                if m.group(1) not in names:
                    line = text.count("\n", 0, m.start()) + 1
                    bad.append(f"{rel}:{line}: unknown parameter \"{m.group(1)}\"")
            if rel.startswith("smtp" + os.sep) or rel.startswith("smtp/"):
                for m in PREFIXED.finditer(text):
                    checked += 1
                    for prefix in ("smtp_", "lmtp_"):
                        if prefix + m.group(1) not in names:
                            line = text.count("\n", 0, m.start()) + 1
                            bad.append(f"{rel}:{line}: unknown parameter \"{prefix}{m.group(1)}\"")
    if checked < 100:
        sys.exit(f"only {checked} parameter reads found: is the pattern still right?")
    for b in bad:
        print(b)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
