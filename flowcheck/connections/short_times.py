"""The packet times the short-connection pass keeps on its records
(flowcheck.connections.short_records), as conn.update_packet keeps them one packet at a
time: each side's last packet's time (Connection.orig_last_ts / resp_last_ts), the
connection's first FIN's time and the other side's last packet's before it (fin_ts,
fin_peer_last_ts), a RST without ACK that answered the other side's FIN
(fin_answer_rst). Read from the batch's [step, flow] arrays when the records are made
or updated: no work in the pass's steps. Which path reads a connection depends on where
batches are cut (the read chunk): each gives the same record
(tests/test_chunk_size_results.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flowcheck.connections.conn import ACK, FIN, RST
from flowcheck.fields_dataclass import fields_dataclass
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
    col: short_columns.FlowColumns): the first FIN's time and the peer's last packet's
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
    # Most continuing flows: one list, no item each; an attribute store each, not a
    # call of setattr.
    orig, resp = col.side_last
    at = np.flatnonzero(~np.isnan(orig))
    for r, value in zip(map(records.__getitem__, at.tolist()), orig[at].tolist(), strict=True):
        r.orig_last_ts = value
    at = np.flatnonzero(~np.isnan(resp))
    for r, value in zip(map(records.__getitem__, at.tolist()), resp[at].tolist(), strict=True):
        r.resp_last_ts = value


@fields_dataclass(slots=True)
class Answers:
    """The batch's flows with a RST without ACK (not a capture copy) among their
    packets (`flows`: indices into the columns' flows), and their packets as [step,
    flow] arrays (valid: a packet at that step): those that may hold
    Connection.fin_answer_rst (a few: most flows have none, and this is read in Python)."""

    flows: list[int]
    flags: np.ndarray
    is_orig: np.ndarray
    valid: np.ndarray
    copy: np.ndarray
    times: np.ndarray
    frames: np.ndarray


def answer_columns(flags: np.ndarray, valid: np.ndarray, sent: np.ndarray,
                   is_orig: np.ndarray, times: np.ndarray, frames: np.ndarray
                   ) -> Answers | None:
    """Answers of the batch's [step, flow] arrays; None when no flow has such a RST."""
    bare = ((flags & (RST | ACK)) == RST) & sent
    if not bare.any():
        return None
    at = np.flatnonzero(bare.any(axis=0))
    return Answers(at.tolist(), flags[:, at], is_orig[:, at], valid[:, at],
                   (valid & ~sent)[:, at], times[:, at], frames[:, at])


# A record's state before the batch as fin_answers reads it: (history, orig_last_ts,
# resp_last_ts, fin_ts, fin_answer_rst).
Prior = tuple[str, float | None, float | None, float | None, int]
NEW: Prior = ("", None, None, None, 0)


def prior_of(record: Connection) -> Prior:
    """What fin_answers needs of a continuing record before the batch updates it."""
    return (record.history, record.orig_last_ts, record.resp_last_ts, record.fin_ts,
            record.fin_answer_rst)


def fin_answers(answers: Answers | None, priors: list[Prior]) -> list[tuple[int, int]]:
    """(index into the columns' flows, frame) of each flow whose batch holds its first
    RST without ACK answering the other side's FIN, as conn.update_packet finds it: sent
    by a side that had sent no FIN, after the other side's (the connection's first FIN,
    at fin_ts), the side's packet before it (a capture copy's too) not later than that
    FIN. priors: each of answers.flows' record before the batch (NEW: a new record)."""
    if answers is None:
        return []
    found = []
    for n, (f, prior) in enumerate(zip(answers.flows, priors, strict=True)):
        history, orig_last, resp_last, fin_ts, answer = prior
        if answer:
            continue
        fins = ["F" in history, "f" in history]  # orig's, resp's: a FIN sent before
        last = [orig_last, resp_last]
        for k in np.flatnonzero(answers.valid[:, n]).tolist():
            side = 0 if answers.is_orig.item(k, n) else 1
            ts, flags = answers.times.item(k, n), answers.flags.item(k, n)
            before, last[side] = last[side], ts
            if answers.copy.item(k, n):
                continue
            if flags & FIN:
                fin_ts = ts if fin_ts is None else fin_ts
                fins[side] = True
            if (flags & (RST | ACK) == RST and not fins[side] and fins[1 - side]
                    and fin_ts is not None and (before is None or before <= fin_ts)):
                found.append((f, answers.frames.item(k, n)))
                break
    return found
