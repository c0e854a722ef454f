"""Gaps in a capture of one direction: named, hedged, never the sniffer's alone nor a drop.

newuser60 (note58 Left 0): a slice of the 1 GB sniffer-loss capture to the data sender's
packets (`-Y ip.src==SENDER`) said nothing of the holes the same frames show with both
directions (there capture_loss names them, the receiver's ACKs proving the sniffer's
loss): its gaps came less than a retransmission timeout before the capture's end, so
none was counted (SideEvidence.untold) and capture_loss was left out. Here the same with
captures/ndmjob/v4-backup.pcap: two of the agent's data segments removed (the sniffer's
loss), then each direction kept alone, as `tcpdump -Q` or a display filter cut it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pcap_records import read_records, write_records
from stored import stored_analysis

from flowcheck.model import Finding
from flowcheck.pipeline import Analysis

NDMJOB = Path(__file__).resolve().parents[1] / "captures" / "ndmjob"
AGENT, MEDIA = bytes([10, 77, 0, 2]), bytes([10, 77, 0, 1])  # data sender, receiver
LOST = {40, 62}  # two of the agent's 1448-byte data segments (tcp.seq 12537, 27473)


@pytest.fixture(scope="module")
def cuts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Analysis]:
    """v4-backup without LOST, analysed whole ("both"), with the agent's packets only
    ("sender") and with the media server's only ("receiver")."""
    folder = tmp_path_factory.mktemp("one-way-loss")
    linktype, records = read_records(NDMJOB / "v4-backup.pcap")
    kept = [r for number, r in enumerate(records, 1) if number not in LOST]
    ways = {"both": kept, "sender": [r for r in kept if r.data[26:30] == AGENT],
            "receiver": [r for r in kept if r.data[26:30] == MEDIA]}
    return {name: stored_analysis(write_records(folder / f"{name}.pcap", linktype, cut),
                                  config_path=NDMJOB / "flowcheck.toml")
            for name, cut in ways.items()}


def _loss(analysis: Analysis) -> Finding | None:
    found = [f for f in analysis.findings if f.code == "capture_loss"]
    assert len(found) <= 1
    return found[0] if found else None


def _words(finding: Finding) -> str:
    return " ".join(f"{finding.message} {finding.fix}".split())


def test_both_directions_blame_the_sniffer(cuts: dict[str, Analysis]) -> None:
    """The control: with the receiver's ACKs the gaps are the sniffer's."""
    loss = _loss(cuts["both"])
    assert loss is not None
    assert "2,896 B of TCP payload in 2 gaps" in _words(loss)
    assert "so the sniffer lost them, not the network" in _words(loss)


def test_the_senders_direction_alone_names_its_gaps_hedged(
        cuts: dict[str, Analysis]) -> None:
    """The agent's packets alone: the same 2,896 B in 2 gaps named (there was no
    capture_loss), as the sender's stream's, who lost them left open, no drop claimed;
    the fix asks for both directions first. Its severity is the payload share's, as
    with both directions (contract: warning above 0.1%)."""
    analysis = cuts["sender"]
    codes = [f.code for f in analysis.findings]
    assert "capture_one_direction" in codes
    loss = _loss(analysis)
    assert loss is not None, codes
    words = _words(loss)
    assert ("The capture missed 2,896 B of TCP payload in 2 gaps (at least as many "
            "segments) of the sender's stream across 1 connection whose receiver's packets "
            "the capture does not hold, one direction") in words
    assert ("who lost them cannot be told without the other direction: the sniffer, or "
            "the network before the capture point") in words
    assert "all of them came less than a retransmission timeout" in words
    assert "the sniffer lost them" not in words and "dropped" not in words
    assert "10.77.0.2:6015 -> 10.77.0.1:5014: 2,896 B in 2 gaps" in words
    assert loss.fix.startswith("Capture both directions")
    assert loss.severity == _loss(cuts["both"]).severity == "warning"
    assert analysis.verdict == "pass"  # the gaps judge no step
    # No other finding reads the gaps as the sniffer's (silent_end: Census.missed).
    assert not any("shows sniffer loss" in f.message for f in analysis.findings)


def test_the_receivers_direction_alone_claims_no_loss(cuts: dict[str, Analysis]) -> None:
    """The media server's packets alone: its ACKs cover every byte the agent sent (none
    captured, so no gap of the sender's stream shows, and the receiver got them all):
    nothing to name as lost, by the sniffer or the network; capture_one_direction says
    what the capture lacks."""
    analysis = cuts["receiver"]
    assert _loss(analysis) is None
    assert "capture_one_direction" in [f.code for f in analysis.findings]
    assert analysis.verdict == "pass"
