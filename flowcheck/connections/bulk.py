"""The fast path: runs of plain packets, counted in bulk with numpy, many runs at once.

A run holds consecutive packets of one connection (in capture order) that carry no SYN,
FIN or RST, of a connection that is neither tapped nor waiting for its tap decision,
whose endpoint states such packets cannot change. For those packets, `update_packet`
only counts, adds history letters D/A/T/G/W once each, tracks sequence numbers and zero
windows (flowcheck.connections.zero_window); `apply_runs` does the same for every side
of every run given, with segmented vectorised operations (one segment per run and
direction): sequence numbers unwrapped by cumulative signed 32-bit differences, "highest
byte seen before this packet" by a cumulative maximum, first frames and sums by
`reduceat`. The numpy work is per batch, so a batch of many concurrent connections costs
about what a batch of one does; Python work is a few attribute updates per segment.

Sequence holes do not turn the fast path off: the highest byte seen does not depend on
holes, so only the packets that open a gap (start above it) or land below it (a
retransmission, reordering, a hole filled late) are handed to the hole bookkeeping, one
at a time, in capture order; in-order packets never touch a hole. So are the rare ones
that start below the side's next sequence number in Wireshark's sense (a pure ACK went
ahead of the data seen): flowcheck.connections.reordering judges those with new bytes,
from the run's per-side state (reordering_rows: a few vector passes per run, the judged
rows all at once). The cost of a run follows its packets and the few that are out of order,
never the connection's history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from flowcheck.arrays import group_starts
from flowcheck.connections.ack_repeat_rows import note_rows
from flowcheck.connections.bulk_acks import NO_ROW, first_where, track_acks
from flowcheck.connections.bulk_judge import RunJudge
from flowcheck.connections.bulk_rows import group_runs
from flowcheck.connections.bulk_sequences import data_sequences
from flowcheck.connections.bulk_sides import (
    SideColumns,
    first_data_of,
    first_letter,
    last_data_of,
)
from flowcheck.connections.conn import ACK, LETTER_RANK, ConnState
from flowcheck.connections.endpoint import Endpoint
from flowcheck.connections.reordering import endpoint_columns, set_endpoints
from flowcheck.connections.reordering_rows import (
    AtRows,
    DirectionRows,
)
from flowcheck.connections.ttl_moves import note_move, run_changes
from flowcheck.connections.zero_window import zero_window_runs
from flowcheck.decode import DecodedBatch


def apply_runs(d: DecodedBatch, from_lower: np.ndarray,
               runs: Sequence[tuple[ConnState, np.ndarray]], copy: np.ndarray,
               sacks: Callable[[int], list[tuple[int, int]]] | None = None) -> int:
    """Apply runs (connection, its packets' row numbers in `d`, in capture order) of
    distinct connections; copy: per row of `d`, whether the packet is a capture copy
    (counted only, as update_packet); sacks: the SACK blocks of a row (bulk_acks.track_acks).
    Returns how many packets needed the hole
    bookkeeping one at a time (opened a gap or landed below the highest byte seen)."""
    conns = [c for c, _ in runs]
    # run_rows: the runs' rows in capture order, one run after the other; rows: grouped
    # by side (segments), per_key: the rows of each key 2r + (responder), order: what
    # groups run_rows so (None: already grouped).
    run_rows, rows, sizes, order, per_key = group_runs(from_lower, runs)
    # Each row's place in its run, which orders the history letters (a run taken in time
    # order, by_time.in_time_order, is not in frame order).
    places = np.arange(rows.shape[0]) if order is None else order
    seg_key = per_key.nonzero()[0]
    seg_count = per_key[seg_key]
    starts = np.cumsum(seg_count) - seg_count
    keys = seg_key.tolist()
    # Each segment's side and its peer, in one pass; whether a zero window is open on
    # either (zero_window_runs, below); which sides nothing was seen of yet, whose
    # peer's base is unknown (_learn_bases); the sides' sequence state (SideColumns).
    sides: list[Endpoint] = []
    peers: list[Endpoint] = []
    peer_unseen: list[bool] = []  # before this run's data
    no_base: list[int] = []
    last_raw: list[int] = []
    last_u: list[int | None] = []
    max_end: list[int | None] = []
    zero_open = False
    for s, k in enumerate(keys):
        c = conns[k >> 1]
        side, peer = (c.resp, c.orig) if k & 1 else (c.orig, c.resp)
        sides.append(side)
        peers.append(peer)
        peer_unseen.append(peer.max_end is None)
        if peer.base is None:
            no_base.append(s)
        last_raw.append(side.last_raw)
        last_u.append(side.last_u)
        max_end.append(side.max_end)
        if side.zero_ts is not None or peer.zero_ts is not None:
            zero_open = True
    state = SideColumns.of(last_raw, last_u, max_end)

    plen = d.tcp_payload_len[rows]
    flags = d.tcp_flags[rows]
    # Frame numbers and times are read at a few rows per side only: not gathered.
    frames = AtRows(d.tcp_frame, rows)
    # Each column gathered once for the batch's rows, then reused (issue 7).
    seq, window, ts = d.tcp_seq[rows], d.tcp_window[rows], AtRows(d.tcp_ts, rows)
    payload = np.add.reduceat(plen, starts)  # capture copies included (tshark's bytes)
    sent = ~copy[rows]  # the rest: the packets that count as sent (not capture copies)
    all_sent = bool(sent.all())  # the usual run: no capture copy
    copied = (None if all_sent  # the copies' payload (Connection.orig_copy_bytes)
              else np.add.reduceat(np.where(sent, 0, plen), starts).tolist())
    data = plen > 0 if all_sent else (plen > 0) & sent
    zero = window == 0 if all_sent else (window == 0) & sent
    histories = [conns[k >> 1].record.history for k in keys]
    letters = {"D": first_letter("D", data, places, starts, keys, histories),
               "A": first_letter("A", None, places, starts, keys, histories,
                                  lambda: ~data & sent & ((flags & ACK) != 0)),
               "W": first_letter("W", zero, places, starts, keys, histories)}
    one_at_a_time = 0
    retransmits = np.zeros(starts.shape[0], np.int64)
    segment = np.repeat(np.arange(starts.shape[0]), seg_count)  # per row: its segment
    # Zero windows are rare: Python per segment only when one is in the batch or open.
    if zero_open or zero.any():
        zero_window_runs(d, rows, zero, sent, starts, seg_key, sides, peers)
    # Wireshark's per-side analysis (reordering): what a gap's fill is; kept per side.
    ack = d.tcp_ack[rows]
    wire = DirectionRows.compute(seq, ack, plen, flags, window, ts, sent, starts,
                                 segment, endpoint_columns(sides))
    data_rows = data.nonzero()[0]
    if data_rows.size:
        one_at_a_time = data_sequences((seq, ts), data_rows, starts, plen, frames, sides,
                                   state, (letters, places, keys, histories),
                                   retransmits, starts.shape[0], wire.ns_before,
                                   RunJudge(wire, conns, keys, peers, segment, places))
    set_endpoints(sides, wire.final)
    # The history letters the segments show (D, A, W; T, G with data), one entry per
    # letter a segment has (most have D or A only): (segment, letter, place in its run).
    names = list(letters)
    table = np.stack([letters[name] for name in names])
    at_letter, at_segment = (table != NO_ROW).nonzero()
    shows = zip(at_segment.tolist(), at_letter.tolist(), table[at_letter, at_segment].tolist(),
                strict=True)
    counts, payloads = seg_count.tolist(), payload.tolist()
    # A side whose only packets so far were RSTs (steady: their state is RESET) has no
    # TTL of its own yet (conn.update_packet): its run's first packet gives it.
    ttl = d.tcp_ttl[rows]
    first_ttl = ttl[starts].tolist()
    # Each side's last packet's TTL, a capture copy's not (Endpoint.ttl_before_rst, kept
    # while the side has sent no RST: update_packet's); None: only copies. And its TTL's
    # latest change (Endpoint.ttl_moved: flowcheck.connections.ttl_moves).
    changes = run_changes(ttl, segment, sent, all_sent)
    if all_sent:
        last_ttl: list[int | None] = ttl[starts + seg_count - 1].tolist()
        first_sent: list[int | None] = first_ttl  # type: ignore[assignment]
        first_row = starts.tolist()
    else:
        last_at = np.maximum.reduceat(np.where(sent, np.arange(rows.shape[0]), -1), starts)
        last_ttl = [None if at < 0 else value for at, value in zip(
            last_at.tolist(), ttl[last_at].tolist(), strict=True)]
        first_row = np.minimum.reduceat(np.where(sent, np.arange(rows.shape[0]), rows.shape[0]),
                                        starts).tolist()
        first_sent = [None if at >= rows.shape[0] else int(ttl[at]) for at in first_row]
    retransmit_counts = retransmits.tolist()
    seg_last_ts = ts[starts + seg_count - 1].tolist()  # each side's last
    last_data = last_data_of(frames, ts, data_rows, starts)
    unfirsted: list[int] = []  # segments with data whose side has no first data yet
    for s, k in enumerate(keys):
        c = conns[k >> 1]
        record = c.record
        if last_data[s] is not None:
            if k & 1:
                record.resp_last_data = last_data[s]
                if record.resp_first_data is None:  # an earlier batch's stays the first
                    unfirsted.append(s)
            else:
                record.orig_last_data = last_data[s]
                if record.orig_first_data is None:
                    unfirsted.append(s)
        side = sides[s]
        if side.rst_ttl is None:
            if s in changes or (first_sent[s] != side.ttl_before_rst
                                and side.ttl_before_rst is not None):
                note_move(side, s, ttl, ts, changes, first_sent[s], first_row[s])
            if last_ttl[s] is not None:
                side.ttl_before_rst = last_ttl[s]
        if k & 1:
            record.resp_last_ts = seg_last_ts[s]
            record.resp_pkts += counts[s]
            record.resp_bytes += payloads[s]
            if record.resp_ttl is None:
                record.resp_ttl = first_ttl[s]
        else:
            record.orig_last_ts = seg_last_ts[s]
            record.orig_pkts += counts[s]
            record.orig_bytes += payloads[s]
            if record.orig_ttl is None:
                record.orig_ttl = first_ttl[s]
        if copied is not None:
            if k & 1:
                record.resp_copy_bytes += copied[s]
            else:
                record.orig_copy_bytes += copied[s]
        record.retransmits += retransmit_counts[s]
    if unfirsted:  # a side's first data run only: a transfer's later runs have it
        for s, first in zip(unfirsted, first_data_of(frames, ts, data_rows,
                                                     starts[unfirsted]), strict=True):
            record = conns[keys[s] >> 1].record
            if keys[s] & 1:
                record.resp_first_data = first
            else:
                record.orig_first_data = first
    # Per connection, its new letters in the order of their first packets (update_packet's).
    pending: dict[int, list[tuple[int, int, str]]] = {}
    for s, letter, place in shows:
        k = keys[s]
        name = names[letter]
        shown = name.lower() if k & 1 else name
        if shown not in histories[s]:
            pending.setdefault(k >> 1, []).append((place, LETTER_RANK[name], shown))
    for r, found in pending.items():
        for _, _, name in sorted(found):
            conns[r].add_letter(name)
    last_rows = run_rows[sizes.cumsum() - 1]  # each run's last packet
    for c, frame, last_ts in zip(conns, d.tcp_frame[last_rows].tolist(),
                                 d.tcp_ts[last_rows].tolist(), strict=True):
        c.record.last_frame = frame
        c.record.last_ts = last_ts
    acks = flags & ACK if all_sent else np.where(sent, flags & ACK, 0)  # a copy: none
    _ahead((seq, frames), (acks != 0) & (plen == 0), data, starts, segment, sides, state)
    if no_base:
        _learn_bases(ack, acks, starts, seg_key, conns, no_base)
    # The handshake's ACK repeated (duplicate ACKs: rare): their frames.
    note_rows(wire.dups, segment, keys, conns, (seq, ack, frames))
    track_acks((ack, frames, ts), rows, acks, data, starts, segment, seg_key, peers,
               peer_unseen, sacks)
    return one_at_a_time


def _ahead(columns: tuple[np.ndarray, AtRows], pure: np.ndarray, data: np.ndarray,
           starts: np.ndarray, segment: np.ndarray, sides: list[Endpoint],
           state: SideColumns) -> None:
    """As update_packet's note_ahead for the pure ACK rows `pure` (grouped by segment):
    each side's highest sequence number of them, unwrapped against its last one after
    the run, kept when above its max_end after the run (the same at the end: a value the
    reference keeps below it never counts). A side seen first in this run takes only the
    rows after its first data row, as the reference does. One pass over all segments;
    Python only for the sides whose ACKs went ahead (rare: bytes the capture missed).
    columns: the rows' sequence numbers (raw) and frame numbers; state: the sides'
    sequence state before the run and after it (SideColumns)."""
    seq, frames = columns
    at = pure.nonzero()[0]
    if not at.size:
        return
    seg = segment[at]
    known = state.has_max & state.known
    if not (known.all() and state.had_max.all()):  # else every row is kept
        keep = known[seg]
        if not state.had_max.all():  # sides seen first in this run
            first_data = first_where(data, np.arange(seq.shape[0]), starts)
            keep &= state.had_max[seg] | (at > first_data[seg])
        if not keep.all():
            at, seg = at[keep], seg[keep]
            if not at.size:
                return
    last_raw, last_u, max_end = state.last_raw, state.last_u, state.max_end
    tops = (((seq[at] - last_raw[seg] + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            + last_u[seg])
    firsts = group_starts(seg)
    highest = np.maximum.reduceat(tops, firsts)
    groups = seg[firsts]
    for i in np.flatnonzero(highest > max_end[groups]).tolist():
        side, top = sides[int(groups[i])], int(highest[i])
        if side.seq_ahead is None or top > side.seq_ahead:
            stop = int(firsts[i + 1]) if i + 1 < firsts.shape[0] else tops.shape[0]
            lo = int(firsts[i])
            side.seq_ahead = top
            side.seq_ahead_frame = int(frames[at[lo + int(np.argmax(tops[lo:stop]))]])


def _learn_bases(ack: np.ndarray, flags: np.ndarray, starts: np.ndarray,
                 seg_key: np.ndarray, conns: list[ConnState], unknown: list[int]) -> None:
    """As update_packet: the first ACK from a side tells the peer's base if still unknown
    (ack: the rows' ACK numbers, raw; unknown: the segments whose peer's base is)."""
    first_ack = first_where((flags & ACK) != 0, np.arange(ack.shape[0]), starts)
    for s in unknown:
        k = int(seg_key[s])
        if first_ack[s] != NO_ROW:
            peer = conns[k >> 1].orig if k & 1 else conns[k >> 1].resp
            peer.base = (int(ack[first_ack[s]]) - 1) & 0xFFFFFFFF
