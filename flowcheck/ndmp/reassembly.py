"""TCP byte-stream reassembly for one direction of a tapped connection.

Bytes are delivered in sequence order from the SYN's ISN (or, the SYN not captured, from
the sequence number the peer's SYN-ACK acknowledged: start_at; the SYN-ACK not captured
either, from the peer's handshake ACK when the direction's first segment begins there:
expect_start; else from the first data segment's sequence number). Out-of-order
segments wait; data already
delivered (retransmissions, overlaps) is trimmed. A hole waits for its resend until it is
filled, or it is known it never will be: the connection's end (`close`), or a bound no
resend comes after (`PATIENCE_WINDOW` bytes of sequence space past the hole, or
`PATIENCE_SECONDS` of capture time since the first segment after it). Then the caller
hears a `Gap` and decoding resumes after it. Each delivered chunk keeps the frame and
timestamp of the segment it came in.

A segment the snap length cut (`wire_len` longer than its captured payload) is not a
hole: its length on the wire is exact, so the stream stays aligned. Its chunk carries
`cut`, the count of bytes after `data` that the capture did not keep.

Bytes lost after the last segment captured leave no segment after them, yet the
direction's FIN (its sequence number is the byte after its data, RFC 9293 3.4) or the
peer's ACKs (`peer_acked`) prove they were sent: at `close` they are a last `Gap`, as the
connection table counts them (flowcheck.connections.accounting: a FIN opens a hole, an
ACK beyond the last byte is missed bytes; one sequence number ACKed beyond it, no FIN
captured, is that FIN, not a byte).
"""

from __future__ import annotations

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.ndmp.keepalive import FIN, SYN  # TCP flags (SegmentSink.segment)

_MOD = 1 << 32
_HALF = 1 << 31
# When a hole that is still open will not be filled (RFC 9293 3.8.1, RFC 6298).
# Sequence space: a sender never runs more than the receiver's window ahead of the first
# byte the receiver lacks, so data this far past the hole means the receiver had the
# hole's bytes (the sniffer alone lost them: no resend will come). Loss on the path
# before the capture point is resent after the whole flight in flight (trial 14: up to
# 51 segments, 74 KB, on a LAN); 8 MiB is above the windows Linux autotuning opens
# (tcp_rmem's 6 MiB maximum) and is the memory a hole may hold per direction.
PATIENCE_WINDOW = 8 * 1024 * 1024
# Time: a resend comes after one retransmission timeout, doubled per lost resend (RFC
# 6298 5.5: 0.2 s minimum on Linux, 1 s by the RFC); 60 s covers six lost resends.
PATIENCE_SECONDS = 60.0


@fields_dataclass(slots=True)
class Chunk:
    """Payload bytes delivered in order: where they came (frame, time in seconds) and the
    bytes the snap length cut after them."""

    data: bytes
    frame: int
    ts: float
    cut: int = 0  # bytes on the wire after `data` that the snap length left out

    @property
    def span(self) -> int:
        """Stream bytes the chunk stands for, captured or not."""
        return len(self.data) + self.cut


@fields_dataclass(slots=True)
class Gap:
    """A hole in a direction's payload: bytes never captured before the frame after it."""

    missing: int  # bytes never captured
    frame: int  # the first frame after the hole
    ts: float


Delivery = Chunk | Gap


