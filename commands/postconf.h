/* postconf - helpers shared by the postconf command's files.
 *
 * postconf.c parses options and prints main.cf parameters;
 * postconf_edit.c rewrites main.cf in place (-e, -X, -#);
 * postconf_master.c prints master.cf (-M, -F, -P).
 */
#ifndef MTA_POSTCONF_H
#define MTA_POSTCONF_H
#include <stdbool.h>
#include <stdio.h>

#include "strbuf.h"

/* Output flags. */
#define PC_FOLD 0x1 /* -f: wrap long lines at 80 columns, indent 4 */

/* Print text with whitespace normalized (runs of blanks become one space,
 * leading and trailing blanks dropped), as Postfix's postconf does. */
void postconf_print_line(FILE *fp, int flags, const char *text);

enum postconf_edit_mode {
    POSTCONF_EDIT_SET,         /* -e name=value */
    POSTCONF_EDIT_COMMENT_OUT, /* -# name */
    POSTCONF_EDIT_REMOVE,      /* -X name */
};

/* Edit <dir>/main.cf in place; dies on error. */
void postconf_edit_main(const char *dir, enum postconf_edit_mode mode, char **args, int nargs);

/* Split "name = value" / "name=value" as main.cf does: returns NULL and
 * sets *name and *value (allocated), or a static error text. */
const char *postconf_split_nameval(const char *text, char **name, char **value);

/* master.cf display (-M, -F, -P). mode is 'M', 'F' or 'P'. Names select
 * service[/type] (-M) or service/type/field|param (-F, -P). Returns the
 * exit status. */
int postconf_show_master(const char *dir, int mode, int flags, bool expand, bool no_names,
                         bool no_values, char **names, int nnames);

/* Register master.cf's service-defined parameters and mark parameters
 * that master.cf references as used; with `warn`, warn about unused -o
 * parameters and a missing master.cf. */
void postconf_mark_master_used(const char *dir, bool warn);

#endif
