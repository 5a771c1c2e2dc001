/* config - main.cf: parsing, parameter lookup with lazy expansion, defaults.
 *
 * The generic syntax and the $name expander live in lib/util/config_syntax
 * (no mail knowledge); this module is the parameter part: the store of
 * main.cf values and overrides, the built-in table with types and bounds,
 * the computed defaults (myhostname, mydomain, mynetworks: supplied to the
 * expander through its lookup callback), and the accessors.
 *
 * Syntax (postconf(5)): "name = value" lines; blank lines and lines whose
 * first non-blank character is '#' ignored; no inline comments; a line that
 * starts with whitespace continues the previous one; the last definition of
 * a name wins. Values are stored raw and expanded lazily on lookup:
 * $name, ${name}, $(name), $$ (literal $), ${name?value}, ${name?{value}},
 * ${name:value}, ${name:{value}}, ${name?{v1}:{v2}}, and the relational form
 * ${{a} op {b} ? {x} : {y}} with op in == != < <= > >= (numeric when both
 * sides are all digits) and <level <=level >level >=level ==level !=level
 * (compatibility levels, "3.10" > "3.9"). Expansion is recursive; a loop
 * or an unterminated construct is an error naming the parameter.
 *
 * Every parameter the suite uses has a built-in default in the table of
 * config_defaults.c, spelled exactly as Postfix 3.7's `postconf -d` prints it
 * (including the compatibility_level conditionals). Names not in the table
 * and not referenced as $name are "unused": warned about once, never fatal.
 *
 * Typed getters parse on every call (cheap) and die with a one-line message
 * naming file, line and parameter when a value is malformed:
 *   fatal: /etc/postfix/main.cf, line 12: bad numerical configuration: message_size_limit = 1x
 *
 * Overrides (master.cf -o, postconf -o, command line) sit above main.cf.
 * Strings returned by config_get stay valid until the next config_load
 * (an override invalidates the caches but keeps old strings alive).
 *
 * Diagnostics follow Postfix: a duplicate name warns at load time
 *   warning: /etc/postfix/main.cf, line 9: overriding earlier entry: myorigin=old
 * and unused names warn when the caller asks (config_warn_unused), once the
 * master.cf references are known. NUL bytes in main.cf are an error.
 */
#ifndef MTA_CONFIG_H
#define MTA_CONFIG_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"
#include "strlist.h"

enum config_type {
    CONFIG_STR,
    CONFIG_INT,  /* decimal integer, overflow-checked */
    CONFIG_BOOL, /* yes/no */
    CONFIG_TIME, /* integer + optional unit s m h d w; default unit in the table */
    CONFIG_SIZE, /* byte count (integer) */
};

struct config_default {
    const char *name;
    const char *value; /* raw, as `postconf -d` prints it; NULL = computed at run time */
    enum config_type type;
    char time_unit; /* CONFIG_TIME only: 's', 'm', 'h', 'd' or 'w' */
    bool raw;       /* never expanded here: the program using it expands $names
                     * of its own later (forward_path, mailbox_command, ...) */
    /* CONFIG_INT, CONFIG_TIME (seconds), CONFIG_SIZE: the allowed range,
     * enforced by the typed getters (a value outside is fatal, naming file,
     * line and parameter), so callers need no clamps of their own. */
    long long min;
    long long max; /* CONFIG_NO_MAX: unbounded */
};
#define CONFIG_NO_MAX LLONG_MAX

/* Which configuration directory to use: -c dir, else $MAIL_CONFIG, else the
 * compiled-in default. When `restricted` (setgid programs, and any program
 * run by a non-root user with a non-default directory), a non-default
 * directory must be listed in alternate_config_directories (or
 * multi_instance_directories) of the default main.cf; otherwise this exits
 * with EX_USAGE and a clear message. */
const char *config_choose_dir(const char *opt_c, bool restricted);
/* The same with the default directory given (unit tests). */
const char *config_choose_dir_from(const char *opt_c, bool restricted, const char *default_dir);

/* Read <dir>/main.cf (replacing anything loaded before). A missing main.cf
 * is fatal for daemons, so callers decide: returns -1 and sets *err to a
 * one-line message naming file and line on any error. */
int config_load(const char *dir, strbuf *err);
/* config_load or msg_fatal. */
void config_load_or_die(const char *dir);
/* Parse main.cf text from memory (tests, fuzzing); `origin` names it. */
int config_load_text(const char *origin, const char *text, size_t len, strbuf *err);

const char *config_directory(void);

/* Set a value above main.cf (master.cf -o name=value). */
void config_override(const char *name, const char *value);
/* The same, remembering where it came from for error messages
 * ("/etc/postfix/master.cf, line 12"); origin may be NULL. */
void config_override_at(const char *name, const char *value, const char *origin);

/* Expanded value. The name must be defined (config_is_defined): a name
 * neither built in nor set in main.cf/master.cf/an override is a
 * programming error and msg_panic, so a misspelt parameter cannot read
 * silently as "". The typed getters below share this rule. Expansion
 * errors are fatal (msg_fatal naming file, line, parameter). A raw
 * parameter (see struct config_default) comes back unexpanded, as
 * Postfix does. */
const char *config_get(const char *name);
/* True when config_get(name) is allowed: in the defaults table, set in
 * main.cf or by an override, or a service-defined parameter
 * (config_add_service). Callers probing a computed name
 * (<transport>_destination_concurrency_limit) test this first. */
bool config_is_defined(const char *name);
/* config_get without dying, for any name (postconf looks up what the user
 * typed): 0 and *value ("" for an unknown name), or -1 with *err set. */
