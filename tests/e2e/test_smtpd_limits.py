"""smtpd_client_connection_count_limit and smtpd_client_connection_rate_limit:
state shared by all smtpd processes (smtpd/smtpd_client_registry), clients in
smtpd_client_event_limit_exceptions (default $mynetworks) exempt.

Limited clients bind to 127.0.0.2/127.0.0.3 while mynetworks covers only
127.0.0.1, so the default exception list does not apply to them."""
import os
import re
import signal

from smtp_helpers import Raw, start

LIMIT_EXTRA = """\
mynetworks = 127.0.0.1/32
smtpd_client_connection_count_limit = 2
"""


def banner(c):
    return c.reply()


def too_many(addr):
    return ["421 4.7.0 mta-test.example Error: too many connections from %s" % addr]


def test_count_limit_per_client(instance):
    inst = start(instance, LIMIT_EXTRA)
    port = inst.port("smtp")
    held = [Raw(port, source="127.0.0.2") for _ in range(2)]
    for c in held:
        assert banner(c) == ["220 mta-test.example ESMTP Postfix"]
    third = Raw(port, source="127.0.0.2")
    assert third.reply() == too_many("127.0.0.2")
    assert third.line() == ""  # and the server hangs up
    third.close()
    inst.wait_log(r"postfix/smtpd\[\d+\]: warning: Connection concurrency limit exceeded: 3 "
                  r"from unknown\[127\.0\.0\.2\] for service 127\.0\.0\.1:%d" % port)
    # Another client address is counted apart.
    other = Raw(port, source="127.0.0.3")
    assert banner(other) == ["220 mta-test.example ESMTP Postfix"]
    other.close()
    # A client that leaves frees its place: a new connection is served.
    mark = inst.log_mark()
    assert held[0].cmd("QUIT") == ["221 2.0.0 Bye"]
    held[0].close()
    inst.wait_log(r"disconnect from unknown\[127\.0\.0\.2\]", since=mark)
    again = Raw(port, source="127.0.0.2")
    assert banner(again) == ["220 mta-test.example ESMTP Postfix"]
    again.close()
    held[1].close()


def test_mynetworks_is_exempt(instance):
    inst = start(instance, LIMIT_EXTRA)
    port = inst.port("smtp")
    conns = [Raw(port, source="127.0.0.1") for _ in range(4)]
    for c in conns:
        assert banner(c) == ["220 mta-test.example ESMTP Postfix"]
    for c in conns:
        c.close()
    assert "limit exceeded" not in inst.log()


def test_explicit_exceptions(instance):
    inst = start(instance, LIMIT_EXTRA + "smtpd_client_event_limit_exceptions = 127.0.0.3\n")
    port = inst.port("smtp")
    conns = [Raw(port, source="127.0.0.3") for _ in range(3)]
    for c in conns:
        assert banner(c) == ["220 mta-test.example ESMTP Postfix"]
    # 127.0.0.1 is no longer exempt once the parameter is set.
    local = [Raw(port, source="127.0.0.1") for _ in range(3)]
    assert [banner(c)[0][:3] for c in local] == ["220", "220", "421"]
    for c in conns + local:
        c.close()


def test_killed_smtpd_does_not_leak_a_count(instance):
    """SIGKILL the smtpd holding a connection: its place is free at once."""
    inst = start(instance, LIMIT_EXTRA)
    port = inst.port("smtp")
    held = [Raw(port, source="127.0.0.2") for _ in range(2)]
    for c in held:
        assert banner(c) == ["220 mta-test.example ESMTP Postfix"]
    pids = sorted(int(m.group(1)) for m in re.finditer(
        r"postfix/smtpd\[(\d+)\]: connect from unknown\[127\.0\.0\.2\]", inst.log()))
    assert len(pids) == 2
    os.kill(pids[0], signal.SIGKILL)
    inst.wait_log(r"process \S+/smtpd pid %d killed by signal 9" % pids[0])
    again = Raw(port, source="127.0.0.2")
    assert banner(again) == ["220 mta-test.example ESMTP Postfix"]
    # ... and the limit still holds with the survivors.
    over = Raw(port, source="127.0.0.2")
    assert over.reply() == too_many("127.0.0.2")
    for c in held + [again, over]:
        c.close()


def test_rate_limit(instance):
    inst = start(instance, "mynetworks = 127.0.0.1/32\n"
                           "smtpd_client_connection_rate_limit = 2\n"
                           "anvil_rate_time_unit = 1h\n")
    port = inst.port("smtp")
    for _ in range(2):
        c = Raw(port, source="127.0.0.2")
        assert banner(c) == ["220 mta-test.example ESMTP Postfix"]
        assert c.cmd("QUIT") == ["221 2.0.0 Bye"]
        c.close()
    c = Raw(port, source="127.0.0.2")
    assert c.reply() == too_many("127.0.0.2")
    c.close()
    inst.wait_log(r"warning: Connection rate limit exceeded: 3 from unknown\[127\.0\.0\.2\] "
                  r"for service 127\.0\.0\.1:%d" % port)
    # Other clients are not affected.
    c = Raw(port, source="127.0.0.3")
    assert banner(c) == ["220 mta-test.example ESMTP Postfix"]
    c.close()


def test_registry_file_is_private(instance):
    inst = start(instance, LIMIT_EXTRA)
    c = Raw(inst.port("smtp"), source="127.0.0.2")
    assert banner(c) == ["220 mta-test.example ESMTP Postfix"]
    c.close()
    st = os.stat(os.path.join(inst.queue_dir, "pid", "client_registry"))
    assert st.st_uid == 0 and (st.st_mode & 0o777) == 0o600