class Reassembler:
    """In-order delivery of one direction's payload; memory is the out-of-order backlog."""

    def __init__(self) -> None:
        self._next: int | None = None  # stream offset of the next byte to deliver
        self._anchor_seq = 0  # sequence number at stream offset _anchor_off
        self._anchor_off = 0
        self._pending: dict[int, Chunk] = {}  # stream offset -> segment waiting
        self._pending_bytes = 0
        self._pending_end = 0  # stream offset just after the farthest segment waiting
        self._hole_ts: float | None = None  # when the open hole was first seen
        self.start_known = False  # its SYN seen, or the peer's SYN-ACK (start_at)
        self._expected: int | None = None  # the peer's handshake ACK (expect_start)
        self.delivered = 0
        self.missing = 0
        self.retransmitted = 0
        self.cut = 0  # bytes cut by the snap length (known length, unknown content)
        # (stream offset, frame, time) of the direction's FIN captured, and of the peer's
        # highest ACK: where its data ended (proven_end).
        self._fin: tuple[int, int, float] | None = None
        self._acked: tuple[int, int, float] | None = None

    @property
    def started_mid_stream(self) -> bool:
        return self._next is not None and not self.start_known

    def start_at(self, seq: int) -> None:
        """The direction's first byte is at sequence number `seq`: the peer's SYN-ACK
        acknowledged it (ISN + 1, RFC 9293 3.5), the SYN itself not captured. Taken only
        before any byte of the direction: its stream then starts exactly there, as from
        its SYN (trial23-other-protocol/webmin-on-media without its first SYN: the
        HTTP client's first bytes were read as a capture started mid-stream)."""
        if self._next is None:
            self.start_known = True
            self._anchor_seq, self._anchor_off, self._next = seq % _MOD, 0, 0

    def expect_start(self, seq: int) -> None:
        """The peer's first packet after its SYN acknowledged `seq`, neither this
        direction's SYN nor its SYN-ACK captured: the handshake's third packet acknowledges
        ISN + 1 exactly (RFC 9293 3.5), sent before this side sent any byte. Were that
        packet lost as well, the peer's next could acknowledge bytes the capture lacks, so
        `seq` is taken as the start only if the direction's first segment with payload
        begins exactly there (start_known, as from its SYN); else it starts mid-stream as
        before (webmin-on-media without frame 2, the HTTP server's SYN-ACK: its "HTTP/1.1
        200 OK" was read as bytes of a capture started mid-stream, the fetch as a FAILED
        session)."""
        if self._next is None and not self.start_known:
            self._expected = seq % _MOD

    def segment(self, seq: int, flags: int, payload: bytes, frame: int,
                ts: float, wire_len: int | None = None) -> list[Delivery]:
        out: list[Delivery] = []
        if flags & SYN:
            if self._next is None:
                self.start_known = True
                self._anchor_seq, self._anchor_off, self._next = seq, -1, 0
            seq = (seq + 1) % _MOD  # a SYN's payload (rare) starts after the ISN
        chunk = Chunk(payload, frame, ts, max(0, (wire_len or 0) - len(payload)))
        if not chunk.span:
            if flags & FIN and self._next is not None:
                self._fin_at(self._offset(seq), frame, ts)
            return out
        if self._next is None:
            self.start_known = self._expected == seq % _MOD
            self._anchor_seq, self._anchor_off, self._next = seq, 0, 0
        offset = self._offset(seq)
        if flags & FIN:
            self._fin_at(offset + chunk.span, frame, ts)
        end = offset + chunk.span
        if end <= self._next:
            self.retransmitted += chunk.span
            return out
        if offset < self._next:  # overlap with bytes already delivered
            self.retransmitted += self._next - offset
            chunk = _trim(chunk, self._next - offset)
            offset = self._next
        if offset > self._next:
            self._hold(offset, chunk)
            if self._hole_ts is None:
                self._hole_ts = ts
            while self._pending and self._hopeless(ts):
                self._give_up_hole(out)
            return out
        self._deliver(chunk, out)
        self._drain(out)
        return out

    def peer_acked(self, ack: int, frame: int, ts: float) -> None:
        """The peer's packet in `frame` (time `ts`, seconds) acknowledged this direction's
        sequence numbers below `ack` (raw 32-bit ACK number). Kept when the highest: the
        receiver had every byte below it, captured or not. Ignored before the direction's
        first byte is placed (nothing to measure it against)."""
        if self._next is None:
            return
        # Measured against the direction's own sequence numbers without becoming their
        # reference (as connections.conn.note_ahead): a stray ACK half the sequence
        # space away would unwrap the next data 2**32 back (review 51e).
        offset = self._unwrapped(ack)
        if self._acked is None or offset > self._acked[0]:
            self._acked = (offset, frame, ts)

    def proven_end(self) -> tuple[int, int, float] | None:
        """(stream offset, frame, time) just past the direction's last byte sent, as its
        captured FIN places it, else as the peer's highest ACK does (every sequence
        number it acknowledges past the last byte counts as a byte, as
        Connection.missed_bytes counts them, a lost FIN among them or not; but a lone one,
        no FIN captured, is the FIN the capture lacks, Connection.fins_unseen, no byte);
        None when neither tells."""
        if self._fin is not None:
            return self._fin
        if self._acked is None or self._next is None or self._acked[0] - self._next == 1:
            return None
        return self._acked

    def held_frames(self) -> set[int]:
        """The frames of the segments held behind a hole, not delivered yet."""
        return {chunk.frame for chunk in self._pending.values()}

    def close(self) -> list[Delivery]:
        """End of capture: every remaining hole is final, and so are the bytes after the
        last one captured that the FIN or the peer's ACKs prove sent (proven_end): a
        Gap whose frame is that FIN's or ACK's."""
        out: list[Delivery] = []
        while self._pending:
            self._give_up_hole(out)
        end = self.proven_end()
        # Only after bytes of the direction were captured: a direction none of whose
        # payload the capture holds (a capture of the other way only, a filter that kept
        # no data packet) is no stream read in part; capture_one_direction and
        # capture_filtered tell of it, and capture_loss counts no byte of a side never
        # seen either (lab/one-direction-in: its media server's whole stream, ACKed by
        # the agent, read as "never captured, in 1 hole").
        if (end is not None and self._next is not None and end[0] > self._next
                and (self.delivered or self.cut)):
            missing = end[0] - self._next
            out.append(Gap(missing, end[1], end[2]))
            self.missing += missing
            self._next = end[0]
        return out

    # -- internals -----------------------------------------------------------------
    def _fin_at(self, offset: int, frame: int, ts: float) -> None:
        """The direction's FIN at stream offset `offset`: its first capture kept (a
        resent FIN repeats the sequence number)."""
        if self._fin is None or offset > self._fin[0]:
            self._fin = (offset, frame, ts)

    def _hopeless(self, ts: float) -> bool:
        """Will the open hole (at _next) never be filled? Past either patience bound."""
        assert self._next is not None and self._hole_ts is not None
        return (self._pending_end - self._next > PATIENCE_WINDOW
                or self._pending_bytes > PATIENCE_WINDOW
                or ts - self._hole_ts > PATIENCE_SECONDS)

    def _offset(self, seq: int) -> int:
        """Stream offset of a sequence number, unwrapped around the last one seen, which
        it then becomes."""
        offset = self._unwrapped(seq)
        self._anchor_seq, self._anchor_off = seq, offset
        return offset

    def _unwrapped(self, seq: int) -> int:
        """Stream offset of a 32-bit sequence (or ACK) number, unwrapped around the last
        one seen, the anchor left as it is."""
        return self._anchor_off + (seq - self._anchor_seq + _HALF) % _MOD - _HALF

    def _hold(self, offset: int, chunk: Chunk) -> None:
        previous = self._pending.get(offset)
        if previous is not None:
            if previous.span >= chunk.span:
                return
            self._pending_bytes -= len(previous.data)
        self._pending[offset] = chunk
        self._pending_bytes += len(chunk.data)
        self._pending_end = max(self._pending_end, offset + chunk.span)

    def _deliver(self, chunk: Chunk, out: list[Delivery]) -> None:
        out.append(chunk)
        assert self._next is not None
        self._next += chunk.span
        self.delivered += len(chunk.data)
        self.cut += chunk.cut

    def _drain(self, out: list[Delivery]) -> None:
        while self._pending:
            first = min(self._pending)
            assert self._next is not None
            if first > self._next:
                # Another hole: its wait starts with the earliest segment held after it.
                self._hole_ts = min(c.ts for c in self._pending.values())
                return
            chunk = self._pending.pop(first)
            self._pending_bytes -= len(chunk.data)
            end = first + chunk.span
            if end <= self._next:
                self.retransmitted += chunk.span
                continue
            if first < self._next:
                self.retransmitted += self._next - first
                chunk = _trim(chunk, self._next - first)
            self._deliver(chunk, out)

    def _give_up_hole(self, out: list[Delivery]) -> None:
        first = min(self._pending)
        assert self._next is not None
        if first > self._next:
            chunk = self._pending[first]
            missing = first - self._next
            out.append(Gap(missing, chunk.frame, chunk.ts))
            self.missing += missing
            self._next = first
        self._drain(out)


def _trim(chunk: Chunk, count: int) -> Chunk:
    """The chunk without its first `count` stream bytes (already delivered)."""
    if count <= len(chunk.data):
        return Chunk(chunk.data[count:], chunk.frame, chunk.ts, chunk.cut)
    return Chunk(b"", chunk.frame, chunk.ts, chunk.span - count)
