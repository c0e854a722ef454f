"""capture_loss names the opening handshake packets the sniffer missed of a connection
that went on (recheck 25 N3: a data connection whose SYN, SYN-ACK or whole handshake the
capture lacked passed with no capture-loss finding, only step 4's detail saying so).

Built from captures/lab/clean-3-resources.pcap: frames 1-3 are the control connection's
handshake, 21 the DATA_LISTEN reply announcing 10.77.0.2:6001, 22-24 the handshake of the
data connection to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_edits import analyze_lab, lab_packets, write
from scapy.all import TCP

from flowcheck.findings import Severity

NAME = "clean-3-resources"


def _loss(tmp_path: Path, left_out: set[int]):
    packets = lab_packets(NAME)
    kept = [p for number, p in enumerate(packets, 1) if number not in left_out]
    analysis = analyze_lab(write(tmp_path, "cut", kept), NAME)
    assert analysis.verdict == "pass"
    return [f for f in analysis.findings if f.code == "capture_loss"]


@pytest.mark.parametrize(("left_out", "uid", "words", "frames"), [
    ({22}, "C3", "data connection C3 10.77.0.1:5002 -> 10.77.0.2:6001: its SYN, which the "
     "SYN-ACK of frame 22 answers", [22]),
    ({2}, "C1", "control connection C1 10.77.0.1:5039 -> 10.77.0.2:10000: its SYN-ACK, "
     "answering the SYN of frame 1", [1]),
    ({22, 23, 24}, "C3", "its handshake: it reached the endpoint DATA_LISTEN (frame 21) "
     "announced, so it opened after that, and its first packet captured is frame 24",
     [21, 24]),
])
def test_a_missed_opening_is_capture_loss(tmp_path: Path, left_out: set[int], uid: str,
                                          words: str, frames: list[int]) -> None:
    [loss] = _loss(tmp_path, left_out)
    assert loss.severity == Severity.INFO and loss.uid == uid and loss.frames == frames
    assert loss.message.startswith("The capture missed opening handshake packets of 1 "
                                   "connection that went on without them")
    assert "so the sniffer lost them, not the network" in loss.message
    assert words in loss.message


def test_a_capture_that_starts_with_the_syn_ack_missed_nothing(tmp_path: Path) -> None:
    """The SYN came before the capture started: no loss."""
    assert _loss(tmp_path, {1}) == []


def test_the_handshake_ack_alone_is_no_finding(tmp_path: Path) -> None:
    """The handshake's last ACK takes no sequence number, and nothing proves its absence
    was the sniffer's more than any pure ACK's (Zeek counts none)."""
    assert _loss(tmp_path, {24}) == []


def test_a_syn_in_a_ring_hole_is_the_hole_s() -> None:
    from flowcheck.model import Connection, RingGap
    from flowcheck.verify.openings import missed_openings

    first = Connection("C1", "10.0.0.1", 5001, "10.0.0.2", 10000, ts=100.0)
    conn = Connection("C2", "10.0.0.1", 5002, "10.0.0.2", 6001, ts=200.0, history="^hAdF",
                      synack_frames=[50], synack_ts=200.0, first_frame=50)
    assert [o.conn.uid for o in missed_openings([first, conn], {})] == ["C2"]
    hole = RingGap("ring1", "ring3", start=150.0, end=199.9)
    assert missed_openings([first, conn], {}, [hole]) == []
    earlier = RingGap("ring1", "ring3", start=110.0, end=120.0)  # over a minute before
    assert len(missed_openings([first, conn], {}, [earlier])) == 1


@pytest.mark.parametrize("before", ["0.00013", "0.984"])
def test_a_syn_ack_soon_after_the_capture_began_may_answer_an_earlier_syn(
        tmp_path: Path, before: str) -> None:
    """Trial 32's late captures (tcpdump dropped nothing): the SYN-ACK of frame 3 came
    0.13 ms after the capture's first packet, and a callback's SYN-ACK 0.98 s after it was
    the responder's resend (its first lost by the network) of the answer to a SYN sent
    37 ms before the capture began. A SYN may lie up to a minute of retries before its
    SYN-ACK: within that of the capture's start, its absence is no sniffer loss."""
    from decimal import Decimal

    from lab_edits import segment

    packets = lab_packets(NAME)
    synack = packets[1]
    other = segment(synack, "A", 1000, 2000, Decimal(str(synack.time)) - Decimal(before))
    other[TCP].sport, other[TCP].dport = 22, 40022
    kept = [other] + packets[1:]
    analysis = analyze_lab(write(tmp_path, "late", kept), NAME)
    assert [f for f in analysis.findings if f.code == "capture_loss"] == []
