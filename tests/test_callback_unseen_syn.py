"""A callback or data connection whose opening packets the sniffer lost is still the
session's (field check D1 after trial 26).

The good job behind a masquerade (captures/lab-trial26-nat/nat-snat-ports-at-A: the
media server at 10.88.0.254 with the NAT's ports 400xx, the agent calling back the job
engine's own address 10.77.0.1) passes because its callback shows the media server
under two addresses. With the callback's SYN lost (editcap of frame 17) the callback
was left "other", step 2 read "no callback in the capture" and the NAT's ports failed
the media range. An ordinary lab job (captures/lab/clean-3-resources) with the same
losses must keep its callback and data connections too. With no callback in the capture
at all, nothing tells the NAT's ports from the media server's: not judged, not failed;
a media server seen binding inside the range there still fails on its other ports.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.all import TCP
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.verify.context import Context
from flowcheck.verify.ranges import nat_unread_applies

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
SNAT = CAPTURES / "lab-trial26-nat" / "nat-snat-ports-at-A"
CLEAN = CAPTURES / "lab" / "clean-3-resources"


def _without(tmp_path: Path, capture: Path, frames: set[int]) -> Path:
    """The capture less the given frames (1-based, as editcap and tshark count them): a
    sniffer that lost those packets."""
    packets = [p for number, p in enumerate(read_packets(str(capture)), start=1)
               if number not in frames]
    out = tmp_path / f"{capture.name.split('.')[0]}-lost.pcap"
    write_packets(str(out), packets)
    return out


def _analyze(path: Path, toml: Path) -> Analysis:
    config = build_config(load_file(toml))
    return analyze(read_traffic([str(path)], config), config)


def _codes(analysis: Analysis) -> list[str]:
    return sorted(f.code for f in analysis.findings)


# Frames of nat-snat-ports-at-A: 17 the callback's SYN, 18 its SYN-ACK, 22 and 23 the
# first data connection's.
@pytest.mark.parametrize("lost", [{17}, {17, 22}, {17, 18}, {17, 18, 22, 23}],
                         ids=["callback-syn", "callback-and-data-syn", "callback-handshake",
                              "callback-and-data-handshake"])
def test_masqueraded_job_passes_without_its_callbacks_syn(tmp_path: Path,
                                                          lost: set[int]) -> None:
    capture = _without(tmp_path, SNAT.with_suffix(".pcap.gz"), lost)
    analysis = _analyze(capture, SNAT.with_suffix(".toml"))
    assert analysis.verdict == "pass", _codes(analysis)
    assert "port_outside_media_range" not in _codes(analysis)
    assert "control_port_outside_media_range" not in _codes(analysis)
    if 18 not in lost:  # the SYN-ACK proves the SYN was sent and lost
        assert "capture_loss" in _codes(analysis)
    session = analysis.sessions[0]
    steps = {s.step: s for s in session.steps}
    assert steps[2].status == "ok", steps[2].detail
    assert "10.77.0.1" in steps[4].detail and "the port of a NAT" in steps[4].detail
    roles = {c.uid: c.role for c in analysis.traffic.connections}
    assert roles[session.callback_uid] == "callback"
    assert [roles[uid] for uid in session.data_connections] == ["data", "data"]


# Frames of clean-3-resources: 17 the callback's SYN, 18 its SYN-ACK, 22 and 23 the first
# data connection's.
@pytest.mark.parametrize("lost", [{17, 22}, {17, 18, 22, 23}],
                         ids=["syns", "handshakes"])
def test_ordinary_job_keeps_callback_and_data_without_their_syns(tmp_path: Path,
                                                                 lost: set[int]) -> None:
    capture = _without(tmp_path, CLEAN.with_suffix(".pcap"), lost)
    analysis = _analyze(capture, CLEAN.with_suffix(".toml"))
    assert analysis.verdict == "pass", _codes(analysis)
    session = analysis.sessions[0]
    assert [s.status for s in session.steps] == ["ok"] * 5
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    callback = by_uid[session.callback_uid]
    assert (callback.role, callback.resp_p) == ("callback", 5001)
    assert sorted(by_uid[uid].resp_p for uid in session.data_connections) == \
        [6001, 6002, 6003]


def _without_port(tmp_path: Path, capture: Path, port: int) -> Path:
    """The capture less every TCP packet to or from `port`: a connection the sniffer lost
    whole, or a capture filter left out."""
    packets = [p for p in read_packets(str(capture))
               if TCP not in p or port not in (p[TCP].sport, p[TCP].dport)]
    out = tmp_path / f"{capture.name.split('.')[0]}-no{port}.pcap"
    write_packets(str(out), packets)
    return out


def test_masqueraded_job_without_its_callback_is_no_failure(tmp_path: Path) -> None:
    # Without its callback nothing in the capture tells the NAT's ports 400xx from the
    # media server's own: the ports are not judged, the job is not failed on a guess.
    capture = _without_port(tmp_path, SNAT.with_suffix(".pcap.gz"), 6099)
    analysis = _analyze(capture, SNAT.with_suffix(".toml"))
    assert analysis.verdict == "inconclusive", _codes(analysis)
    assert not {"port_outside_media_range", "control_port_outside_media_range"} & \
        set(_codes(analysis))
    steps = {s.step: s for s in analysis.sessions[0].steps}
    assert steps[2].status == "unknown"
    assert steps[4].status == "unknown"
    assert "not judged, its own port or a NAT's" in steps[4].detail
    assert "not judged, its own port or a NAT's" in steps[1].detail


@pytest.mark.parametrize("lost_callback", [False, True], ids=["whole", "callback-lost"])
def test_media_ports_outside_the_range_still_fail(tmp_path: Path,
                                                  lost_callback: bool) -> None:
    # The control connection's port 5039 inside 5030-5100 shows the media server's own
    # binding at that address: its data ports 5002-5004 outside are its own, callback
    # or not.
    capture = CLEAN.with_suffix(".pcap")
    if lost_callback:
        capture = _without_port(tmp_path, capture, 6077)
    config = build_config({**load_file(CLEAN.with_suffix(".toml")),
                           "media_range": "5030-5100"})
    analysis = analyze(read_traffic([str(capture)], config), config)
    assert analysis.verdict == "fail"
    assert _codes(analysis).count("port_outside_media_range") == 3 + (not lost_callback)
    assert analysis.sessions[0].steps[3].status == "violated"


def test_nat_unread_applies_only_without_callback_or_media_servers(tmp_path: Path) -> None:
    # verify.ranges.nat_unread_applies, the guard of note_nat_unread and nat_unread: a
    # session with its callback, or a configured media server, never has its ports left
    # unjudged; one without its callback and no media server configured may.
    lost = _without_port(tmp_path, SNAT.with_suffix(".pcap.gz"), 6099)
    for capture, overrides, applies in ((SNAT.with_suffix(".pcap.gz"), {}, False),
                                        (lost, {}, True),
                                        (lost, {"media_servers": ["10.77.0.1"]}, False)):
        config = build_config({**load_file(SNAT.with_suffix(".toml")), **overrides})
        analysis = analyze(read_traffic([str(capture)], config), config)
        assert analysis.profile is not None
        ctx = Context(analysis.traffic.connections, analysis.traffic.streams,
                      analysis.sessions, config, analysis.profile)
        [session] = analysis.sessions
        assert nat_unread_applies(ctx, session) is applies, (capture.name, overrides)
