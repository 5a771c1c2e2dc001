#!/usr/bin/env python3
"""Generate lib/global/config_defaults.c from tests/data/postconf-d-3.7.txt.

The golden file holds Debian Postfix 3.7.11's `postconf -d` output (minus the
parameters computed on the running machine). It is the single source of truth
for default values; this script only adds each parameter's type (inferred from
the default's spelling, plus a few name rules) and writes the C table.
Run from the repository root:  python3 tools/gen_config_defaults.py
"""
import re
import sys

GOLDEN = "tests/data/postconf-d-3.7.txt"
OUTPUT = "lib/global/config_defaults.c"

# Computed at run time (value NULL in the table); see config_default_value().
COMPUTED = {
    "myhostname": "CONFIG_STR",
    "mydomain": "CONFIG_STR",
    "mynetworks": "CONFIG_STR",
    "mail_version": "CONFIG_STR",
    "process_id": "CONFIG_INT",
    "process_name": "CONFIG_STR",
}

# Compiled-in installation paths come from the generated paths.h, so a build
# configured with other paths reports them (the golden test skips a name when
# its macro differs from Debian's value).
PATH_MACROS = {
    "config_directory": "MTA_DEF_CONFIG_DIR",
    "queue_directory": "MTA_DEF_QUEUE_DIR",
    "daemon_directory": "MTA_DEF_DAEMON_DIR",
    "command_directory": "MTA_DEF_COMMAND_DIR",
    "data_directory": "MTA_DEF_DATA_DIR",
}

# Postfix's "raw" parameters: never expanded at configuration time, because
# the program that uses them expands per-message $names ($home, $rbl_code).
# Found by setting every parameter to $mail_name and seeing which ones
# `postconf -x` leaves alone.
RAW = {
    "command_execution_directory",
    "default_rbl_reply",
    "forward_path",
    "luser_relay",
    "mailbox_command",
    "postscreen_expansion_filter",
    "postscreen_reject_footer",
    "smtpd_expansion_filter",
    "smtpd_reject_footer",
}

# Our own parameters, which Postfix 3.7 does not have (documented where they
# are used). Listed so main.cf may set them without an "unused" warning.
EXTENSIONS = {
    # smtpd/smtpd.c: how long to wait for pre-greeting input ("0", "1s", "100ms").
    "smtpd_pregreet_wait": "0",
    # qmgr/qmgr_deliver.c, local/local.c: messages for one user per local(8)
    # request (one fsync of the Maildir's new/ per batch; 1 = Postfix's way).
    "local_destination_batch_limit": "8",
}

# Range of the numeric parameters (int, time in seconds, size), checked by
# the typed getters. Postfix's own minimums (mail_params.c and the daemons'
# CONFIG_*_TABLEs, "> 0" where a zero would hang or spin); every other
# numeric parameter is non-negative with no upper bound. A max marked "ours"
# keeps a seconds value convertible to an int millisecond timeout.
INT_MAX = 2147483647  # ours: the program keeps it in an int
INT_MS_MAX = 2147483  # ours: INT_MAX / 1000
BOUNDS = {
    "command_time_limit": (1, None),
    "daemon_timeout": (1, None),
    "default_process_limit": (1, INT_MAX),
    "delay_logging_resolution_limit": (0, 6),
    "fork_attempts": (1, None),
    "fork_delay": (1, None),
    "header_address_token_limit": (1, None),
    "header_size_limit": (1, None),
    "hopcount_limit": (1, None),
    "in_flow_delay": (0, 10),
    "initial_destination_concurrency": (1, None),
    "ipc_idle": (1, None),
    "ipc_timeout": (1, INT_MS_MAX),
    "ipc_ttl": (1, None),
    "line_length_limit": (512, None),
    "max_idle": (1, None),
    "max_use": (1, None),
    "maximal_backoff_time": (1, None),
    "minimal_backoff_time": (1, None),
    "qmgr_fudge_factor": (10, 100),
    "qmgr_message_active_limit": (1, INT_MAX),
    "qmgr_message_recipient_limit": (1, None),
    "queue_run_delay": (1, None),
    "smtp_data_done_timeout": (1, INT_MS_MAX),
    "smtp_data_init_timeout": (1, INT_MS_MAX),
    "smtp_data_xfer_timeout": (1, INT_MS_MAX),
    "smtp_helo_timeout": (1, INT_MS_MAX),
    "smtp_mail_timeout": (1, INT_MS_MAX),
    "smtp_quit_timeout": (1, INT_MS_MAX),
    "smtp_rcpt_timeout": (1, INT_MS_MAX),
    "smtpd_hard_error_limit": (1, None),
    "smtpd_history_flush_threshold": (1, None),
    "smtpd_junk_command_limit": (1, None),
    "smtpd_recipient_limit": (1, None),
    "smtpd_recipient_overshoot_limit": (1, None),
    "smtpd_soft_error_limit": (1, None),
    "smtpd_timeout": (1, INT_MS_MAX),
    "transport_retry_time": (1, None),
    "trigger_timeout": (1, INT_MS_MAX),
}

