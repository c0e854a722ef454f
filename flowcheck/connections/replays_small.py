"""replays.Spans' numbers for a small batch, in Python ints (flowcheck.connections.
replays: `Spans._directions`, and `Spans._update`'s latest times of a batch in time
order without a gap over REPLAY_STEP: `small_latest`), and its flow keys' table numbers
from the recent small batches' (`recent_numbers`).

A batch of a few packets (a live capture's pipe read every ~50 ms, a test's batches of
one to five packets) paid Spans._directions' ~40 numpy calls (ufunc.at, gathers, casts:
about 100 us at one packet) for a handful of numbers. `small_directions` gives the same
arrays the same values with one pass over the packets: the same reductions (the first
packet of each direction in capture order, the most each end goes past the furthest,
the least each packet behind its first goes below it), read from the arrays before any
is written and written back in the same order (batch flow by batch flow, lower
direction first), so two batch flows sharing a table number (equal 64-bit hashes) end
as the numpy pass leaves them. Differences modulo 2**32 and 2**16 are read signed as
replays._signed reads them.
"""

from __future__ import annotations

import math

import numpy as np

from flowcheck.connections.conn import FIN as _FIN
from flowcheck.connections.conn import SYN as _SYN
from flowcheck.connections.flow_table import FlowTable, flow_hashes
from flowcheck.connections.flows import BatchFlows, FlowKey
from flowcheck.connections.replay_steps import REPLAY_STEP
from flowcheck.decode import DecodedBatch

SMALL_PACKETS = 32  # a batch of at most this many TCP packets takes small_directions
# A batch of at most RECENT_FLOWS flows looks its keys up in Spans._recent first, which
# keeps at most RECENT_KEYS keys (a few hundred kB at most: no dict entry per connection
# of the capture).
RECENT_FLOWS, RECENT_KEYS = 16, 1024
SEQ_KNOWN, ID_KNOWN = 1, 2  # a direction's `_known` bits (replays.Spans')


def small_directions(d: DecodedBatch, flow: list[int], from_lower: list[int],
                     number: list[int], taken: list[bool] | None,
                     known_bits: np.ndarray, seq0: np.ndarray, end: np.ndarray,
                     id0: np.ndarray, ids: np.ndarray) -> None:
    """Spans._directions for a batch of at most SMALL_PACKETS packets: flow, from_lower:
    each TCP packet's batch flow and direction (BatchFlows'); number: each batch flow's
    FlowTable number (-1 for one without packets); taken: the packets taken (None: all);
    known_bits, seq0, end, id0, ids: Spans' per-direction arrays (2 * number +
    from_lower), updated in place (gathered and written back once, as the numpy pass)."""
    seq, plen = d.tcp_seq.tolist(), d.tcp_payload_len.tolist()
    flags, ip_id = d.tcp_flags.tolist(), d.tcp_ip_id.tolist()
    # The batch's directions (both of each flow with packets) in the numpy pass's order
    # of places; each packet's index among them.
    slot_of = [2 * f + low for f, low in zip(flow, from_lower, strict=True)]
    slots = sorted({slot & ~1 for slot in slot_of})
    index = {}
    for slot in slots:
        index[slot], index[slot + 1] = len(index), len(index) + 1
    places = np.array([2 * number[slot >> 1] + side for slot in slots for side in (0, 1)],
                      np.int64)
    mine = [index[slot] for slot in slot_of]
    known = known_bits[places].tolist()
    ends = [s + n + (f & _FIN) + ((f & _SYN) >> 1)
            for s, n, f in zip(seq, plen, flags, strict=True)]
    fields = [(SEQ_KNOWN, seq0, end, seq, ends, 32, True)]
    if any(ip_id):
        fields.append((ID_KNOWN, id0, ids, ip_id, ip_id, 16, False))
    for bit, zeros, spans, starts, finals, bits, with_zero_id in fields:
        size, full, half = 1 << bits, (1 << bits) - 1, 1 << (bits - 1)
        zero, span = zeros[places].tolist(), spans[places].tolist()
        counted = [i for i in range(len(seq))
                   if (taken is None or taken[i]) and (with_zero_id or ip_id[i])]
        for i in counted:  # each direction's first packet counted
            j = mine[i]
            if not known[j] & bit:
                zero[j] = starts[i]
                known[j] |= bit
        ahead = [0] * len(zero)
        behind = [0] * len(zero)
        for i in counted:
            j = mine[i]
            past = (finals[i] - zero[j] - span[j]) & full  # read signed (replays._signed)
            if past >= half:
                past -= size
                below = (starts[i] - zero[j]) & full
                below = below - size if below >= half else below
                behind[j] = min(behind[j], below)
            elif past > ahead[j]:
                ahead[j] = past
        zeros[places] = [(z + b) & full for z, b in zip(zero, behind, strict=True)]
        spans[places] = [min(n - b + a, full)
                         for n, b, a in zip(span, behind, ahead, strict=True)]
    known_bits[places] = known


def small_latest(ts: np.ndarray, flows: BatchFlows, flow_at: np.ndarray, numbers: np.ndarray,
                 last_ms: np.ndarray, origin: float) -> bool:
    """Spans._update's latest moments for a batch of at most SMALL_PACKETS packets in
    time order, all taken (ts: their times, s; flow_at: the batch flows with packets,
    numbers: their FlowTable numbers; last_ms: Spans._last_ms, ms after `origin`, the
    capture's first TCP time): each flow's latest time raised to its last packet's
    (whole ms, ceiling) as _update raises it, read before any is written. False, and
    nothing written, when a flow may hold a gap over REPLAY_STEP (Spans._gap_rows: its
    packets spread over that long, or it comes back after it) or a time is not finite:
    _update's numpy pass then does it all."""
    times, order, bounds = ts.tolist(), flows.order.tolist(), flows.bounds.tolist()
    at, number = flow_at.tolist(), numbers.tolist()
    before = [int(last_ms[n]) for n in number]
    latest = []
    for f, ms in zip(at, before, strict=True):
        first, last = times[order[bounds[f]]], times[order[bounds[f + 1] - 1]]
        if last - first > REPLAY_STEP or first - (origin + ms / 1000.0) > REPLAY_STEP:
            return False
        now = (last - origin) * 1000.0
        if not math.isfinite(now):
            return False
        latest.append(min(max(math.ceil(now), -(1 << 31)), (1 << 31) - 1))  # replays._int32
    for n, ms, now in zip(number, before, latest, strict=True):
        last_ms[n] = max(ms, now)
    return True


def recent_numbers(table: FlowTable, recent: dict[FlowKey, int], d: DecodedBatch,
                   flows: BatchFlows, flow_at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The FlowTable numbers of the batch flows `flow_at` (int64) and which were given
    now (bool), as table.numbers gives them: a batch of at most RECENT_FLOWS flows whose
    keys a recent small batch numbered takes them from `recent` (Spans._recent: no hash
    of their columns, no probing pass, ~25 numpy calls), else from the table, the small
    batch's keys then kept in `recent` (emptied when it would pass RECENT_KEYS)."""
    keys = flows.keys
    if flow_at.shape[0] > RECENT_FLOWS:
        return table.numbers(flow_hashes(d, flows, flow_at))
    at = flow_at.tolist()
    known = [recent.get(keys[f]) for f in at]
    if None not in known:
        return np.array(known, np.int64), np.zeros(len(at), bool)
    numbers, fresh = table.numbers(flow_hashes(d, flows, flow_at))
    if len(recent) + len(at) > RECENT_KEYS:
        recent.clear()
    recent.update(zip([keys[f] for f in at], numbers.tolist(), strict=True))
    return numbers, fresh
