#!/usr/bin/env bash
# Install what the tests need, build, and run the whole test suite:
# C unit tests (plain and ASan+UBSan builds), end-to-end tests with real
# clients, and a short run of every fuzz harness.
# Usage: scripts/test.sh          (as root on Debian 12)
#   FUZZ_SECONDS=N  seconds per fuzz harness (default 12: 26 harnesses keep the
#                   whole run near 20 minutes on 2 cores; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh --test

# The test builds compile in their own default configuration directory
# (<build>/test-etc, where the e2e fixture writes the main.cf that setgid
# programs read), so the suite never reads or writes the machine's
# /etc/postfix; scripts/run.sh's release build keeps /etc/postfix.
echo "== build (debug) and unit tests"
scripts/build.sh build -DCMAKE_BUILD_TYPE=Debug -DMTA_CONFIG_DIR="$root/build/test-etc"
reports=()
(cd build && ctest --output-on-failure -j2 --output-junit "$root/build/ctest.xml")
reports+=(build/ctest.xml)

echo "== build (ASan+UBSan) and unit tests"
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DMTA_SANITIZE=ON \
    -DMTA_CONFIG_DIR="$root/build-asan/test-etc"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j2 --output-junit "$root/build-asan/ctest.xml")
reports+=(build-asan/ctest.xml)

echo "== end-to-end tests (sanitized daemons)"
if ls tests/e2e/test_*.py >/dev/null 2>&1; then
    ASAN_OPTIONS=detect_leaks=0 MTA_BUILD_DIR="$root/build-asan" /usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml=build-asan/e2e.xml tests/e2e
    reports+=(build-asan/e2e.xml)
else
    echo "no end-to-end tests yet"
fi

fuzz_seconds=${FUZZ_SECONDS:-12}
if [ "$fuzz_seconds" -gt 0 ] && ls tests/fuzz/fuzz_*.c >/dev/null 2>&1; then
    echo "== fuzz harnesses, ${fuzz_seconds}s each"
    CC=clang scripts/build.sh build-fuzz -DCMAKE_BUILD_TYPE=Debug -DMTA_FUZZ=ON -DMTA_TESTS=OFF
    for f in build-fuzz/fuzz/fuzz_*; do
        name=$(basename "$f")
        corpus="build-fuzz/corpus-$name"
        mkdir -p "$corpus"
        seeds=()
        [ -d "tests/fuzz/seeds/$name" ] && seeds=("tests/fuzz/seeds/$name")
        echo "-- $name"
        "$f" -max_total_time="$fuzz_seconds" -max_len=65536 -print_final_stats=0 \
            "$corpus" "${seeds[@]}" 2>"build-fuzz/$name.log" ||
            { tail -n 40 "build-fuzz/$name.log"; echo "fuzz harness $name failed"; exit 1; }
    done
fi
/usr/bin/python3 scripts/test_summary.py "${reports[@]}"
