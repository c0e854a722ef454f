"""TCP byte-stream reassembly for one direction of a tapped connection.

Bytes are delivered in sequence order from the SYN's ISN (or the first data segment's
sequence number when the SYN was not captured). Out-of-order segments wait; data already
delivered (retransmissions, overlaps) is trimmed. A hole that nothing fills within a few
segments, or by the end, is given up on: the caller hears a `Gap` and decoding resumes
after it. Each delivered chunk keeps the frame and timestamp of the segment it came in.

A segment the snap length cut (`wire_len` longer than its captured payload) is not a
hole: its length on the wire is exact, so the stream stays aligned. Its chunk carries
`cut`, the count of bytes after `data` that the capture did not keep.
"""

from __future__ import annotations

from dataclasses import dataclass

SYN = 0x02
_MOD = 1 << 32
_HALF = 1 << 31
# A hole still open after this many later segments (or this many buffered bytes) will
# not be filled: retransmissions come within a round trip, a snap-length cut never does.
PATIENCE_SEGMENTS = 16
PATIENCE_BYTES = 256 * 1024


@dataclass(slots=True)
class Chunk:
    data: bytes
    frame: int
    ts: float
    cut: int = 0  # bytes on the wire after `data` that the snap length left out

    @property
    def span(self) -> int:
        """Stream bytes the chunk stands for, captured or not."""
        return len(self.data) + self.cut


@dataclass(slots=True)
class Gap:
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
        self.syn_seen = False
        self.delivered = 0
        self.missing = 0
        self.retransmitted = 0
        self.cut = 0  # bytes cut by the snap length (known length, unknown content)

    @property
    def started_mid_stream(self) -> bool:
        return self._next is not None and not self.syn_seen

    def segment(self, seq: int, flags: int, payload: bytes, frame: int,
                ts: float, wire_len: int | None = None) -> list[Delivery]:
        out: list[Delivery] = []
        if flags & SYN:
            if self._next is None:
                self.syn_seen = True
                self._anchor_seq, self._anchor_off, self._next = seq, -1, 0
            seq = (seq + 1) % _MOD  # a SYN's payload (rare) starts after the ISN
        chunk = Chunk(payload, frame, ts, max(0, (wire_len or 0) - len(payload)))
        if not chunk.span:
            return out
        if self._next is None:
            self._anchor_seq, self._anchor_off, self._next = seq, 0, 0
        offset = self._offset(seq)
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
            if len(self._pending) > PATIENCE_SEGMENTS or self._pending_bytes > PATIENCE_BYTES:
                self._give_up_hole(out)
            return out
        self._deliver(chunk, out)
        self._drain(out)
        return out

    def close(self) -> list[Delivery]:
        """End of capture: every remaining hole is final."""
        out: list[Delivery] = []
        while self._pending:
            self._give_up_hole(out)
        return out

    # -- internals -----------------------------------------------------------------
    def _offset(self, seq: int) -> int:
        """Stream offset of a sequence number, unwrapped around the last one seen."""
        delta = (seq - self._anchor_seq + _HALF) % _MOD - _HALF
        offset = self._anchor_off + delta
        self._anchor_seq, self._anchor_off = seq, offset
        return offset

    def _hold(self, offset: int, chunk: Chunk) -> None:
        previous = self._pending.get(offset)
        if previous is not None:
            if previous.span >= chunk.span:
                return
            self._pending_bytes -= len(previous.data)
        self._pending[offset] = chunk
        self._pending_bytes += len(chunk.data)

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
