#!/usr/bin/env python3
"""The layers of lib/ point one way (run by ctest as lib_layers).

lib/util (generic) may include only lib/util headers; lib/maps only
lib/maps and lib/util; lib/global any of the three (and the generated
paths.h). Nothing in lib/ includes a program's header, and no include
climbs out of its directory with "../". The compiler already refuses most
of this (each layer's include path holds only itself and the layers below);
this check also catches a path spelled around it.

Usage: check_layers.py SOURCE_DIR
"""
import os
import re
import sys

LAYERS = {"util": ("util",), "maps": ("maps", "util"), "global": ("global", "maps", "util")}
GENERATED = {"paths.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def main(src):
    lib = os.path.join(src, "lib")
    headers = {layer: set(f for f in os.listdir(os.path.join(lib, layer)) if f.endswith(".h"))
               for layer in LAYERS}
    problems = []
    loose = [f for f in os.listdir(lib) if os.path.isfile(os.path.join(lib, f))]
    for f in loose:
        problems.append("lib/%s: every lib file belongs to a layer (util, maps, global)" % f)
    for layer, allowed in LAYERS.items():
        d = os.path.join(lib, layer)
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            with open(os.path.join(d, name), encoding="utf-8") as fh:
                text = fh.read()
            for inc in INCLUDE.findall(text):
                where = "lib/%s/%s includes \"%s\"" % (layer, name, inc)
                if "/" in inc:
                    problems.append(where + ": include by name, not by path")
                elif inc in GENERATED and layer == "global":
                    continue
                elif not any(inc in headers[a] for a in allowed):
                    home = [l for l in LAYERS if inc in headers[l]]
                    problems.append(where + (": that is lib/%s, above this layer" % home[0]
                                             if home else ": not a header of lib/ below it"))
    for p in problems:
        print(p)
    print("%d problem%s" % (len(problems), "" if len(problems) == 1 else "s"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
