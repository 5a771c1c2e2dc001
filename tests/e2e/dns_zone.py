"""A private resolver for a test module: the test process moves into its own
mount namespace, /etc/resolv.conf there names a dnsmasq on a free loopback
address (port 53: libresolv talks to nothing else) serving the given zone.
Everything the process starts afterwards (postfix -> master -> smtpd, policy
servers) inherits it; nothing outside sees it. The work is peers.LocalDns
(bench/ uses it too); this is its pytest face. See README-peers.md, "DNS
zones for smtpd restrictions"."""
import os

import pytest

import peers


def private_zone(records, ready, log_queries=False):
    """Generator for a module fixture: yields (ip, tmpdir) once ready() is
    true (polled for 10s), stops dnsmasq by its PID and unmounts after.
    `records` are dnsmasq lines after the listening options."""
    if os.geteuid() != 0:
        pytest.skip("needs root (mount namespace, port 53)")
    dns = peers.LocalDns(records, ready, log_queries=log_queries)
    try:
        ip = dns.__enter__()
    except peers.PeerError as e:
        if "unshare" in str(e):
            pytest.skip(str(e))
        raise
    try:
        yield ip, str(dns.tmp)
    finally:
        dns.__exit__(None, None, None)
