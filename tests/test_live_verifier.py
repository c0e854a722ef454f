"""Live verification reports a finding while the capture is still running."""

from __future__ import annotations

from pathlib import Path

from live_feed import run_held_back

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

NDMJOB = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
CAPTURE = NDMJOB / "v4-three-resources.pcap"
# The third session reuses agent port 6015 at 6.2 s; the bulk of the file is read by
# 6.5 s (this byte offset); 19 closing packets (6.5 s to 9.3 s) follow.
HELD_BACK_FROM = 6_577_340


def test_finding_reported_before_the_capture_ends() -> None:
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    events, released = run_held_back(config, CAPTURE.read_bytes(), HELD_BACK_FROM,
                                     lambda event: event.kind == "finding")
    assert released
    assert events[0].kind == "finding" and events[0].finding.code == "port_reused_within_hold"
    assert events[-1].kind == "report"
    # The live report equals the offline analysis of the same capture.
    offline = analyze(read_traffic([str(CAPTURE)], config), config)
    final = events[-1].analysis
    assert [f.as_dict() for f in final.findings] == [f.as_dict() for f in offline.findings]
    assert [s.as_dict() for s in final.sessions] == [s.as_dict() for s in offline.sessions]
    assert [c.as_dict() for c in final.traffic.connections] == \
           [c.as_dict() for c in offline.traffic.connections]
    reported = [e.finding.as_dict() for e in events if e.kind == "finding"]
    assert sorted(map(str, reported)) == sorted(str(f.as_dict()) for f in offline.findings)
