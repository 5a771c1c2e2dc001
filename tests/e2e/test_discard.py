"""The discard: transport (Postfix's discard(8); this master.cf has no
discard service, so qmgr decides in-process as the agent would -- the agent
itself is tested in test_pipe.py): the recipient counts as delivered, the
next hop is the logged reason."""
from conftest import per_run
from delivery_helpers import maildir_new, smtp_send, start_pipeline, wait_maildir, wait_queue_empty


def test_transport_maps_and_default_transport_discard(instance):
    inst = start_pipeline(
        instance,
        extra="transport_maps = inline:{{discard.example=discard:silently}}\n"
              "default_transport = discard\n")
    qid = smtp_send(inst, "user@yahoo.com",
                    ["a@discard.example", "b@elsewhere.example", per_run("tester@mta-test.example")],
                    "Subject: d\r\n\r\nbody\r\n")
    # Postfix 3.7 discard(8): relay=none, dsn=2.0.0, the nexthop as the text
    inst.wait_log(r"%s: to=<a@discard\.example>, relay=none, delay=[\d.]+, "
                  r"delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=2\.0\.0, status=sent \(silently\)"
                  % qid, timeout=20)
    # default_transport = discard (no nexthop): the recipient domain
    inst.wait_log(r"%s: to=<b@elsewhere\.example>, relay=none, .*dsn=2\.0\.0, "
                  r"status=sent \(elsewhere\.example\)" % qid, timeout=20)
    wait_maildir(inst, per_run("tester"))
    inst.wait_log(r"%s: removed" % qid, timeout=20)
    wait_queue_empty(inst)
    assert len(maildir_new(per_run("tester"))) == 1
    assert "status=bounced" not in inst.log() and "status=deferred" not in inst.log()
