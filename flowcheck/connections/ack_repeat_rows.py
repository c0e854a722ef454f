"""The bulk runs' part of connections.ack_repeats: the frames of the handshake's ACK
repeated, found among a run's duplicate ACKs (apart from ack_repeats, which conn imports,
as it reads the tracker's ConnState)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from flowcheck.connections.endpoint import EVIDENCE_CAP
from flowcheck.connections.reordering import M32, NONE

if TYPE_CHECKING:
    from flowcheck.connections.conn import ConnState


def note_rows(dups: np.ndarray, segment: np.ndarray, keys: list[int],
              conns: list[ConnState],
              columns: tuple[np.ndarray, np.ndarray, Any]) -> None:
    """`note` for a bulk run's rows: dups, the duplicate ACKs among the rows up to each
    (cumulative: reordering_rows.DirectionRows.dups); segment: each row's segment, whose
    key is keys[s] (connection index << 1 | 1 for the responder) into conns
    (ConnState); columns: the rows' sequence and ACK numbers (raw) and frame numbers
    (read at the rows found: reordering_rows.AtRows). Call after the run's bases are
    learned. A Python step per originator's duplicate ACK of the handshake only."""
    if not dups.size or not dups[-1]:
        return
    seq, ack, frames = columns
    rows = np.flatnonzero(np.diff(dups, prepend=0))
    want_seq = np.full(len(keys), NONE, np.int64)
    want_ack = np.full(len(keys), NONE, np.int64)
    for s in np.unique(segment[rows]).tolist():
        k = keys[s]
        c = conns[k >> 1]
        if not k & 1 and c.orig.isn is not None and c.resp.base is not None:
            want_seq[s] = (c.orig.isn + 1) & M32
            want_ack[s] = (c.resp.base + 1) & M32
    at = segment[rows]
    rows = rows[(seq[rows] == want_seq[at]) & (ack[rows] == want_ack[at])]
    for row, frame in zip(rows.tolist(), np.asarray(frames[rows]).tolist(), strict=True):
        record = conns[keys[segment[row]] >> 1].record
        kept = record.ack_repeat_frames
        if len(kept) < EVIDENCE_CAP:
            kept.append(frame)
