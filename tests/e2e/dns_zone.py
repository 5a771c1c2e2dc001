"""A private resolver for a test module: the test process moves into its own
mount namespace, /etc/resolv.conf there names a dnsmasq on a free loopback
address (port 53: libresolv talks to nothing else) serving the given zone.
Everything the process starts afterwards (postfix -> master -> smtpd, policy
servers) inherits it; nothing outside sees it. See README-peers.md, "DNS
zones for smtpd restrictions"."""
import ctypes
import os
import random
import signal
import socket
import subprocess
import tempfile
import time

import pytest

CLONE_NEWNS = 0x00020000
HEADER = """\
no-resolv
no-hosts
bind-interfaces
listen-address={ip}
port=53
"""


def _free_ip():
    for _ in range(50):
        ip = "127.53.%d.%d" % (random.randint(1, 254), random.randint(1, 254))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((ip, 53))
            return ip
        except OSError:
            continue
        finally:
            s.close()
    raise AssertionError("no free loopback address for port 53")


def private_zone(records, ready, log_queries=False):
    """Generator for a module fixture: yields (ip, tmpdir) once ready() is
    true (polled for 10s), stops dnsmasq by its PID and unmounts after.
    `records` are dnsmasq lines after the listening options."""
    if os.geteuid() != 0:
        pytest.skip("needs root (mount namespace, port 53)")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        pytest.skip("unshare(CLONE_NEWNS): %s" % os.strerror(ctypes.get_errno()))
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    tmp = tempfile.mkdtemp(prefix="mta-dns-")
    ip = _free_ip()
    resolv = os.path.join(tmp, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver %s\noptions timeout:1 attempts:2\n" % ip)
    subprocess.run(["mount", "--bind", resolv, "/etc/resolv.conf"], check=True)
    conf = os.path.join(tmp, "dnsmasq.conf")
    with open(conf, "w") as f:
        f.write(HEADER.format(ip=ip) + records)
    argv = ["dnsmasq", "-k", "-C", conf, "--user=root",
            "--pid-file=" + os.path.join(tmp, "dnsmasq.pid")]
    if log_queries:
        argv += ["--log-facility=" + os.path.join(tmp, "dnsmasq.log"), "--log-queries"]
    dm = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
    deadline = time.time() + 10
    while not ready():
        assert dm.poll() is None, "dnsmasq died"
        assert time.time() < deadline, "dnsmasq not answering on %s" % ip
        time.sleep(0.1)
    try:
        yield ip, tmp
    finally:
        os.killpg(dm.pid, signal.SIGTERM)
        dm.wait(timeout=10)
        subprocess.run(["umount", "/etc/resolv.conf"], check=False)
