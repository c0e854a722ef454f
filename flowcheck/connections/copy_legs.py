"""Whether a direction's capture copies crossed to another leg (field check 36).

A copy on another leg than its original (another TTL, or another link-layer address
pair: an L3 device rewrote the frame, whether it lowered the TTL or not, as a Cisco ASA
does not) passed a second capture point beyond that device; copies that all kept their
original's leg were recorded twice where the packet was first seen (a firewall's drop
capture, a drop stage, a SPAN duplicate). Noted per direction by
flowcheck.connections.copies for its near copies; read through TrackResult.copy_legs by
flowcheck.verify.copy_counts.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from flowcheck.arrays import distinct
from flowcheck.connections.copies_tail import Rows
from flowcheck.connections.flows import BatchFlows, FlowKey

_LOW32 = np.uint64(0xFFFFFFFF)  # a leg code's link-layer address pair (decode.legs)


def note_legs(known: dict[tuple[FlowKey, bool], bool], flows: BatchFlows, every: Rows,
              rows: np.ndarray, near: tuple[np.ndarray, np.ndarray], own: Rows,
              legs: Callable[[], np.ndarray] | None) -> int:
    """Note in `known` (CaptureCopies.legs_crossed: per direction, True once a copy
    crossed) the directions of the near copies (`near`: earlier, later indexes into
    `every`) whose legs are known: on another leg (another TTL, or both link-layer
    address pairs told and different; the interfaces the file names do not count: each
    file of a set names its own) or all on their originals'. The batch's legs are read
    when a copy kept its TTL and they are not read yet; a copy whose original's leg was
    not read (in an earlier batch's tail) tells nothing unless its TTL differs. Returns
    how many of the copies came at another TTL (CaptureCopies.near_routed's count)."""
    first, then = near
    other = every.ttl[first] != every.ttl[then]
    routed = int(np.count_nonzero(other))
    told = other.copy()
    if legs is not None and not other.all():
        n, m = every.side.shape[0], own.side.shape[0]
        if not every.leg[n - m:].any():
            every.leg[n - m:] = own.leg[:] = legs()
        low_first = every.leg[first].view(np.uint64) & _LOW32
        low_then = every.leg[then].view(np.uint64) & _LOW32
        both = (low_first != 0) & (low_then != 0)
        other |= both & (low_first != low_then)
        told |= both
    if not told.any():
        return routed
    at = rows[then[told]]
    sides = 2 * flows.flow[at] + flows.from_lower[at]
    crossed = set(distinct(sides[other[told]]).tolist())
    for side in distinct(sides).tolist():
        key = (flows.keys[side >> 1], bool(side & 1))
        known[key] = known.get(key, False) or side in crossed
    return routed
