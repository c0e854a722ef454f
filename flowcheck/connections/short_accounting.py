"""What the short-connection pass's flows add up to at the end, column-wise: the array
form of flowcheck.connections.accounting (conn_state, missed_bytes and gaps, acked_unseen,
unacked, segment sizes, each side's SideEvidence: resends, sent_unseen, zero windows),
read from a pass's arrays for the records flowcheck.connections.short_records builds. They
must agree with the reference path's
(tests/test_connections*.py compare the paths).
"""

from __future__ import annotations

from dataclasses import fields
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np

from flowcheck.connections.block_columns import Same, Sparse, column
from flowcheck.connections.block_records import FreshRows
from flowcheck.connections.record_columns import NONE, optional, with_none
from flowcheck.connections.reordering import M32
from flowcheck.connections.state import conn_states
from flowcheck.connections.zero_window import ZERO_FIELDS, ZERO_RECORD
from flowcheck.model import Connection, SideEvidence
from flowcheck.model.frames import NO_FRAMES

# SideEvidence's fields in order, each with its default (_evidence passes them all).
_EVIDENCE_FIELDS = tuple((f.name, f.default) for f in fields(SideEvidence))
# The zero-window fields zero_window_evidence gives as 0 while no zero window is open.
_ZERO_WHILE_OPEN = frozenset(ZERO_FIELDS[1:4])

# A flowcheck.connections.short.ShortPass (not imported: short imports parked, which
# imports this module).
ShortPass = Any


def closing(short: ShortPass, flows: np.ndarray, histories: list[str], orig_bytes: np.ndarray,
            resp_bytes: np.ndarray, rst_frames: list[list[int]], lazy: bool = False
            ) -> tuple[list[str], list[int], list[int], list[list[int]], np.ndarray,
                       np.ndarray, Any, Any]:
    """As the tracker's finish (conn_state, account_missed) for flows without holes:
    conn_state, missed_bytes, gaps, gap_frames; acked_unseen and unacked, each an int64
    array (2, flows): the originator's row, then the responder's; the originator's and
    the responder's SideEvidence per flow (None for a side without: _evidence, given each
    flow's RST frames; lazy: as block_columns columns, each made with its record)."""
    fin = short.fin.take(flows, axis=1)
    acked, max_end = short.acked.take(flows, axis=1), short.max_end.take(flows, axis=1)
    both = (acked != NONE) & (max_end != NONE)
    beyond = np.where(both, np.maximum(0, acked - max_end - fin), 0)
    gaps = (beyond > 0).sum(axis=0)
    gap_frames: list[list[int]] = [NO_FRAMES] * flows.shape[0]  # shared: most have none
    acked_frame = short.acked_frame.take(flows, axis=1)
    for i in np.flatnonzero(gaps).tolist():
        gap_frames[i] = [acked_frame.item(row, i) for row in (0, 1) if beyond[row, i]]
    state = short.state.take(flows, axis=1)
    states = conn_states(state[0], state[1], histories, orig_bytes, resp_bytes)
    # accounting.acked_unseen: a side never seen (no max_end) its peer ACKed.
    first = short.unseen_first.take(flows, axis=1)
    unseen = np.where((max_end == NONE) & (first != NONE),
                      short.unseen_top.take(flows, axis=1) - first, 0)
    # accounting.unacked: a side seen its peer ACKed, short of its highest byte; the
    # peer's ACKs before its first packet only (accounting.early_acked) count too.
    delta = (short.unseen_top.take(flows, axis=1) - max_end) & M32
    early = max_end + np.where(delta >= 1 << 31, delta - (1 << 32), delta)
    only_early = (acked == NONE) & (max_end != NONE) & (first != NONE)
    unacked = np.where(both, np.maximum(0, max_end - acked),
                       np.where(only_early, np.maximum(0, max_end - early), 0))
    return (states, beyond.sum(axis=0).tolist(), gaps.tolist(), gap_frames, unseen, unacked,
            *_evidence(short, flows, acked, max_end, rst_frames, lazy))


