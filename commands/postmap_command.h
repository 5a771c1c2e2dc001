/* postmap_command (map_command_main) - the command line of postmap(1) and
 * postalias(1). Both are one program: commands/postmap.c runs this in alias
 * mode when invoked as "postalias" (the build and install make postalias a
 * symlink to postmap), as sendmail is mailq and newaliases. Postfix ships two
 * binaries; behaviour, options and messages are the same either way.
 * (newaliases is sendmail -bi, which runs postalias on $alias_database.)
 *
 *   postmap   [-Nfinoprsvw] [-c dir] [-d key] [-q key] [type:]file...
 *   postalias [-Nfinoprsvw] [-c dir] [-d key] [-q key] [type:]file...
 *
 * Without a type, files are "$default_database_type" (hash). -q prints the
 * first value found (exit 0) or exits 1; "-q -" reads keys from stdin and
 * prints "key<TAB>value" lines. -d deletes (exit 0 if something was
 * removed, else 1), -s dumps, -i adds records from stdin in place. -N/-n:
 * store keys without/with the trailing NUL (default with), -f: no case
 * folding, -r: duplicates replace, -w: duplicates ignored silently, -p:
 * new files get mode 0644, -o: accepted (we never drop to the source
 * owner's uid; the output is chowned instead). -b, -h, -m, -F, -u, -U, -x
 * are not supported and say so.
 *
 * Configuration: main.cf from -c dir, $MAIL_CONFIG or the compiled-in
 * directory (when it exists) supplies default_database_type and
 * alias_database, expanded like every parameter. Exit codes: 0, 1 (not found / failure,
 * like Postfix), EX_USAGE, EX_TEMPFAIL (a table lookup failed temporarily).
 */
#ifndef MTA_MAP_COMMAND_H
#define MTA_MAP_COMMAND_H
#include "map_source.h"
#include "strbuf.h"

int map_command_main(int argc, char **argv, enum map_source_format fmt);

#endif
