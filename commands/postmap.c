/* postmap - build and query Postfix lookup tables; invoked as "postalias",
 * build and query alias databases (see commands/postmap_command.h). The
 * name alone picks the mode, as Postfix's two programs differ only in the
 * source format they read. */
#include <string.h>

#include "postmap_command.h"

int main(int argc, char **argv)
{
    const char *name = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
    name = name ? name + 1 : (argc > 0 && argv[0] ? argv[0] : "postmap");
    return map_command_main(argc, argv,
                            strcmp(name, "postalias") == 0 ? MAP_SOURCE_ALIAS : MAP_SOURCE_POSTMAP);
}
