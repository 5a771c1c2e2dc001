/* postmap - build and query Postfix lookup tables (see lib/global/map_command.h). */
#include "map_command.h"

int main(int argc, char **argv)
{
    return map_command_main(argc, argv, MAP_SOURCE_POSTMAP);
}
