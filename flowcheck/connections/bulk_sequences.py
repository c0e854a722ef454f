"""The bulk runs' data: sequence numbers of every side's data packets, many runs at once
(flowcheck.connections.bulk.apply_runs hands each batch's data rows here).

Sequence numbers are unwrapped by cumulative signed 32-bit differences; the highest byte
seen before each packet is a segmented running maximum (`_running_max`: one cumulative
maximum over all segments, each lifted into its own block); a packet ending at or below
it is a repeat (a retransmission unless it fills a hole, or a one-byte keepalive probe),
one starting above it opens a gap. Only those out of order reach the hole bookkeeping
(Endpoint.open_hole, fill, note_below), one at a time in capture order; the rows with new
bytes below the side's next sequence number are judged by reordering's rule
(bulk_judge.RunJudge), all at once. The history letters T and G, the retransmission
counts per side and each side's last_raw/last_u/max_end/seg_max are set from them.
"""

from __future__ import annotations

import numpy as np

from flowcheck.arrays import group_ends, group_sizes
from flowcheck.connections.bulk_acks import NO_ROW
from flowcheck.connections.bulk_judge import RunJudge
from flowcheck.connections.bulk_sides import SideColumns, first_letter, resends
from flowcheck.connections.endpoint import Endpoint
from flowcheck.connections.reordering_rows import AtRows, below, rising

# Segmented running maximum: each segment's values, made relative to its base, are
# lifted into their own block of 2**_BLOCK so one cumulative maximum serves all.
_BLOCK = 42
_HALF = 1 << (_BLOCK - 1)


def _running_max(before: np.ndarray, segment: np.ndarray, side_base: np.ndarray,
                 sizes: np.ndarray) -> np.ndarray:
    """Cumulative maximum of `before` restarted at each segment (rows grouped by segment,
    segments numbered 0, 1, ... in row order; sizes: each segment's rows); side_base:
    each segment's base."""
    if rising(before, segment):
        return before  # each segment's values never fall: each is its own running maximum
    base = np.repeat(side_base, sizes)
    relative = before - base
    if relative.size and (np.abs(relative).max() >= _HALF or segment[-1] >= 1 << (62 - _BLOCK)):
        out = np.empty_like(before)  # absurd sequence jumps: one segment at a time
        bounds = np.flatnonzero(np.diff(segment)) + 1
        for part in np.split(np.arange(before.size), bounds):
            out[part] = np.maximum.accumulate(before[part])
        return out
    lifted = (segment << _BLOCK) + relative + _HALF
    return np.maximum.accumulate(lifted) - (segment << _BLOCK) - _HALF + base


