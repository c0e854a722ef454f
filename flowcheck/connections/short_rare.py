"""Rare fields of the short-connection pass's records (flowcheck.connections.short_records):
Connection.ack_frame, each side's first RST frame, capture copies' bytes and bytes
repeated, when a side never captured was first acknowledged past a FIN
(flowcheck.model.rare_fields), set only on the few records whose batch's packets give
them.
"""

from __future__ import annotations

from itertools import compress
from operator import attrgetter
from typing import Any

import numpy as np

from flowcheck.connections.block_records import FreshRows
from flowcheck.connections.record_columns import NONE
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
    # synack_frames are the pass's: short_columns.FlowColumns.synack_top their highest);
    # a continuing one's its list's.
    if fresh:
        if synack_top is not None:
            late = ((synacks > 1) & short.established[flows] & (acked > 0)
                    & (synack_top > acked))
            for i in np.flatnonzero(late).tolist():
                records[i].ack_frame = acked.item(i)
        return
    # Those with an ACK frame (column-wise), of them those with more than one SYN-ACK
    # (C-level maps over their records), then one step each: `max`, not a generator per
    # record (0.6 ms a batch on bench's (c) 200k: 14,477 of 39,101 continuing records).
    at = np.flatnonzero(acked > 0)
    if not at.size:
        return
    mine = list(map(records.__getitem__, at.tolist()))
    lists = list(map(attrgetter("synack_frames"), mine))
    more = compress(zip(mine, acked[at].tolist(), lists, strict=True),
                    map(_ONE.__lt__, map(len, lists)))
    for r, frame, synack_frames in more:
        if r.established and not r.ack_frame and max(synack_frames) > frame:
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


def copy_bytes(plen: np.ndarray, copied: np.ndarray, is_orig: np.ndarray,
                is_resp: np.ndarray) -> tuple[list[int], list[int]] | None:
    """Per flow, the payload bytes of its capture copies each way (orig, resp:
    Connection.orig_copy_bytes); None when the batch's flows hold no copy."""
    if not copied.any():
        return None
    data = np.where(copied, plen, 0)
    return (data * is_orig).sum(axis=0).tolist(), (data * is_resp).sum(axis=0).tolist()


def add_copy_bytes(records: list[Connection],
                    copy_bytes: tuple[list[int], list[int]] | None) -> None:
    if copy_bytes is None:
        return
    # Only the flows with copies: adding 0 changes no record, and a new record's write
    # is kept as a patch until it is made (block_records.FreshRows), one per flow else.
    for i, (orig, resp) in enumerate(zip(*copy_bytes, strict=True)):
        if orig or resp:
            r = records[i]
            r.orig_copy_bytes += orig
            r.resp_copy_bytes += resp


def add_repeated(short: ShortPass, flows: np.ndarray, records: list[Connection],
                  sent: tuple[np.ndarray, np.ndarray]) -> None:
    """Each side's bytes repeated (RareFields.orig_repeated, as
    accounting.repeated_bytes gives them): its payload bytes less its copies and its
    unique bytes, max_end less its base + 1 (this path holds no hole). Written only for
    the flows whose bytes exceed their unique bytes (a resend or a capture copy)."""
    max_end, base = short.max_end.take(flows, axis=1), short.base.take(flows, axis=1)
    known = (max_end != NONE) & (base != NONE)
    start = base + 1
    start = np.where(start > max_end, start - (1 << 32), start)
    unique = np.where(known, max_end - start, 0)
    more = known & (np.stack(sent) > unique)
    for row, name, copies in ((0, "orig_repeated", "orig_copy_bytes"),
                              (1, "resp_repeated", "resp_copy_bytes")):
        for i in np.flatnonzero(more[row]).tolist():
            r = records[i]
            setattr(r, name, max(0, int(sent[row][i]) - getattr(r, copies)
                                 - int(unique[row, i])))


def add_acked_unseen_times(short: ShortPass, flows: np.ndarray, records: list[Connection],
                           fresh: bool) -> None:
    """Connection.orig/resp_acked_unseen_ts as accounting.acked_unseen_ts sets them:
    Endpoint.unseen_moved_ts (ShortPass.unseen_moved, nan: None) of a side with no
    max_end, for the records that have one now or (fresh False: a continuing flow's)
    had one as parked (ShortPass.before)."""
    moved = short.unseen_moved.take(flows, axis=1)
    times = np.where(short.max_end.take(flows, axis=1) == NONE, moved, np.nan)
    visit = ~np.isnan(times).all(axis=0)
    if not fresh:
        before = short.before
        visit |= ~np.isnan(np.where(before["max_end"].take(flows, axis=1) == NONE,
                                    before["unseen_moved"].take(flows, axis=1),
                                    np.nan)).all(axis=0)
    at = np.flatnonzero(visit)
    if not at.size:
        return
    values = [[None if t != t else t for t in row] for row in times[:, at].tolist()]
    if type(records) is FreshRows:
        rows = at.tolist()
        records.put("orig_acked_unseen_ts", rows, values[0])
        records.put("resp_acked_unseen_ts", rows, values[1])
        return
    for k, i in enumerate(at.tolist()):
        records[i].orig_acked_unseen_ts = values[0][k]
        records[i].resp_acked_unseen_ts = values[1][k]
