"""A connection's start, end and first SYN by time in a batch not in time order.

A file may hold its records out of time order: a sniffer capturing on several queues or
CPUs writes each queue's packets in turn, files merged without sorting (what
`reordercap` fixes). The tracker's paths take a connection's first and last packet in
file order (`Connection.ts`, `last_ts`, `syn_ts`); after a batch that goes back in time
(ClockSteps.out_of_order) this moves them to its packets' earliest and latest times, so
a connection's start, duration and SYN span do not depend on the order the records were
written in (trial 29 D3: "4 SYNs over 0.0 s" at the last SYN's time). Only records whose
time counts (ClockSteps.timed) do it: not the packets after a clock set back, which
stay behind for the rest of the capture, nor one stamped before the capture began. The
cost is a few numpy reductions per such batch and Python work per flow whose packets
go back in time, never per packet; a batch in time order costs nothing.

`in_time_order` goes further for a flow whose packets go back in time by less than NTP's
step threshold (a multi-queue NIC, merged rings, a tap: a segment written before the one
sent ahead of it, an ACK before the data it acknowledges): the tracker's paths take that
flow's packets in time order, as in the file `reordercap` sorts, so a segment written
after a later one is no retransmission, its gap no gap, the history the sorted file's.
Packets further behind (a clock set back, records far out of order) keep their place in
the file: capture_clock_stepped tells of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from flowcheck.connections.clock import CLOCK_STEP_SECONDS, ClockSteps
from flowcheck.connections.conn import ACK, FIN, RST, SYN
from flowcheck.connections.endpoint import signed32
from flowcheck.connections.flows import BatchFlows, FlowKey
from flowcheck.decode import DecodedBatch
from flowcheck.model import Connection


def out_of_order(ts: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per flow (its rows starts..starts+sizes in ts, its packets' times in flow order):
    whether a packet is stamped earlier than the one before it."""
    back = np.concatenate(([0], np.cumsum(ts[1:] < ts[:-1])))
    return back[starts + sizes - 1] > back[starts]


def in_time_order(d: DecodedBatch, flows: BatchFlows, shuffled: np.ndarray
                  ) -> tuple[BatchFlows, int, tuple[int, float, float], list[int]] | None:
    """flows with the packets of each flow that goes back in time in the batch sorted by
    time (stable), each flow's packets stamped behind its latest before them staying in
    place (a stretch of their own) unless written out of time order (shuffled: per TCP
    row of d, ClockSteps.shuffled) by less than CLOCK_STEP_SECONDS: a clock set back, or
    records far out of order, keep the file's order. Also the number of packets stamped
    earlier than the one before them in their flow that moved so, and the first of them
    (frame, seconds back, its time), and the flows whose packets moved (their indices).
    None when none moves."""
    order, starts, sizes = flows.order, flows.bounds[:-1], np.diff(flows.bounds)
    ts = d.tcp_ts[order]
    back = out_of_order(ts, starts, sizes)
    if not back.any():
        return None
    sorted_order, count, first, moved = order.copy(), 0, None, []
    for f in np.flatnonzero(back).tolist():
        begin, end = int(starts[f]), int(starts[f] + sizes[f])
        times, rows = ts[begin:end], order[begin:end]
        latest = np.maximum.accumulate(times)[:-1]
        behind = times[1:] < latest
        close = behind & (times[1:] >= latest - CLOCK_STEP_SECONDS)
        moves = close & shuffled[rows[1:]]
        flags = d.tcp_flags[rows]
        syn = ((flags & (SYN | ACK)) == SYN, (flags & (FIN | RST)) != 0)
        if (close & ~moves).any():
            # Packets written in blocks (a NIC's receive and send queues in turn) end
            # their stretch as smoothly as a clock set back; but in the file's order an
            # ACK covers the other side's bytes written only after it, in time order not.
            both = _by_time(rows, times, close | ~behind, syn)
            if acks_ahead(d, both, flows.from_lower) < acks_ahead(d, rows, flows.from_lower):
                moves = close
        if moves.any() and acks_ahead(d, _by_time(rows, times, moves | ~behind, syn),
                                      flows.from_lower) > acks_ahead(d, rows, flows.from_lower):
            # An order with more ACKs ahead of the bytes they cover than the file's is
            # not the wire's: a clock set back a little, then a pause (review 2).
            continue
        near = np.flatnonzero(moves & (times[1:] < times[:-1])) + 1
        if not near.size:
            continue
        count += int(near.size)
        at = int(near[0])
        frame = int(d.tcp_frame[rows[at]])
        if first is None or frame < first[0]:
            first = (frame, float(times[at - 1] - times[at]), float(times[at]))
        sorted_order[begin:end] = _by_time(rows, times, moves | ~behind, syn)
        moved.append(f)
    if first is None:
        return None
    return (BatchFlows(flows.keys, flows.flow, flows.from_lower, sorted_order, flows.bounds),
            count, first, moved)


