"""Each flow's packets in time order where they were written out of it: in_time_order,
for every flow of a batch at once.

flowcheck.connections.by_time says why (a multi-queue NIC, merged rings, a tap: a
segment written before the one sent ahead of it) and what stays in the file's order (a
clock set back, records far out of order, packets across a SYN). The work is a fixed
number of numpy passes per batch over the packets of the flows that go back in time,
each flow a segment of one packed array, never Python work per flow: a capture of many
short connections written in blocks by direction (20,000 of them, most going back in
time) cost 53,000 per-flow acks_ahead calls in one batch before.

Segmented running maxima and minima go by rank: each value's rank among the batch's
distinct values, offset by its flow's place, so one accumulate over the packed array
never carries a value from one flow into the next.
"""

from __future__ import annotations

import numpy as np

from flowcheck.connections.clock import CLOCK_STEP_SECONDS
from flowcheck.connections.conn import ACK, FIN, RST, SYN
from flowcheck.connections.endpoint import signed32
from flowcheck.connections.flows import BatchFlows
from flowcheck.decode import DecodedBatch
from flowcheck.fields_dataclass import fields_dataclass

__all__ = ["in_time_order", "out_of_order"]

_SPAN32 = 1 << 33  # wider than any signed 32-bit step plus its offset
_LOW32 = (1 << 32) - 1


