/* master_cf - parse master.cf (postconf(5) / master(5) syntax).
 *
 * Lines: blank lines and lines whose first non-blank character is '#' are
 * ignored; a line starting with whitespace continues the previous logical
 * line. A logical line has at least 8 whitespace-separated fields:
 *   service type private unpriv chroot wakeup maxproc command [args...]
 * '-' in columns 3..7 means the default: private y, unpriv y, chroot n,
 * wakeup 0, maxproc = $default_process_limit (MASTER_CF_MAXPROC_DEFAULT here;
 * the caller resolves it). wakeup is N or N? (conditional: no wakeup until
 * the service was used once); maxproc 0 means unlimited.
 *
 * Arguments may be quoted as "{ text with spaces }" (braces removed, text
 * trimmed; nested braces are kept). "-o name=value", "-oname=value" and
 * "-o { name = value }" are main.cf overrides for that service: they are
 * collected, normalised to "name=value", in `overrides` and stay, also
 * normalised, in `argv` (what master passes to the daemon).
 *
 * When two entries have the same service name and type, the later one
 * replaces the earlier (Postfix keeps the last). Every error names the file
 * and line: "master.cf, line 12: unknown service type \"tcp\"". Input is
 * bounded: physical lines over MASTER_CF_LINE_LIMIT bytes, logical lines over
 * MASTER_CF_LOGICAL_LIMIT bytes, more than MASTER_CF_MAX_ENTRIES entries or
 * NUL bytes are errors.
 */
#ifndef MTA_MASTER_CF_H
#define MTA_MASTER_CF_H
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"
#include "strlist.h"

#define MASTER_CF_LINE_LIMIT 65536
#define MASTER_CF_LOGICAL_LIMIT (1024 * 1024)
#define MASTER_CF_MAX_ENTRIES 10000
#define MASTER_CF_MAXPROC_DEFAULT (-1)

enum master_cf_type {
    MASTER_CF_INET,
    MASTER_CF_UNIX,
    MASTER_CF_UNIX_DGRAM,
    MASTER_CF_FIFO,
    MASTER_CF_PASS,
};

enum master_cf_column {
    MASTER_CF_COL_SERVICE,
    MASTER_CF_COL_TYPE,
    MASTER_CF_COL_PRIVATE,
    MASTER_CF_COL_UNPRIV,
    MASTER_CF_COL_CHROOT,
    MASTER_CF_COL_WAKEUP,
    MASTER_CF_COL_MAXPROC,
    MASTER_CF_NCOLUMNS,
};

struct master_cf_entry {
    char *raw[MASTER_CF_NCOLUMNS]; /* the first 7 fields exactly as written */
    strlist raw_command;           /* command and arguments as written (braces kept) */

    char *service; /* == raw[0] */
    enum master_cf_type type;
    bool private_; /* meaningless for inet */
    bool unpriv;
    bool chroot;
    int wakeup;              /* seconds; 0 = none */
    bool wakeup_conditional; /* "N?" */
    int maxproc;             /* MASTER_CF_MAXPROC_DEFAULT, 0 = unlimited, or > 0 */
    strlist argv;            /* argv[0] = command name, braces stripped, -o normalised */
    strlist overrides;       /* "name=value" from -o, in order */
    int line;                /* first line of the entry */
};

typedef struct master_cf {
    char *origin; /* file name used in messages */
    struct master_cf_entry **entries;
    size_t n;
} master_cf;

/* Parse the file at `path`. Returns 0 and sets *out, or -1 with *err set to a
 * one-line message (a missing file is an error). */
int master_cf_load(const char *path, master_cf **out, strbuf *err);
/* Parse text from memory; `origin` names it in messages. */
int master_cf_parse_text(const char *origin, const char *text, size_t len, master_cf **out,
                         strbuf *err);
void master_cf_free(master_cf **cf);

/* The entry for service/type, or NULL. */
const struct master_cf_entry *master_cf_find(const master_cf *cf, const char *service,
                                             enum master_cf_type type);

/* Tell the config module what master.cf uses (config.h, "Unused-parameter
 * warnings" and "Service-defined parameters"): config_add_service for every
 * entry, config_mark_references for every argument, config_mark_used for
 * every -o name, and master_cf_mark_restriction_classes. Call after each
 * config_load and before reading per-service parameters
 * (relay_destination_concurrency_limit) or calling config_warn_unused. */
void master_cf_register_config(const master_cf *cf);
/* The names in smtpd_restriction_classes (main.cf's and every -o
 * override's; cf may be NULL) are user-defined parameters, as in Postfix:
 * mark them used so the unused-parameter check does not name them. */
void master_cf_mark_restriction_classes(const master_cf *cf);

const char *master_cf_type_name(enum master_cf_type type);
/* Returns 0 and sets *type for "inet", "unix", "unix-dgram", "fifo", "pass"; else -1. */
int master_cf_type_parse(const char *name, enum master_cf_type *type);

#endif
