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

Only a batch in which a stretch behind the time reached (past the threshold) begins
is searched, and the batch after it, each with the batch before it (the segment may be
in it) of the same file and interface, one join on a hashed key each: the proof comes
right after the step. A batch in time order, or one a stretch goes on through, costs a
comparison (a clock set back during idle with no proof, or a one-direction capture,
searched every batch to the end of the file).
"""

from __future__ import annotations

import numpy as np

from flowcheck.connections.conn import ACK, FIN, SYN
from flowcheck.decode import DecodedBatch
from flowcheck.fields_dataclass import fields_dataclass

__all__ = ["AckedEarly"]


@fields_dataclass(slots=True)
class AckedEarly:
    """The first record found acknowledging a segment written before it but stamped
    `seconds` after it: (the acknowledging record's frame, the segment's frame,
    seconds); None until one is. `_before`: the last batch's TCP rows, where a
    segment the next batch acknowledges may be, and its (file, interface): a batch of
    another is no place for the segment. `_behind`: its last TCP row was behind the
    time reached; `_next`: a stretch began in it, so the next batch is searched too."""

    found: tuple[int, int, float] | None = None
    _before: DecodedBatch | None = None
    _source: tuple[int, int] | None = None
    _behind: bool = False
    _next: bool = False

    def see(self, d: DecodedBatch, step: float, reached: float | None,
            source: tuple[int, int] = (0, -1)) -> None:
        """Look at one decoded batch (after the batches before it) of one file and
        interface (source: their indexes, -1 for a pcap file's), searched when a
        stretch of its records begins more than `step` seconds behind the time reached
        (`reached`: before it in that file and interface, seconds; or a record before it
        in the batch), and in the batch after that one: the acknowledgement proving the
        clock set back comes right after the step, acknowledging bytes written before
        it. A stretch going on through later batches is not searched again."""
        same = source == self._source
        before = self._before if same else None
        self._before, self._source = d, source
        if not same:
            self._behind = self._next = False
        if self.found is not None or not len(d.tcp_ts):
            return
        ts = d.tcp_ts
        if (reached is None or ts[0] >= reached - step) and bool((ts[1:] >= ts[:-1]).all()):
            # In time order from the time reached on (the usual batch): nothing behind.
            search, self._next, self._behind = self._next, False, False
        else:
            search = self._stretch_begins(ts, step, reached)
        if not search:
            return
        parts = [d] if before is None or not len(before.tcp_ts) else [before, d]
        self.found = _acked_early(parts, step)

    def _stretch_begins(self, ts: np.ndarray, step: float, reached: float | None) -> bool:
        """Whether to search the batch (TCP times ts, seconds), a stretch behind the
        time reached beginning in it or in the batch before; notes where it ends."""
        high = np.maximum.accumulate(ts)
        if reached is not None:
            high = np.maximum(high, reached)
        behind = ts < high - step
        begins = bool(behind[0] and not self._behind) or bool(
            (behind[1:] & ~behind[:-1]).any())
        search, self._next, self._behind = begins or self._next, begins, bool(behind[-1])
        return search


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
    size = _column(parts, "tcp_payload_len") + ((flags & SYN) != 0) + ((flags & FIN) != 0)
    end = (seq + size) & 0xFFFFFFFF
    # Segments by (sender, receiver, bytes' end); acknowledgements by the acknowledged
    # side's (sender, receiver, ACK number): the same key when one acknowledges the other.
    segments = np.flatnonzero(size > 0)
    first_query = len(ts) - len(parts[-1].tcp_ts)
    acks = np.flatnonzero(flags[first_query:] & ACK) + first_query
    if not len(segments) or not len(acks):
        return None
    sent = np.column_stack((src[segments], dst[segments], sport[segments], dport[segments],
                            end[segments]))
    asked = np.column_stack((dst[acks], src[acks], dport[acks], sport[acks],
                             _column(parts, "tcp_ack")[acks]))
    carrier = _first_carriers(sent, asked, segments)
    early = (carrier >= 0) & (carrier < acks)
    early[early] = ts[carrier[early]] - ts[acks[early]] > step
    hit = np.flatnonzero(early)
    if not len(hit):
        return None
    row, sender = int(acks[hit[0]]), int(carrier[hit[0]])
    return int(frame[row]), int(frame[sender]), float(ts[sender] - ts[row])


def _hashed(rows: np.ndarray) -> np.ndarray:
    """One 64-bit key per row of (n, k) int64 columns (multiply-xorshift of each column
    in turn, wrapping): equal rows, equal keys."""
    key = np.full(len(rows), 0xCBF29CE484222325, dtype=np.uint64)
    for column in rows.T.astype(np.uint64):
        key = (key ^ column) * np.uint64(0x9E3779B97F4A7C15)
        key ^= key >> np.uint64(29)
    return key


def _first_carriers(sent: np.ndarray, asked: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Per row of `asked`, the row (of `segments`' numbering) of the first row of
    `sent` (in write order) with the same key, -1 when none: a join on one hashed key
    (sort and binary search, the rows compared in full after it)."""
    sent_keys, asked_keys = _hashed(sent), _hashed(asked)
    order = np.argsort(sent_keys, kind="stable")  # equal keys stay in write order
    ordered = sent_keys[order]
    firsts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    unique, first_row = ordered[firsts], order[firsts]
    at = np.minimum(np.searchsorted(unique, asked_keys), len(unique) - 1)
    found = np.flatnonzero(unique[at] == asked_keys)
    rows = first_row[at[found]]
    same = (sent[rows] == asked[found]).all(axis=1)
    carrier = np.full(len(asked), -1, dtype=np.int64)
    carrier[found[same]] = segments[rows[same]]
    return carrier
