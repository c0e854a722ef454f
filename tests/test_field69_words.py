"""Words field check 69 (seed 132) read wrong, each a count's grammar: range_too_small's
"has 1 ports; a job of 1 resources" (verify/capacity.py), "all 2 data connections closed
cleanly" for both (verify/clean_close.py)."""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.verify.clean_close import clean_close_words

ROOT = Path(__file__).resolve().parent.parent


def test_a_one_port_range_and_a_one_resource_job_read_singular() -> None:
    config = build_config({"agent_range": "6015", "media_range": "5001-5100",
                           "resources": 1, "profile": "backup-exec-9"})
    analysis = analyze(read_traffic([str(ROOT / "captures/ndmjob/v4-backup.pcap")], config),
                       config)
    [small] = [f for f in analysis.findings if f.code == "range_too_small"]
    assert "has 1 port; a job of 1 resource needs at least 2 there" in small.message


def test_two_data_connections_closed_cleanly_read_both() -> None:
    config = build_config({})
    analysis = analyze(read_traffic([str(ROOT / "captures/lab/clean-3-resources.pcap")],
                                    config), config)
    data = [c for c in analysis.traffic.connections if c.role == "data"]
    assert len(data) == 3
    assert clean_close_words(data[:2]).startswith("; both data connections closed cleanly")
    assert clean_close_words(data).startswith("; all 3 data connections closed cleanly")
