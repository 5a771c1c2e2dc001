#!/bin/sh
# Install, remove and purge a .deb in a throw-away copy of this system:
# run as `unshare -m -n sh deb_lifecycle.sh WORKDIR PACKAGE.deb [CACHE]`
# (root; CACHE: the test cache with Debian's postfix and bsd-mailx .debs
# that scripts/install-deps.sh --test downloads, default
# /var/cache/mta-tests). An
# overlay of / (writes land in WORKDIR/upper) is the root of a chroot, so
# the package's maintainer scripts run for real -- accounts, /etc, dpkg's
# database -- without touching the host; the new network namespace keeps
# anything they might start off the host's ports. Prints "== step" headers
# and facts the test checks; exits non-zero on the first failing step.
set -eu
work=$1
deb=$2
cache=${3:-/var/cache/mta-tests}
mkdir -p "$work/upper" "$work/work" "$work/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/upper,workdir=$work/work" "$work/root"
mount -t proc proc "$work/root/proc"
mount --bind /dev "$work/root/dev"
mount -t tmpfs tmpfs "$work/root/run"
cp "$deb" "$work/root/tmp/pkg.deb"
ip link set lo up 2>/dev/null || true

chroot "$work/root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C CACHE="$cache" sh -eu -c '
# Where Debian'"'"'s postfix is installed (this host has it): apt-get installs
# the package over it, keeping /etc/postfix; bsd-mailx then needs no other
# MTA (apt-get -s: nothing is downloaded); an ordinary user mails another
# through the system started with the kept configuration.
# A conffile path no package owns (left by a `cmake --install` onto this
# host) would make dpkg ask about it: not the machine being simulated.
dpkg -S /etc/logrotate.d/postfix >/dev/null 2>&1 || rm -f /etc/logrotate.d/postfix
# No service of a package started here starts for real (this overlay only).
printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
if ! dpkg-query -W -f="\${Status}" postfix 2>/dev/null | grep -q "install ok installed"; then
    for p in "$CACHE"/debs/postfix_*.deb; do
        [ -e "$p" ] || continue
        DEBIAN_FRONTEND=noninteractive dpkg -i "$p" >/tmp/postfix.log 2>&1 || cat /tmp/postfix.log
    done
