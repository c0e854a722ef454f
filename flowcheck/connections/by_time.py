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

import numpy as np

from flowcheck.connections.clock import ClockSteps
from flowcheck.connections.conn import ACK, SYN
from flowcheck.connections.flows import BatchFlows, FlowKey
from flowcheck.connections.time_order import in_time_order, out_of_order
from flowcheck.decode import DecodedBatch
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection


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


@fields_dataclass(frozen=True, slots=True)
class MovedFlows:
    """moved_flows' answer, read by short_flows (moved) and spans_by_time: arrays per
    TCP row of the batch in flow order (BatchFlows.order) or per flow (f)."""

    ts: np.ndarray  # per row: its time, seconds (d.tcp_ts in flow order)
    ok: np.ndarray  # per row: its time counts (timed in flow order)
    low: np.ndarray  # per flow: its earliest time that counts (inf: none)
    moved: np.ndarray  # per flow: its record may move (bool)
    last_before: dict[int, float]  # by flow: the last_ts its record had before the batch


def moved_flows(d: DecodedBatch, flows: BatchFlows, timed: np.ndarray, reached: float | None,
                record_of: Callable[[FlowKey], Connection | None],
                copy: np.ndarray | None = None) -> MovedFlows:
    """Before the batch is tracked: the flows whose records spans_by_time may move (a
    packet stamped earlier than the one before it in the flow, or a packet whose time
    counts (timed: per TCP row of d) stamped earlier than the batch before reached:
    `reached`, seconds; not the packets behind a clock set back, which would make every
    flow after it one), and the last_ts their records had (by flow), as the paths set
    last_ts to the batch's last packet in file order. The other flows keep the fast
    paths (flowcheck.connections.short_flows). The batch's times in flow order and each
    flow's earliest that counts go on to spans_by_time (computed once per batch). copy:
    per TCP row, a replayed copy (CaptureCopies.mark's second answer: a copy after a step
    back of the clock of a packet before it, a read chunk or more after it or beside it
    in the batch; not copies.py's other near ones, whose flows after a clock set back
    would all be moved): a flow with one stamped before `reached` is moved too, so that
    the copy (its time its original's) leaves the record's last_ts where it was, where
    the paths would set it to the batch's last packet in file order."""
    order, starts = flows.order, flows.bounds[:-1]
    ts = d.tcp_ts[order]
    ok = timed[order]
    low = np.minimum.reduceat(np.where(ok, ts, np.inf), starts)
    moved = out_of_order(ts, starts, np.diff(flows.bounds))
    if reached is not None:
        moved |= low < reached
        if copy is not None:
            moved |= np.logical_or.reduceat((copy & (d.tcp_ts < reached))[order], starts)
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