SIZE_NAME = re.compile(r"(size_limit|_buffer_size|_map_size|^queue_minfree|^tcp_windowsize)$")


def leaves(value):
    """The literal alternatives of a ${...?{a}:{b}} style default."""
    tail = value.split("?", 1)[1] if "?" in value else value
    return re.findall(r"\{([^{}$]*)\}", tail)


def infer(name, value):
    if SIZE_NAME.search(name):
        return "CONFIG_SIZE", 0
    m = re.fullmatch(r"(?:[0-9]+|\$\{[a-z_]+\?\{[0-9]+\}:\{[0-9]+\}\}|\$\{[a-z_]+\?\{\$[a-z_]+\}:\{[0-9]+\}\})([smhdw])", value)
    if m:
        return "CONFIG_TIME", m.group(1)
    if value in ("yes", "no"):
        return "CONFIG_BOOL", 0
    if value.startswith("${"):
        opts = [x for x in leaves(value) if not x.startswith("$")]
        if opts and all(x in ("yes", "no") for x in opts):
            return "CONFIG_BOOL", 0
        if opts and all(x.isdigit() for x in opts) and not re.search(r"[a-z]$", value.rstrip("}")):
            return "CONFIG_INT", 0
    if re.fullmatch(r"[0-9]+", value) and name != "compatibility_level":
        return "CONFIG_INT", 0
    return "CONFIG_STR", 0


def c_string(s):
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "?":
            out.append("\\?")  # never form a trigraph in ISO C mode
        elif ch == "\t":
            out.append("\\t")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def main():
    rows = {}
    with open(GOLDEN, encoding="ascii") as f:
        for line in f:
            line = line.rstrip("\n")
            name, sep, value = line.partition(" =")
            if not sep:
                sys.exit(f"{GOLDEN}: bad line: {line!r}")
            rows[name] = value[1:] if value.startswith(" ") else value
    for name in COMPUTED:
        rows[name] = None
    for name, value in EXTENSIONS.items():
        if name in rows:
            sys.exit(f"extension {name} is a Postfix parameter: remove it from EXTENSIONS")
        rows[name] = value
    for name in BOUNDS:
        if name not in rows:
            sys.exit(f"BOUNDS names {name}, which is not a parameter")
    out = []
    out.append("/* Generated by tools/gen_config_defaults.py from tests/data/postconf-d-3.7.txt.")
    out.append(" * Do not edit by hand: change the generator and re-run it. */")
    out.append('#include "config.h"')
    out.append('#include "paths.h"')
    out.append("")
    out.append("/* Sorted by strcmp() order: config_default_find() does a binary search. */")
    out.append("const struct config_default config_default_table[] = {")
    for name in sorted(rows, key=lambda s: s.encode()):
        value = rows[name]
        if value is None:
            ctype, unit = COMPUTED[name], 0
            cval = "NULL"
        elif name in EXTENSIONS:
            ctype, unit = "CONFIG_STR", 0
            cval = c_string(value)
        else:
            ctype, unit = infer(name, value)
            cval = PATH_MACROS.get(name) or c_string(value)
        cunit = f"'{unit}'" if unit else "0"
        craw = "true" if name in RAW else "false"
        if ctype in ("CONFIG_INT", "CONFIG_TIME", "CONFIG_SIZE"):
            lo, hi = BOUNDS.get(name, (0, None))
        elif name in BOUNDS:
            sys.exit(f"{name}: bounds given for a {ctype} parameter")
        else:
            lo, hi = 0, 0
        chi = "CONFIG_NO_MAX" if hi is None else str(hi)
        out.append(f"    {{{c_string(name)}, {cval}, {ctype}, {cunit}, {craw}, {lo}, {chi}}},")
    out.append("};")
    out.append("const size_t config_default_count = sizeof(config_default_table) / sizeof(config_default_table[0]);")
    with open(OUTPUT, "w", encoding="ascii") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
