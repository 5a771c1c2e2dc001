#!/bin/sh
# Regenerate the Postfix reference outputs the tests compare against:
#   tests/data/postconf-d-3.7.txt   (postconf -d, minus machine-computed values)
#   tests/data/postconf/*.out, edit-*.cf
# from Debian's real postfix package, unpacked (not installed) in a temp dir.
# Then run tools/gen_config_defaults.py to rebuild lib/global/config_defaults.c.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download postfix >/dev/null
dpkg -x postfix_*.deb pfx
pc() { LD_LIBRARY_PATH="$work/pfx/usr/lib/postfix" "$work/pfx/usr/sbin/postconf" "$@"; }

mkdir empty && : >empty/main.cf && : >empty/master.cf
pc -c "$work/empty" -d 2>/dev/null |
    grep -v -E '^(myhostname|mydomain|mynetworks|mail_version|process_id|process_name) ' \
        >"$repo/tests/data/postconf-d-3.7.txt"

G="$repo/tests/data/postconf"
D="$work/conf"
mkdir "$D" && cp "$G/main.cf" "$G/master.cf" "$D/"
gen() {
    out=$1; shift
    pc -c "$D" "$@" 2>/dev/null | sed "s#$D#{dir}#g" >"$G/$out"
}
gen n.out -n
gen f.out -nf
gen x.out -x myorigin mydestination smtpd_banner relay_domains mynetworks_style \
    smtp_tls_session_cache_database alias_maps smtpd_relay_restrictions append_dot_mydomain \
    smtpd_timeout smtpd_recipient_restrictions mua_client_restrictions
gen names.out myorigin relayhost nosuch_parameter mua_client_restrictions smtpd_timeout
gen h.out -h myorigin relayhost smtpd_recipient_restrictions
gen HH.out -H myorigin relayhost
gen M.out -M
gen Mf.out -Mf
gen Mx.out -Mx submission/inet relay/unix
gen Msel.out -M smtp pickup/unix nosuch/inet
gen F.out -F
gen Fsel.out -F submission/inet/command pickup/unix/wakeup
gen P.out -P
gen Px.out -Px
gen Psel.out -P submission/inet/syslog_name
gen PH.out -PH
edit() {
    out=$1; shift
    cp "$G/edit-input.cf" "$D/main.cf"
    pc -c "$D" "$@" >/dev/null 2>&1
    cp "$D/main.cf" "$G/$out"
}
edit edit-e.cf -e 'myorigin = new  value ' 'relayhost=[smtp.example.com]:587' \
    'inet_interfaces = loopback-only'
edit edit-X.cf -X myorigin mydestination nosuch
edit edit-comment.cf -# myorigin smtpd_banner
