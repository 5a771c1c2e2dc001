#!/usr/bin/env bash
# Install what is needed, build, install the MTA as the system's mail server
# (Postfix paths: /usr/sbin, /usr/lib/postfix/sbin, /etc/postfix,
# /var/spool/postfix) and start it listening on loopback port 25.
# An existing /etc/postfix/main.cf and master.cf are kept.
# Usage: scripts/run.sh      (as root on Debian 12)
set -euo pipefail
cd "$(dirname "$0")/.."

if dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q "install ok installed"; then
    echo "run.sh: Debian's postfix package is installed; remove it first (apt-get remove postfix)," >&2
    echo "run.sh: this MTA installs into the same paths." >&2
    exit 1
fi

scripts/install-deps.sh
scripts/build.sh build-release -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --install build-release --prefix / >/dev/null

install -d -m 0755 /etc/postfix
for f in main.cf master.cf; do
    [ -e "/etc/postfix/$f" ] || install -m 0644 "conf/$f" "/etc/postfix/$f"
done
[ -e /etc/aliases ] || printf 'postmaster: root\n' >/etc/aliases
/usr/sbin/newaliases

/usr/sbin/postfix set-permissions   # postdrop, postqueue setgid postdrop, queue modes
/usr/sbin/postfix check
if /usr/sbin/postfix status >/dev/null 2>&1; then
    /usr/sbin/postfix reload
else
    /usr/sbin/postfix start
fi
/usr/sbin/postfix status
