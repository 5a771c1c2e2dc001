#!/usr/bin/env bash
# Install everything needed to build and test the MTA on Debian 12, and the
# system accounts a Postfix-compatible MTA expects. Safe to run repeatedly.
# Usage: scripts/install-deps.sh [--test]   (--test adds the test-only tools)
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: must run as root (it installs packages and creates accounts)" >&2
    exit 1
fi

build_pkgs=(build-essential cmake pkg-config libssl-dev libdb-dev libpcre2-dev libsasl2-dev)
test_pkgs=(clang libclang-rt-14-dev libcmocka-dev python3 python3-pytest swaks iproute2 procps tzdata s-nail util-linux)

pkgs=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
    pkgs+=("${test_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The accounts Postfix uses: mail_owner and setgid_group.
getent group postdrop >/dev/null || groupadd --system postdrop
getent group postfix >/dev/null || groupadd --system postfix
getent passwd postfix >/dev/null ||
    useradd --system --gid postfix --home-dir /var/spool/postfix --no-create-home \
        --shell /usr/sbin/nologin postfix
