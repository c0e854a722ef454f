"""FINs the sniffer missed are said as FINs in capture_loss, not as bytes of TCP payload
(trial 25 D6: "The capture missed 2 bytes of TCP payload in 2 gaps" for two FINs whose
ACKs the capture holds).

Built from captures/lab/clean-3-resources.pcap without frames 638 and 639: the agent's
FINs of the callback (10.77.0.2:6077 -> 10.77.0.1:5001) and of the control connection;
the media server's own FINs after them (frames 639 and 641 of the cut file) acknowledge
them.
"""

from __future__ import annotations

from pathlib import Path

from lab_edits import analyze_lab, lab_packets, write

NAME = "clean-3-resources"


def _loss(tmp_path: Path, removed: list[int]):
    packets = lab_packets(NAME)
    kept = [p for n, p in enumerate(packets, 1) if n not in removed]
    analysis = analyze_lab(write(tmp_path, "no-fins", kept), NAME)
    [loss] = [f for f in analysis.findings if f.code == "capture_loss"]
    # Its time is its first frame's, not the first connection's start (trial 25 D6).
    assert loss.ts == float(kept[loss.frames[0] - 1].time)
    return analysis, loss


def test_missed_fins_are_fins(tmp_path: Path) -> None:
    analysis, loss = _loss(tmp_path, [638, 639])
    assert loss.message.startswith("The capture missed 2 FINs (connection ends) across 2 "
                                   "connections")
    assert "B of TCP payload" not in loss.message.split(". ")[0]  # the share's words only
    assert "control connection C1 10.77.0.1:5039 -> 10.77.0.2:10000: its FIN" in loss.message
    assert {c.uid: c.fins_unseen for c in analysis.traffic.connections
            if c.fins_unseen} == {"C1": 1, "C2": 1}


def test_a_missed_fin_beside_missed_payload(tmp_path: Path) -> None:
    _, loss = _loss(tmp_path, [100, 639])  # a data segment of C3, and the control's FIN
    assert loss.message.startswith("The capture missed 1,448 B of TCP payload in 1 gap")
    assert "and 1 FIN (a connection's end)" in loss.message
