"""What the short-connection pass's flows add up to at the end, column-wise: the array
form of flowcheck.connections.accounting (conn_state, missed_bytes and gaps, acked_unseen,
unacked, the resends, segment sizes, sent_unseen) and of the zero-window record fields
(flowcheck.connections.zero_window), read from a pass's arrays for the records
flowcheck.connections.parked builds. They must agree with the reference path's
(tests/test_connections*.py compare the paths).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flowcheck.connections.record_columns import NONE, optional, optional_item
from flowcheck.connections.state import conn_states
from flowcheck.connections.zero_window import ZERO_FIELDS, zero_windows
from flowcheck.model import Connection

# A flowcheck.connections.short.ShortPass (not imported: short imports parked, which
# imports this module).
ShortPass = Any


def closing(short: ShortPass, flows: np.ndarray, histories: list[str], orig_bytes: np.ndarray,
            resp_bytes: np.ndarray, rst_frames: list[list[int]]
            ) -> tuple[list[str], list[int], list[int], list[list[int]], np.ndarray,
                       np.ndarray, list[list]]:
    """As the tracker's finish (conn_state, account_missed) for flows without holes:
    conn_state, missed_bytes, gaps, gap_frames; acked_unseen and unacked, each an int64
    array (2, flows): the originator's row, then the responder's; the resends' fields
    (_resent, given each flow's RST frames), as lists in Connection's order."""
    fin = short.fin[:, flows]
    acked, max_end = short.acked[:, flows], short.max_end[:, flows]
    both = (acked != NONE) & (max_end != NONE)
    beyond = np.where(both, np.maximum(0, acked - max_end - fin), 0)
    gaps = (beyond > 0).sum(axis=0)
    gap_frames: list[list[int]] = [[] for _ in range(flows.shape[0])]
    acked_frame = short.acked_frame[:, flows]
    for i in np.flatnonzero(gaps).tolist():
        gap_frames[i] = [acked_frame.item(row, i) for row in (0, 1) if beyond[row, i]]
    state = short.state[:, flows]
    states = conn_states(state[0], state[1], histories, orig_bytes, resp_bytes)
    # accounting.acked_unseen: a side never seen (no max_end) its peer ACKed.
    first = short.unseen_first[:, flows]
    unseen = np.where((max_end == NONE) & (first != NONE),
                      short.unseen_top[:, flows] - first, 0)
    # accounting.unacked: a side seen its peer ACKed, short of its highest byte.
    unacked = np.where(both, np.maximum(0, max_end - acked), 0)
    return (states, beyond.sum(axis=0).tolist(), gaps.tolist(), gap_frames, unseen, unacked,
            _resent(short, flows, acked, rst_frames))


def _resent(short: ShortPass, flows: np.ndarray, acked: np.ndarray,
            rst_frames: list[list[int]]) -> list[list]:
    """accounting.resends_acked (rst_frames: each flow's record's) and the record's resends
    fields, column-wise: orig_resends,
    resp_resends, orig_resends_acked, resp_resends_acked, orig_resent_ts, resp_resent_ts,
    orig_resent_frame, resp_resent_frame, orig_resend_first_ts, resp_resend_first_ts,
    orig_resend_first_frame, resp_resend_first_frame (a list each, one value per flow)."""
    resends = short.resends[:, flows]
    if not resends.any():
        nothing, unknown = [0] * flows.shape[0], [None] * flows.shape[0]
        return [nothing, nothing, nothing, nothing, unknown, unknown, nothing, nothing,
                unknown, unknown, nothing, nothing]
    resent_u = short.resent_u[:, flows]
    resent_frame = short.resent_frame[:, flows]
    acked_frame = short.acked_frame[:, flows]
    stale = (resends > 0) & (acked != NONE) & (resent_u != NONE) & (resent_u < acked)
    # accounting.resends_acked: not answered after the latest resend (but on a RST), and
    # nothing new of the peer's acknowledged since (row 0 the originator, 1 its peer).
    late = stale & (acked_frame > resent_frame)
    for row, i in zip(*np.nonzero(late), strict=True):
        late[row, i] = acked_frame.item(row, i) not in rst_frames[i]
    took_later = (acked[::-1] != NONE) & (acked_frame[::-1] > resent_frame)
    stale &= ~late & ~took_later
    when = np.where(resends > 0, short.resent_ts[:, flows], np.nan)
    frame = np.where(resends > 0, short.resent_frame[:, flows], 0)
    first = np.where(resends > 0, short.resend_first_ts[:, flows], np.nan)
    first_frame = np.where(resends > 0, short.resend_first_frame[:, flows], 0)
    return [resends[0].tolist(), resends[1].tolist(), np.where(stale, resends, 0)[0].tolist(),
            np.where(stale, resends, 0)[1].tolist(), optional(when[0]), optional(when[1]),
            frame[0].tolist(), frame[1].tolist(), optional(first[0]), optional(first[1]),
            first_frame[0].tolist(), first_frame[1].tolist()]


def sizes(short: ShortPass, flows: np.ndarray, records: list[Connection],
          continuing: bool = False) -> None:
    """The records' orig/resp_seg_max, _resent_len (0 without resends), _sent_unseen and
    its frame, as accounting.account_missed sets them. continuing: the records were made
    in an earlier batch (their earlier values are overwritten, 0 included)."""
    resends = short.resends[:, flows]
    largest = short.seg_max[:, flows].tolist()
    resent = np.where(resends > 0, short.resent_len[:, flows], 0)
    # accounting.sent_unseen: a pure ACK's sequence above the side's max_end (a FIN takes one).
    ahead, max_end = short.seq_ahead[:, flows], short.max_end[:, flows]
    beyond = np.where((ahead != NONE) & (max_end != NONE),
                      ahead - max_end - short.fin[:, flows], 0)
    for r, orig, resp in zip(records, largest[0], largest[1], strict=True):
        r.orig_seg_max, r.resp_seg_max = orig, resp
    # The rest is 0 for most flows (the records' defaults): set where it is not.
    changed = (resends > 0).any(axis=0) | (beyond > 0).any(axis=0)
    if continuing:
        changed |= np.fromiter((bool(r.orig_resent_len or r.resp_resent_len
                                     or r.orig_sent_unseen or r.resp_sent_unseen)
                                for r in records), bool, len(records))
    if not changed.any():
        return
    unseen = np.maximum(beyond, 0)
    frames = np.where(beyond > 0, short.ahead_frame[:, flows], 0)
    for i in np.flatnonzero(changed).tolist():
        r = records[i]
        r.orig_resent_len, r.resp_resent_len = resent.item(0, i), resent.item(1, i)
        r.orig_sent_unseen, r.orig_sent_unseen_frame = unseen.item(0, i), frames.item(0, i)
        r.resp_sent_unseen, r.resp_sent_unseen_frame = unseen.item(1, i), frames.item(1, i)


def zero_window_fields(short: ShortPass, flows: np.ndarray, records: list[Connection],
                       continuing: bool) -> None:
    """The records' (one per flow of `flows`) zero-window fields (zero_window.zero_windows), set
    where a side had one in this batch or (continuing records) before it."""
    zero = {name: values[:, flows] for name, values in short.zero.items()}
    had = ~np.isnan(zero["zero_ts"]) | (zero["zero_long_s"] > 0)
    before = [i for i, r in enumerate(records) if r.orig_zero_window_ts is not None
              or r.resp_zero_window_ts is not None or r.orig_zero_window_longest
              or r.resp_zero_window_longest] if continuing else []
    for i in sorted(set(np.flatnonzero(had.any(axis=0)).tolist() + before)):
        for row, name in ((0, "orig"), (1, "resp")):
            zero_windows(records[i], name,
                         [optional_item(zero[field].item(row, i)) for field in ZERO_FIELDS])
