"""reordering.note_packet for many rows at once: the bulk and short-connection paths.

Rows come grouped by side (each side's rows in capture order, side s from row
starts[s]). Per row, the side's next_seq before it (a data row below it is judged by
reordering.fill_is_retransmission); the rest (when next_seq was set, the ACK state just
before a row) is looked up only for the rows judged, all of a call's at once by
vectorised bisection (`DirectionRows.retransmissions`), so a run pays a few vector
operations over its rows and no Python per judged row.
"""

from __future__ import annotations

import numpy as np

from flowcheck.arrays import group_ends, group_sizes, group_starts, stable_order
from flowcheck.connections.reordering import (
    ACK,
    FAST_DUP_ACKS,
    FAST_WITHIN_US,
    FIN,
    M32,
    NONE,
    OOO_DEFAULT_US,
    RST,
    SYN,
)
from flowcheck.fields_dataclass import fields_dataclass


@fields_dataclass(slots=True)
class DirectionRows:
    """The state of rows grouped by side; `init` and `final`: each side's state before
    and after them, as columns named reordering.WIRE_FIELDS (int64 with NONE for None,
    float64 with nan)."""

    ns_before: np.ndarray  # per row: next_seq before it (raw; NONE: unknown)
    raised: np.ndarray  # the rows that raised next_seq (ascending)
    acks: np.ndarray  # the rows that carry an ACK (not capture copies; ascending)
    changed: np.ndarray  # ... those whose ACK number differs from the side's previous one
    dups: np.ndarray  # per row: duplicate ACKs among the rows up to it (cumulative)
    ack: np.ndarray
    ts: np.ndarray | AtRows
    starts: np.ndarray
    init: dict[str, np.ndarray]
    final: dict[str, np.ndarray]

    @classmethod
    def compute(cls, seq: np.ndarray, ack: np.ndarray, plen: np.ndarray, flags: np.ndarray,
                window: np.ndarray, ts: np.ndarray | AtRows, sent: np.ndarray,
                starts: np.ndarray,
                segment: np.ndarray, init: dict[str, np.ndarray]) -> DirectionRows:
        """seq ... ts: the rows' fields (int64; ts float64 seconds, read at a few rows
        per side only, so possibly an AtRows); sent: not a capture
        copy (a copy changes nothing, as in update_packet); segment: each row's side."""
        n = seq.shape[0]
        at = np.arange(n)
        # Per-side values expanded to the side's rows by np.repeat (the rows come grouped
        # by side): a quarter of a gather's instructions (`x[segment]`, issue 7).
        sizes = group_sizes(starts, n)
        lasts = group_ends(starts, n)
        events = (flags & (SYN | FIN | RST)) != 0
        plain = not events.any()
        ns0, dup0 = init["next_seq"], init["dup_acks"]
        if not sent.all():  # a copy ends at its start: raises nothing (a TSO super-frame
            plen = np.where(sent, plen, 0)  # copy comes before its segments: super_frames)
        end = (seq + plen + ((flags & (SYN | FIN)) != 0)) & M32 if not plain else (
            (seq + plen) & M32)
        # next_seq: each row's end unwrapped by signed steps from the side's next_seq (or
        # its first row's end); a copy repeats an earlier start, so raises nothing; a RST
        # moves nothing (a refusal's seq is 0): it counts as below the side's lowest.
        known0 = ns0 != NONE
        ref = np.where(known0, ns0, end[starts])
        previous = np.empty_like(end)
        previous[1:] = end[:-1]
        previous[starts] = ref
        total = _s32(end - previous).cumsum()
        u = total + np.repeat(ref - (total[starts] - _s32(end[starts] - ref)), sizes)
        every_known = bool(known0.all())  # every side's next_seq known before its rows
        all_sent = bool(sent.all())
        is_ack = sent & ((flags & ACK) != 0)
        all_ack = bool(is_ack.all())
        # Each row's side's first row: only for the rows' previous ACK and window with
        # copies or non-ACKs, for sides first seen, or with SYN, FIN or RST.
        first = (None if plain and every_known and all_ack
                 else np.repeat(starts, sizes))
        if plain:
            base = np.where(known0, ref, u[starts] - 1)
            known = None if every_known else np.repeat(known0, sizes) | (at != first)
        else:
            moves = (flags & RST) == 0
            base = np.where(known0, ref, np.minimum.reduceat(u, starts) - 1)
            base_rows = np.repeat(base, sizes)
            u = np.where(moves, u, base_rows)
            known = np.repeat(known0, sizes) | (_previous(moves, at) >= first)
        shifted = np.empty_like(u)
        shifted[1:] = u[:-1]
        shifted[starts] = base
        before = _segmented_max(shifted, segment, base, sizes)
        rises = u > before
        ns_before = before & M32 if known is None else np.where(known, before & M32, NONE)
        # The ACK state: the previous packet's window, the previous ACK number.
        if all_ack:  # the usual run: no copy, every packet an ACK
            prev_win, prev_ack = _shift(window, starts, init["window_last"]), _shift(
                ack, starts, init["ack_sent"])
        else:
            at_sent, at_ack = _previous(sent, at), _previous(is_ack, at)
            prev_win = np.where(at_sent >= first, window[np.maximum(at_sent, 0)],
                                np.repeat(init["window_last"], sizes))
            prev_ack = np.where(at_ack >= first, ack[np.maximum(at_ack, 0)],
                                np.repeat(init["ack_sent"], sizes))
        changed = is_ack & (ack != prev_ack)
        # Duplicate ACKs: ACKs without payload, as masks over every row (a gather of
        # the pure ACKs' fields cost more than the comparisons it saved: issue 7).
        dup = is_ack & ~changed & (plen == 0) & (window != 0) & (window == prev_win) \
            & (seq == ns_before)
        if not plain:
            dup &= ~events
        dups = dup.cumsum()
        # Each side's last row of a kind, from the rows of that kind kept below anyway.
        changed_rows, raised = changed.nonzero()[0], rises.nonzero()[0]
        acks = at if all_ack else is_ack.nonzero()[0]
        last_change = _last_found(changed_rows, starts, segment, n)
        before_side = np.where(starts > 0, dups[np.maximum(starts - 1, 0)], 0)
        last_raise = _last_found(raised, starts, segment, n)
        # Every row an ACK (or sent): each side's last is its last row.
        last_ack = lasts if all_ack else _last_found(acks, starts, segment, n)
        last_sent = lasts if all_sent else np.maximum.reduceat(np.where(sent, at, -1), starts)
        top = np.maximum(before[lasts], u[lasts]) & M32
        if not plain:  # a side whose rows are all RSTs keeps an unknown next_seq
            top = np.where(known0 | (np.maximum.reduceat(np.where(moves, at, -1), starts)
                                     >= starts), top, NONE)
        final = {
            "next_seq": top,
            "next_seq_ts": np.where(last_raise >= starts, ts[np.maximum(last_raise, 0)],
                                    init["next_seq_ts"]),
            "ack_sent": np.where(last_ack >= starts, ack[np.maximum(last_ack, 0)],
                                 init["ack_sent"]),
            "ack_sent_ts": np.where(last_ack >= starts, ts[np.maximum(last_ack, 0)],
                                    init["ack_sent_ts"]),
            "dup_acks": np.where(last_change >= starts,
                                 dups[lasts] - dups[np.maximum(last_change, 0)],
                                 dup0 + dups[lasts] - before_side),
            "window_last": np.where(last_sent >= starts, window[np.maximum(last_sent, 0)],
                                    init["window_last"])}
        return cls(ns_before, raised, acks, changed_rows, dups, ack, ts, starts, init, final)

    def retransmissions(self, rows: np.ndarray, sides: np.ndarray, seq: np.ndarray,
                        plen: np.ndarray, rtt: np.ndarray, peer_sides: np.ndarray,
                        peer_init: dict[str, np.ndarray], segment: np.ndarray,
                        positions: np.ndarray) -> np.ndarray:
        """reordering.fill_is_retransmission for many data rows at once, each as if
        judged alone (nothing here changes with a judgement): `rows` (ascending), each
        its side (`sides`), sequence number (raw), payload bytes and its connection's
        handshake round trip (seconds; 0: none). Its side's next_seq before it; the
        peer's ACK state just before it, from the peer's rows (peer_sides: their side,
        -1 for a peer without rows here) or from `peer_init` (reordering.WIRE_FIELDS'
        ack_sent, ack_sent_ts, dup_acks per judged row, read from the peer's Endpoint:
        used where peer_sides is -1). segment: each row's side; positions: each row's
        place in its run's order (ascending within a side; time order for a run taken
        so, by_time.in_time_order, else capture order). A few vector passes over the
        rows judged, and one over every row to place them by side: O(rows) per call.
        Returns a bool per judged row."""
        ts = np.asarray(self.ts[rows], np.float64)
        # When each row's side's next_seq was set: its last rise before the row, in its
        # side, else the side's time before the run.
        lo = self.starts[sides]
        if self.raised.size:
            k = np.searchsorted(self.raised, rows) - 1
            rise = self.raised[np.maximum(k, 0)]
            here = (k >= 0) & (rise >= lo)
            set_ts = np.where(here, np.asarray(self.ts[rise], np.float64),
                              self.init["next_seq_ts"][sides])
        else:
            set_ts = self.init["next_seq_ts"][sides]
        dup, ack_sent, ack_ts = self._ack_states_before(peer_sides, peer_init, segment,
                                                        positions, positions[rows])
        return fill_is_retransmission_rows(seq, plen, ts, self.ns_before[rows], set_ts, rtt,
                                           dup, ack_sent, ack_ts)

    def _ack_states_before(self, peer_sides: np.ndarray, peer_init: dict[str, np.ndarray],
                           segment: np.ndarray, positions: np.ndarray,
                           at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per judged row (its peer's side, -1: none here; `at`: its place in the run's
        order), the peer's (dup_acks, ack_sent, ack_sent_ts) just before it, as columns
        (ack_sent NONE, ack_sent_ts nan: unknown)."""
        dup = peer_init["dup_acks"].copy()
        ack_sent = peer_init["ack_sent"].copy()
        ack_ts = peer_init["ack_sent_ts"].copy()
        with_rows = np.flatnonzero(peer_sides >= 0)
        if not with_rows.size:
            return dup, ack_sent, ack_ts
        side = peer_sides[with_rows]
        init = self.init
        dup[with_rows] = init["dup_acks"][side]
        ack_sent[with_rows] = init["ack_sent"][side]
        ack_ts[with_rows] = init["ack_sent_ts"][side]
        # Each peer's last row before the judged one, by one bisection over all rows'
        # (side, position) pairs: rows are grouped by side and each side's positions
        # ascend (places in the run's order, which is time order for a run taken so:
        # by_time.in_time_order), so the pairs ascend.
        placed = (segment.astype(np.int64) << 32) | positions
        lo = self.starts[side]
        i = np.searchsorted(placed, (side.astype(np.int64) << 32) | at[with_rows]) - 1
        seen = i >= lo
        if not seen.any():
            return dup, ack_sent, ack_ts
        with_rows, side, i, lo = with_rows[seen], side[seen], i[seen], lo[seen]
        if self.acks.size:
            a = np.searchsorted(self.acks, i, side="right") - 1
            last_ack = self.acks[np.maximum(a, 0)]
            acked = np.flatnonzero((a >= 0) & (last_ack >= lo))
            ack_sent[with_rows[acked]] = self.ack[last_ack[acked]]
            ack_ts[with_rows[acked]] = np.asarray(self.ts[last_ack[acked]], np.float64)
        before_side = np.where(lo > 0, self.dups[np.maximum(lo - 1, 0)], 0)
        counted = init["dup_acks"][side] + self.dups[i] - before_side
        if self.changed.size:
            c = np.searchsorted(self.changed, i, side="right") - 1
            change = self.changed[np.maximum(c, 0)]
            counted = np.where((c >= 0) & (change >= lo), self.dups[i] - self.dups[change],
                               counted)
        dup[with_rows] = counted
        return dup, ack_sent, ack_ts


def fill_is_retransmission_rows(seq: np.ndarray, plen: np.ndarray, ts: np.ndarray,
                                next_seq: np.ndarray, next_seq_ts: np.ndarray,
                                rtt: np.ndarray, dup_acks: np.ndarray, ack_sent: np.ndarray,
                                ack_sent_ts: np.ndarray) -> np.ndarray:
    """reordering.fill_is_retransmission per row, as columns: next_seq and ack_sent raw
    (NONE: None), times in seconds (nan: None), rtt seconds (0: none). The same
    arithmetic: microseconds rounded half to even (Python's round, numpy's rint) from
    the same float64 differences."""
    end = seq + plen
    ack_known = ack_sent != NONE
    spurious = ack_known & (_s32(end - ack_sent) <= 0)
    since_ack = np.rint((ts - ack_sent_ts) * 1e6)  # nan (no time) fails both bounds
    fast = ((dup_acks >= FAST_DUP_ACKS) & ack_known & (ack_sent == seq)
            & (since_ack >= 0) & (since_ack < FAST_WITHIN_US))
    unknown = (next_seq == NONE) | np.isnan(next_seq_ts)
    threshold = np.where(rtt != 0, np.rint(rtt * 1e6), OOO_DEFAULT_US)
    since_set = np.rint((ts - next_seq_ts) * 1e6)
    reordered = (since_set >= 0) & (since_set < threshold) & ((end & M32) != next_seq)
    return spurious | fast | unknown | ~reordered


def update_columns(state: dict[str, np.ndarray], side_of: np.ndarray, seq: np.ndarray,
                   ack: np.ndarray, plen: np.ndarray, flags: np.ndarray, window: np.ndarray,
                   ts: np.ndarray, sent: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows of packets in any order of sides (side_of: each packet's side, an index
    into the columns of `state`; each side's packets in capture order), `state` updated
    in place: the short-connection pass. Returns each packet's side's next_seq before it
    (raw; NONE: unknown), and which packets are duplicate ACKs (bool; None when none
    is: connections.ack_repeats)."""
    if not side_of.size:
        return np.empty(0, np.int64), None
    # Side indexes are small labels: a radix sort (stable_order), not a merge sort (1.7
    # against 2.8 ms for the 48,000 packets of a short pass of bench's (c) 200k).
    order = stable_order(side_of, int(side_of.max()) + 1)
    grouped = side_of[order]
    starts = group_starts(grouped)
    sides = grouped[starts]
    segment = np.repeat(np.arange(starts.shape[0]), group_sizes(starts, order.size))
    rows = DirectionRows.compute(seq[order], ack[order], plen[order], flags[order],
                                 window[order], ts[order], sent[order], starts, segment,
                                 {name: values[sides] for name, values in state.items()})
    for name, values in rows.final.items():
        state[name][sides] = values
    ns_before = np.empty_like(rows.ns_before)
    ns_before[order] = rows.ns_before
    if not rows.dups[-1]:
        return ns_before, None
    dup = np.empty(order.size, bool)
    dup[order] = np.diff(rows.dups, prepend=0) != 0
    return ns_before, dup


@fields_dataclass(frozen=True, slots=True)
class AtRows:
    """A batch column read at rows on demand: `AtRows(column, rows)[at]` is
    `column[rows][at]` without gathering every row first. For the columns the bulk path
    reads at a few rows per side only (times; frame numbers): a gather costs about 18
    instructions a row (issue 7)."""

    column: np.ndarray
    rows: np.ndarray

    def __getitem__(self, at: np.ndarray | int) -> np.ndarray:
        return self.column[self.rows[at]]


def last_where(found: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """Per segment (rows from each of `starts`, ascending, to the next; n rows in all):
    its last row among `found` (row numbers, ascending: a mask's nonzero()), -1 for none.
    As np.maximum.reduceat(np.where(mask, np.arange(n), -1), starts), from the found
    rows a caller has anyway: a bisection per segment, not three passes over the rows."""
    if not found.size:
        return np.full(starts.shape[0], -1, np.int64)
    ends = np.empty(starts.shape[0], np.int64)
    ends[:-1] = starts[1:]
    ends[-1:] = n
    before_end = np.searchsorted(found, ends) - 1  # the last found row below each end
    last = found[np.maximum(before_end, 0)]
    return np.where((before_end >= 0) & (last >= starts), last, -1)


def _last_found(found: np.ndarray, starts: np.ndarray, segment: np.ndarray, n: int
                ) -> np.ndarray:
    """last_where(found, starts, n), given each row's segment (ascending): with many
    segments for their rows (the short pass: two or three rows a side), from each found
    row's segment, the last found row of each segment placed by one scatter (a pass
    over the found rows; the bisection per segment was a fifth of the short pass's
    per-side analysis on bench's (c) 200k); else by bisection (a bulk run's few sides)."""
    count = starts.shape[0]
    if not found.size or count * 4 <= found.size:
        return last_where(found, starts, n)
    at = segment[found]
    last = np.empty(found.shape[0], bool)
    last[:-1] = at[1:] != at[:-1]
    last[-1] = True
    out = np.full(count, -1, np.int64)
    out[at[last]] = found[last]
    return out


def rising(values: np.ndarray, segment: np.ndarray) -> bool:
    """Whether `values` never falls within a segment (rows grouped by segment; segment:
    each row's, ascending): in-order rows, each its own segment's running maximum."""
    falls = values[1:] < values[:-1]
    if not falls.any():
        return True
    return not (falls & (segment[1:] == segment[:-1])).any()


def below(seq: np.ndarray, next_seq: np.ndarray) -> np.ndarray:
    """Per row: seq (raw) below next_seq (raw; NONE: unknown, never below)."""
    return (next_seq != NONE) & (_s32(seq - next_seq) < 0)


def _s32(value: np.ndarray) -> np.ndarray:
    return ((value + 0x80000000) & M32) - 0x80000000


def _shift(values: np.ndarray, starts: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """Per row: the previous row's value in its side, the side's `initial` for its first."""
    out = np.empty_like(values)
    out[1:] = values[:-1]
    out[starts] = initial
    return out


def _previous(mask: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Per row: the last row before it where mask holds (-1: none); a row of an earlier
    side shows as below the row's side's first row."""
    last = np.maximum.accumulate(np.where(mask, at, -1))
    out = np.empty_like(last)
    out[0] = -1
    out[1:] = last[:-1]
    return out


def _segmented_max(values: np.ndarray, segment: np.ndarray, side_base: np.ndarray,
                   sizes: np.ndarray) -> np.ndarray:
    """Running maximum restarted at each side (rows grouped, sides 0, 1, ...; sizes:
    each side's rows): values made relative to their side's base (side_base, per side)
    and lifted into blocks of 2**42."""
    if rising(values, segment):
        return values  # in-order rows (the usual run): each is its own running maximum
    base = np.repeat(side_base, sizes)
    relative = values - base
    if relative.size and (np.abs(relative).max() >= 1 << 41 or segment[-1] >= 1 << 20):
        out = np.empty_like(values)
        bounds = np.flatnonzero(np.diff(segment)) + 1
        for part in np.split(np.arange(values.size), bounds):
            out[part] = np.maximum.accumulate(values[part])
        return out
    lifted = (segment << 42) + relative + (1 << 41)
    return np.maximum.accumulate(lifted) - (segment << 42) - (1 << 41) + base