def data_sequences(columns: tuple[np.ndarray, AtRows], data_rows: np.ndarray,
               starts: np.ndarray, plen: np.ndarray, frames: AtRows,
               sides: list[Endpoint], state: SideColumns,
               lettered: tuple[dict[str, np.ndarray], np.ndarray, list[int], list[str]],
               retransmits: np.ndarray, segments: int, next_seq: np.ndarray,
               judge: RunJudge) -> int:
    """Sequence tracking of the data packets `data_rows` (ascending; rows grouped by
    segment from `starts`); fills letters T and G (lettered: the letters, by the place
    in its run of each row's first one; with each segment's key and connection history,
    first_letter), retransmits per segment, and each side's last_raw/last_u/max_end.

    As conn.py's _track_sequence, a row with bytes not seen before that starts below its side's
    next_seq (per row, raw; reordering.NONE unknown) is a retransmission if `judge` says
    so (reordering's rule; every such row of the call judged at once, after the holes);
    only repeats are resends. columns: the rows' sequence numbers (raw) and times
    (seconds), gathered once by bulk.apply_runs. Returns how many rows were out of order
    (opened a gap or landed below the highest byte seen: the hole bookkeeping's, one at
    a time)."""
    seq, ts = columns
    raw = seq[data_rows]
    length = plen[data_rows]
    # The segments with data, their first data rows and counts, from where each segment
    # starts among the data rows (no gather of the rows' segments).
    begins = np.searchsorted(data_rows, starts)
    counts = group_sizes(begins, data_rows.shape[0])
    data_segs = counts.nonzero()[0]
    firsts, sizes = begins[data_segs], counts[data_segs]
    n = data_segs.shape[0]
    known_a, init_raw = state.known[data_segs], state.last_raw[data_segs]
    init_u, has_max = state.last_u[data_segs], state.has_max[data_segs]
    init_max = state.max_end[data_segs]
    first_raw = raw[firsts]
    # A side seen for the first time unwraps from its first sequence number.
    init_raw = np.where(known_a, init_raw, first_raw)
    init_u = np.where(known_a, init_u, first_raw)
    previous = np.empty_like(raw)
    previous[1:] = raw[:-1]
    previous[firsts] = init_raw
    steps = ((raw - previous + 0x80000000) & 0xFFFFFFFF) - 0x80000000
    total = steps.cumsum()
    # Per-side values expanded to the rows by np.repeat (rows grouped by side; a gather
    # `x[local]` costs four times as many instructions: issue 7).
    local = np.repeat(np.arange(n), sizes)
    start = total + np.repeat(init_u - (total[firsts] - steps[firsts]), sizes)
    end = start + length
    base = np.where(has_max, init_max, start[firsts])
    shifted = np.empty_like(end)
    shifted[1:] = end[:-1]
    shifted[firsts] = base
    before = _running_max(shifted, local, base, sizes)
    # Repeats, but for those that fill a hole, and for one byte just below the side's
    # highest: a keepalive probe as Windows sends it (as _track_sequence, conn.py).
    probe = (length == 1) & (end == before)
    retransmitted = (end <= before) & ~probe
    counted = retransmitted.copy()
    under_next = below(raw, next_seq[data_rows])
    out_of_order = ((start != before) | under_next).nonzero()[0]
    # A side seen for the first time: its first byte tracked (Endpoint.first).
    for s, value in zip(data_segs[~has_max].tolist(), start[firsts][~has_max].tolist(),
                        strict=True):
        sides[s].first = value
    if out_of_order.size:
        judged: list[int] = []  # judged together after the holes: nothing here reads them
        for k, lo, hi, top, s, under in zip(
                out_of_order.tolist(), start[out_of_order].tolist(),
                end[out_of_order].tolist(), before[out_of_order].tolist(),
                data_segs[local[out_of_order]].tolist(), under_next[out_of_order].tolist(),
                strict=True):
            side = sides[s]
            if lo < top:
                side.note_below(lo, hi)  # below its first byte (unique bytes)
            if lo > top:
                row = int(data_rows[k])
                side.open_hole(top, lo, int(frames[row]), float(ts[row]), hi - lo)
            elif lo < top and side.holes and side.fill(lo, hi):
                retransmitted[k] = counted[k] = False  # it brings bytes never seen
            if under and not retransmitted[k] and not probe[k]:
                judged.append(k)
        if judged:
            at = np.array(judged, np.int64)
            counted[at] = judge(data_rows[at], data_segs[local[at]], raw[at], length[at])
    letters, places, keys, histories = lettered
    letters["T"] = np.full(segments, NO_ROW, np.int64)
    letters["G"] = np.full(segments, NO_ROW, np.int64)
    resent, gap = bool(counted.any()), start > before
    if resent or gap.any():  # rare: in-order data without resends shows neither
        data_keys = [keys[s] for s in data_segs.tolist()]
        data_histories = [histories[s] for s in data_segs.tolist()]
        data_places = places[data_rows]
        letters["T"][data_segs] = first_letter("T", counted, data_places, firsts,
                                                data_keys, data_histories)
        letters["G"][data_segs] = first_letter("G", gap, data_places, firsts, data_keys,
                                                data_histories)
    if resent:
        retransmits[data_segs] = np.add.reduceat(counted.astype(np.int64), firsts)
    lasts = group_ends(firsts, raw.shape[0])
    top = np.maximum(base, np.maximum.reduceat(end, firsts))
    state.set_after(data_segs, raw[lasts], start[lasts], top)
    for s, last_raw, last_u, max_end, largest in zip(
            data_segs.tolist(), state.last_raw[data_segs].tolist(),
            state.last_u[data_segs].tolist(), top.tolist(),
            np.maximum.reduceat(length, firsts).tolist(), strict=True):
        side = sides[s]
        side.last_raw, side.last_u, side.max_end = last_raw, last_u, max_end
        side.seg_max = max(side.seg_max, largest)
    resends((ts, frames, data_rows), data_segs, firsts, local, end > before, retransmitted,
             start, length, sides)
    return int(out_of_order.size)
