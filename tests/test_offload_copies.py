"""Trial 33 D1: both hosts' captures given together, the senders with checksum offload:
a sender's capture holds its own packets with partial TCP checksums (the pseudo-header's
sum), the other point the same packets with their real checksums. Such a packet seen at
both points is one packet (copies.py, points.py), and a sender's resend (a later packet
at the same point) stays a resend. tests/data/trial33-offload (README there)."""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.model import Connection
from flowcheck.pipeline import Analysis, analyze, read_traffic

DATA = Path(__file__).resolve().parent / "data" / "trial33-offload"
# Each job's configuration, named after one of its captures (the pytest plugin reports a
# NAME.toml with no capture NAME beside it as orphaned).
CONFIGS = {"clean-3-resources.tso-none": "clean-3-resources.tso-none.m.upto-data-syn.toml",
           "data-port-dropped.tso-none": "data-port-dropped.tso-none.m.toml",
           "restore-2-resources.tso-none": "restore-2-resources.tso-none.rany.first-data.toml"}


def analysis(name: str, suffix: str = "") -> Analysis:
    config = build_config(load_file(DATA / CONFIGS[name]))
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
    assert "4 SYNs over 3.08 s" in data_step(result, "data connection")
    [finding] = [f for f in result.findings if f.code == "data_unanswered"]
    assert "10.77.0.2's own firewall drops them" in finding.message


def data_connection(paths: list[Path], name: str) -> Connection:
    config = build_config(load_file(DATA / CONFIGS[name]))
    [data] = [c for c in read_traffic([str(p) for p in paths], config).connections
              if c.resp_p == 6001]
    return data


def test_super_frames_at_one_point_segments_at_the_other_count_once() -> None:
    """Trial 33 D3: the agent's capture holds its data as TSO super-frames, the media
    server's as the wire's segments: the segments read as retransmissions of the
    super-frames' bytes (92 of them), the bytes counted twice. The segments are the
    packets sent; each super-frame is their copy."""
    name = "clean-3-resources.tso-none"
    wire = data_connection([DATA / f"{name}.m.first-data.pcap.gz"], name)
    both = data_connection([DATA / f"{name}.{p}.first-data.pcap.gz" for p in ("a", "m")],
                           name)
    assert wire.retransmits == 0
    assert both.retransmits == 0
    assert both.resp_bytes - both.resp_copy_bytes == wire.resp_bytes


def test_a_routers_ingress_super_frames_are_copies_of_its_egress_segments() -> None:
    """`tcpdump -i any` on the router: the ingress interface holds the media server's
    super-frames (TTL 64), the egress one the segments (TTL 63): each byte once, none
    retransmitted (46 "retransmitted" before)."""
    data = data_connection([DATA / "restore-2-resources.tso-none.rany.first-data.pcap.gz"],
                           "restore-2-resources.tso-none")
    assert data.retransmits == 0
    assert 0 < data.orig_copy_bytes < data.orig_bytes
