"""cleanup's address rewriting (canonical(5), virtual(5), postconf(5)):
canonical maps for sender and recipients, masquerading, virtual alias
expansion (fan-out, recursion, limits), BCC maps, and
receive_override_options=no_address_mappings on a second listener. Seen in
the delivered Maildir file (Return-Path, Delivered-To) and in the log."""
import os
import re
import smtplib
import subprocess

from conftest import BIN, per_run
from peers_fixtures import *  # noqa: F401,F403
from delivery_helpers import (PIPELINE_CF, maildir_new, read, start_pipeline, wait_maildir,
                              wait_queue_empty)

CF = PIPELINE_CF + "pickup unix n - n 60 1 pickup\n" + \
    "127.0.0.1:{port_raw} inet n - n - - smtpd\n  -o receive_override_options=no_address_mappings\n"

USERS = (per_run("tester"), per_run("tester2"), per_run("tester3"))


def make(instance, extra, tables):
    inst = start_pipeline(instance, master_cf=CF, users=USERS, start=False,
                          extra=per_run("virtual_alias_domains = virt.example\n" + extra))
    for name, text in tables.items():
        with open(os.path.join(inst.config_dir, name), "w") as f:
            f.write(per_run(text))
    inst.start()
    inst.wait_log(r"daemon started")
    return inst


def send(inst, sender, rcpts, subject, port="smtp", expect=250):
    s = smtplib.SMTP("127.0.0.1", inst.port(port), timeout=30)
    try:
        s.ehlo("client.example")
        assert s.mail(sender)[0] == 250
        for r in rcpts:
            code, resp = s.rcpt(per_run(r))
            assert code == 250, (r, resp)
        code, resp = s.data(("Subject: %s\r\nFrom: <%s>\r\n\r\nbody\r\n" % (subject, sender))
                            .encode())
        assert code == expect, resp
        m = re.search(rb"queued as (\w+)", resp)
        return m.group(1).decode() if m else resp.decode()
    finally:
        s.quit()


def copies(user, subject):
    return [read(f) for f in maildir_new(per_run(user)) if "\nSubject: %s\n" % subject in read(f)]


def test_virtual_alias_fanout_and_recursion(instance):
    inst = make(instance, "virtual_alias_maps = texthash:{tmp}/etc/virtual\n",
                 {"virtual": "info@virt.example  list@virt.example, tester@mta-test.example\n"
                             "list@virt.example  tester2@mta-test.example, tester3\n"})
    qid = send(inst, "a@client.example", ["info@virt.example"], "fanout")
    for u in ("tester", "tester2", "tester3"):
        wait_maildir(inst, per_run(u))
        (text,) = copies(u, "fanout")
        assert per_run("Delivered-To: %s@mta-test.example" % u) in text
    for u in ("tester", "tester2", "tester3"):
        inst.wait_log(per_run(r"%s: to=<%s@mta-test\.example>, orig_to=<info@virt\.example>, "
                              r"relay=local, .*status=sent" % (qid, u)))
    wait_queue_empty(inst)


def test_virtual_alias_recursion_limit_defers(instance):
    inst = make(instance, "virtual_alias_maps = texthash:{tmp}/etc/virtual\n"
                 "virtual_alias_recursion_limit = 2\n",
                 {"virtual": "a@virt.example b@virt.example\nb@virt.example c@virt.example\n"
                             "c@virt.example tester@mta-test.example\n"})
    r = send(inst, "x@client.example", ["a@virt.example"], "deep", expect=451)
    assert "4.3.0" in r
    inst.wait_log(r"warning: \w+: unreasonable virtual_alias_maps map nesting for "
                  r"\w@virt\.example -- message not accepted, try again later")
    assert copies("tester", "deep") == []


def test_canonical_sender_and_recipient_and_masquerade(instance):
    inst = make(instance, "sender_canonical_maps = texthash:{tmp}/etc/scanon\n"
                 "recipient_canonical_maps = texthash:{tmp}/etc/rcanon\n"
                 "masquerade_domains = mta-test.example\n",
                 {"scanon": "joe@client.example  Joe.Doe@host.mta-test.example\n",
                  "rcanon": "someone@virt.example  tester@mta-test.example\n"})
    qid = send(inst, "joe@client.example", ["someone@virt.example"], "canon")
    wait_maildir(inst, per_run("tester"))
    (text,) = copies("tester", "canon")
    # canonical, then masquerading (host.mta-test.example -> mta-test.example)
    assert text.startswith("Return-Path: <Joe.Doe@mta-test.example>\n"), text[:200]
    # header_sender: the From header too, its layout kept
    assert "\nFrom: <Joe.Doe@mta-test.example>\n" in text, text
    inst.wait_log(r"%s: from=<Joe\.Doe@mta-test\.example>, size=\d+" % qid)
    inst.wait_log(per_run(r"%s: to=<tester@mta-test\.example>, orig_to=<someone@virt\.example>")
                  % qid)