def _evidence(short: ShortPass, flows: np.ndarray, acked: np.ndarray, max_end: np.ndarray,
              rst_frames: list[list[int]], lazy: bool = False) -> tuple[Any, Any]:
    """accounting.side_evidence column-wise (no lost holes: the pass holds no holes), for
    the sides that have some (trailing resends, sent_unseen, a zero window, a RST's TTL);
    None for the others, almost all. acked, max_end: the flows' columns; rst_frames: each flow's
    record's. lazy: each side's as a column (block_columns.Sparse: the sides with
    evidence and their fields' values, each SideEvidence made with its record; Same(None)
    for a side none has), not a list of objects."""
    count = flows.shape[0]
    resends = short.resends.take(flows, axis=1)
    # accounting.sent_unseen: a pure ACK's sequence above the side's max_end (a FIN takes one).
    ahead = short.seq_ahead.take(flows, axis=1)
    beyond = np.where((ahead != NONE) & (max_end != NONE),
                      ahead - max_end - short.fin.take(flows, axis=1), 0)
    zero = {name: values.take(flows, axis=1) for name, values in short.zero.items()}
    rst_ttl = short.rst_ttl.take(flows, axis=1)
    before_rst = short.ttl_before_rst.take(flows, axis=1)
    moved = ~np.isnan(short.ttl_move_ts.take(flows, axis=1))  # Endpoint.ttl_moved
    repeats = _handshake_ack_repeats(short, flows, max_end)
    has = ((resends > 0) | (beyond > 0) | ~np.isnan(zero["zero_ts"])
           | (zero["zero_long_s"] > 0) | (rst_ttl >= 0) | moved | (repeats > 0))
    if not has.any():
        return (Same(None), Same(None)) if lazy else ([None] * count, [None] * count)
    resent_u = short.resent_u.take(flows, axis=1)
    resent_frame = short.resent_frame.take(flows, axis=1)
    acked_frame = short.acked_frame.take(flows, axis=1)
    stale = (resends > 0) & (acked != NONE) & (resent_u != NONE) & (resent_u < acked)
    # accounting.resends_acked: not answered after the latest resend (but on a RST), and
    # nothing new of the peer's acknowledged since (row 0 the originator, 1 its peer).
    late = stale & (acked_frame > resent_frame)
    for row, i in zip(*np.nonzero(late), strict=True):
        late[row, i] = acked_frame.item(row, i) not in rst_frames[i]
    took_later = (acked[::-1] != NONE) & (acked_frame[::-1] > resent_frame)
    stale &= ~late & ~took_later
    # The sides with evidence, made by one C-level map over SideEvidence's fields as
    # columns (a Python step and a keyword call per side was most of the records' closing
    # for 200,000 short connections: 31,689 sides with a RST).
    row, i = np.nonzero(has)
    at = flows[i]
    resent, unseen = resends[row, i] > 0, beyond[row, i] > 0
    resends_now = resends[row, i]
    kept = {"resends": resends_now.tolist(),
            "resends_acked": np.where(stale[row, i], resends_now, 0).tolist(),
            "resent_ts": _optional_where(short.resent_ts[row, at], resent),
            "resent_frame": np.where(resent, resent_frame[row, i], 0).tolist(),
            "resent_len": np.where(resent, short.resent_len[row, at], 0).tolist(),
            "resend_first_ts": _optional_where(short.resend_first_ts[row, at], resent),
            "resend_first_frame": np.where(resent, short.resend_first_frame[row, at],
                                           0).tolist(),
            "sent_unseen": np.where(unseen, beyond[row, i], 0).tolist(),
            "sent_unseen_frame": np.where(unseen, short.ahead_frame[row, at], 0).tolist(),
            "handshake_ack_repeats": repeats[row, i].tolist()}
    # zero_window_evidence: the trailing ones None / 0 when zero_ts is None.
    zero_open = ~np.isnan(zero["zero_ts"][row, i])
    for name, record_name in zip(ZERO_FIELDS, ZERO_RECORD, strict=True):
        values = zero[name][row, i]
        if name in _ZERO_WHILE_OPEN:
            values = np.where(zero_open, values, 0)
        kept[record_name] = (optional(values) if values.dtype.kind == "f"
                             else values.tolist())
    rst_now = rst_ttl[row, i]
    kept["rst_ttl"] = with_none(rst_now, rst_now < 0)
    before_now = before_rst[row, i]
    kept["ttl_before_rst"] = with_none(before_now, (rst_now < 0) | (before_now < 0))
    ttl_moved: list[tuple[float, int, int] | None] = [None] * row.shape[0]
    for n in np.flatnonzero(moved[row, i]).tolist():  # a route changed (rare)
        side, flow = row.item(n), at.item(n)
        ttl_moved[n] = (short.ttl_move_ts.item(side, flow), short.ttl_move_from.item(side, flow),
                        short.ttl_move_to.item(side, flow))
    kept["ttl_moved"] = ttl_moved
    if lazy:
        fields = [kept[name] if name in kept else Same(default)
                  for name, default in _EVIDENCE_FIELDS]
        return _sparse(count, row, i, 0, fields), _sparse(count, row, i, 1, fields)
    made = np.empty(row.shape[0], object)
    made[:] = list(map(SideEvidence, *(kept[name] if name in kept else repeat(default)
                                       for name, default in _EVIDENCE_FIELDS)))
    placed = np.full((2, count), None, object)
    placed[row, i] = made
    orig, resp = placed.tolist()
    return orig, resp