def _by_time(rows: np.ndarray, times: np.ndarray, free: np.ndarray,
             syn: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """rows (one flow's, file order; times: theirs) sorted by time, stable, but each
    packet after the first that is not free (per packet after the first) staying in
    place: it begins a stretch that sorts on its own. No packet written after a SYN
    (syn: per row, SYN without ACK; and per row, FIN or RST) moves ahead of it: a
    connection begins with its SYN, so one stamped earlier is behind a clock set back.
    And no packet moves across a SYN written and stamped after a FIN or RST of the
    flow: the 4-tuple's next connection begins there (review 2: the last ACK of one moved into
    the next)."""
    stretch = np.concatenate(([0], np.cumsum(~free)))
    opens, closes = syn
    # A FIN or RST written before the SYN and stamped before it too (a refusal written
    # before the SYN it answers is stamped after it: it moves behind it).
    closed = np.minimum.accumulate(np.where(closes, times, np.inf))
    ended = np.concatenate(([np.inf], closed[:-1])) <= times
    reuse = np.cumsum(opens & ended)
    key = np.maximum(times, np.maximum.accumulate(np.where(opens, times, -np.inf)))
    return rows[np.lexsort((key, stretch, reuse))]


def acks_ahead(d: DecodedBatch, rows: np.ndarray, from_lower: np.ndarray) -> int:
    """How many packets of one flow, taken in the order of rows (TCP rows of d), carry an
    ACK number that covers bytes (or a SYN, a FIN) of the other side that come only
    after them (a RST's too: a refusal acknowledges the SYN it refuses): what no TCP
    sends, so an order that has them is not the wire's. ACK
    numbers up to the other side's lowest sequence number in rows (its bytes of earlier
    batches) or beyond its highest (bytes the capture lacks) are not counted. Raw
    32-bit numbers are compared by signed difference from the side's first one."""
    low = from_lower[rows]
    flags = d.tcp_flags[rows].astype(np.int64)
    seq = d.tcp_seq[rows].astype(np.int64)
    end = seq + d.tcp_payload_len[rows] + ((flags & (SYN | FIN)) != 0)
    acks = flags & ACK != 0
    count = 0
    for side in (True, False):
        sender = low == side
        acker = acks & ~sender
        if not sender.any() or not acker.any():
            continue
        base = int(seq[sender][0])
        start_rel, end_rel = signed32(seq - base), signed32(end - base)
        ack_rel = signed32(d.tcp_ack[rows].astype(np.int64) - base)
        floor, top = int(start_rel[sender].min()), int(end_rel[sender].max())
        seen = np.maximum.accumulate(np.where(sender, end_rel, floor))
        before = np.concatenate(([floor], np.maximum(seen[:-1], floor)))
        count += int(np.count_nonzero(acker & (ack_rel > before) & (ack_rel <= top)))
    return count


def tracked_flows(d: DecodedBatch, flows: BatchFlows, clock: ClockSteps
                  ) -> tuple[BatchFlows, np.ndarray | None, list[int]]:
    """The batch's flows as the tracker's paths take them (in_time_order, the records
    ClockSteps.shuffled marks; its count told to clock), per TCP row of d its place
    among the tapped connections' segments handed to the sink (each flow's packets
    taking its file slots in time order), None when no flow's order changed, and the
    flows whose order changed (their connections go to ClockSteps.time_ordered once
    the batch is tracked)."""
    if clock.shuffled is None:
        return flows, None, []
    moved = in_time_order(d, flows, clock.shuffled[d.tcp_index])
    if moved is None:
        return flows, None, []
    tracked, count, first, changed = moved
    clock.written_near(count, first)
    slots = np.empty(len(flows.order), np.int64)
    slots[tracked.order] = flows.order
    return tracked, slots, changed


@dataclass(frozen=True, slots=True)
class MovedFlows:
    """moved_flows' answer, read by short_flows (moved) and spans_by_time: arrays per
    TCP row of the batch in flow order (BatchFlows.order) or per flow (f)."""

    ts: np.ndarray  # per row: its time, seconds (d.tcp_ts in flow order)
    ok: np.ndarray  # per row: its time counts (timed in flow order)
    low: np.ndarray  # per flow: its earliest time that counts (inf: none)
    moved: np.ndarray  # per flow: its record may move (bool)
    last_before: dict[int, float]  # by flow: the last_ts its record had before the batch


def moved_flows(d: DecodedBatch, flows: BatchFlows, timed: np.ndarray, reached: float | None,
                record_of: Callable[[FlowKey], Connection | None]) -> MovedFlows:
    """Before the batch is tracked: the flows whose records spans_by_time may move (a
    packet stamped earlier than the one before it in the flow, or a packet whose time
    counts (timed: per TCP row of d) stamped earlier than the batch before reached:
    `reached`, seconds; not the packets behind a clock set back, which would make every
    flow after it one), and the last_ts their records had (by flow), as the paths set
    last_ts to the batch's last packet in file order. The other flows keep the fast
    paths (flowcheck.connections.short_flows). The batch's times in flow order and each
    flow's earliest that counts go on to spans_by_time (computed once per batch)."""
    order, starts = flows.order, flows.bounds[:-1]
    ts = d.tcp_ts[order]
    ok = timed[order]
    low = np.minimum.reduceat(np.where(ok, ts, np.inf), starts)
    moved = out_of_order(ts, starts, np.diff(flows.bounds))
    if reached is not None:
        moved |= low < reached
    flow_ids = np.flatnonzero(moved).tolist()
    records = [record_of(flows.keys[f]) for f in flow_ids]
    return MovedFlows(ts, ok, low, moved,
                      {f: r.last_ts for f, r in zip(flow_ids, records, strict=True)
                       if r is not None})


def spans_by_time(d: DecodedBatch, flows: BatchFlows, found: MovedFlows,
                  record_of: Callable[[FlowKey], Connection | None]) -> None:
    """Move the records of the batch's flows to their packets' times (see the module
    docstring). found: moved_flows' answer for this batch; record_of: a flow's current
    record (None: no connection)."""
    order = flows.order
    starts = flows.bounds[:-1]
    sizes = np.diff(flows.bounds)
    ts, ok, low, moved, last_before = (found.ts, found.ok, found.low, found.moved,
                                       found.last_before)
    high = np.maximum.reduceat(np.where(ok, ts, -np.inf), starts)
    syn = ok & ((d.tcp_flags[order] & (SYN | ACK)) == SYN)
    first_syn = np.minimum.reduceat(np.where(syn, ts, np.inf), starts)
    frames = d.tcp_frame[order]
    for f in np.flatnonzero(moved).tolist():
        record = record_of(flows.keys[f])
        if record is None:
            continue
        begin, end = int(starts[f]), int(starts[f] + sizes[f])
        if int(frames[begin]) < record.first_frame:
            # The 4-tuple opened a new connection in this batch: its packets only.
            mine = np.flatnonzero(frames[begin:end] >= record.first_frame) + begin
            counts, syns = ok[mine], syn[mine]
            lo = float(ts[mine][counts].min()) if counts.any() else np.inf
            hi = float(ts[mine][counts].max()) if counts.any() else -np.inf
            syn_lo = float(ts[mine][syns].min()) if syns.any() else np.inf
        else:
            lo, hi, syn_lo = float(low[f]), float(high[f]), float(first_syn[f])
            hi = max(hi, last_before.get(f, hi))
        if record.syn_ts is not None:
            # A connection begins with its first SYN: no packet of it is earlier, so a
            # record stamped earlier still is behind a clock set back (by less than the
            # step threshold: ClockSteps.timed counts it), not its start (re-check of
            # trial 29: the control connection "started" at frame 517).
            lo = min(syn_lo, record.syn_ts)
        if lo < record.ts:
            if record.written_first is None:  # the paths stamped it with its first packet's
                record.written_first = (record.first_frame, record.ts)
            record.ts = lo
        if hi > record.last_ts:
            record.last_ts = hi
        # The flow's last row is its record's last packet in file order.
        written = (int(frames[end - 1]), float(ts[end - 1]))
        record.written_last = written if record.last_ts != written[1] else None
        if record.syn_ts is not None and syn_lo < record.syn_ts:
            record.syn_ts = syn_lo