def out_of_order(ts: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per flow (its rows starts..starts+sizes in ts, its packets' times in flow order):
    whether a packet is stamped earlier than the one before it."""
    back = np.concatenate(([0], np.cumsum(ts[1:] < ts[:-1])))
    return back[starts + sizes - 1] > back[starts]


@fields_dataclass(frozen=True, slots=True)
class _Packed:
    """The packets of some flows, flow after flow (each in the batch's flow order):
    owner (per packet: its flow's place, 0..), offs (per flow: where it begins), first
    (per packet: a flow's first), rows (per packet: its TCP row of d), times (seconds),
    values (the distinct times, sorted) and rank (per packet: its time's index there)."""

    owner: np.ndarray
    offs: np.ndarray
    first: np.ndarray
    rows: np.ndarray
    times: np.ndarray
    values: np.ndarray
    rank: np.ndarray

    def running_max(self, rank: np.ndarray, width: int) -> np.ndarray:
        """Per packet, the largest of rank (ints 0..width-1) over its flow's packets up
        to it."""
        shift = self.owner.astype(np.int64) * width
        return np.maximum.accumulate(rank + shift) - shift

    def running_min(self, rank: np.ndarray, width: int) -> np.ndarray:
        """Per packet, the smallest of rank (ints 0..width-1) over its flow's packets
        up to it."""
        shift = (int(self.owner[-1]) - self.owner.astype(np.int64)) * width
        return np.minimum.accumulate(rank + shift) - shift

    def before(self, values: np.ndarray, start: np.ndarray | float) -> np.ndarray:
        """Per packet, values at the packet before it in its flow; start (per flow, or
        one value) at a flow's first."""
        out = np.empty_like(values)
        out[1:] = values[:-1]
        out[self.offs] = start
        return out

    def per_flow(self, mask: np.ndarray) -> np.ndarray:
        """Per flow, how many of its packets mask holds."""
        return np.add.reduceat(mask.astype(np.int64), self.offs)


def _packed(order: np.ndarray, starts: np.ndarray, sizes: np.ndarray, ts: np.ndarray
            ) -> _Packed:
    """The flows starting at starts (places in order, the batch's flow order) with
    sizes packets, packed."""
    offs = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    owner = np.repeat(np.arange(len(sizes)), sizes)
    at = np.arange(int(sizes.sum())) - offs[owner] + starts[owner]
    first = np.zeros(len(at), bool)
    first[offs] = True
    times = ts[at]
    values, rank = np.unique(times, return_inverse=True)
    return _Packed(owner, offs, first, order[at], times, values, rank.astype(np.int64))


def _by_time(p: _Packed, free: np.ndarray, opens: np.ndarray, closes: np.ndarray
             ) -> np.ndarray:
    """Per packet, the position (in p) of the packet that takes its place: each flow's
    packets sorted by time, stable, but each packet after the first that is not free
    staying in place (it begins a stretch that sorts on its own). No packet written
    after a SYN (opens: SYN without ACK) moves ahead of it: a connection begins with its
    SYN, so one stamped earlier is behind a clock set back. And no packet moves across
    a SYN written and stamped after a FIN or RST (closes) of the flow: the 4-tuple's
    next connection begins there (review 2: the last ACK of one moved into the next)."""
    stretch = np.cumsum(~free & ~p.first)
    size = len(p.values)
    # A FIN or RST written before the SYN and stamped before it too (a refusal written
    # before the SYN it answers is stamped after it: it moves behind it).
    closed = p.running_min(np.where(closes, p.rank, size), size + 1)
    closed_before = p.before(closed, size)
    ended = (closed_before < size) & (p.values[np.minimum(closed_before, size - 1)] <= p.times)
    reuse = np.cumsum(opens & ended)
    opened = p.running_max(np.where(opens, p.rank + 1, 0), size + 1)
    key = np.where(opened > 0, np.maximum(p.rank, opened - 1), p.rank)
    return np.lexsort((key, stretch, reuse, p.owner))


def _acks_ahead(d: DecodedBatch, p: _Packed, at: np.ndarray, from_lower: np.ndarray
                ) -> np.ndarray:
    """Per flow of p, its packets taken in the order at (positions in p, each flow's
    its own): how many carry an ACK number that covers bytes (or a SYN, a FIN) of the
    other side that come only after them (a RST's too: a refusal acknowledges the SYN it
    refuses): what no TCP sends, so an order that has them is not the wire's. ACK
    numbers up to the sequence number of the other side's earliest packet in the batch
    by time (whichever order is judged: bytes below it are of earlier batches, or
    resent) or beyond its highest (bytes the capture lacks) are not counted. Raw 32-bit numbers
    are compared by signed difference from the side's first one in that order."""
    rows = p.rows[at]
    low = from_lower[rows]
    low_file = from_lower[p.rows]
    flags = d.tcp_flags[rows].astype(np.int64)
    seq = d.tcp_seq[rows].astype(np.int64)
    end = seq + d.tcp_payload_len[rows] + ((flags & (SYN | FIN)) != 0)
    ack = d.tcp_ack[rows].astype(np.int64)
    acks = flags & ACK != 0
    flows = len(p.offs)
    count = np.zeros(flows, np.int64)
    places = np.arange(len(rows))
    big = np.iinfo(np.int64).max
    for side in (True, False):
        sender = low == side
        acker = acks & ~sender
        sends = p.per_flow(sender) > 0
        if not (sends & (p.per_flow(acker) > 0)).any():
            continue
        # Each flow's first sender in this order: its sequence number is the base.
        first = np.minimum.reduceat(np.where(sender, places, big), p.offs)
        base = seq[np.where(sends, first, 0)][p.owner]
        end_rel = signed32(end - base)
        ack_rel = signed32(ack - base)
        # The side's earliest packet by time (the first of them in the file's order),
        # the same for every order judged: its lowest in the batch would be a resend's
        # in a small batch, its earlier bytes' ACKs then counted ahead of it (review54f's
        # bulktimed1 at 4 KiB: one record written swapped was left in the file's order,
        # so counted as 87 in 4 KiB chunks and 88 in one); its first in the file's order
        # would be a later part's in a ring's parts joined out of order.
        earliest = np.minimum.reduceat(
            np.where(low_file == side, (p.rank << 32) | places, big), p.offs) & _LOW32
        floor = np.where(sends, signed32(
            d.tcp_seq[p.rows[np.where(sends, earliest, 0)]].astype(np.int64)
            - seq[np.where(sends, first, 0)]), 0)
        top = np.maximum.reduceat(np.where(sender, end_rel, -big), p.offs)
        lifted = np.where(sender, end_rel, floor[p.owner]) + (1 << 32)  # 0 .. 2**33
        seen = p.running_max(lifted, _SPAN32) - (1 << 32)
        before = np.maximum(p.before(seen, floor), floor[p.owner])
        ahead = acker & (ack_rel > before) & (ack_rel <= top[p.owner]) & sends[p.owner]
        count += p.per_flow(ahead)
    return count


def in_time_order(d: DecodedBatch, flows: BatchFlows, shuffled: np.ndarray
                  ) -> tuple[BatchFlows, int, tuple[int, float, float], list[int]] | None:
    """flows with the packets of each flow that goes back in time in the batch sorted by
    time (stable), each flow's packets stamped behind its latest before them staying in
    place (a stretch of their own) unless written out of time order (shuffled: per TCP
    row of d, ClockSteps.shuffled) by less than CLOCK_STEP_SECONDS: a clock set back, or
    records far out of order, keep the file's order. Also the number of packets stamped
    earlier than the one before them in their flow that moved so, and the first of them
    (frame, seconds back, its time), and the flows whose packets moved (their indices).
    None when none moves.

    Packets written in blocks (a NIC's receive and send queues in turn) end their
    stretch as smoothly as a clock set back; but in the file's order an ACK covers the
    other side's bytes written only after it, in time order not: then a flow's packets
    behind by less than CLOCK_STEP_SECONDS move though not `shuffled`. And an order
    with more ACKs ahead of the bytes they cover than the file's is not the wire's: a
    clock set back a little, then a pause (review 2): that flow keeps the file's."""
    order, starts, sizes = flows.order, flows.bounds[:-1], np.diff(flows.bounds)
    ts = d.tcp_ts[order]
    back = np.flatnonzero(out_of_order(ts, starts, sizes))
    if not back.size:
        return None
    p = _packed(order, starts[back], sizes[back], ts)
    size = len(p.values)
    latest = p.values[p.before(p.running_max(p.rank, size), 0)]
    behind = ~p.first & (p.times < latest)
    close = behind & (p.times >= latest - CLOCK_STEP_SECONDS)
    moves = close & shuffled[p.rows]
    flags = d.tcp_flags[p.rows]
    opens, closes = (flags & (SYN | ACK)) == SYN, (flags & (FIN | RST)) != 0
    in_file = _acks_ahead(d, p, np.arange(len(p.rows)), flows.from_lower)
    unsure = p.per_flow(close & ~moves) > 0
    if unsure.any():
        both = _acks_ahead(d, p, _by_time(p, close | ~behind, opens, closes),
                           flows.from_lower)
        moves = np.where((unsure & (both < in_file))[p.owner], close, moves)
    at = _by_time(p, moves | ~behind, opens, closes)
    refused = (p.per_flow(moves) > 0) & (_acks_ahead(d, p, at, flows.from_lower) > in_file)
    near = moves & (p.times < p.before(p.times, np.inf)) & ~refused[p.owner]
    counts = p.per_flow(near)
    taken = counts > 0
    if not taken.any():
        return None
    nearest = np.minimum.reduceat(np.where(near, np.arange(len(near)), len(near)), p.offs)
    frames = np.where(taken, d.tcp_frame[p.rows[np.minimum(nearest, len(near) - 1)]],
                      np.iinfo(np.int64).max)
    one = int(nearest[int(np.argmin(frames))])
    first = (int(d.tcp_frame[p.rows[one]]), float(p.times[one - 1] - p.times[one]),
             float(p.times[one]))
    sorted_order = order.copy()
    mine = taken[p.owner]
    sorted_order[(np.arange(len(p.rows)) - p.offs[p.owner] + starts[back][p.owner])[mine]] = \
        p.rows[at][mine]
    return (BatchFlows(flows.keys, flows.flow, flows.from_lower, sorted_order, flows.bounds),
            int(counts[taken].sum()), first, back[taken].tolist())