def _sparse(count: int, row: np.ndarray, i: np.ndarray, side: int,
            fields: list[list | Same]) -> Sparse | Same:
    """Side `side`'s evidence column (the sides with evidence: row, i, one entry of each
    of `fields` per side with evidence, as _evidence has them): its flows' values only,
    a field whose values are all one kept as that value."""
    sel = np.flatnonzero(row == side)
    if not sel.size:
        return Same(None)
    picked = sel.tolist()

    def part(values: list | Same) -> list | Same:
        if type(values) is Same:
            return values
        return column(list(itemgetter(*picked)(values)) if len(picked) > 1
                      else [values[picked[0]]])

    return Sparse(count, i[sel], SideEvidence, [part(values) for values in fields])


def _optional_where(values: np.ndarray, where: np.ndarray) -> list[float | None]:
    """Floats as a list, None where `where` does not hold or the value is nan."""
    return with_none(values, ~where | np.isnan(values))


def _handshake_ack_repeats(short: ShortPass, flows: np.ndarray, max_end: np.ndarray
                           ) -> np.ndarray:
    """accounting.handshake_ack_repeats column-wise: (2, flows) int64, the side's
    duplicate ACKs when it sent nothing but its SYN and its last ACK number answers the
    peer's SYN (the peer's ISN + 1, or its base + 1 while nothing of it is seen)."""
    dups = short.wire["dup_acks"].take(flows, axis=1)
    isn = short.isn.take(flows, axis=1)
    peer_isn, peer_end = isn[::-1], max_end[::-1]
    peer_base = short.base.take(flows, axis=1)[::-1]
    answer = np.where(peer_isn != NONE, (peer_isn + 1) & M32,
                      np.where((peer_end == NONE) & (peer_base != NONE), (peer_base + 1) & M32,
                               NONE))
    repeated = ((dups > 0) & (isn != NONE) & (max_end == isn + 1) & (answer != NONE)
                & (short.wire["ack_sent"].take(flows, axis=1) == answer))
    return np.where(repeated, dups, 0)


