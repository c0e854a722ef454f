"""Field check 70's lab matrix (captures/field70-matrix, README.md there), seed 133.

Run 15: a Backup Exec backup over IPv4, the media server's stateless output chain
dropping its callback SYN-ACKs, both hosts captured with `tcpdump -i any` (LINUX_SLL2)
and merged, cut to 96 bytes: 24 B of each packet's TCP payload, the record mark and the
NDMP header's first 20 bytes, all but its last word (the error code). Every record was
counted lost ("the capture's snap length cut the header of about 12 NDMP record(s) ...
which messages they were ... cannot be seen") and steps 3-5 read unknown "the capture's
snap length cut every NDMP message of the control connection (capture with tcpdump
-s 0)", though the message codes were in the capture: NOTIFY_CONNECTED to the
CONNECT_CLOSE that shows the job stopped after its callback failed. A record that kept
its header but the error word is now a partial message (flowcheck.ndmp.stream,
RawMessage.error_cut), a reply's error unknown.
"""

from __future__ import annotations

import struct
from pathlib import Path

from stored import shared_analysis, stopped_at_failed_callback
from test_ndmp_messages import MOVER_LISTEN
from test_ndmp_snaplen import HALTED, LISTEN_REPLY, cut_stream, feed

from flowcheck.ndmp.stream_events import DecodeProblem, RawMessage

HERE = Path(__file__).resolve().parents[1] / "captures" / "field70-matrix"
LAST = 0x80000000  # a record mark's last-fragment bit
SLL2_S96 = HERE / "callback-synacks-dropped-by-media-out-both-sll2-s96.pcap.gz"


def test_a_header_cut_only_in_its_error_word_still_names_its_message() -> None:
    """4 + 20 bytes kept: the message's code and sequences are read, its error is not
    (a reply's error unknown, not NDMP_NO_ERR); 4 + 19 bytes kept: the record is lost."""
    for bytewise in (False, True):
        found = feed(cut_stream([LISTEN_REPLY, HALTED], keep=4 + 20), bytewise)
        assert not [e for e in found if isinstance(e, DecodeProblem)]
        listen, halted = [e for e in found if isinstance(e, RawMessage)]
        assert (listen.code, listen.reply_sequence, listen.error) == (MOVER_LISTEN, 6, 0)
        assert listen.error_cut and listen.partial and listen.snapped and not listen.body
        assert listen.body_len == len(LISTEN_REPLY) - 28
        assert (halted.code, halted.sequence, halted.error_cut) == (0x501, 8, True)
        lost = feed(cut_stream([LISTEN_REPLY, HALTED], keep=4 + 19), bytewise)
        assert [e.kind for e in lost if isinstance(e, DecodeProblem)] == ["lost", "lost"]
        assert not [e for e in lost if isinstance(e, RawMessage)]


def test_framing_lost_in_a_two_record_packet_is_found_again_at_a_24_byte_cut() -> None:
    """A packet of two records, the second's mark in the cut part, loses framing; the
    next packets, each one record of which the capture kept the mark and 20 header
    bytes, start records again (as 28 kept bytes let _scan see): read, not lost. A
    packet whose first bytes do not start a record that ends within it stays lost."""
    packets = [LISTEN_REPLY + HALTED, HALTED, LISTEN_REPLY]
    for bytewise in (False, True):
        found = feed(cut_stream(packets, keep=4 + 20), bytewise)
        assert [e.kind for e in found if isinstance(e, DecodeProblem)] == ["lost"]
        assert [(m.code, m.error_cut) for m in found if isinstance(m, RawMessage)] == [
            (MOVER_LISTEN, True), (0x501, True), (MOVER_LISTEN, True)]
        # The second packet's record longer than the packet: not a proven start.
        longer = [LISTEN_REPLY + HALTED, LISTEN_REPLY[:30], HALTED]
        found = feed([(p[:24], len(p)) for p in longer], bytewise)
        assert [e.kind for e in found if isinstance(e, DecodeProblem)] == ["lost", "lost"]
        assert [m.code for m in found if isinstance(m, RawMessage)] == [MOVER_LISTEN, 0x501]


def test_a_24_byte_cut_starts_a_record_only_where_it_fills_its_packet() -> None:
    """review62b: the bytes a cut packet kept after framing was lost are a record start
    only when its mark's length ends the record at the packet's end (one record a
    packet, as peers write them). A segment of a longer record whose first 24 bytes read
    as a plausible header (zero-heavy binary data: a vendor-code request, 100 B, in a
    1448-byte segment) was taken as a record and a message invented (about 7 in 20,000
    such segments of synthetic XDR-like data, none with the length matched)."""
    lookalike = struct.pack(">6I", LAST | 100, 7, 0x5F000000, 0, 0xF001, 0)
    segment = lookalike + bytes(1448 - len(lookalike))
    packets = [LISTEN_REPLY + HALTED, segment, HALTED]
    for bytewise in (False, True):
        found = feed(cut_stream(packets, keep=4 + 20), bytewise)
        assert [e.kind for e in found if isinstance(e, DecodeProblem)] == ["lost", "lost"]
        assert [m.code for m in found if isinstance(m, RawMessage)] == [MOVER_LISTEN, 0x501]


def test_a_snap_length_that_kept_the_message_codes_reads_the_job_stop() -> None:
    """The callback failed and the media server sent CONNECT_CLOSE: steps 3-5 not
    reached, as at full length, no step asking for tcpdump -s 0, and the replies'
    errors unknown rather than NDMP_NO_ERR."""
    analysis = shared_analysis(SLL2_S96)
    session = stopped_at_failed_callback(analysis)
    assert "snap length" not in (session.kind_unknown_why or "")
    [stream] = analysis.traffic.streams
    names = [m.name for m in stream.messages]
    assert names[0] == "NDMP_NOTIFY_CONNECTED" and names[-1] == "NDMP_CONNECT_CLOSE"
    assert len(names) == 12 and not stream.snap_lost
    replies = [m for m in stream.messages if m.type == "reply"]
    assert replies and all(m.error_unknown and m.error_name is None for m in replies)
    [partial] = [f for f in analysis.findings if f.code == "ndmp_partial"]
    assert "12 NDMP message(s) kept their header but its last word" in partial.message
    assert "could not be read at all" not in partial.message


def test_a_24_byte_cut_after_framing_was_lost_still_reads_the_agents_replies() -> None:
    """A clean 2-resource backup, `-i any -s 96` on the media server: the agent's frame
    210 holds two records, the second's mark cut; its later replies (the second
    DATA_LISTEN's, frame 215) are read again, so both data connections are the job's
    and the job passes, where every agent record after frame 210 was lost (C4 an
    unannounced_connection) or every record of both directions (inconclusive, main)."""
    analysis = shared_analysis(HERE / "clean-backup-on-media-sll2-s96.pcap.gz")
    assert analysis.verdict == "pass"
    assert not [f for f in analysis.findings if f.code == "unannounced_connection"]
    [session] = analysis.sessions
    assert [step.status for step in session.steps] == ["ok"] * 5
    [stream] = analysis.traffic.streams
    listens = [(m.frame, m.type) for m in stream.messages if m.name == "NDMP_DATA_LISTEN"]
    assert listens == [(20, "request"), (21, "reply"), (214, "request"), (215, "reply")]
    assert stream.snap_lost == 2  # the two records whose marks frames 210 and 439 cut
