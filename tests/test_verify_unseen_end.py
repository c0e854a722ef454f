"""A request never acknowledged, answered nor resent while the capture went on:
`control_end_unseen` (warning), not a silent pass (trial 25 D8).

TCP resends data its peer does not acknowledge after its retransmission timeout, so a
request the capture shows neither acknowledged nor resent, on a connection that stayed
open while the capture went on, means the sniffer missed packets: the resends (the
control connection stalled: control_stalled on a full capture) or the peer's ACK and
answer. The trial's capture: a job whose control connection was cut after DATA_STOP,
the resends removed; it passed with no warning.

Built from captures/lab/clean-3-resources.pcap: frame 212 is the media server's
DATA_STOP after the first resource's NOTIFY_DATA_HALTED (frame 213 the agent's reply).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lab_edits import analyze_lab, lab_packets, last_from, segment, write
from scapy.all import IP

NAME = "clean-3-resources"
MEDIA_PORT = 5039


def _unacked_then_later(tmp_path: Path, wait: str) -> Path:
    """DATA_STOP (frame 212) never acknowledged; the capture goes on `wait` s after it
    with a packet of an unrelated conversation (its last packet)."""
    packets = lab_packets(NAME, 212)
    other = segment(last_from(packets, MEDIA_PORT, 10000), "S", 1000, 0,
                    packets[-1].time + Decimal(wait))
    other[IP].src, other[IP].dst = "10.99.0.1", "10.99.0.2"
    other.sport, other.dport = 40000, 80
    return write(tmp_path, f"unacked-{wait}", [*packets, other])


@pytest.mark.parametrize("profile", ["backup-exec-9", "ndmp"])
def test_an_unacknowledged_request_never_resent_is_a_warning(tmp_path: Path,
                                                             profile: str) -> None:
    analysis = analyze_lab(_unacked_then_later(tmp_path, "30"), NAME, profile)
    [unseen] = [f for f in analysis.findings if f.code == "control_end_unseen"]
    assert str(unseen.severity) == "warning" and unseen.frames == [212]
    assert unseen.message.startswith(
        "The media server 10.77.0.1 sent DATA_STOP (frame 212) on the control connection "
        "10.77.0.1:5039 -> 10.77.0.2:10000; the capture went on 30 s after it with no "
        "acknowledgement, no answer and no resend of it")
    assert "the sniffer missed packets" in unseen.message
    assert "How the session ended is not in the capture" in unseen.message
    # Every step the capture shows worked, but the control connection is still open
    # after resource 1 of the 3 configured: the others cannot be seen (trial 32).
    assert analysis.verdict == "inconclusive"
    assert "stopped after resource 1 of 3" in analysis.sessions[0].steps[3].detail


def test_a_capture_that_ends_within_the_retransmission_timeouts_says_nothing(
        tmp_path: Path) -> None:
    analysis = analyze_lab(_unacked_then_later(tmp_path, "2"), NAME, "ndmp")
    assert "control_end_unseen" not in {f.code for f in analysis.findings}
