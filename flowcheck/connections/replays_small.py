"""replays.Spans' per-direction numbers for a small batch, in Python ints
(flowcheck.connections.replays: `Spans._directions`).

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

import numpy as np

from flowcheck.connections.conn import FIN as _FIN
from flowcheck.connections.conn import SYN as _SYN
from flowcheck.decode import DecodedBatch

SMALL_PACKETS = 32  # a batch of at most this many TCP packets takes small_directions
_SEQ_KNOWN, _ID_KNOWN = 1, 2  # replays' `_known` bits


def _signed(difference: int, bits: int) -> int:
    """A difference modulo 2**bits read signed (replays._signed, for one int)."""
    value = difference & ((1 << bits) - 1)
    return value - (1 << bits) if value >> (bits - 1) else value


def small_directions(d: DecodedBatch, flow: list[int], from_lower: list[int],
                     number: list[int], taken: list[bool] | None,
                     known_bits: np.ndarray, seq0: np.ndarray, end: np.ndarray,
                     id0: np.ndarray, ids: np.ndarray) -> None:
    """Spans._directions for a batch of at most SMALL_PACKETS packets: flow, from_lower:
    each TCP packet's batch flow and direction (BatchFlows'); number: each batch flow's
    FlowTable number (-1 for one without packets); taken: the packets taken (None: all);
    known_bits, seq0, end, id0, ids: Spans' per-direction arrays (2 * number +
    from_lower), updated in place."""
    seq, plen = d.tcp_seq.tolist(), d.tcp_payload_len.tolist()
    flags, ip_id = d.tcp_flags.tolist(), d.tcp_ip_id.tolist()
    # The batch's directions, in the numpy pass's order of places.
    slots = sorted({2 * f + low for f, low in zip(flow, from_lower, strict=True)} | {
        2 * f + 1 - low for f, low in zip(flow, from_lower, strict=True)})
    place = {slot: 2 * number[slot >> 1] + (slot & 1) for slot in slots}
    known = {slot: int(known_bits[at]) for slot, at in place.items()}
    ends = [s + n + (f & _FIN) + ((f & _SYN) >> 1)
            for s, n, f in zip(seq, plen, flags, strict=True)]
    fields = [(_SEQ_KNOWN, seq0, end, seq, ends, 32, True)]
    if any(ip_id):
        fields.append((_ID_KNOWN, id0, ids, ip_id, ip_id, 16, False))
    for bit, zeros, spans, starts, finals, bits, with_zero_id in fields:
        full = (1 << bits) - 1
        zero = {slot: int(zeros[at]) for slot, at in place.items()}
        span = {slot: int(spans[at]) for slot, at in place.items()}
        counted = [(taken is None or taken[i]) and (with_zero_id or ip_id[i] != 0)
                   for i in range(len(seq))]
        slot_of = [2 * f + low for f, low in zip(flow, from_lower, strict=True)]
        for i, slot in enumerate(slot_of):  # each direction's first packet counted
            if counted[i] and not known[slot] & bit:
                zero[slot] = starts[i]
                known[slot] |= bit
        ahead = dict.fromkeys(slots, 0)
        behind = dict.fromkeys(slots, 0)
        for i, slot in enumerate(slot_of):
            if not counted[i]:
                continue
            past = _signed(finals[i] - (zero[slot] + span[slot]), bits)
            ahead[slot] = max(ahead[slot], past)
            if past < 0:
                behind[slot] = min(behind[slot], _signed(starts[i] - zero[slot], bits))
        for slot, at in place.items():
            zeros[at] = (zero[slot] + behind[slot]) & full
            spans[at] = min(span[slot] - behind[slot] + ahead[slot], full)
    for slot, at in place.items():
        known_bits[at] = known[slot]
