"""bench/bench.py --quick: ours and Debian's Postfix side by side, every
scenario (local S=1/10/50, outbound relay to smtp-sink, sendmail loop, a
restriction list, OpenDKIM as milter, 100 recipients per message, 1 MiB
messages, many messages per connection, local S=20, a drain of a queue
to smtp-sink, paced new mail on the empty queue and behind a deferred
backlog) with a handful of messages, so the benchmark cannot
silently rot. No timing is asserted: CI machines are too noisy for that;
bench/README.md says how to run the real thing."""
import json
import os
import subprocess
import sys
import tempfile

import pytest

import peers
from conftest import BUILD, REPO


def test_bench_quick(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    try:
        peers.ensure_postfix_tree()
    except peers.PeerError as e:
        pytest.skip(f"Debian's postfix not available: {e}")
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, os.path.join(REPO, "bench", "bench.py"), "--quick",
                        "--no-build", "--json", str(out)],
                       env=dict(os.environ, MTA_BUILD_DIR=BUILD), capture_output=True,
                       text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(out.read_text())
    assert set(report["scenarios"]) == {"local1", "local10", "local50", "outbound", "sendmail",
                                        "restrict10", "local10dkim", "rcpt100", "big1m",
                                        "conn100", "local20n10k", "backlog", "drain10k"}
    for name, results in report["scenarios"].items():
        assert [x["mta"] for x in results] == ["postfix", "ours"], name
        for x in results:
            assert x["delivered"] == x["messages"], (name, x)
    # rcpt100: one message, 100 deliveries (user+1 .. user+100) each.
    assert [x["messages"] for x in report["scenarios"]["rcpt100"]] == [100, 100]
    assert {x["size"] for x in report["scenarios"]["big1m"]} == {1 << 20}
    for x in report["scenarios"]["backlog"]:
        run = x["runs"][0]
        # The backlog was there before and is still deferred after the run.
        assert run["backlog"] > 0 and run["deferred_after"] >= run["backlog"], run
        # The same paced load on the empty queue, measured first.
        assert 0 <= run["lat_empty_p50_ms"] <= run["lat_empty_p99_ms"], run
    # drain10k: everything was deferred first, the flush delivered all.
    assert {x["messages"] for x in report["scenarios"]["drain10k"]} == {30}
    # Latency (end of DATA to the file in new/) for every S=10 Maildir shape:
    # one value per delivered file of the probe or of our own client.
    for name in ("local10", "conn100", "big1m", "rcpt100", "backlog"):
        for x in report["scenarios"][name]:
            lat = x["runs"][0]["latency"]
            assert lat and lat["n"] > 0 and 0 <= lat["p50"] <= lat["p99"], (name, x)
    assert "ours" in report["ratios"]["local20n10k"]
    assert report["scenario_disk_limit"]["big1m"] > 0
    assert report["disk_limit_per_s"]["writers_1"] > 0
    # On ext4 without a journal every run says how dear a create was before
    # it (recently deleted inodes, bench.settle_inode_allocator).
    sys.path.insert(0, os.path.join(REPO, "bench"))
    import bench
    if bench.ext4_without_journal(tempfile.gettempdir()):
        assert report["inode_allocator_start"]["create_us"] > 0
        for name, results in report["scenarios"].items():
            for x in results:
                assert all(run["create_us"] > 0 for run in x["runs"]), (name, x)
    assert "ours" in report["ratios"]["local10"]
    # Every run's user is gone again (their Maildirs went with the bench's
    # directory at the end).  Only this run's: other sessions' benches may
    # be running on the same machine.
    created = set(report["users_created"])
    assert len(created) == 2 * len(report["scenarios"])
    with open("/etc/passwd") as f:
        assert not [line for line in f if line.split(":")[0] in created]
