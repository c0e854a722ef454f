"""Each control connection's table of packet ACKs (ndmp.control_packets.ControlPackets
.payload_acks, read by ack_of) holds only the packets whose bytes may still start a
message: without a hole a few entries whatever the session's length, not the newest
4,096 per direction kept to the run's end (review 51c: ~0.8 MB per long session). The
ACKs read stay those of each request's own record-mark packet (NdmpStream.request_acks).
"""

from __future__ import annotations

import copy

from test_ndmp_wire import REPLY, REQUEST, greeting, msg, u32

from flowcheck.ndmp import NdmpCollector

SYN, ACK = 0x02, 0x10
CONNECT_OPEN, DATA_GET_STATE, LOG_MESSAGE = 0x900, 0x400, 0x603
POLLS = 3000  # well past the 4,096 packets per direction the table kept


class _Feed:
    """Feeds one control connection to a collector in capture order, each packet
    carrying the ACK of everything its peer sent so far."""

    def __init__(self) -> None:
        self.collector = NdmpCollector()
        self.frame = 0
        self.seq = {"orig": 1000, "resp": 5000}
        self.largest = 0  # the table's largest size seen after any packet
        for direction in ("orig", "resp"):
            self.packet(direction, SYN, b"")
            self.seq[direction] += 1

    def packet(self, direction: str, flags: int, payload: bytes, *, skip: bool = False) -> int:
        """One packet (`skip`: its bytes sent but the capture lacks it); its frame."""
        self.frame += 1
        peer = "resp" if direction == "orig" else "orig"
        if not skip:
            self.collector.segment("C1", direction, self.seq[direction],  # type: ignore[arg-type]
                                   flags, payload, self.frame, self.frame / 1000,
                                   ack=self.seq[peer] if flags & ACK else None)
            control = self.collector._controls["C1"]
            self.largest = max([self.largest, *map(len, control.packets.payload_acks.values())])
        self.seq[direction] += len(payload)
        return self.frame


def _session(feed: _Feed) -> dict[int, int]:
    """A v4 session polling POLLS times, every tenth request split over two packets with
    a LOG_MESSAGE of the agent's between them; request frame -> the ACK its record-mark
    packet carried."""
    feed.packet("resp", ACK, greeting(4))
    feed.packet("orig", ACK, msg(1, REQUEST, CONNECT_OPEN, u32(4)))
    feed.packet("resp", ACK, msg(2, REPLY, CONNECT_OPEN, u32(0), reply_sequence=1))
    expected: dict[int, int] = {}
    for n in range(POLLS):
        sequence = 10 + 2 * n
        request = msg(sequence, REQUEST, DATA_GET_STATE)
        expected[feed.frame + 1] = feed.seq["resp"]
        if n % 10 == 0:
            feed.packet("orig", ACK, request[:12])
            feed.packet("resp", ACK, msg(sequence + 1, REQUEST, LOG_MESSAGE,
                                         u32(0) + u32(n) + u32(4) + b"poll"))
            feed.packet("orig", ACK, request[12:])
        else:
            feed.packet("orig", ACK, request)
        feed.packet("resp", ACK, msg(sequence + 1, REPLY, DATA_GET_STATE, u32(0),
                                     reply_sequence=sequence))
    return expected


def _held_requests(feed: _Feed, count: int, first: int) -> dict[int, int]:
    """`count` requests of the media server's (message sequence numbers from `first`,
    every other one), each followed by a LOG_MESSAGE of the agent's, behind a hole fed
    before: request frame -> the ACK its packet carried (all different: the agent's
    messages come between)."""
    held: dict[int, int] = {}
    for n in range(count):
        sequence = first + 2 * n
        held[feed.frame + 1] = feed.seq["resp"]
        feed.packet("orig", ACK, msg(sequence, REQUEST, DATA_GET_STATE))
        feed.packet("resp", ACK, msg(sequence + 1, REQUEST, LOG_MESSAGE,
                                     u32(0) + u32(n) + u32(4) + b"held"))
    return held


