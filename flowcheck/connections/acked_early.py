"""Proof that the capture's clock was set back: bytes acknowledged before they were sent.

Records stamped well behind the time already reached (flowcheck.connections.clock) are
either a clock set back (every record after the step stamped early, the file still in
the order the packets came) or records written out of time order (a multi-queue
sniffer, files merged unsorted: true stamps, wrong order). By their times alone the two
can look the same: a clock set back by 1 s followed by a pause of about 1 s in the
traffic makes the time jump forward to where it was, as the end of a stretch of
records written late does (a three-way job's 1 s poll after its data moved read as
records written out of order, and its order was then taken from the set-back stamps).

TCP tells them apart. A segment is acknowledged after it was sent, so a record that
acknowledges a segment's bytes (its ACK number is the segment's end: seq + payload +
SYN + FIN, RFC 9293 3.4) is never truly earlier than the record that first carried
them. When a record written after that segment is stamped more than the step threshold
before it, the stamps are wrong, not the write order: the clock was set back (or the
file joined out of time order). Records written out of order keep their true stamps and
never show it. The first carrier of the bytes in the file is the one compared, so a
retransmission later in the file is not taken for the segment.

Only batches whose time goes back past the threshold are searched, with the batch
before them (the segment may be in it), one numpy join each; a batch in time order
costs a comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowcheck.decode import DecodedBatch

__all__ = ["AckedEarly"]

_SYN, _FIN, _ACK = 0x02, 0x01, 0x10


@dataclass(slots=True)
class AckedEarly:
    """The first record found acknowledging a segment written before it but stamped
    `seconds` after it: (the acknowledging record's frame, the segment's frame,
    seconds); None until one is. `_before`: the last batch's TCP rows, where a
    segment the next batch acknowledges may be."""

    found: tuple[int, int, float] | None = None
    _before: DecodedBatch | None = None

    def see(self, d: DecodedBatch, step: float, reached: float | None) -> None:
        """Look at one decoded batch (after the batches before it) when its time goes
        back more than `step` seconds: below `reached` (the time reached before it,
        seconds) or below a record before it in the batch."""
        before, self._before = self._before, d
        if self.found is not None or not len(d.tcp_ts):
            return
        ts = d.tcp_ts
        high = np.maximum.accumulate(ts)
        if reached is not None:
            high = np.maximum(high, reached)
        if not (ts < high - step).any():
            return
        parts = [d] if before is None or not len(before.tcp_ts) else [before, d]
        self.found = _acked_early(parts, step)


def _column(parts: list[DecodedBatch], name: str) -> np.ndarray:
    return np.concatenate([getattr(p, name) for p in parts])


def _acked_early(parts: list[DecodedBatch], step: float) -> tuple[int, int, float] | None:
    """The first record of the last part acknowledging a segment of `parts` (in write
    order) written before it and stamped more than `step` seconds after it."""
    src, dst = _column(parts, "tcp_src").astype(np.int64), _column(parts, "tcp_dst").astype(
        np.int64)
    sport, dport = _column(parts, "tcp_sport"), _column(parts, "tcp_dport")
    flags, seq = _column(parts, "tcp_flags"), _column(parts, "tcp_seq")
    ts, frame = _column(parts, "tcp_ts"), _column(parts, "tcp_frame")
    size = _column(parts, "tcp_payload_len") + ((flags & _SYN) != 0) + ((flags & _FIN) != 0)
    end = (seq + size) & 0xFFFFFFFF
    # Segments by (sender, receiver, bytes' end); acknowledgements by the acknowledged
    # side's (sender, receiver, ACK number): the same key when one acknowledges the other.
    segments = np.flatnonzero(size > 0)
    first_query = len(ts) - len(parts[-1].tcp_ts)
    acks = np.flatnonzero(flags[first_query:] & _ACK) + first_query
    if not len(segments) or not len(acks):
        return None
    sent = np.column_stack((src[segments], dst[segments], sport[segments], dport[segments],
                            end[segments]))
    asked = np.column_stack((dst[acks], src[acks], dport[acks], sport[acks],
                             _column(parts, "tcp_ack")[acks]))
    _, ids = np.unique(np.concatenate((sent, asked)), axis=0, return_inverse=True)
    ids = ids.reshape(-1)
    sent_ids, asked_ids = ids[:len(segments)], ids[len(segments):]
    # Each key's first carrier in the file (rows are in write order).
    first_of = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
    keys, at = np.unique(sent_ids, return_index=True)
    first_of[keys] = segments[at]
    carrier = first_of[asked_ids]
    early = (carrier >= 0) & (carrier < acks)
    early[early] = ts[carrier[early]] - ts[acks[early]] > step
    hit = np.flatnonzero(early)
    if not len(hit):
        return None
    row, sender = int(acks[hit[0]]), int(carrier[hit[0]])
    return int(frame[row]), int(frame[sender]), float(ts[sender] - ts[row])
