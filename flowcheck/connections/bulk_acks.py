"""The fast path's ACK bookkeeping (flowcheck.connections.bulk): what each run's ACKs
acknowledge of the peer's bytes, for every segment (run and direction) at once, as
`update_packet`'s track_ack does one packet at a time (RFC 9293 3.4: a cumulative ACK
names the next byte its sender lacks)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from flowcheck.arrays import group_ends, group_sizes, group_starts
from flowcheck.connections.conn import ACK
from flowcheck.connections.endpoint import Endpoint
from flowcheck.connections.record_columns import NONE
from flowcheck.connections.reordering_rows import AtRows
from flowcheck.connections.sack import keep_first_sacks, keep_unseen_sacks

NO_ROW = np.iinfo(np.int64).max  # "no such packet" in a first-frame reduction


def first_where(mask: np.ndarray, values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per segment (rows from each of `starts` to the next): `values` at the segment's
    first row where `mask` holds, else NO_ROW."""
    return np.minimum.reduceat(np.where(mask, values, NO_ROW), starts)


def track_acks(columns: tuple[np.ndarray, AtRows, AtRows], rows: np.ndarray,
               flags: np.ndarray, data: np.ndarray, starts: np.ndarray,
               segment: np.ndarray, seg_key: np.ndarray, peers: list[Endpoint],
               peer_unseen: list[bool],
               sacks: Callable[[int], list[tuple[int, int]]] | None = None) -> None:
    """As update_packet's track_ack, for every segment at once: each ACK of a segment
    acknowledges its peer's bytes; keep the peer's highest ACK (unwrapped by signed 32-bit
    steps from the previous one, the first from the peer's max_end after this run, the
    same within 2**31) and its frame, and the last one's frame and time. ACKs sent before
    the peer's first byte was seen are ignored, as update_packet ignores them (but for the
    peer's acked_unseen). sacks: the SACK blocks of a TCP row of `d` (raw edges,
    connections.sack), read for a peer's first ACK when no SYN of the peer was seen
    (Endpoint.sacked_first; accounting.joined_mid_stream); None: none. columns: the
    rows' ACK numbers (raw, gathered once by bulk.apply_runs), frame numbers and times
    (seconds; read at the rows needed only); rows: their row numbers in the batch."""
    ack, frames, ts = columns
    acking = ((flags & ACK) != 0).nonzero()[0]
    if not acking.size:
        return
    n = starts.shape[0]
    # Per segment: ACK rows (batch row numbers, capture order) must come after this one.
    after = np.full(n, -1, np.int64)
    limited = False  # some segment's ACKs count only after a row (or not at all)
    first_data = None
    segment_of: dict[int, int] | None = None  # made for a peer first seen in the run only
    unseen: list[int] = []
    keys = seg_key.tolist()
    for s, k in enumerate(keys):
        peer = peers[s]
        if peer.max_end is None:
            after[s] = NO_ROW  # nothing of the peer seen at all: no reference
            unseen.append(s)
            limited = True
        elif peer_unseen[s]:
            if segment_of is None:
                segment_of = {k: s for s, k in enumerate(keys)}
            mate = segment_of.get(k ^ 1)
            if mate is not None and first_data is None:
                first_data = first_where(data, rows, starts)
            after[s] = first_data[mate] if mate is not None else NO_ROW
            limited = True
    # Every row an ACK (the usual run): the rows' own columns, not gathered again (issue 7).
    every = acking.shape[0] == flags.shape[0]
    seg = segment if every else segment[acking]
    if unseen:
        _ack_unseen((ack, ts), acking[np.isin(seg, unseen)], segment, peers,
                    None if sacks is None else (data, rows, frames, sacks))
    if limited:
        kept = rows[acking] > after[seg]
        if not kept.all():
            acking, every = acking[kept], False
            if not acking.size:
                return
            seg = segment[acking]
    acks = (ack if every else ack[acking]).astype(np.int64, copy=False)
    firsts = starts if every else group_starts(seg)
    ack_segs = seg[firsts].tolist()
    ref = np.fromiter((peers[s].ack_last if peers[s].ack_last is not None
                       else peers[s].max_end for s in ack_segs), np.int64, len(ack_segs))
    unwrapped, sizes = _unwrap(acks, firsts, ref)
    lasts = group_ends(firsts, acks.shape[0])
    highest = np.maximum.reduceat(unwrapped, firsts)
    # The ACK rows carrying each segment's highest (every segment has one: few rows, so
    # their frames are read there only): the lowest frame of them, and its first row.
    top = (unwrapped == np.repeat(highest, sizes)).nonzero()[0]
    top_begins = np.searchsorted(top, firsts)
    top_frames = frames[top if every else acking[top]]
    top_frame = np.minimum.reduceat(top_frames, top_begins)
    at = first_where(top_frames == np.repeat(top_frame, group_sizes(top_begins, top.shape[0])),
                     top, top_begins)
    # The time of that frame's row (Endpoint.acked_ts).
    top_ts = ts[acking[at]]
    first_rows = rows[acking[firsts]].tolist()
    for s, first_row, first_acked, last, acked, frame, frame_ts, last_frame, last_ts in zip(
            ack_segs, first_rows, unwrapped[firsts].tolist(), unwrapped[lasts].tolist(),
            highest.tolist(), top_frame.tolist(),
            top_ts.tolist(), frames[lasts if every else acking[lasts]].tolist(),
            ts[acking[lasts]].tolist(), strict=True):
        peer = peers[s]
        peer.ack_last, peer.ack_last_frame, peer.ack_last_ts = last, last_frame, last_ts
        if peer.acked is None:
            peer.ack_first = first_acked
            if sacks is not None and peer.isn is None:  # no SYN of it seen (per_packet)
                keep_first_sacks(peer, sacks(first_row))
            peer.acked, peer.acked_frame, peer.acked_ts = acked, frame, frame_ts
        elif acked > peer.acked:
            peer.acked, peer.acked_frame, peer.acked_ts = acked, frame, frame_ts


