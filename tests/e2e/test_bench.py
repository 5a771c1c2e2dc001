"""bench/bench.py --quick: ours and Debian's Postfix side by side, every
scenario (local S=1/10/50, outbound relay to smtp-sink, sendmail loop, a
restriction list, OpenDKIM as milter) with a
handful of messages, so the benchmark cannot silently rot. No timing is
asserted: CI machines are too noisy for that; bench/README.md says how to
run the real thing."""
import json
import os
import subprocess
import sys

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
                                        "restrict10", "local10dkim"}
    for name, results in report["scenarios"].items():
        assert [x["mta"] for x in results] == ["postfix", "ours"], name
        for x in results:
            assert x["delivered"] == x["messages"], (name, x)
    assert report["disk_limit_per_s"]["writers_1"] > 0
    assert "ours" in report["ratios"]["local10"]
    # Every run's user is gone again (their Maildirs went with the bench's
    # directory at the end).
    with open("/etc/passwd") as f:
        assert not [line for line in f if line.startswith("mtb")]