def test_bcc_maps_and_always_bcc(instance):
    inst = make(instance, "always_bcc = tester3@mta-test.example\n"
                 "sender_bcc_maps = texthash:{tmp}/etc/sbcc\n",
                 {"sbcc": "boss@client.example tester2@mta-test.example\n"})
    send(inst, "boss@client.example", ["tester@mta-test.example"], "bcc")
    for u in ("tester", "tester2", "tester3"):
        wait_maildir(inst, per_run(u))
        assert len(copies(u, "bcc")) == 1, u
    # the null sender (a bounce) gets no BCC copies
    send(inst, "", ["tester@mta-test.example"], "nobcc")
    wait_maildir(inst, per_run("tester"), 2)
    wait_queue_empty(inst)
    assert copies("tester3", "nobcc") == []


def test_sendmail_and_no_address_mappings_listener(instance):
    inst = make(instance, "canonical_maps = texthash:{tmp}/etc/canon\n",
                 {"canon": "alias.tester@mta-test.example tester@mta-test.example\n"
                           "@client.example @mta-test.example\n"})
    r = subprocess.run([os.path.join(BIN, "sendmail"), "-i", "-f", "u@client.example",
                        per_run("tester@mta-test.example")],
                       input=b"Subject: viasendmail\n\nbody\n",
                       env=dict(os.environ, MAIL_CONFIG=inst.config_dir),
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    wait_maildir(inst, per_run("tester"))
    (text,) = copies("tester", "viasendmail")
    assert text.startswith("Return-Path: <u@mta-test.example>\n"), text[:200]
    # The second listener: no canonical mapping at all.
    send(inst, "v@client.example", ["tester@mta-test.example"], "raw", port="raw")
    wait_maildir(inst, per_run("tester"), 2)
    (text,) = copies("tester", "raw")
    assert text.startswith("Return-Path: <v@client.example>\n"), text[:200]
    assert "\nFrom: <v@client.example>\n" in text, text


def test_smtp_generic_maps_rewrite_the_envelope_on_output(instance, smtp_sink):
    from agent_helpers import deliver, message
    cf = "smtp unix - - n - - smtp\n"
    inst = instance(master_cf=cf, main_cf_extra="smtp_generic_maps = texthash:{tmp}/etc/generic\n",
                    start=False)
    with open(os.path.join(inst.config_dir, "generic"), "w") as f:
        f.write("joe@mta-test.example  joe.public@isp.test\n@mta-test.example @isp.test\n")
    inst.start()
    inst.wait_log(r"daemon started")
    headers = (b"Reply-To: \"Joe (home)\" <joe@mta-test.example>\n"
               b"Cc: ann@mta-test.example,\n\t\"joe@mta-test.example\" <x@dest.test>\n"
               b"X-Note: joe@mta-test.example\n")
    body = b"From: joe@mta-test.example\n\n--\nFrom: joe@mta-test.example in the body\n"
    qid, res = deliver(inst, "[127.0.0.1]:%d" % smtp_sink.port, "joe@mta-test.example",
                       ["ann@mta-test.example", "x@dest.test"],
                       message(body, extra_headers=headers))
    assert res["x@dest.test"][0] == "sent", res
    smtp_sink.wait_for(1)
    raw = smtp_sink.messages()[0]
    assert b"X-Mail-Args: <joe.public@isp.test>" in raw, raw[:400]
    assert b"X-Rcpt-Args: <ann@isp.test>" in raw and b"X-Rcpt-Args: <x@dest.test>" in raw
    # Primary address headers too (Postfix's smtp_header_rewrite); display
    # names, comments, folding, other headers and the body are kept.
    assert b'\nReply-To: "Joe (home)" <joe.public@isp.test>\n' in raw, raw
    assert (b'\nCc: ann@isp.test,\n\t"joe@mta-test.example" <x@dest.test>\n'
            in raw), raw
    assert b"\nX-Note: joe@mta-test.example\n" in raw
    assert b"\nFrom: joe@mta-test.example in the body\n" in raw
    assert b"\n\nFrom: joe@mta-test.example\n\n--\n" in raw  # a body line, not a header
    # the log names the recipient as queued, like Postfix
    inst.wait_log(r"%s: to=<ann@mta-test\.example>, relay=127\.0\.0\.1" % qid)


def test_listener_override_reaches_cleanup_for_header_checks(instance):
    """smtpd -o receive_override_options travels to cleanup in the open
    request: no_header_body_checks on one listener only."""
    cf = PIPELINE_CF + "127.0.0.1:{port_raw} inet n - n - - smtpd\n" \
        "  -o receive_override_options=no_header_body_checks\n"
    inst = start_pipeline(instance, master_cf=cf, users=USERS, start=False,
                          extra="header_checks = regexp:{tmp}/etc/hc\n")
    with open(os.path.join(inst.config_dir, "hc"), "w") as f:
        f.write("/^Subject: blockme/ REJECT not here\n")
    inst.start()
    inst.wait_log(r"daemon started")
    r = send(inst, "a@client.example", ["tester@mta-test.example"], "blockme", expect=550)
    assert "not here" in r
    send(inst, "a@client.example", ["tester@mta-test.example"], "blockme", port="raw")
    wait_maildir(inst, per_run("tester"))
    assert len(copies("tester", "blockme")) == 1
