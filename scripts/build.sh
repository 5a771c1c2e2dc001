#!/usr/bin/env bash
# Configure and build into a directory (default: build). Extra arguments go
# to cmake's configure step.  Usage: scripts/build.sh [builddir] [cmake args]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
