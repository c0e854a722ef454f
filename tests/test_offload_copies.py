"""Trial 33 D1: both hosts' captures given together, the senders with checksum offload:
a sender's capture holds its own packets with partial TCP checksums (the pseudo-header's
sum), the other point the same packets with their real checksums. Such a packet seen at
both points is one packet (copies.py, points.py), and a sender's resend (a later packet
at the same point) stays a resend. tests/data/trial33-offload (README there)."""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

DATA = Path(__file__).resolve().parent / "data" / "trial33-offload"


def analysis(name: str, suffix: str = "") -> Analysis:
    config = build_config(load_file(DATA / f"{name}.toml"))
    paths = [str(DATA / f"{name}.{point}{suffix}.pcap") for point in ("a", "m")]
    return analyze(read_traffic(paths, config), config)


def data_step(result: Analysis, words: str) -> str:
    [session] = result.sessions
    return next(s.detail for s in session.steps if words in s.name)


def test_a_syn_seen_at_both_points_is_one_syn() -> None:
    """The data connection's one SYN, the media server's copy with a partial checksum:
    two SYNs over 0.0 s read as an unanswered connection (data_unanswered, a false
    FAIL); the capture ends there, so the connection's answer is not yet in it."""
    result = analysis("clean-3-resources.tso-none", ".upto-data-syn")
    [data] = [c for c in result.traffic.connections if c.resp_p == 6001]
    assert data.syn_retries == 0
    assert len(data.syn_frames) == 1
    assert "data_unanswered" not in {f.code for f in result.findings}
    assert result.verdict != "fail"


def test_syn_retries_seen_at_both_points_are_counted_once() -> None:
    """Four SYNs sent (the first and three retries a second and more apart), each seen
    at both points: four, not eight, and the two points' reading (the agent's own
    firewall drops them) holds."""
    result = analysis("data-port-dropped.tso-none")
    [data] = [c for c in result.traffic.connections if c.resp_p == 6001]
    assert data.syn_retries == 3
    assert "4 SYNs over 3.1 s" in data_step(result, "data connection")
    [finding] = [f for f in result.findings if f.code == "data_unanswered"]
    assert "10.77.0.2's own firewall drops them" in finding.message
