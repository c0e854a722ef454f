"""A callback or data connection whose opening packets the sniffer lost is still the
session's (field check D1 after trial 26).

The good job behind a masquerade (captures/lab-trial26-nat/nat-snat-ports-at-A: the
media server at 10.88.0.254 with the NAT's ports 400xx, the agent calling back the job
engine's own address 10.77.0.1) passes because its callback shows the media server
under two addresses. With the callback's SYN lost (editcap of frame 17) the callback
was left "other", step 2 read "no callback in the capture" and the NAT's ports failed
the media range. An ordinary lab job (captures/lab/clean-3-resources) with the same
losses must keep its callback and data connections too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.all import rdpcap, wrpcap

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
SNAT = CAPTURES / "lab-trial26-nat" / "nat-snat-ports-at-A"
CLEAN = CAPTURES / "lab" / "clean-3-resources"


def _without(tmp_path: Path, capture: Path, frames: set[int]) -> Path:
    """The capture less the given frames (1-based, as editcap and tshark count them): a
    sniffer that lost those packets."""
    packets = [p for number, p in enumerate(rdpcap(str(capture)), start=1)
               if number not in frames]
    out = tmp_path / f"{capture.name.split('.')[0]}-lost.pcap"
    wrpcap(str(out), packets)
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
