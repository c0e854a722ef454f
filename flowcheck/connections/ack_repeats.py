"""The frames of the handshake's repeated ACKs (Connection.ack_repeat_frames), on each of
the tracker's three paths.

An originator whose ACK completing the handshake never reached the listener answers
each SYN-ACK the listener resends with that ACK again (RFC 9293 3.10.7.4): Wireshark's
duplicate ACKs (tcp.analysis.duplicate_ack; flowcheck.connections.reordering), which
SideEvidence.handshake_ack_repeats counts. Their frames are kept here: an originator's
duplicate ACK while it had sent nothing but its SYN (its sequence number the SYN's + 1)
and whose ACK number is the responder's base + 1 (its SYN-ACK's sequence number + 1; the
first ACK's number while the capture holds nothing of the responder's), the first
EVIDENCE_CAP. Only duplicate ACKs are looked at, never a data packet: a connection has a
few such ACKs at most (flowcheck.sessions.unheard_ack, verify.ack_unheard put them in
handshake_incomplete's frames).

- per packet: `note` (conn.update_packet, when reordering.note_packet counted a
  duplicate ACK);
- bulk runs: `ack_repeat_rows.note_rows` (bulk.apply_runs, when the run holds a duplicate ACK);
- short pass: `repeat_mask` (short.ShortPass, when the pass holds a duplicate ACK) and
  `add_repeats` (short_records, the records' lists from it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flowcheck.connections.endpoint import EVIDENCE_CAP, Endpoint
from flowcheck.connections.reordering import M32, NONE
from flowcheck.model import Connection


def is_repeat(side: Endpoint, peer: Endpoint, seq: int, ack: int) -> bool:
    """Is a duplicate ACK of `side` (raw seq and ack numbers) the handshake's ACK again:
    its SYN captured and its sequence number the SYN's + 1, its ACK number the peer's
    base + 1?"""
    return (side.isn is not None and seq == (side.isn + 1) & M32
            and peer.base is not None and ack == (peer.base + 1) & M32)


def note(record: Connection, side: Endpoint, peer: Endpoint, seq: int, ack: int,
         frame: int) -> None:
    """A duplicate ACK of the originator (`side`; its frame): kept in the record's
    ack_repeat_frames when it is the handshake's ACK again (is_repeat) and fewer than
    EVIDENCE_CAP are."""
    if is_repeat(side, peer, seq, ack):
        frames = record.ack_repeat_frames
        if len(frames) < EVIDENCE_CAP:
            frames.append(frame)


def repeat_mask(dup: np.ndarray | None, side_all: np.ndarray, v: int, seq: np.ndarray,
                ack: np.ndarray, isn: np.ndarray, base: np.ndarray) -> np.ndarray | None:
    """The short pass's packets that `note` keeps (bool per packet), None when none:
    dup, its duplicate ACKs (reordering_rows.update_columns; None: none); side_all, each
    packet's side (the originator of flow f at f, its responder at f + v); seq, ack
    raw; isn, base: the sides' columns (2v,) after the pass (NONE: None)."""
    if dup is None:
        return None
    orig = side_all < v
    side_isn = isn[side_all]
    peer_base = base[np.where(orig, side_all + v, side_all - v)]
    mask = (dup & orig & (side_isn != NONE) & (seq == ((side_isn + 1) & M32))
            & (peer_base != NONE) & (ack == ((peer_base + 1) & M32)))
    return mask if mask.any() else None


def add_repeats(records: Any, frames: np.ndarray, mask: np.ndarray | None,
                fresh: bool) -> None:
    """The records' ack_repeat_frames from a short pass (one record per column of
    `frames` and `mask`: (steps, flows), the pass's packets of each flow in step order;
    mask: repeat_mask's at them, None: none): new records (fresh: block_records.FreshRows)
    get theirs as patches, continuing ones add theirs after their earlier batches'."""
    if mask is None or not mask.any():
        return
    found = np.flatnonzero(mask.any(axis=0)).tolist()
    lists = [frames[mask[:, i], i][:EVIDENCE_CAP].tolist() for i in found]
    if fresh:
        records.put("ack_repeat_frames", found, lists)
        return
    for i, kept in zip(found, lists, strict=True):
        record = records[i]
        before = record.ack_repeat_frames
        record.ack_repeat_frames = [*before, *kept][:EVIDENCE_CAP]
