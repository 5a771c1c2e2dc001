#!/usr/bin/env bash
# Build the MTA's package from this tree: a Debian package (default) or the
# CentOS 8 RPM (CentOS's paths: daemons in /usr/libexec/postfix, sendmail
# as sendmail.postfix behind alternatives). Prints the package's path.
# Usage: scripts/package.sh [deb|rpm] [outdir]      (outdir default: dist)
# The build directory is build-package-<format> (MTA_PACKAGE_BUILD_DIR
# overrides it); rebuilding is incremental. Needs dpkg-deb (deb) or
# rpmbuild (rpm; Debian package rpm).
set -euo pipefail
cd "$(dirname "$0")/.."
fmt=${1:-deb}
out=${2:-dist}
case "$fmt" in
deb)
    gen=DEB
    args=(-DMTA_PACKAGE_FORMAT=DEB -DMTA_DAEMON_DIR=/usr/lib/postfix/sbin
        -DMTA_SENDMAIL_NAME=sendmail -DMTA_SYSTEMD_DIR=/lib/systemd/system)
    ;;
rpm)
    gen=RPM
    command -v rpmbuild >/dev/null || { echo "package.sh: rpmbuild missing (apt-get install rpm)" >&2; exit 1; }
    args=(-DMTA_PACKAGE_FORMAT=RPM -DMTA_DAEMON_DIR=/usr/libexec/postfix
        -DMTA_SENDMAIL_NAME=sendmail.postfix -DMTA_SYSTEMD_DIR=/usr/lib/systemd/system)
    ;;
*)
    echo "usage: scripts/package.sh [deb|rpm] [outdir]" >&2
    exit 64
    ;;
esac
dir=${MTA_PACKAGE_BUILD_DIR:-build-package-$fmt}
mkdir -p "$out"
out=$(cd "$out" && pwd)
scripts/build.sh "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMTA_TESTS=OFF "${args[@]}" >/dev/null
# cpack keeps its staging tree under -B; only the package is wanted in $out.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
(cd "$dir" && cpack -G "$gen" -B "$stage" >/dev/null)
for p in "$stage"/*.deb "$stage"/*.rpm; do
    [ -e "$p" ] || continue
    mv -f "$p" "$out/"
    echo "$out/$(basename "$p")"
done
