"""Configured media servers and agents against the hosts the capture shows."""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.model import Severity
from flowcheck.pipeline import analyze, read_traffic

NDMJOB = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
CAPTURE = str(NDMJOB / "v4-backup.pcap")


def _findings(**overrides: object) -> list:
    config = build_config(load_file(NDMJOB / "flowcheck.toml"), overrides)
    return analyze(read_traffic([CAPTURE], config), config).findings


def test_matching_hosts_say_nothing() -> None:
    assert not [f for f in _findings() if f.code == "host_not_configured"]


def test_a_session_between_other_hosts_is_a_warning() -> None:
    findings = [f for f in _findings(media_servers=["10.0.0.9"], remote_agents=["10.0.0.8"])
                if f.code == "host_not_configured"]
    assert len(findings) == 2  # the media server and the agent
    assert all(f.severity == Severity.WARNING and f.session == "S1" for f in findings)
    assert "10.77.0.1" in findings[0].message and "10.0.0.9" in findings[0].message
    assert "--media-server" in findings[0].fix and "--remote-agent" in findings[1].fix


def test_several_configured_addresses_any_matches() -> None:
    findings = _findings(media_servers=["10.0.0.9", "10.77.0.1"])
    assert not [f for f in findings if f.code == "host_not_configured"]
