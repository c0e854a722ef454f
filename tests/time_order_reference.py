"""The per-flow in_time_order the tracker used before flowcheck.connections.time_order
did all flows at once (commit 2cf1ed7): the reference the vectorised one must equal."""

from __future__ import annotations

import numpy as np

from flowcheck.connections.clock import CLOCK_STEP_SECONDS
from flowcheck.connections.conn import ACK, FIN, RST, SYN
from flowcheck.connections.endpoint import signed32
from flowcheck.connections.flows import BatchFlows
from flowcheck.decode import DecodedBatch


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
    numbers up to the sequence number of the other side's earliest packet by time (the
    first in the file of those stamped so; its bytes of earlier batches, or resent) or
    beyond its highest (bytes the capture lacks) are not counted (its lowest until
    orderfix: a resend's in a small batch). Raw 32-bit numbers are compared by signed
    difference from the side's first one."""
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
        mine = np.flatnonzero(sender)
        earliest = min(mine.tolist(), key=lambda i: (float(d.tcp_ts[rows[i]]), int(rows[i])))
        floor, top = int(start_rel[earliest]), int(end_rel[sender].max())
        seen = np.maximum.accumulate(np.where(sender, end_rel, floor))
        before = np.concatenate(([floor], np.maximum(seen[:-1], floor)))
        count += int(np.count_nonzero(acker & (ack_rel > before) & (ack_rel <= top)))
    return count
