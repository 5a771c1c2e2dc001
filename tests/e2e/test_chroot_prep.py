"""`postfix start` prepares the chroot as Debian's init script does: when a
master.cf service runs chrooted, /etc/resolv.conf, services, hosts,
localtime and nsswitch.conf are copied into $queue_directory/etc at every
start (issue 17); without a chrooted service nothing is created."""
import os
import socket
import stat

CHROOT_FILES = ["resolv.conf", "services", "hosts", "localtime", "nsswitch.conf"]

CHROOTED_SMTPD = """\
127.0.0.1:{port_smtp} inet n - y - - smtpd
"""
UNCHROOTED_SMTPD = """\
127.0.0.1:{port_smtp} inet n - n - - smtpd
"""


def read(path):
    with open(path, "rb") as f:
        return f.read()


def banner(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        return s.recv(512)


def test_chrooted_service_gets_host_files(instance):
    inst = instance(CHROOTED_SMTPD)
    etc = os.path.join(inst.queue_dir, "etc")
    present = [f for f in CHROOT_FILES if os.path.exists(os.path.join("/etc", f))]
    assert present, "this host has none of the files a chroot needs"
    for name in present:
        copy = os.path.join(etc, name)
        st = os.lstat(copy)
        # localtime is a symlink on the host; the chroot gets the zone data.
        assert stat.S_ISREG(st.st_mode), name
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o644), name
        assert read(copy) == read(os.path.join("/etc", name)), name
    assert not [f for f in os.listdir(etc) if ".tmp." in f], "temporary copies left"
    # The chrooted smtpd serves.
    assert banner(inst.port("smtp")).startswith(b"220 ")

    # A stale copy is refreshed at the next start.
    with open(os.path.join(etc, present[0]), "wb") as f:
        f.write(b"stale\n")
    inst.stop()
    inst.start()
    assert read(os.path.join(etc, present[0])) == read(os.path.join("/etc", present[0]))


def test_no_chrooted_service_no_copy(instance):
    inst = instance(UNCHROOTED_SMTPD)
    assert banner(inst.port("smtp")).startswith(b"220 ")
    assert not os.path.exists(os.path.join(inst.queue_dir, "etc"))