def _unwrap(acks: np.ndarray, firsts: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """ACK numbers (raw, grouped in segments starting at `firsts`) unwrapped by signed
    32-bit steps, each segment's first against its `ref` (unwrapped); also each
    segment's size (rows). Per-segment values reach the rows by np.repeat (a gather
    by segment index costs four times as many instructions: issue 7)."""
    previous = np.empty_like(acks)
    previous[1:] = acks[:-1]
    previous[firsts] = ref & 0xFFFFFFFF
    steps = ((acks - previous + 0x80000000) & 0xFFFFFFFF) - 0x80000000
    total = steps.cumsum()
    sizes = group_sizes(firsts, acks.shape[0])
    return total + np.repeat(ref - (total[firsts] - steps[firsts]), sizes), sizes


SackRows = tuple[np.ndarray, np.ndarray, AtRows, Callable[[int], list[tuple[int, int]]]]


def _ack_unseen(columns: tuple[np.ndarray, AtRows], acking: np.ndarray,
                segment: np.ndarray, peers: list[Endpoint],
                sack_rows: SackRows | None = None) -> None:
    """As update_packet's track_ack for a peer never seen (conn._ack_unseen): the ACK rows
    `acking` (grouped by segment) of segments whose peer has no max_end after the run;
    columns: the rows' ACK numbers (raw) and times (seconds, read at the rows needed
    only: each peer's first ACK that took its top more than one past its first,
    Endpoint.unseen_moved_ts). sack_rows: (which of the run's rows carry payload, their
    batch row numbers, frame numbers, the SACK blocks of a batch row) for _sacks_unseen;
    None: none read."""
    ack, ts = columns
    seg = segment[acking]
    acks = ack[acking].astype(np.int64, copy=False)
    firsts = group_starts(seg)
    ack_segs = seg[firsts].tolist()
    # A peer's first ACK ever is its own reference (a step of 0).
    ref = np.fromiter((peers[s].unseen_last if peers[s].unseen_first is not None else first
                       for s, first in zip(ack_segs, acks[firsts].tolist(), strict=True)),
                      np.int64, len(ack_segs))
    unwrapped, sizes = _unwrap(acks, firsts, ref)
    if sack_rows is not None:
        _sacks_unseen((unwrapped, ref, firsts, seg), acking, peers, sack_rows)
    lasts = group_ends(firsts, acks.shape[0])
    tops = np.maximum.reduceat(unwrapped, firsts)
    _moved(unwrapped, (firsts, sizes), acks, (ts, acking), [peers[s] for s in ack_segs])
    for s, first, last, top, below in zip(ack_segs, acks[firsts].tolist(),
                                          unwrapped[lasts].tolist(), tops.tolist(),
                                          _below_tops(unwrapped, firsts, sizes, tops),
                                          strict=True):
        peer = peers[s]
        if peer.unseen_first is None:
            peer.unseen_first, peer.unseen_top = first, top
            peer.unseen_below = None if below == NONE else below
        elif top > peer.unseen_top:
            peer.unseen_below, peer.unseen_top = max(peer.unseen_top, below), top
        peer.unseen_last = last


def _moved(unwrapped: np.ndarray, groups: tuple[np.ndarray, np.ndarray], acks: np.ndarray,
           times: tuple[AtRows, np.ndarray], peers: list[Endpoint]) -> None:
    """Endpoint.unseen_moved_ts of each segment's peer (`peers`, one per segment; rows
    grouped from `groups`' firsts, sizes rows each) that has none yet: the time of the
    segment's first row whose unwrapped ACK number is more than one past the peer's
    first ACK (its unseen_first, else the segment's first raw ACK in `acks`), as
    conn._ack_unseen sets it. times: the run's times (read at the rows needed only) and
    the rows' positions in the run. Nothing is computed when every peer has one."""
    pending = [i for i, peer in enumerate(peers) if peer.unseen_moved_ts is None]
    if not pending:
        return
    firsts, sizes = groups
    origin = np.fromiter((peer.unseen_first if peer.unseen_first is not None else first
                          for peer, first in zip(peers, acks[firsts].tolist(), strict=True)),
                         np.int64, len(peers))
    over = unwrapped - np.repeat(origin, sizes) > 1
    if not over.any():
        return
    at = first_where(over, np.arange(unwrapped.shape[0]), firsts)
    ts, acking = times
    for i in pending:
        row = int(at[i])
        if row != NO_ROW:
            peers[i].unseen_moved_ts = float(ts[acking[row]])


def _below_tops(unwrapped: np.ndarray, firsts: np.ndarray, sizes: np.ndarray,
                tops: np.ndarray) -> list[int]:
    """Per segment (rows from each of `firsts`, `sizes` rows each; unwrapped ACK
    numbers): the highest before the segment's first row at its highest (`tops`), NONE
    when that is its first row: conn._ack_unseen's Endpoint.unseen_below, the level
    before the last advance, within the run."""
    position = np.arange(unwrapped.shape[0])
    at_top = np.where(unwrapped == np.repeat(tops, sizes), position, unwrapped.shape[0])
    before = position < np.repeat(np.minimum.reduceat(at_top, firsts), sizes)
    return np.maximum.reduceat(np.where(before, unwrapped, NONE), firsts).tolist()


def _sacks_unseen(grouped: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                  acking: np.ndarray, peers: list[Endpoint], sack_rows: SackRows) -> None:
    """As per_packet's reading of Endpoint.sacked_unseen (connections.sack), before
    _ack_unseen keeps the run's ACKs: of the ACK rows `acking` (positions in the run) of
    peers never seen, grouped by segment (grouped: _ack_unseen's unwrapped ACK numbers,
    each segment's reference, first index, and each row's segment), the pure ACKs (no
    payload) whose ACK number is the one before (a peer's first ACK ever has none before
    it: its reference is itself), in order, until one names bytes beyond it. Few rows
    (ACKs that acknowledge nothing new), each read in Python; none of a peer that has
    its blocks."""
    unwrapped, ref, firsts, seg = grouped
    data, rows, frames, sacks = sack_rows
    previous = np.empty_like(unwrapped)
    previous[1:] = unwrapped[:-1]
    previous[firsts] = ref  # a segment's first row against the peer's last ACK before
    same = (unwrapped == previous) & ~data[acking]
    if not same.any():
        return
    for i in np.flatnonzero(same).tolist():
        peer = peers[int(seg[i])]
        # The rows are grouped by segment: a row after its segment's first has one before.
        if peer.sacked_unseen is None and (peer.unseen_first is not None
                                           or (i and seg[i - 1] == seg[i])):
            at = int(acking[i])
            keep_unseen_sacks(peer, sacks(int(rows[at])), int(unwrapped[i]) & 0xFFFFFFFF,
                              int(frames[at]))