def gap_times(short: ShortPass, flows: np.ndarray, records: list[Connection],
              *, fresh: bool) -> None:
    """The records' gap_times (one record per flow of `flows`), for the gap_frames
    `closing` gave them: the times of the ACKs beyond the last byte captured. fresh:
    the records are new (their gap_times empty), so only flows with gaps are visited;
    else those too whose record has some (a continuing flow's, as parked: ShortPass.before)."""
    beyond = _acked_beyond(*_sides(short, flows))
    times = short.acked_ts.take(flows, axis=1)
    visit = beyond.any(axis=0)
    if not fresh:  # and those whose record has gap times (as parked) to take back
        visit |= _acked_beyond(*_parked_sides(short, flows)).any(axis=0)
    for i in np.flatnonzero(visit).tolist():  # as closing's gap_frames
        records[i].gap_times = [times.item(row, i) for row in (0, 1) if beyond[row, i]]


def fins_unseen(short: ShortPass, flows: np.ndarray, records: list[Connection],
                *, fresh: bool) -> None:
    """The records' fins_unseen (one record per flow of `flows`), as
    accounting.account_missed sets it: sides without a FIN captured that their peer
    ACKed exactly one past the last byte captured, and which (orig/resp_fin_unseen;
    row 0 the originator's; those flags also for a side never captured whose FIN its
    peer acknowledged), and orig/resp_fin_or_byte (a side never captured whose peer's
    last ACK took one more: acked_one_more). fresh: as for gap_times (a continuing
    flow's later packets may undo them: those whose record has some are visited)."""
    missed = _fin_unseen(*_sides(short, flows))
    counts = missed.sum(axis=0)
    # Sides never captured their peer's last ACK took one past its level before (their
    # FIN or a last byte: accounting.acked_one_more), and of them those whose peer's FIN
    # is captured: their FIN (accounting.fin_proved_unseen).
    one_more = acked_one_more(short.max_end.take(flows, axis=1),
                              short.unseen_top.take(flows, axis=1),
                              short.unseen_below.take(flows, axis=1))
    unseen = missed | one_more & short.fin.take(flows, axis=1)[::-1]
    visit = (unseen | one_more).any(axis=0)
    if not fresh:  # and those whose record has some (as parked) to take back
        visit |= (_fin_unseen(*_parked_sides(short, flows))
                  | short.before["acked_one_more"].take(flows, axis=1)).any(axis=0)
    at = np.flatnonzero(visit)
    if type(records) is FreshRows:  # new records: the same writes, kept as patches in bulk
        rows = at.tolist()
        for name, values in (("fins_unseen", counts), ("orig_fin_unseen", unseen[0]),
                             ("resp_fin_unseen", unseen[1]), ("orig_fin_or_byte", one_more[0]),
                             ("resp_fin_or_byte", one_more[1])):
            if rows:
                records.put(name, rows, values[at].tolist())
        return
    for i in at.tolist():
        records[i].fins_unseen = int(counts[i])
        records[i].orig_fin_unseen = bool(unseen[0, i])
        records[i].resp_fin_unseen = bool(unseen[1, i])
        records[i].orig_fin_or_byte = bool(one_more[0, i])
        records[i].resp_fin_or_byte = bool(one_more[1, i])


def fins_acked(short: ShortPass, flows: np.ndarray, records: list[Connection],
               *, fresh: bool) -> None:
    """The records' orig/resp_fin_acked (one record per flow of `flows`), as
    accounting.fin_acked sets them: sides with a FIN captured their peer ACKed above the
    last byte captured. fresh: the records are new (False: only the flows with one are
    visited); else a continuing flow's only where it changed since it was parked
    (ShortPass.before)."""
    done = fin_acked_sides(short, flows)
    changed = None if fresh else done != _fin_acked(*_parked_sides(short, flows))
    _set_sides(records, done, changed, "orig_fin_acked", "resp_fin_acked")


