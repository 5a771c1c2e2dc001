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
test_pkgs=(clang libclang-rt-14-dev libcmocka-dev python3 python3-pytest iproute2 procps tzdata
    # swaks, and Net::SSLeay for its --tls (only a Recommends of swaks).
    swaks libnet-ssleay-perl
    # Cyrus SASL tests: saslpasswd2 (sasl2-bin; its saslauthd stays stopped),
    # the sasldb auxprop and PLAIN/LOGIN plugins.
    sasl2-bin libsasl2-modules libsasl2-modules-db
    # Peers for end-to-end tests (tests/e2e/peers.py). Dovecot is installed
    # with service starts forbidden: the tests run it with their own config.
    dovecot-core dovecot-imapd dovecot-lmtpd pflogsumm s-nail openssl dnsmasq-base
    # Policy servers for check_policy_service (tests/e2e/test_policy.py):
    # postgrey, policyd-spf's engine (the program itself is unpacked:
    # fetch_unpacked below), and socat standing in for spawn(8) in front of
    # policyd-spf.
    postgrey python3-spf-engine socat
    # The after-queue content filter of tests/e2e/test_content_filter.py.
    python3-aiosmtpd
    # Milters (tests/e2e/test_milter.py): OpenDKIM and its key tool, rspamd
    # in milter mode, python3-dkim to verify the signatures.
    opendkim opendkim-tools rspamd python3-dkim
    # A libmilter program (pymilter) that asks for every modification.
    python3-milter
    # DANE tests (tests/e2e/test_smtp_dane.py): a zone signed with
    # ldns-signzone, served by NSD, validated by Unbound (services not
    # started: policy-rc.d below; the test runs its own).
    nsd unbound ldnsutils
    # Runtime libraries of Debian's postfix, which the tests only unpack
    # (apt-get download + dpkg -x) because our MTA owns Postfix's paths;
    # the rest of its Depends for the packaging test, which dpkg -i's it
    # in an overlay (a bare machine lacks cpio and ssl-cert).
    libdb5.3 libicu72 libnsl2 libsasl2-2 libssl3 netbase cpio ssl-cert e2fsprogs adduser
    # runuser for tests that act as an unprivileged user.
    util-linux
    # strace: the durability test checks the fsync order at commit.
    strace
    # The power-loss test (tests/e2e/test_power_loss.py) on loop-mounted
    # images: losetup (mount), mkfs.ext4 (e2fsprogs) and mkfs.xfs (xfsprogs).
    mount e2fsprogs xfsprogs
    # faketime (libfaketime): the maillog date test fakes a single-digit day.
    faketime
    # The libraries of bsd-mailx (fetch_bsd_mailx below); no MTA among them.
    libbsd0 liblockfile1
    # Packaging tests (tests/e2e/test_packaging.py): rpmbuild and rpm for
    # the CentOS RPM, systemd-analyze (systemd; not started in a container)
    # for the unit, dpkg-deb comes with dpkg.
    rpm systemd)
# Not installed: bsd-mailx (Depends: default-mta | mail-transport-agent would
# pull in exim4 and start it), postfix-policyd-spf-python (Depends: postfix)
# and postfix itself: they are only unpacked (fetch_postfix, fetch_unpacked
# below), so Debian's postfix never owns /usr/sbin/sendmail here.

pkgs=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
    pkgs+=("${test_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# policy-rc.d exiting 101 makes invoke-rc.d refuse every service start, so a
# package such as dovecot-core does not leave a system daemon listening on
# all interfaces. Removed again on exit unless it was there before us.
policy=/usr/sbin/policy-rc.d
forbid_service_starts() {
    [ -e "$policy" ] && return 0
    printf '#!/bin/sh\n# installed by install-deps.sh during package installs\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
}

if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    forbid_service_starts
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The accounts Postfix uses: mail_owner and setgid_group.
getent group postdrop >/dev/null || groupadd --system postdrop
getent group postfix >/dev/null || groupadd --system postfix
getent passwd postfix >/dev/null ||
    useradd --system --gid postfix --home-dir /var/spool/postfix --no-create-home \
        --shell /usr/sbin/nologin postfix

# Test users the end-to-end tests deliver to (Maildir in their home).
if [ "${1:-}" = "--test" ]; then
    for u in tester tester2; do
        getent passwd "$u" >/dev/null || useradd --create-home --shell /bin/bash "$u"
    done
fi

# Debian's Postfix, unpacked (never installed) into a cache for the tests'
# outbound peer and the benchmark baseline. See tests/e2e/peers.py.
fetch_postfix() {
    local cache=${MTA_TEST_CACHE:-/var/cache/mta-tests}
    local root="$cache/postfix-root"
    [ -x "$root/usr/lib/postfix/sbin/master" ] && [ -x "$root/usr/sbin/smtp-source" ] && return 0
    mkdir -p "$cache/debs"
    # Package lists may be missing or stale when nothing else was installed.
    (cd "$cache/debs" && { apt-get download -qq -o APT::Sandbox::User=root postfix postfix-pcre ||
        { apt-get update -qq && apt-get download -qq -o APT::Sandbox::User=root postfix postfix-pcre; }; })
    rm -rf "$root.tmp"
    mkdir -p "$root.tmp"
    for deb in "$cache"/debs/postfix_*.deb "$cache"/debs/postfix-pcre_*.deb; do
        dpkg -x "$deb" "$root.tmp"
    done
    rm -rf "$root"
    mv "$root.tmp" "$root"
}
# A Debian package unpacked the same way into $cache/<package>-root, for a
# program the tests run from there: bsd-mailx (run with "set
# sendmail=<our build>" in a private MAILRC: tests/e2e/test_submit_mailx.py)
# and policyd-spf (its python3-spf-engine is installed normally:
# tests/e2e/test_policy.py). $2: a file that shows it is already there.
fetch_unpacked() {
    local pkg=$1 check=$2
    local cache=${MTA_TEST_CACHE:-/var/cache/mta-tests}
    local root="$cache/$pkg-root"
    [ -e "$root/$check" ] && return 0
    mkdir -p "$cache/debs"
    (cd "$cache/debs" && { apt-get download -qq -o APT::Sandbox::User=root "$pkg" ||
        { apt-get update -qq && apt-get download -qq -o APT::Sandbox::User=root "$pkg"; }; })
    rm -rf "$root.tmp"
    mkdir -p "$root.tmp"
    dpkg -x "$(ls -t "$cache"/debs/"$pkg"_*.deb | head -n 1)" "$root.tmp"
    rm -rf "$root"
    mv "$root.tmp" "$root"
}
if [ "${1:-}" = "--test" ]; then
    fetch_postfix
    fetch_unpacked bsd-mailx usr/bin/bsd-mailx
    fetch_unpacked postfix-policyd-spf-python usr/bin/policyd-spf
fi
