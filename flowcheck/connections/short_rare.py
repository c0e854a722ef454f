"""Rare fields of the short-connection pass's records (flowcheck.connections.short_records):
Connection.ack_frame and each side's first RST frame (flowcheck.model.rare_fields), set
only on the few records whose batch's packets give them.
"""

from __future__ import annotations

from itertools import compress
from operator import attrgetter
from typing import Any

import numpy as np

from flowcheck.connections.block_records import FreshRows
from flowcheck.model import Connection

# A flowcheck.connections.short.ShortPass (not imported: short imports parked, which
# imports short_records, which imports this module).
ShortPass = Any

_ONE = 1  # for `map(_ONE.__lt__, counts)`: count > 1, C-level


def add_ack_frames(short: ShortPass, flows: np.ndarray, records: list[Connection],
                   synacks: np.ndarray, synack_top: np.ndarray | None, fresh: bool) -> None:
    """Connection.ack_frame as the per-packet path keeps it (conn.py): the frame of the
    originator's ACK of the responder's SYN (ShortPass.acked_frame, the responder's row:
    the originator's last ACK that moved it on, the handshake's ACK while the responder
    sent no byte), for the few established records whose SYN-ACK came again after it
    (a batch with a SYN-ACK resent: flowcheck.sessions.unheard_ack)."""
    if not synacks.any():  # the batch brought no SYN-ACK: nothing new
        return
    acked = short.acked_frame[1, flows]
    # More than one SYN-ACK: one may have come after the handshake's ACK. A new record's
    # are the batch's, all tested column-wise (its ack_frame is 0; established, its
    # synack_frames are the pass's: _Columns.synack_top their highest); a continuing
    # one's its list's.
    if fresh:
        if synack_top is not None:
            late = ((synacks > 1) & short.established[flows] & (acked > 0)
                    & (synack_top > acked))
            for i in np.flatnonzero(late).tolist():
                records[i].ack_frame = acked.item(i)
        return
    more = compress(range(len(records)), map(_ONE.__lt__, map(len, map(
        attrgetter("synack_frames"), records))))
    for i in more:
        r, frame = records[i], acked.item(i)
        if (r.established and not r.ack_frame and frame > 0
                and any(f > frame for f in r.synack_frames)):
            r.ack_frame = frame


def add_first_rsts(records: list[Connection],
                   first_rsts: tuple[np.ndarray, np.ndarray] | None) -> None:
    """Each side's first RST frame (Connection.orig_rst_frame), when the batch holds a
    RST and the record has none from that side yet."""
    if first_rsts is None:
        return
    orig, resp = first_rsts
    at = np.flatnonzero((orig != 0) | (resp != 0))  # the few with a RST
    if type(records) is FreshRows:  # new records: the same writes, as patches in bulk
        rows = at.tolist()
        for name, values in (("orig_rst_frame", orig), ("resp_rst_frame", resp)):
            frames = values[at].tolist()
            if before := records.patched(name):  # `r.name or frame` (a new record's: 0)
                frames = [before.get(i, 0) or frame for i, frame in zip(rows, frames, strict=True)]
            if rows:
                records.put(name, rows, frames)
        return
    for i in at.tolist():
        r = records[i]
        r.orig_rst_frame = r.orig_rst_frame or orig.item(i)
        r.resp_rst_frame = r.resp_rst_frame or resp.item(i)
