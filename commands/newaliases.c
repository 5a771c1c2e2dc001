/* newaliases - rebuild $alias_database (see lib/map_command.h). */
#include "map_command.h"

int main(int argc, char **argv)
{
    return map_command_newaliases(argc, argv);
}