int config_lookup(const char *name, const char **value, strbuf *err);
/* Typed getters: parse, then check the table's min/max (names not in the
 * table, such as service-defined ones, are only parsed). Malformed:
 *   fatal: <file>, line N: bad numerical configuration: name = value
 * out of range (Postfix's wording):
 *   fatal: <file>, line N: invalid name parameter value 0 < 1
 *   fatal: <file>, line N: invalid name: 0 (min 1)        (times) */
long long config_get_int(const char *name);
bool config_get_bool(const char *name);
long long config_get_time(const char *name); /* in seconds */
long long config_get_size(const char *name);

/* The parsers behind the typed getters: 0 on success, -1 on a malformed or
 * out-of-range value (nothing is logged). Ints take an optional sign; sizes
 * and times are non-negative; a time is digits plus an optional unit
 * s m h d w (default_unit when absent), converted to seconds. */
int config_parse_int(const char *text, long long *out);
int config_parse_bool(const char *text, bool *out);
int config_parse_time(const char *text, char default_unit, long long *seconds);
int config_parse_size(const char *text, long long *out);

/* Raw value (unexpanded): override, else main.cf, else default; NULL if none. */
const char *config_get_raw(const char *name);
/* True when main.cf or an override sets `name`. */
bool config_is_set(const char *name);
/* Where `name` was set: "path, line N", or NULL for a default. */
const char *config_origin(const char *name);

/* Expand arbitrary text against the configuration (postconf -x, templates).
 * Returns -1 with *err set on a syntax error or loop. */
int config_expand(const char *text, strbuf *out, strbuf *err);

/* config_expand with temporary overrides ("name=value" strings, e.g. a
 * master.cf entry's -o settings plus service_name) in force for this call
 * only (postconf -M -x). */
int config_expand_with(const char *text, const strlist *overrides, strbuf *out, strbuf *err);

/* Delivery-time attributes ($user, $home, $extension, ... in local(8)'s
 * forward_path and command_execution_directory). value NULL: undefined
 * for this delivery (an address without extension has no $extension). */
struct config_attr {
    const char *name;
    const char *value;
};
struct config_attrs {
    const struct config_attr *v;
    size_t n;
    /* Characters allowed in a substituted attribute value; every other
     * byte becomes '_' (Postfix's *_expansion_filter). NULL: no filter.
     * Parameters' own values are the administrator's and not filtered. */
    const char *filter;
};

/* Expand text with attributes looked up before parameters (an attribute
 * shadows a parameter of the same name, as $recipient_delimiter does in
 * local(8)). *undefined (may be NULL) is set when an undefined attribute
 * was substituted: Postfix then skips the value (a forward_path element
 * with ${extension} for an address without one). ${name?x}/${name:x}
 * test whether an attribute is defined and non-empty. -1 with *err on a
 * syntax error or loop. The caches of parameter values are bypassed, so
 * this costs a full expansion of every parameter the text refers to. */
int config_expand_attrs(const char *text, const struct config_attrs *attrs, strbuf *out,
                        bool *undefined, strbuf *err);

/* Append value with every byte not in `allowed` replaced by '_' (allowed
 * NULL: append as is). The one implementation of Postfix's expansion
 * filters (forward_expansion_filter, command_expansion_filter, ...). */
void config_filter_append(strbuf *out, const char *value, const char *allowed);

/* The built-in defaults table (sorted by name) and its length. */
const struct config_default *config_defaults(size_t *count);
const struct config_default *config_default_find(const char *name);
/* The default's value with run-time computed ones filled in
 * (myhostname from gethostname, mydomain, mynetworks, ...). */
const char *config_default_value(const char *name);

/* Names set in main.cf, in file order (for postconf -n). */
size_t config_set_names(const char ***names);

/* Service-defined parameters (postconf(5) "transport_destination_
 * concurrency_limit" and friends). For a master.cf entry of type unix whose
 * command is a delivery agent (smtp, lmtp, local, virtual, pipe, error),
 * <service>_delivery_slot_cost, ..._destination_concurrency_limit,
 * ..._destination_recipient_limit, ..._initial_destination_concurrency,
 * ... get defaults "$default_delivery_slot_cost", ... (as Postfix's
 * `postconf -d` shows them), and pipe/spawn services get <service>_time_limit
 * = $command_time_limit. Call once per master.cf entry after each
 * config_load (the load forgets them); qmgr can then read
 * config_get_int("relay_destination_concurrency_limit"). Entries that do
 * not qualify are ignored. */
void config_add_service(const char *service, const char *type, const char *command);
/* Names registered by config_add_service and not in the table, appended to
 * *out (postconf lists them with the built-in ones). */
void config_service_param_names(strlist *out);

/* Unused-parameter warnings. A main.cf name is "used" when it is in the
 * defaults table, a service-defined parameter, referenced as
 * $name/${name...}/$(name...) in main.cf or master.cf, or marked used.
 * Feed master.cf in before warning: config_add_service() for every entry,
 * config_mark_references() for every argument and config_mark_used() for
 * every -o name. Then config_warn_unused() warns once per remaining main.cf
 * name:
 *   warning: /etc/postfix/main.cf, line 7: unused parameter: foo=bar
 * and returns how many it warned about (later calls warn about nothing new). */
void config_mark_used(const char *name);
void config_mark_references(const char *text);
size_t config_warn_unused(void);

/* A name Postfix would accept: in the defaults table, or referenced as
 * $name (or marked used) so that it is a user-defined parameter. */
bool config_is_known(const char *name);

/* In the defaults table, referenced as $name somewhere, or marked used. */
bool config_is_used(const char *name);

/* Is `name` a syntactically valid parameter name ([A-Za-z0-9_]+)? */
bool config_valid_name(const char *name);

#endif
