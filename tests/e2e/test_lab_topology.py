"""The lab topology: two servers of our MTA, lt01.am and lt02.am, in their
own network namespaces, and a DNS server (dnsmasq) in a third that serves
their MX and A records. Each namespace's resolver is set through
/etc/netns/<name>/resolv.conf (ip netns exec bind-mounts it).

  mta-dns   10.231.0.1   dnsmasq on br0 (veth peers of both servers)
  mta-lt01  10.231.0.11  mail.lt01.am (MX 10 for lt01.am)
  mta-lt02  10.231.0.12  mx2.lt02.am  (MX 20 for lt02.am)
            10.231.0.13  mx1.lt02.am  (MX 10, nothing listens: "down")

Nothing leaves the namespaces: there is no route out, and dnsmasq has no
upstream (--no-resolv), so even a misconfigured resolver cannot leak a
query. Namespaces and /etc/netns entries are removed even on failure.
"""
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import BIN, RUN_TAG, per_run
from delivery_helpers import reset_user

# Namespace prefix, per run (two suites at once get distinct namespaces);
# veth names take only the last 4 characters of a namespace name (IFNAMSIZ).
PREFIX = "mt" + RUN_TAG
NS_DNS, NS1, NS2 = PREFIX + "-dns", PREFIX + "-lt01", PREFIX + "-lt02"
DNS_IP, LT01_IP, LT02_IP, LT02_DOWN_IP = "10.231.0.1", "10.231.0.11", "10.231.0.12", "10.231.0.13"

SERVER_CF = """\
{ip}:25 inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
local unix - n n - - local
smtp unix - - n - - smtp
"""

SERVER_EXTRA = """\
myhostname = {host}
mydomain = {domain}
mydestination = {domain}, $myhostname, localhost
inet_interfaces = {ip}
mynetworks = 127.0.0.0/8 10.231.0.0/24
home_mailbox = Maildir/
alias_maps =
alias_database =
local_recipient_maps = proxy:unix:passwd.byname
smtpd_error_sleep_time = 0
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_run_delay = 1s
smtp_connect_timeout = 5s
"""


def sh(*args, check=True):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError("%s: %s%s" % (" ".join(args), r.stdout, r.stderr))
    return r


def nsx(ns, *args, check=True):
    return sh("ip", "netns", "exec", ns, *args, check=check)


class Topology:
    def __init__(self, tmp):
        self.tmp = tmp
        self.dnsmasq = None

    def up(self):
        for ns in (NS_DNS, NS1, NS2):
            sh("ip", "netns", "add", ns)
            nsx(ns, "ip", "link", "set", "lo", "up")
        nsx(NS_DNS, "ip", "link", "add", "br0", "type", "bridge")
        nsx(NS_DNS, "ip", "addr", "add", DNS_IP + "/24", "dev", "br0")
        nsx(NS_DNS, "ip", "link", "set", "br0", "up")
        for ns, ips in ((NS1, [LT01_IP]), (NS2, [LT02_IP, LT02_DOWN_IP])):
            # Create the pair inside the DNS namespace, so no interface ever
            # appears in the host's namespace, then move one end out.
            a, b = ns[-4:] + "-a", ns[-4:] + "-b"
            nsx(NS_DNS, "ip", "link", "add", a, "type", "veth", "peer", "name", b)
            nsx(NS_DNS, "ip", "link", "set", b, "netns", ns)
            nsx(NS_DNS, "ip", "link", "set", a, "master", "br0")
            nsx(NS_DNS, "ip", "link", "set", a, "up")
            for ip in ips:
                nsx(ns, "ip", "addr", "add", ip + "/24", "dev", b)
            nsx(ns, "ip", "link", "set", b, "up")
            os.makedirs("/etc/netns/" + ns, exist_ok=True)
            with open("/etc/netns/%s/resolv.conf" % ns, "w") as f:
                f.write("nameserver %s\noptions timeout:1 attempts:2\n" % DNS_IP)
        conf = os.path.join(self.tmp, "dnsmasq.conf")
        with open(conf, "w") as f:
            f.write("""\
no-resolv
no-hosts
no-dhcp-interface=br0
bind-interfaces
listen-address=%(dns)s
port=53
local=/am/
mx-host=lt01.am,mail.lt01.am,10
host-record=mail.lt01.am,%(lt01)s
mx-host=lt02.am,mx1.lt02.am,10
mx-host=lt02.am,mx2.lt02.am,20
host-record=mx1.lt02.am,%(down)s
host-record=mx2.lt02.am,%(lt02)s
""" % {"dns": DNS_IP, "lt01": LT01_IP, "lt02": LT02_IP, "down": LT02_DOWN_IP})
        self.dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", NS_DNS, "dnsmasq", "-k", "-C", conf, "--user=root",
             "--pid-file=" + os.path.join(self.tmp, "dnsmasq.pid"), "--log-facility=" +
             os.path.join(self.tmp, "dnsmasq.log"), "--log-queries"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            r = nsx(NS1, "/usr/bin/python3", "-c",
                    "import socket; print(socket.gethostbyname('mail.lt01.am'))", check=False)
            if r.returncode == 0 and r.stdout.strip() == LT01_IP:
                return
            assert self.dnsmasq.poll() is None, "dnsmasq died"
            time.sleep(0.2)
        raise AssertionError("dnsmasq not answering in %s" % NS_DNS)

    def down(self):
        if self.dnsmasq is not None:
            if self.dnsmasq.poll() is None:
                os.killpg(self.dnsmasq.pid, signal.SIGTERM)
                try:
                    self.dnsmasq.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(self.dnsmasq.pid, signal.SIGKILL)
                    self.dnsmasq.wait(timeout=5)
        for ns in (NS1, NS2, NS_DNS):
            sh("ip", "netns", "delete", ns, check=False)
            shutil.rmtree("/etc/netns/" + ns, ignore_errors=True)


