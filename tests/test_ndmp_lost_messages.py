"""An ndmp_partial for a hole the sniffer left names the messages the hole held, by the
NDMP sequence numbers around it and the requests never answered, and gives no snap
length advice for a capture that cut no frame (trial 25 D10: the lost DATA_LISTEN reply,
an announcement, went unnamed, and "tcpdump -s 0" was advised for a full snap length).

Built from captures/lab/clean-3-resources.pcap without frame 21, the agent's reply to
DATA_LISTEN (frame 20) that announced 10.77.0.2:6001; frame 25 of the cut file (26 of the
whole) is the agent's next packet, its reply to DATA_START_BACKUP.
"""

from __future__ import annotations

from pathlib import Path

from lab_edits import analyze_lab, lab_packets, write

from flowcheck.ndmp.findings import StreamFindings
from flowcheck.ndmp.stream import DecodeProblem

NAME = "clean-3-resources"


def test_the_lost_announcement_is_named(tmp_path: Path) -> None:
    packets = lab_packets(NAME)
    path = write(tmp_path, "no-announce", [*packets[:20], *packets[21:]])
    analysis = analyze_lab(path, NAME)
    [partial] = [f for f in analysis.findings if f.code == "ndmp_partial"]
    assert partial.frames == [25]
    assert ("The bytes never captured held 1 whole message of the responder, between its "
            "messages in frames 16 and 25 (NDMP sequence numbers 6 and 8): the reply to "
            "DATA_LISTEN (frame 20)") in partial.message
    assert "an announcement: the address it gave is not in the capture" in partial.message
    assert "-s 0" not in partial.fix and "snap length" not in partial.fix
    assert "tcpdump -B 65536" in partial.fix


def test_a_snap_length_cut_keeps_its_advice() -> None:
    findings = StreamFindings("C1")
    findings.snap.packet(40)
    findings.problem("resp", DecodeProblem("cut", "48 bytes never captured", [9], 0.5))
    _, built = findings.build()
    hole = next(f for f in built if "never captured" in f.message)
    assert "tcpdump -s 0" in hole.fix


def test_the_announcing_replies_are_the_collectors() -> None:
    from flowcheck.ndmp.collector import ANNOUNCERS
    from flowcheck.ndmp.lost import ANNOUNCED_BY_REPLY

    assert {name for name, reply in ANNOUNCERS if reply} == ANNOUNCED_BY_REPLY