def fin_acked_sides(short: ShortPass, flows: np.ndarray) -> np.ndarray:
    """Per side (2, flows; bool) of `flows`: Connection.orig/resp_fin_acked, as
    accounting.fin_acked: a FIN captured that its peer ACKed above its last byte."""
    return _fin_acked(*_sides(short, flows))


def seg_max(short: ShortPass, flows: np.ndarray, records: list[Connection],
            *, fresh: bool) -> None:
    """The records' orig/resp_seg_max (one record per flow of `flows`), as
    accounting.account_missed sets them; fresh: as for fins_acked (new records are 0)."""
    largest = short.seg_max.take(flows, axis=1)
    changed = None if fresh else largest != short.before["seg_max"].take(flows, axis=1)
    _set_sides(records, largest, changed, "orig_seg_max", "resp_seg_max")


def _set_sides(records: list[Connection], values: np.ndarray, changed: np.ndarray | None,
               orig_name: str, resp_name: str) -> None:
    """Each record's orig_name and resp_name set from values' rows 0 and 1 (a column
    per record; bool or int), where a side changed (changed: same shape; None: new
    records, set where non-zero, the others keeping their default, False or 0): a
    Python step for every record was a fifth of the short pass's record making for
    200,000 short connections."""
    visit = np.flatnonzero((values if changed is None else changed).any(axis=0))
    orig, resp = values[:, visit].tolist()
    for i, o, r in zip(visit.tolist(), orig, resp, strict=True):
        setattr(records[i], orig_name, o)
        setattr(records[i], resp_name, r)


def changed_gaps(short: ShortPass, flows: np.ndarray) -> list[int]:
    """The continuing flows (indices into `flows`) whose gaps (missed_bytes, gaps,
    gap_frames, gap_times) are or were (as parked: ShortPass.before) not none."""
    now = _acked_beyond(*_sides(short, flows))
    return np.flatnonzero((now | _acked_beyond(*_parked_sides(short, flows))).any(
        axis=0)).tolist()


def _parked_sides(short: ShortPass, flows: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """acked, max_end and fin of continuing flows' sides as parked (ShortPass.before),
    each (2, flows): what their records' end-of-connection fields were made from."""
    before = short.before
    return tuple(before[name].take(flows, axis=1) for name in ("acked", "max_end", "fin"))


def _acked_beyond(acked: np.ndarray, max_end: np.ndarray, fin: np.ndarray) -> np.ndarray:
    """Per side: its peer ACKed beyond its last byte captured (gap_times)."""
    return (acked != NONE) & (max_end != NONE) & (acked - max_end - fin > 0)


def _fin_unseen(acked: np.ndarray, max_end: np.ndarray, fin: np.ndarray) -> np.ndarray:
    """Per side: no FIN captured, its peer ACKed one past its last byte (fins_unseen)."""
    return (acked != NONE) & (max_end != NONE) & (fin == 0) & (acked - max_end == 1)


def acked_one_more(max_end: np.ndarray, top: np.ndarray, below: np.ndarray) -> np.ndarray:
    """Per side (each (2, flows), row 0 the originator's): nothing of it captured, the
    peer's highest ACK of it one past the level before (Endpoint.unseen_top,
    unseen_below): accounting.acked_one_more."""
    return (max_end == NONE) & (below != NONE) & (top - below == 1)


def _fin_acked(acked: np.ndarray, max_end: np.ndarray, fin: np.ndarray) -> np.ndarray:
    """Per side: a FIN captured its peer ACKed above its last byte (fins_acked)."""
    return (acked != NONE) & (max_end != NONE) & (fin != 0) & (acked - max_end > 0)


def _sides(short: ShortPass, flows: np.ndarray) -> tuple[np.ndarray, ...]:
    """The flows' acked, max_end and fin, each (2, flows) (`take`: several times faster
    than [:, flows], which copies each flow's column on its own)."""
    return tuple(getattr(short, name).take(flows, axis=1) for name in ("acked", "max_end", "fin"))