def test_the_table_stays_small_without_holes() -> None:
    feed = _Feed()
    expected = _session(feed)
    assert feed.largest <= 32  # of over POLLS payload packets each way (3,302 before)
    (stream,) = feed.collector.streams()
    polls = [m for m in stream.messages if m.type == "request" and m.code == DATA_GET_STATE]
    assert len(polls) == POLLS
    assert {m.frame: stream.request_acks[m.frame] for m in polls} == expected
    # Closed and decoded: nothing kept.
    assert not feed.collector._controls["C1"].packets.payload_acks


def test_a_hole_keeps_the_held_requests_own_acks() -> None:
    """The media server's packet the capture lacks holds its next requests back until
    the hole is given up (the end of the capture here): each still reads its own
    packet's ACK, though the agent's replies came in between."""
    feed = _Feed()
    _session(feed)
    feed.packet("orig", ACK, msg(90_001, REQUEST, DATA_GET_STATE), skip=True)
    held = _held_requests(feed, 200, 100_000)
    (stream,) = feed.collector.streams()
    after = {m.frame: stream.request_acks[m.frame] for m in stream.messages
             if m.type == "request" and m.frame in held}
    assert after == held
    assert len(set(held.values())) == len(held)  # each packet's own, all different


def test_the_table_shrinks_after_a_long_hole() -> None:
    """A hole holding back more requests than the table keeps (4,096: the oldest lose
    their own ACK, as before), then filled by the lost packet's retransmission: the table
    goes back to a few entries for the rest of the connection, not the 4,096 it held
    (7c88939d waited for it to double past what the hole kept, beyond that cap)."""
    feed = _Feed()
    feed.packet("resp", ACK, greeting(4))
    feed.packet("orig", ACK, msg(1, REQUEST, CONNECT_OPEN, u32(4)))
    lost, start = msg(3, REQUEST, DATA_GET_STATE), feed.seq["orig"]
    feed.packet("orig", ACK, lost, skip=True)
    for n in range(4200):
        feed.packet("orig", ACK, msg(100 + 2 * n, REQUEST, DATA_GET_STATE))
    feed.frame += 1  # the retransmission, at the lost packet's sequence number
    feed.collector.segment("C1", "orig", start, ACK, lost, feed.frame, feed.frame / 1000,
                           ack=feed.seq["resp"])
    control = feed.collector._controls["C1"]
    feed.largest = 0
    for n in range(5000):
        feed.packet("orig", ACK, msg(20_000 + 2 * n, REQUEST, DATA_GET_STATE))
    assert len(control.packets.payload_acks["orig"]) <= 32


def test_a_copy_of_the_collector_prunes_by_its_own_hole() -> None:
    """live's snapshot works on a copy.deepcopy of the collector (flowcheck.live
    _certain_findings) and feeds it more packets: the copy's prune asks what the copy's
    own reassembly and decoder hold. Before, _Control.held was a closure over the
    original's, which the copy shares (deepcopy copies no function): the original had no
    hole, so the copy's held requests lost their ACKs at the first prune."""
    feed = _Feed()
    feed.packet("resp", ACK, greeting(4))
    feed.packet("orig", ACK, msg(1, REQUEST, CONNECT_OPEN, u32(4)))
    original = feed.collector
    feed.collector = copy.deepcopy(original)
    feed.packet("orig", ACK, msg(3, REQUEST, DATA_GET_STATE), skip=True)
    held = _held_requests(feed, 40, 100)  # past the 16 entries a prune waits for, twice
    (stream,) = feed.collector.streams()
    after = {m.frame: stream.request_acks.get(m.frame) for m in stream.messages
             if m.type == "request" and m.frame in held}
    assert after == held
    # The original, fed none of them, holds none.
    assert not original._controls["C1"].packets.payload_acks.get("orig", {}).keys() & held