fi
if dpkg-query -W -f="\${Status}" postfix 2>/dev/null | grep -q "install ok installed"; then
    echo "== over-postfix"
    echo "# edited by the lab before the switch" >>/etc/postfix/main.cf
    before=$(md5sum </etc/postfix/main.cf)
    if ! apt-get install -y -q --no-install-recommends /tmp/pkg.deb >/tmp/apt.log 2>&1; then
        cat /tmp/apt.log
        exit 1
    fi
    echo "ours: $(dpkg-query -W -f="\${Status}" postfix-compatible-mta)"
    echo "debian postfix: $(dpkg-query -W -f="\${Status}" postfix)"
    [ "$(md5sum </etc/postfix/main.cf)" = "$before" ] && echo "main.cf kept: yes"
    apt-get -s install bsd-mailx >/tmp/sim.log 2>&1 || cat /tmp/sim.log
    echo "mailx installs: $(sed -n "s/^Inst \([^ ]*\).*/\1/p" /tmp/sim.log | sort | tr "\n" " ")"
    # bsd-mailx for real: dpkg accepts its MTA dependency as satisfied.
    for p in "$CACHE"/debs/bsd-mailx_*.deb; do
        [ -e "$p" ] || continue
        dpkg -i "$p" >/tmp/mailx.log 2>&1 || cat /tmp/mailx.log
        echo "mailx: $(dpkg-query -W -f="\${Status}" bsd-mailx)"
    done
    useradd -m -s /bin/sh labstudent
    /usr/sbin/postfix start 2>/dev/null
    if command -v bsd-mailx >/dev/null; then
        echo "lab mail body" | su labstudent -c "bsd-mailx -s \"lab mail\" labstudent@localhost"
    else
        printf "Subject: lab mail\n\nlab mail body\n" |
            su labstudent -c "/usr/sbin/sendmail labstudent@localhost"
    fi
    # Where the kept main.cf says: Maildir/ (home_mailbox = Maildir/, as the
    # lab sets it) or Debian'"'"'s default, the mbox in /var/mail.
    n=0
    while [ "$n" -lt 300 ] &&
        ! grep -qs "Subject: lab mail" /home/labstudent/Maildir/new/* /var/mail/labstudent; do
        sleep 0.1
        n=$((n + 1))
    done
    if grep -qs "Subject: lab mail" /home/labstudent/Maildir/new/* /var/mail/labstudent; then
        echo "user mail delivered: yes"
    else
        echo "user mail not delivered; the queue and the home directory:"
        /usr/sbin/postqueue -p 2>&1 | tail -n 20
        ls -la /home/labstudent /home/labstudent/Maildir/new 2>&1 | tail -n 20
        ls -la /var/mail 2>&1 | tail -n 5
        postconf -n 2>&1 | tail -n 40
    fi
    dpkg --purge bsd-mailx >/dev/null 2>&1 || true
    /usr/sbin/postfix stop 2>/dev/null || true
    userdel -r labstudent 2>/dev/null || true
    dpkg --purge postfix-compatible-mta >/dev/null
    dpkg --purge postfix >/dev/null 2>&1 || true
fi

# A system that never had the accounts or a mail configuration (nor the
# file overrides Debian'"'"'s postfix leaves for them).
for f in $(dpkg-statoverride --list | awk "\$1 == \"postfix\" || \$2 == \"postdrop\" || \$2 == \"postfix\" { print \$4 }"); do
    dpkg-statoverride --remove "$f"
done
userdel postfix 2>/dev/null || true
groupdel postfix 2>/dev/null || true
groupdel postdrop 2>/dev/null || true
rm -rf /etc/postfix /etc/aliases /etc/aliases.db /etc/mailname /var/spool/postfix /var/lib/postfix

echo "== install"
dpkg -i /tmp/pkg.deb
echo "status: $(dpkg-query -W -f="\${Status}" postfix-compatible-mta)"
echo "user: $(getent passwd postfix | cut -d: -f1,6,7)"
echo "group: $(getent group postdrop | cut -d: -f1)"
echo "mailname: $(cat /etc/mailname)"
echo "aliases: $(cat /etc/aliases)"
ls /etc/aliases.db >/dev/null && echo "aliases.db: yes"
echo "postdrop: $(stat -c "%a %G" /usr/sbin/postdrop)"
echo "maildrop: $(stat -c "%a %U %G" /var/spool/postfix/maildrop)"
echo "myhostname: $(postconf -h myhostname)"
[ -L /etc/systemd/system/multi-user.target.wants/postfix.service ] && echo "enabled: yes"
# The manual is ours (a postfix whose pages were there is replaced).
man -P cat postqueue 2>/dev/null | grep -q "no fast.flush service" && echo "man postqueue: ours"
/usr/sbin/postfix status >/dev/null 2>&1 && echo "running: yes" || echo "running: no"
# The installed mail system starts and stops (port 25 of this namespace).
/usr/sbin/postfix start 2>/dev/null
/usr/sbin/postfix status 2>/dev/null && echo "started: yes"
/usr/sbin/postfix stop 2>/dev/null

echo "== lab"
# The lab on the installed package: main.cf edited as the lab says, the
# telnet dialog (swaks), mail from an ordinary user, reading it, pflogsumm.
postconf -e "home_mailbox = Maildir/" "maillog_file = /var/log/postfix-lab.log" \
    "mydestination = \$myhostname, localhost.\$mydomain, localhost, \$mydomain"
useradd -m -s /bin/sh student
/usr/sbin/postfix start 2>/dev/null
if command -v swaks >/dev/null; then
    swaks --server 127.0.0.1:25 --helo client --from user@yahoo.com --to student@localhost \
        --header "Subject: lab dialog" >/tmp/swaks.log 2>&1 && echo "dialog: ok"
fi
su student -c "/usr/sbin/sendmail -t" <<EOM || true
To: student@localhost
Subject: lab sendmail

hello
EOM
n=0
while [ "$n" -lt 300 ] && [ "$(ls /home/student/Maildir/new 2>/dev/null | wc -l)" -lt 2 ]; do
    sleep 0.1
    n=$((n + 1))
done
# local(8) logs a delivery once the file is in new/: wait for the lines too.
n=0
while [ "$n" -lt 300 ] && [ "$(grep -c "status=sent" /var/log/postfix-lab.log)" -lt \
    "$(ls /home/student/Maildir/new 2>/dev/null | wc -l)" ]; do
    sleep 0.1
    n=$((n + 1))
done
echo "maildir: $(ls /home/student/Maildir/new 2>/dev/null | wc -l)"
echo "owner: $(stat -c %U /home/student/Maildir/new)"
grep -qs "Subject: lab sendmail" /home/student/Maildir/new/* && echo "read: yes"
/usr/sbin/postfix stop 2>/dev/null
if command -v pflogsumm >/dev/null; then
    echo "pflogsumm delivered: $(pflogsumm /var/log/postfix-lab.log 2>/dev/null |
        sed -n "s/^ *\([0-9][0-9]*\) *delivered\$/\1/p" | head -n 1)"
fi
userdel -r student 2>/dev/null || true
echo "# edited by the admin" >>/etc/postfix/main.cf

echo "== reinstall"
dpkg -i /tmp/pkg.deb
grep -c "edited by the admin" /etc/postfix/main.cf | sed "s/^/kept edits: /"

echo "== remove"
# prerm stops a running mail system (no systemd here: postfix stop).
/usr/sbin/postfix start 2>/dev/null
pid=$(/usr/sbin/postfix status 2>&1 | sed -n "s/.*PID: \([0-9]*\).*/\1/p")
echo "pid before remove: ${pid:-none}"
dpkg -r postfix-compatible-mta
# A zombie (reparented to an init that reaps late) does not count.
state=$( [ -n "$pid" ] && sed "s/.*) \([A-Z]\).*/\1/" "/proc/$pid/stat" 2>/dev/null || true)
echo "state after remove: ${state:-gone}"
if [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]; then
    echo "still running: yes"
    kill -9 -- "-$pid" 2>/dev/null || true
else
    echo "still running: no"
fi
[ -e /usr/sbin/postfix ] && echo "binary left: yes" || echo "binary left: no"
[ -e /etc/postfix/main.cf ] && echo "main.cf kept: yes"
[ -e /etc/logrotate.d/postfix ] && echo "conffile kept: yes"

echo "== purge"
dpkg --purge postfix-compatible-mta
[ -e /etc/postfix ] && echo "etc left: yes" || echo "etc left: no"
[ -e /etc/logrotate.d/postfix ] && echo "conffile left: yes" || echo "conffile left: no"
echo "== done"
'
