"""Segmentation offload's super-frames: one packet at one capture point, several at another.

With TSO or GSO (segmentation offload, on most real NICs) a sender hands its NIC one
packet of up to 64 KB, and the NIC cuts it into wire segments: the sender's own capture
holds the super-frame, another capture point (the receiver's capture, a router's ingress
interface after the wire) the segments. The first segment has the super-frame's IPv4 ID
(the next ones count on from it), sequence number, acknowledgement number and window;
its payload is shorter (one MSS), its flags and checksum may differ (PSH goes with the
last segment; the super-frame's checksum is left for the NIC to fill in). Both held,
the segments after the super-frame read as retransmissions of its bytes, counted twice
(trial 33 D3: 1,200,000 B for 600,000, 423 "retransmitted segments").

A packet with payload is a super-frame copy (copies.py: counted as a packet, not in the
connection) when a packet in the same direction of the same connection has its IPv4 ID
(not 0: a packet without one has no such identity), sequence and acknowledgement numbers
and window, a shorter payload, and comes from another capture point as the capture
shows it (another file of the set, or another TTL: a router's interfaces), at most
SUPER_WINDOW seconds from it, or from the two points' known offset (points.py: both
hosts' captures merged into one file, their clocks apart; offsets between separate
files are taken out first, points.clock_shifts). The segments stay: they are what the
wire carried. A sender's resend has a new IPv4 ID (Linux, Windows, the BSDs) and comes
from the point that saw its original.

The super-frame stays counted instead, and its segments are the copies, when it came
first and was counted already: its first segment in a later batch (a batch's packets
are in their connections once it is tracked), or at the offset only (a merged file,
its point's clock behind: the packets between them, the ACKs of those bytes, are that
point's too, as points.py keeps the earlier of a pair). The segments then are the
first one and those after it from the same point with the super-frame's direction,
acknowledgement number and window, their sequence numbers within its bytes and their
IPv4 IDs within its count of segments (an open entry, kept as long as the others,
takes its segments in later batches too). Either way each byte counts once and none
reads as resent; only which packets count as copies differs.

Across batches. The packets of a batch that found no partner (each direction's latest
LOOKBACK_DIRECTION, LOOKBACK_CAP in all, within SUPER_WINDOW and the largest known
offset of the batch's end; not one whose own copy was found, equal at both points) are
kept (`LookBack`) and compared with the next batches'. Looked for only once the capture
is known to hold two capture points or copies (copies.py: CapturePoints.active,
CaptureCopies.systematic), so a single point's capture pays nothing; the work per batch
follows its packets and the look-back's bound, never the history. The limit: a merged
file whose points' clocks lie further apart than its connection's latest
LOOKBACK_DIRECTION unpaired packets reach keeps those super-frames unfound; and as the
look-back ages by each batch's latest time, a capture whose clock steps forward past the
window and back between a super-frame and its first segment (in different batches)
keeps that pair unfound where one batch would find it.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from flowcheck.arrays import HASH_MULTIPLIERS, distinct
from flowcheck.connections.flows import BatchFlows, FlowKey
from flowcheck.connections.points import CapturePoints
from flowcheck.fields_dataclass import fields_dataclass

SUPER_WINDOW = 1.0  # seconds between a super-frame and its first segment, at most
LOOKBACK_DIRECTION = 1 << 12  # unpaired packets kept per direction of a connection
LOOKBACK_CAP = 1 << 15  # and in all, at most (the latest)
# Columns of copies.py's fields: IPv4 ID, sequence, acknowledgement, window, payload length.
_IP_ID, _SEQ, _ACK, _WINDOW, _PAYLOAD = 0, 1, 2, 4, 5
_COLUMNS = [_IP_ID, _SEQ, _ACK, _WINDOW, _PAYLOAD]
# The same in LookBack.fields.
_ID, _S, _A, _W, _LEN = range(5)


@fields_dataclass(slots=True)
class LookBack:
    """Packets kept across batch boundaries (module docstring), in capture order."""

    keys: list[FlowKey]  # the distinct flow keys
    key_of: np.ndarray  # int64: each packet's index in keys
    from_lower: np.ndarray  # bool
    fields: np.ndarray  # (k, 5) int64: IPv4 ID, sequence, acknowledgement, window, payload
    ts: np.ndarray  # seconds
    source: np.ndarray  # int32: the file of the set
    ttl: np.ndarray  # int16
    # An open super-frame (counted, its first segment found): that segment's payload
    # length (0: not open) and its capture point (file, TTL).
    segment: np.ndarray  # int64
    segment_source: np.ndarray  # int32
    segment_ttl: np.ndarray  # int16

    def at(self, rows: np.ndarray) -> LookBack:
        """These packets at `rows` (keys kept)."""
        return LookBack(self.keys, *(getattr(self, name)[rows] for name in _COLUMN_NAMES))


_COLUMN_NAMES = tuple(f.name for f in fields(LookBack))[1:]


class SuperFrames:
    """Marks each batch's super-frame copies (module docstring), keeping the unpaired
    packets across batch boundaries."""

    def __init__(self) -> None:
        self._back: LookBack | None = None

    def mark(self, flows: BatchFlows, fields: np.ndarray, ts: np.ndarray,
             source: np.ndarray, ttl: np.ndarray, copy: np.ndarray, originals: np.ndarray,
             points: CapturePoints) -> np.ndarray:
        """Per TCP packet of the batch (bool): whether it is a super-frame copy, or a
        segment of a super-frame counted in an earlier batch. flows: the batch's
        group_flows; fields: copies.py's columns (m, 7); ts: seconds; source: each one's
        file of the set; ttl; copy: the copies found already (none of these); originals:
        the packets whose own copy was found (bool; equal at both points: no look-back
        keeps them); points: the capture points' offsets."""
        m = copy.shape[0]
        found = np.zeros(m, bool)
        cand = np.flatnonzero((fields[:, _PAYLOAD] > 0) & (fields[:, _IP_ID] != 0) & ~copy)
        horizon = SUPER_WINDOW + points.largest_offset
        if not cand.size:  # nothing to pair or take as a segment: the look-back only ages
            if m and self._back is not None:
                back = self._back
                self._back = _renumbered(back.at(np.flatnonzero(
                    back.ts >= float(ts.max()) - horizon)))
            return found
        back, held, held_side = self._held(flows)
        k = held.shape[0]
        side = np.concatenate((held_side, (2 * flows.flow + flows.from_lower)[cand]))
        every = LookBack([], np.zeros(0, np.int64), np.zeros(0, bool),
                         np.concatenate((back.fields[held], fields[cand][:, _COLUMNS])),
                         np.concatenate((back.ts[held], ts[cand])),
                         np.concatenate((back.source[held], source[cand])),
                         np.concatenate((back.ttl[held], ttl[cand])),
                         np.concatenate((back.segment[held], np.zeros(cand.size, np.int64))),
                         np.concatenate((back.segment_source[held],
                                         np.zeros(cand.size, np.int32))),
                         np.concatenate((back.segment_ttl[held], np.zeros(cand.size, np.int16))))
        paired = np.zeros(side.shape[0], bool)  # matched: kept no more
        longer, shorter, counted = _pairs(side, every, k, points)
        found[cand[longer[~counted] - k]] = True
        paired[longer[~counted]] = True
        paired[shorter] = True
        opened, first = longer[counted], shorter[counted]
        found[cand[first - k]] = True
        every.segment[opened] = every.fields[first, _LEN]
        every.segment_source[opened] = every.source[first]
        every.segment_ttl[opened] = every.ttl[first]
        paired[opened] = False  # an open super-frame stays for its next segments
        segments = _open_segments(side, every, k, paired, points)
        found[cand[segments - k]] = True
        paired[segments] = True
        paired[k:] |= originals[cand]
        self._keep(back, held, every, flows, cand, paired, float(ts.max()), horizon)
        return found

    def _held(self, flows: BatchFlows) -> tuple[LookBack, np.ndarray, np.ndarray]:
        """The look-back (empty without one), the indexes of its packets of this batch's
        flows and their directions (batch flow * 2 + from_lower)."""
        back = self._back
        if back is None:
            back = self._back = _empty()
        number = {key: f for f, key in enumerate(flows.keys)}
        flow = np.array([number.get(key, -1) for key in back.keys], np.int64)[back.key_of] \
            if back.keys else np.zeros(0, np.int64)
        held = np.flatnonzero(flow >= 0)
        return back, held, 2 * flow[held] + back.from_lower[held]

    def _keep(self, back: LookBack, held: np.ndarray, every: LookBack, flows: BatchFlows,
              cand: np.ndarray, paired: np.ndarray, last: float,
              horizon: float) -> None:
        """The look-back after a batch: the old one's packets (the held ones as `every`
        has them now: paired ones dropped, open ones opened) and the batch's unpaired
        candidates (cand, every's rows from len(held)), those within `horizon` seconds
        of `last` (the batch's latest time), each direction's latest
        LOOKBACK_DIRECTION, LOOKBACK_CAP in all."""
        k = held.shape[0]
        for name in ("segment", "segment_source", "segment_ttl"):
            getattr(back, name)[held] = getattr(every, name)[:k]
        keep_old = np.ones(back.ts.shape[0], bool)
        keep_old[held[paired[:k]]] = False
        new = np.flatnonzero(~paired[k:])
        rows = cand[new]
        keys = list(dict.fromkeys(back.keys + [flows.keys[f] for f in
                                               distinct(flows.flow[rows]).tolist()]))
        index = {key: n for n, key in enumerate(keys)}
        old_map = np.array([index[key] for key in back.keys], np.int64)
        new_map = np.array([index.get(key, -1) for key in flows.keys], np.int64) \
            if flows.keys else np.zeros(0, np.int64)
        old = np.flatnonzero(keep_old)
        joined = LookBack(keys, np.concatenate((old_map[back.key_of[old]] if old.size
                                                else np.zeros(0, np.int64),
                                                new_map[flows.flow[rows]])),
                          np.concatenate((back.from_lower[old], flows.from_lower[rows])),
                          *(np.concatenate((getattr(back, name)[old],
                                            getattr(every, name)[k + new]))
                            for name in _COLUMN_NAMES[2:]))
        joined = joined.at(np.flatnonzero(joined.ts >= last - horizon))
        direction = 2 * joined.key_of + joined.from_lower
        order = np.argsort(direction, kind="stable")
        grouped = direction[order]
        starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
        ends = np.r_[starts[1:], grouped.shape[0]]
        position = np.arange(grouped.shape[0])
        end_of = np.repeat(ends, ends - starts)
        latest = np.sort(order[end_of - position <= LOOKBACK_DIRECTION])[-LOOKBACK_CAP:]
        self._back = _renumbered(joined.at(latest))


