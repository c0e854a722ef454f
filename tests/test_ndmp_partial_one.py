"""One ndmp_partial per control connection for the holes the sniffer left, both
directions in it (trial 25 D11: one finding per direction, against the contract's "one
finding per control connection"; and "(3 times)" read as three holes or three messages).

Built from captures/lab/clean-3-resources.pcap without frames 12 (the agent's reply to
CONFIG_GET_HOST_INFO) and 13 (the media server's CONFIG_GET_SERVER_INFO request).
"""

from __future__ import annotations

from pathlib import Path

from lab_edits import analyze_lab, lab_packets, write

from flowcheck.ndmp.findings import StreamFindings
from flowcheck.ndmp.stream import NdmpStreamDecoder
from flowcheck.ndmp.stream_events import NEED_DATA, DecodeProblem

NAME = "clean-3-resources"


def test_holes_of_both_directions_are_one_finding(tmp_path: Path) -> None:
    packets = lab_packets(NAME)
    path = write(tmp_path, "both-holes", [*packets[:11], *packets[13:]])
    analysis = analyze_lab(path, NAME)
    [partial] = [f for f in analysis.findings if f.code == "ndmp_partial"]
    assert partial.uid == "C1" and partial.session == "S1"
    assert partial.frames == sorted(partial.frames) and len(partial.frames) == 2
    message = partial.message
    assert message.startswith("NDMP control stream is incomplete in both directions")
    originator = message.index("From the originator, 28 B were never captured, in 1 hole")
    responder = message.index("From the responder, 92 B were never captured, in 1 hole")
    assert originator < message.index("whole message of the originator") < responder
    assert responder < message.index("whole message of the responder")
    assert "times)" not in message


def test_several_holes_are_counted_as_holes() -> None:
    findings = StreamFindings("C1")
    for frame, size in ((9, 32), (192, 28), (198, 36)):
        findings.problem("resp", DecodeProblem("cut", f"{size} B never captured",
                                               [frame], float(frame), missing=size))
    findings.problem("orig", DecodeProblem("cut", "stream ended inside a record", [300],
                                           300.0))
    _, [partial] = findings.build()
    assert partial.frames == [9, 192, 198, 300] and partial.ts == 9.0
    assert "times)" not in partial.message
    assert "From the originator, the stream ended inside a record" in partial.message
    assert "From the responder, 96 B were never captured, in 3 holes" in partial.message


def test_one_direction_keeps_its_words() -> None:
    findings = StreamFindings("C2")
    findings.problem("orig", DecodeProblem("cut", "52 B never captured", [5], 5.0,
                                           missing=52))
    findings.problem("orig", DecodeProblem("skipped", "rest", [6], 5.0, skipped=40))
    _, [partial] = findings.build()
    assert partial.message.startswith(
        "NDMP control stream from the originator is incomplete: messages there are partial "
        "or missing. From the originator, 52 B were never captured, in 1 hole; after the "
        "hole, 40 B were the rest of the messages a hole broke")


def test_snap_length_and_holes_are_one_finding() -> None:
    """A connection the snap length cut that also lost packets: the snap summary says
    both, with the fix for both (one finding per control connection)."""
    findings = StreamFindings("C1")
    findings.snap.packet(40)
    findings.snapped(7, 0.2)
    findings.problem("resp", DecodeProblem("cut", "48 B never captured", [9], 0.5,
                                           missing=48))
    snap, built = findings.build()
    assert built == [snap] and snap is not None and snap.frames == [7, 9] and snap.ts == 0.2
    assert snap.message.startswith("The capture's snap length cut")
    assert "From the responder, 48 B were never captured, in 1 hole" in snap.message
    assert "tcpdump -s 0" in snap.fix and "without drops" in snap.fix


def test_a_holes_bytes_are_its_field_not_its_words() -> None:
    """The bytes of a hole ride the decoder's event (DecodeProblem.missing): the finding
    counts them whatever the detail's words (ndmp.findings read them back out of "N
    bytes never captured" with a regex, which a rewording, words61's "N B", broke
    silently: a hole then counted as the stream's end)."""
    decoder = NdmpStreamDecoder()
    findings = StreamFindings("C1")
    for frame, size in ((3, 1448), (5, 2000)):
        decoder.receive_data(b"\x80\x00\x00\x40" + bytes(10), frame - 1, float(frame))
        decoder.receive_gap(size, frame, float(frame))
    decoder.receive_eof()
    while (event := decoder.next_event()) is not NEED_DATA:
        if isinstance(event, DecodeProblem):
            findings.problem("resp", event)
    _, [partial] = findings.build()
    assert "From the responder, 3,448 B were never captured, in 2 holes" in partial.message
    assert "the stream ended inside a record" not in partial.message
    # The words are the detail's alone: a hole reworded counts the same.
    other = StreamFindings("C2")
    other.problem("orig", DecodeProblem("cut", "a hole", [7], 7.0, missing=52))
    other.problem("orig", DecodeProblem("cut", "stream ended inside a record", [9], 9.0))
    _, [partial] = other.build()
    assert ("From the originator, 52 B were never captured, in 1 hole, and the stream "
            "ended inside a record") in partial.message


def test_the_snap_summary_is_told_by_its_reading_not_its_words() -> None:
    """verify.ring_holes and verify.cut_frames leave ndmp_partial's snap-length summary
    alone (not a stream hole's) and rewrite a hole's: they told the two apart by the
    summary's opening words, a literal copied from ndmp.findings (task lossfield); now by
    Finding.reading. Reworded, each is still told: a ring hole spanned by the connection
    rewrites the hole's finding only."""
    from dataclasses import replace

    from flowcheck.model import Connection, RingGap
    from flowcheck.verify.ring_holes import explain_ring_holes

    snapped = StreamFindings("C1")
    snapped.snap.packet(40)
    snapped.snapped(7, 0.2)
    snap, _ = snapped.build()
    holed = StreamFindings("C1")
    holed.problem("resp", DecodeProblem("cut", "48 B never captured", [9], 0.5, missing=48))
    _, [hole] = holed.build()
    assert snap is not None and snap.reading == "snap_summary" and hole.reading == ""
    conn = Connection("C1", "10.77.0.1", 40000, "10.77.0.2", 10000, 1.0, last_ts=9.0)
    gap = RingGap("ring1.pcap", "ring3.pcap", 4.0, 5.0)
    findings = [replace(snap, message="reworded."), replace(hole, message="reworded.")]
    kept, rewritten = explain_ring_holes(findings, [conn], [gap])
    assert kept.message == "reworded."
    assert rewritten.message.startswith("reworded. The connection spans ")
