"""A batch's short-pass flows as columns: per flow, the counts, frames, times and
histories its Connection record is made or brought up to date from
(flowcheck.connections.short_records).

The short pass (flowcheck.connections.short.ShortPass) holds each batch's packets of its
flows as [step, flow] arrays; `flow_columns` reads the flows asked for out of them, one
numpy pass per column (packets and bytes per side, the SYN, SYN-ACK, RST and FIN frames
and first times, histories, each side's first and last data, the FIN's times,
short_times' answers and ack_repeats' repeated ACKs), capture copies counted as packets
and never as evidence.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flowcheck.connections.conn import ACK, EVIDENCE_CAP, FIN, RST, SYN
from flowcheck.connections.record_columns import (
    FrameLists,
    first_frames,
    first_times,
    frame_lists,
    histories,
)
from flowcheck.connections.short_rare import copy_bytes
from flowcheck.connections.short_times import Answers, answer_columns, packet_times
from flowcheck.fields_dataclass import fields_dataclass

# A flowcheck.connections.short.ShortPass, whose arrays flow_columns reads (not imported,
# even for typing: short imports parked, which imports short_records and so this module).
ShortPass = Any


@fields_dataclass(slots=True)
class FlowColumns:
    """Per flow of a batch's short pass: the columns its records are made or updated
    from (counts, frames, times, histories), each in the flows' order."""

    first: np.ndarray  # per flow: its first packet of the batch (step-ordered index)
    last: np.ndarray
    orig_pkts: np.ndarray
    resp_pkts: np.ndarray
    orig_bytes: np.ndarray
    resp_bytes: np.ndarray
    copy_bytes: tuple[list[int], list[int]] | None  # short_rare.copy_bytes
    # Lists, or FrameLists for new records (flow_columns).
    syn_frames: list[list[int]] | FrameLists
    synack_frames: list[list[int]] | FrameLists
    synacks: np.ndarray  # per flow: its SYN-ACKs in the batch (not capture copies)
    synack_top: np.ndarray | None  # per flow: the highest of its synack_frames (0: none)
    rst_frames: list[list[int]] | FrameLists
    fin_frames: list[list[int]] | FrameLists
    resp_rst: np.ndarray
    orig_rst: np.ndarray
    first_rsts: tuple[np.ndarray, np.ndarray] | None  # per side, first RST frame (0: none)
    synack_ts: np.ndarray  # per flow: its first SYN-ACK's time in the batch (nan: none)
    rst_ts: np.ndarray
    histories: list[str]
    last_data: tuple[list[tuple[int, int, float]], list[tuple[int, int, float]]]  # per side
    first_data: tuple[list[tuple[int, int, float]], list[tuple[int, int, float]]]  # the same
    # short_times.packet_times: each side's last packet's time ((2, flows), nan: none), the first
    # FIN's time, whether the originator sent it, the peer's last packet's before it.
    side_last: np.ndarray
    fin: np.ndarray
    fin_by_orig: np.ndarray
    fin_peer: np.ndarray
    answers: Answers | None  # short_times.answer_columns
    # The flows' packets' frames and which are the handshake's ACK repeated, (steps,
    # flows) each (connections.ack_repeats.add_repeats); None: the batch has none.
    ack_repeats: tuple[np.ndarray, np.ndarray] | None


def flow_columns(short: ShortPass, flows: np.ndarray, new: bool = False) -> FlowColumns:
    """This batch's part of the records of `flows`, as arrays and lists; new: the flows'
    records are new (their frame lists kept as record_columns.FrameLists, made with the
    records: block_records), else each frame list made now."""
    frame_column = FrameLists.of if new else frame_lists
    v = short.v
    rows_of = np.full((len(short.active), v), -1, np.int64)  # [step, flow] -> packet
    for k, n in enumerate(short.active):
        rows_of[k, :n] = np.arange(short.offsets[k], short.offsets[k + 1])
    packets = rows_of.take(flows, axis=1)
    valid = packets >= 0
    at = np.where(valid, packets, 0)
    is_orig = short.is_orig[at] & valid
    is_resp = ~short.is_orig[at] & valid
    plen = np.where(valid, short.plen[at], 0)
    sizes = valid.sum(axis=0)
    flags, frames = short.flags[at], np.where(valid, short.frame[at], 0)
    rst = (flags & RST) != 0
    sent = valid & ~short.copy[at]  # capture copies are counted, not evidence
    times = short.ts[at]
    synack = ((flags & (SYN | ACK)) == SYN | ACK) & sent
    synacks = synack.sum(axis=0)
    # The highest frame of each flow's synack_frames (its first EVIDENCE_CAP), for the
    # flows with more than one (short_rare.add_ack_frames); None when no flow has.
    synack_top = None
    if (synacks > 1).any():
        kept = synack & (np.cumsum(synack, axis=0) <= EVIDENCE_CAP)
        synack_top = np.where(kept, frames, 0).max(axis=0)
    syn = ((flags & (SYN | ACK)) == SYN) & sent
    repeat = short.ack_repeat  # the handshake's ACK repeated (connections.ack_repeats)
    return FlowColumns(
        ack_repeats=None if repeat is None else (frames, repeat[at] & valid),
        first=at[0], last=at[sizes - 1, np.arange(flows.shape[0])],
        orig_pkts=is_orig.sum(axis=0), resp_pkts=is_resp.sum(axis=0),
        orig_bytes=(plen * is_orig).sum(axis=0), resp_bytes=(plen * is_resp).sum(axis=0),
        copy_bytes=copy_bytes(plen, valid & short.copy[at], is_orig, is_resp),
        syn_frames=frame_column(frames, syn),
        synack_frames=frame_column(frames, synack), synacks=synacks, synack_top=synack_top,
        rst_frames=frame_column(frames, rst & sent),
        synack_ts=first_times(times, synack), rst_ts=first_times(times, rst & sent),
        fin_frames=frame_column(frames, ((flags & FIN) != 0) & sent),
        resp_rst=(rst & is_resp).any(axis=0), orig_rst=(rst & is_orig).any(axis=0),
        first_rsts=(first_frames(frames, rst & sent & is_orig),
                    first_frames(frames, rst & sent & is_resp)) if rst.any() else None,
        histories=histories(short.new_letters.take(flows, axis=1)),
        last_data=(_last_data(frames, times, plen, sent & is_orig),
                   _last_data(frames, times, plen, sent & is_resp)),
        first_data=(_last_data(frames, times, plen, sent & is_orig, first=True),
                    _last_data(frames, times, plen, sent & is_resp, first=True)),
        **packet_times(times, flags, sent, is_orig, is_resp),
        answers=answer_columns(flags, valid, sent, is_orig, times, frames))


def _last_data(frames: np.ndarray, times: np.ndarray, plen: np.ndarray,
               side: np.ndarray, first: bool = False) -> list[tuple[int, int, float]]:
    """[(flow's index, frame, time)] of the last data packet of a side ([step, flow]
    arrays; side: the side's packets, not capture copies) of each flow that has one
    (Connection.orig_last_data); its first one with `first` (orig_first_data)."""
    data = side & (plen > 0)
    flows = data.any(axis=0).nonzero()[0]
    if not flows.size:
        return []
    if first:
        step = data[:, flows].argmax(axis=0)
    else:
        step = data.shape[0] - 1 - data[::-1, flows].argmax(axis=0)
    return list(zip(flows.tolist(), frames[step, flows].tolist(), times[step, flows].tolist(),
                    strict=True))