def _renumbered(back: LookBack) -> LookBack | None:
    """back with only the keys its packets use (None: no packet left)."""
    if not back.ts.shape[0]:
        return None
    used = distinct(back.key_of)
    renumber = np.full(len(back.keys), -1, np.int64)
    renumber[used] = np.arange(used.shape[0])
    back.keys = [back.keys[n] for n in used.tolist()]
    back.key_of = renumber[back.key_of]
    return back


def _empty() -> LookBack:
    return LookBack([], np.zeros(0, np.int64), np.zeros(0, bool), np.zeros((0, 5), np.int64),
                    np.zeros(0), np.zeros(0, np.int32), np.zeros(0, np.int16),
                    np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int16))


def _near(every: LookBack, later: np.ndarray, earlier: np.ndarray,
          points: CapturePoints) -> np.ndarray:
    """Per pair (indexes into every, the later one's after the earlier's; bool): within
    SUPER_WINDOW of each other, or of their points' known offset."""
    ts, source = every.ts, every.source
    return (np.abs(ts[later] - ts[earlier]) <= SUPER_WINDOW) | points.at_offset(
        ts[later], ts[earlier], source[later], source[earlier], SUPER_WINDOW)


def _pairs(side: np.ndarray, every: LookBack, k: int, points: CapturePoints,
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The super-frames and their first segments (longer, shorter: indexes into every,
    whose first k are the look-back's), a batch packet in each pair, and whether each
    super-frame stays counted (bool: before its segment and in the look-back, or at the
    points' offset only; its segments are then the copies)."""
    f = every.fields
    rows = np.flatnonzero(every.segment == 0)  # an open super-frame has its segment
    none = np.zeros(0, np.int64)
    if rows.size < 2:
        return none, none, np.zeros(0, bool)
    key = [side[rows]] + [f[rows, c] for c in (_ID, _S, _A, _W)]
    with np.errstate(over="ignore"):
        hashed = np.zeros(rows.size, np.uint64)
        for column, values in enumerate(key):
            hashed += values.astype(np.uint64) * HASH_MULTIPLIERS[column]
    order = rows[np.argsort(hashed, kind="stable")]
    first, then = order[:-1], order[1:]
    same = then >= k  # pairs within the look-back were judged with their batch
    same &= side[first] == side[then]
    for c in (_ID, _S, _A, _W):
        same &= f[first, c] == f[then, c]
    same &= (every.source[first] != every.source[then]) | (every.ttl[first] != every.ttl[then])
    same &= f[first, _LEN] != f[then, _LEN]
    first, then = first[same], then[same]
    close = np.abs(every.ts[then] - every.ts[first]) <= SUPER_WINDOW
    near = close | points.at_offset(every.ts[then], every.ts[first], every.source[then],
                                    every.source[first], SUPER_WINDOW)
    first, then, close = first[near], then[near], close[near]
    first_longer = f[first, _LEN] > f[then, _LEN]
    counted = first_longer & ((first < k) | ~close)
    return (np.where(first_longer, first, then), np.where(first_longer, then, first),
            counted)


def _open_segments(side: np.ndarray, every: LookBack, k: int, paired: np.ndarray,
                   points: CapturePoints) -> np.ndarray:
    """The batch's segments of the open super-frames (indexes into every, from k): from
    the first segment's point, with its direction, acknowledgement number and window,
    the sequence number within the super-frame's bytes and the IPv4 ID within its count
    of segments, within SUPER_WINDOW of it or of the points' offset."""
    f = every.fields
    opened = np.flatnonzero(every.segment > 0)
    rows = k + np.flatnonzero(~paired[k:])
    none = np.zeros(0, np.int64)
    if not opened.size or not rows.size:
        return none

    def group(at: np.ndarray, point: np.ndarray, point_ttl: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            hashed = np.zeros(at.size, np.uint64)
            for column, values in enumerate((side[at], f[at, _A], f[at, _W], point, point_ttl)):
                hashed += values.astype(np.uint64) * HASH_MULTIPLIERS[column]
        return hashed >> np.uint64(32) << np.uint64(32)

    starts = f[opened, _S]
    wraps = opened[starts + f[opened, _LEN] > 1 << 32]  # also found from sequence number 0
    entries = np.concatenate((opened, wraps))
    entry_keys = group(entries, every.segment_source[entries], every.segment_ttl[entries]) \
        | np.concatenate((starts, np.zeros(wraps.size, np.int64))).astype(np.uint64)
    order = np.argsort(entry_keys, kind="stable")
    entry_keys, entries = entry_keys[order], entries[order]
    row_keys = group(rows, every.source[rows], every.ttl[rows]) | f[rows, _S].astype(np.uint64)
    at = np.searchsorted(entry_keys, row_keys, side="right") - 1
    rows, entry = rows[at >= 0], entries[at[at >= 0]]
    length, segment = f[entry, _LEN], every.segment[entry]
    count = -(-length // segment)
    take = ((side[rows] == side[entry]) & (f[rows, _A] == f[entry, _A])
            & (f[rows, _W] == f[entry, _W]) & (every.source[rows] == every.segment_source[entry])
            & (every.ttl[rows] == every.segment_ttl[entry])
            & ((f[rows, _S] - f[entry, _S]) % (1 << 32) < length)
            & ((f[rows, _ID] - f[entry, _ID]) % (1 << 16) < count)
            & (f[rows, _LEN] <= segment))
    rows, entry = rows[take], entry[take]
    return rows[_near(every, rows, entry, points)]
