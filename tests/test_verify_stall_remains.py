"""A stall's evidence in captures that hold less than the whole job (field check 20, D1):
the resent, never-acknowledged segments still prove the path stopped delivering.

Built from stored captures of failed jobs:
- captures/ndmjob-pmtu/v4-pmtu-blackhole-at-agent (data_stalled: the agent resends its
  first 1448 B segment 12 times over 26 s): kept to the agent's packets (a capture of one
  direction: the media server's ACKs are not in it), or cut at 75% of its frames (8
  resends, the capture ending 2 s after the first: too soon to judge, yet no pass).
- captures/ndmjob-idle/idle-drop-restore-media (control_stalled: the media server's
  control FIN resent 4 times, never answered): kept to the media server's packets,
  started late (the first 10% / 30% of frames dropped: no handshake, no DATA_START), or
  with one early control message lost by the sniffer (capture loss before the stall).
All read as PASS.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_edits import sent_by
from pcap_records import Record, read_records, tcp_of, write_records
from stored import stored_analysis

from flowcheck.pipeline import Analysis

ROOT = Path(__file__).resolve().parent.parent
PMTU = ROOT / "captures" / "ndmjob-pmtu" / "v4-pmtu-blackhole-at-agent.pcap"
IDLE = ROOT / "captures" / "ndmjob-idle" / "idle-drop-restore-media.pcap.gz"
MEDIA, AGENT = "10.77.0.1", "10.77.1.2"


def _errors(analysis: Analysis) -> set[str]:
    return {f.code for f in analysis.findings if str(f.severity) == "error"}


def _step(analysis: Analysis, number: int) -> str:
    [step] = [s for s in analysis.sessions[0].steps if s.step == number]
    return step.status


def _kept(tmp_path: Path, capture: Path, name: str, keep: slice) -> Path:
    """The frames `keep` of capture (a capture started late or stopped early)."""
    linktype, records = read_records(capture)
    return write_records(tmp_path / f"{name}.pcap", linktype, records[keep])


def _control_request(record: Record) -> bool:
    """A TCP segment to port 10000 with payload in the capture."""
    tcp = tcp_of(record.data)
    return tcp is not None and tcp.dport == 10000 and tcp.payload > 0


def _analyze(path: Path, capture: Path) -> Analysis:
    name = capture.name.removesuffix(".gz").rsplit(".", 1)[0]
    return stored_analysis(path, config_path=capture.with_name(f"{name}.toml"))


def test_the_senders_resends_alone_are_data_stalled(tmp_path: Path) -> None:
    """The agent's packets only: 12 resends of its first segment over 26 s, no ACK of the
    media server in the capture at all. The sender's TCP waited a timeout before each:
    no ACK reached it, whether the data or the ACKs were lost on the way."""
    analysis = _analyze(sent_by(tmp_path, PMTU, AGENT), PMTU)
    assert analysis.verdict == "fail"
    assert _errors(analysis) == {"data_stalled"}
    [error] = [f for f in analysis.findings if f.code == "data_stalled"]
    assert "(12 retransmissions, the first in frame" in error.message
    assert f"holds no packet of the media server {MEDIA} on this connection" in error.message
    assert _step(analysis, 4) == "failed"


def test_resends_the_capture_stopped_soon_after_are_unknown_not_ok(tmp_path: Path) -> None:
    """Stopped at 75% of the frames: 8 resends, never acknowledged, the capture ending 2 s
    after the first (less than the retransmission timeout): the stall is not proven, but
    the data step cannot read ok."""
    frames = len(read_records(PMTU)[1])
    analysis = _analyze(_kept(tmp_path, PMTU, "stop75", slice(0, frames * 75 // 100)), PMTU)
    assert analysis.verdict == "inconclusive"
    assert _step(analysis, 4) == "unknown"
    [step] = [s for s in analysis.sessions[0].steps if s.step == 4]
    assert "resent 8 times" in step.detail and "never acknowledged" in step.detail


@pytest.mark.parametrize("late", [10, 30])
def test_a_close_resent_into_the_void_in_a_capture_started_late(tmp_path: Path,
                                                                late: int) -> None:
    """The capture starts after the job did (no handshake, no DATA_START_RECOVER): the
    data flowed, then the media server's control FIN was resent 4 times, never
    answered."""
    frames = len(read_records(IDLE)[1])
    path = _kept(tmp_path, IDLE, f"late{late}", slice(frames * late // 100, None))
    analysis = _analyze(path, IDLE)
    assert analysis.verdict == "fail"
    assert _errors(analysis) == {"control_stalled"}


def test_a_close_resent_into_the_void_in_one_direction(tmp_path: Path) -> None:
    """The media server's packets only: its control FIN resent 4 times."""
    plain = _kept(tmp_path, IDLE, "whole", slice(None))  # tcpdump reads no .gz
    analysis = _analyze(sent_by(tmp_path, plain, MEDIA), IDLE)
    assert analysis.verdict == "fail"
    assert _errors(analysis) == {"control_stalled"}


def test_sniffer_loss_before_the_stall_leaves_it_proven(tmp_path: Path) -> None:
    """One control message of the media server lost by the sniffer early in the job (a
    gap in the control stream 30 s before the close): the FIN resent 4 times at the end
    is still in the capture."""
    linktype, records = read_records(IDLE)
    lost = [i for i, record in enumerate(records) if _control_request(record)][3]
    path = write_records(tmp_path / "lost-one.pcap", linktype, records[:lost] + records[lost + 1:])
    analysis = _analyze(path, IDLE)
    control_conn = analysis.traffic.connections[0]
    assert control_conn.missed_bytes > 0
    assert analysis.verdict == "fail"
    assert _errors(analysis) == {"control_stalled"}
