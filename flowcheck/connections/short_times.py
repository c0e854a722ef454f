"""The packet times the short-connection pass keeps on its records
(flowcheck.connections.short_records), as conn.update_packet keeps them one packet at a
time: each side's last packet's time (Connection.orig_last_ts / resp_last_ts), the
connection's first FIN's time and the other side's last packet's before it (fin_ts,
fin_peer_last_ts). Read from the batch's [step, flow] arrays when the records are made
or updated: no work in the pass's steps. Which path reads a connection depends on where
batches are cut (the read chunk): each gives the same record
(tests/test_chunk_size_results.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flowcheck.connections.conn import FIN
from flowcheck.model import Connection


def _last_step(mask: np.ndarray) -> np.ndarray:
    """Per flow (column of a [step, flow] mask), the last step where mask holds, -1 if
    none."""
    return np.where(mask.any(axis=0), mask.shape[0] - 1 - mask[::-1].argmax(axis=0), -1)


def _at_steps(times: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """times[steps[f], f] per flow f, nan where steps[f] < 0."""
    picked = times[np.maximum(steps, 0), np.arange(steps.shape[0])]
    return np.where(steps >= 0, picked, np.nan)


def packet_times(times: np.ndarray, flags: np.ndarray, sent: np.ndarray,
                 is_orig: np.ndarray, is_resp: np.ndarray) -> dict[str, np.ndarray]:
    """Per flow, from the batch's packets ([step, flow] arrays; is_orig / is_resp: the
    sides' packets, capture copies too; sent: not copies) the times update_packet keeps
    (nan: none in the batch): each side's last packet's (side_last: (2, flows), orig
    first; Connection.orig_last_ts), the first FIN's (not a copy's: fin; Connection.fin_ts),
    whether the originator sent it (fin_by_orig) and the other side's last packet's
    before it (fin_peer: nan when the batch holds none before it, an earlier batch's
    then; Connection.fin_peer_last_ts)."""
    fins = ((flags & FIN) != 0) & sent
    fin_step = np.where(fins.any(axis=0), fins.argmax(axis=0), -1)
    flows = np.arange(fin_step.shape[0])
    by_orig = is_orig[np.maximum(fin_step, 0), flows]
    steps = np.arange(times.shape[0])[:, None]
    peer = np.where(by_orig, is_resp, is_orig) & (steps < fin_step)
    return {"side_last": np.stack((_at_steps(times, _last_step(is_orig)),
                                   _at_steps(times, _last_step(is_resp)))),
            "fin": _at_steps(times, fin_step), "fin_by_orig": by_orig,
            "fin_peer": _at_steps(times, _last_step(peer))}


def update_times(records: list[Connection], col: Any) -> None:
    """The continuing records' packet times as update_packet keeps them (packet_times;
    col: short_records' _Columns): the first FIN's time and the peer's last packet's
    before it where the batch holds the connection's first FIN (the record none before:
    called before short_records' _update_rare adds the batch's fin_frames), the peer's
    from an earlier batch when this one holds none of its packets before the FIN; then
    each side's last packet's time where the batch holds one."""
    for i in np.flatnonzero(~np.isnan(col.fin)).tolist():
        r = records[i]
        if r.fin_frames:
            continue
        peer = col.fin_peer.item(i)
        if peer != peer:  # nan: no packet of the peer before the FIN in this batch
            by_orig = col.fin_by_orig.item(i)
            r.fin_ts, r.fin_peer_last_ts = col.fin.item(i), (
                r.resp_last_ts if by_orig else r.orig_last_ts)
        else:
            r.fin_ts, r.fin_peer_last_ts = col.fin.item(i), peer
    for name, times in (("orig_last_ts", col.side_last[0]), ("resp_last_ts", col.side_last[1])):
        for i in np.flatnonzero(~np.isnan(times)).tolist():
            setattr(records[i], name, times.item(i))

