"""pytest fixtures for the real peers in peers.py.

Use them from a test module with

    from peers_fixtures import *  # noqa: F401,F403  (fixtures by name)

or, once, from tests/e2e/conftest.py with the same line, which makes them
available to every test in tests/e2e.  (pytest_plugins = ["peers_fixtures"]
also works, but only in a rootdir conftest.py, so the import is simpler.)

Every fixture is function-scoped and tears its server down, even when the
test fails.  All of them need root; without it they skip with the reason.
"""

from __future__ import annotations

import contextlib
import os

import pytest

import peers

__all__ = ["peers_root", "mail_user", "postfix_peer", "smtp_sink", "dovecot",
           "start_peer"]


@pytest.fixture
def peers_root():
    """Skip unless we can run real daemons (root; Debian's packages present)."""
    if os.geteuid() != 0:
        pytest.skip("end-to-end peers need root (Postfix master, Dovecot, useradd)")
    try:
        peers.ensure_postfix_tree()
    except peers.PeerError as e:
        pytest.skip(f"Debian's postfix package not available: {e}")


@pytest.fixture
def mail_user(peers_root):
    """A fresh local user with a Linux password (user.password) and an empty
    Maildir under its home; removed after the test."""
    with peers.temp_user() as user:
        yield user


@pytest.fixture
def start_peer(peers_root):
    """start_peer(server) starts any peer object (PostfixPeer, SmtpSink,
    Dovecot, ...) and stops it at the end of the test, in reverse order.
    Use it when a test needs non-default options or several instances:

        sink = start_peer(peers.SmtpSink(soft_reject=["RCPT"]))
        pf = start_peer(peers.PostfixPeer(relayhost=sink.port))
    """
    with contextlib.ExitStack() as stack:
        yield lambda server: stack.enter_context(server)


@pytest.fixture
def postfix_peer(start_peer):
    """Debian's Postfix with default settings: delivers user@localhost to
    ~user/Maildir/, refuses to send anywhere else."""
    return start_peer(peers.PostfixPeer())


@pytest.fixture
def smtp_sink(start_peer):
    """smtp-sink accepting everything on a free loopback port."""
    return start_peer(peers.SmtpSink())


@pytest.fixture
def dovecot(start_peer):
    """Dovecot with IMAP, LMTP and an auth socket; shadow passdb, so
    mail_user can log in with mail_user.password."""
    return start_peer(peers.Dovecot())