@pytest.fixture
def topology(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if not shutil.which("dnsmasq"):
        pytest.skip("dnsmasq not installed (install-deps --test installs dnsmasq-base)")
    for ns in (NS1, NS2, NS_DNS):  # leftovers of a killed run
        sh("ip", "netns", "delete", ns, check=False)
    topo = Topology(str(tmp_path))
    try:
        topo.up()
        yield topo
    finally:
        topo.down()


def server(instance, ns, host, domain, ip):
    inst = instance(master_cf=SERVER_CF.format(ip=ip),
                    main_cf_extra=SERVER_EXTRA.format(host=host, domain=domain, ip=ip),
                    start=False)
    nsx(ns, os.path.join(BIN, "postfix"), "-c", inst.config_dir, "start")
    inst.master_pid = inst.read_pid()
    assert inst.master_pid
    inst.wait_log(r"daemon started")
    return inst


SEND = """\
import smtplib, sys
s = smtplib.SMTP(sys.argv[1], 25, timeout=20)
s.sendmail(sys.argv[2], [sys.argv[3]], sys.stdin.read())
s.quit()
"""


def send(ns, ip, sender, rcpt, subject):
    msg = "From: %s\nTo: %s\nSubject: %s\n\nhello across the lab\n" % (sender, rcpt, subject)
    r = subprocess.run(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", SEND, ip, sender,
                        rcpt], input=msg, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def maildir_with(pw, subject, timeout=30):
    deadline = time.time() + timeout
    new = os.path.join(pw.pw_dir, "Maildir", "new")
    while time.time() < deadline:
        if os.path.isdir(new):
            for name in os.listdir(new):
                with open(os.path.join(new, name), "rb") as f:
                    data = f.read()
                if ("Subject: %s" % subject).encode() in data:
                    return data
        time.sleep(0.1)
    raise AssertionError("no message %r in %s" % (subject, new))


def test_lt01_to_lt02_and_back_with_mx_preference(instance, topology):
    pw = reset_user(per_run("tester"))
    lt01 = server(instance, NS1, "mail.lt01.am", "lt01.am", LT01_IP)
    lt02 = server(instance, NS2, "mx2.lt02.am", "lt02.am", LT02_IP)

    send(NS1, LT01_IP, per_run("tester@lt01.am"), per_run("tester@lt02.am"), "there")
    data = maildir_with(pw, "there")
    assert per_run(b"Delivered-To: tester@lt02.am") in data
    # mx1 (preference 10) is down: tried first, then mx2 (20) took it.
    lt01.wait_log(r"connect to mx1\.lt02\.am\[10\.231\.0\.13\]:25: Connection refused")
    lt01.wait_log(per_run(r"to=<tester@lt02\.am>, relay=mx2\.lt02\.am\[10\.231\.0\.12\]:25, delay=[0-9.]+, "
                  r"delays=[0-9./]+, dsn=2\.0\.0, status=sent \(250 "))
    log = lt01.log()
    assert log.index("connect to mx1.lt02.am") < log.index("relay=mx2.lt02.am")

    send(NS2, LT02_IP, per_run("tester@lt02.am"), per_run("tester@lt01.am"), "back")
    data = maildir_with(pw, "back")
    assert per_run(b"Delivered-To: tester@lt01.am") in data
    lt02.wait_log(per_run(r"to=<tester@lt01\.am>, relay=mail\.lt01\.am\[10\.231\.0\.11\]:25, .*status=sent"))
