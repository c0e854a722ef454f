"""The tap's question for the short-connection pass: which new flows speak NDMP.

A connection that is not tapped by its port (flowcheck.connections.tracker: the NDMP
port's are) waits for its first payload, which the tracker's tap reads to decide
(ConnState.tap_pending; conn.update_packet's per-packet rule, per_packet.py). Here the
same rule for a whole `ShortPass` (flowcheck.connections.short) at once: each waiting
flow's first payload of the batch, in step order, goes to the tap, and a flow the tap
wants goes back to the per-packet path (which keeps its segments for the sink); a flow
without payload yet keeps waiting, its first PRE_TAP_CAP packets kept column-wise
(flowcheck.connections.pre_tap.WaitingPackets).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from flowcheck.connections.conn import PRE_TAP_CAP
from flowcheck.decode import DecodedBatch

# A flowcheck.connections.short.ShortPass (not imported: short imports this module).
ShortPass = Any


def ask_tap(short: ShortPass, d: DecodedBatch, buf: np.ndarray | None,
            tap: Callable[[bytes], bool], bad: np.ndarray) -> None:
    """As the tracker: while a connection waits for the tap (new ones do), its first
    payload decides; a flow the tap wants is marked in `bad` (v,) (it goes back: the
    per-packet path keeps its segments). Without payload yet, its first PRE_TAP_CAP
    packets wait (short.pre_tap). Updates short.tap_pending (v,) and short.pre_tap;
    d, buf: the batch, decoded and its bytes."""
    v = short.v
    pending = ~short.continuing | short.tap_pending
    flow_of = np.concatenate([np.arange(n) for n in short.active])
    with_data = np.flatnonzero((short.plen > 0) & pending[flow_of])
    firsts = np.full(v, -1, np.int64)
    # Step order: the first hit per flow is its first payload.
    flows_hit, where = np.unique(flow_of[with_data], return_index=True)
    firsts[flows_hit] = with_data[where]
    assert buf is not None
    for f, at in zip(flows_hit.tolist(), firsts[flows_hit].tolist(), strict=True):
        row = int(short.rows[at])
        start = int(d.tcp_payload_off[row])
        if tap(bytes(buf[start:start + int(d.tcp_payload_cap[row])])):
            bad[f] = True
    short.tap_pending[flows_hit] = False
    waiting = np.flatnonzero(pending & (firsts < 0))
    short.tap_pending[waiting] = True
    # Kept column-wise, new and continuing flows alike (connections.pre_tap): most
    # never need them; a later packet makes them a list (Parked.take_pre_tap).
    assert short.pre_tap is not None
    short.pre_tap.clear(flows_hit)
    steps = min(PRE_TAP_CAP, len(short.active))  # a packet per step at most
    short.pre_tap.add(waiting, [np.where(waiting < short.active[k], short.offsets[k] + waiting,
                                         -1) for k in range(steps)],
                      {"is_orig": short.is_orig, "seq": short.seq, "flags": short.flags,
                       "frame": short.frame, "ts": short.ts})
