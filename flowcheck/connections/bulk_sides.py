"""The bulk runs' per-side pieces (flowcheck.connections.bulk.apply_runs): the sides'
sequence state as columns, the history letters' first rows, each side's last data row
and its trailing resends.

Apart from bulk.py to keep it short; the rows are grouped by segment (a run's side) as
there, the columns gathered or read there (reordering_rows.AtRows).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from flowcheck.connections.bulk_acks import NO_ROW, first_where
from flowcheck.connections.endpoint import Endpoint
from flowcheck.connections.reordering_rows import AtRows, last_where
from flowcheck.fields_dataclass import fields_dataclass


@fields_dataclass(slots=True)
class SideColumns:
    """The segments' sides' sequence state as columns (Endpoint.last_raw, last_u,
    max_end; int64, 0 for None, with `known`: last_u set, `has_max`: max_end set), read
    once per apply_runs; bulk_sequences.data_sequences sets the data segments' values
    after the run (the Endpoints too), which bulk._ahead reads. had_max: has_max before the run."""

    last_raw: np.ndarray
    last_u: np.ndarray
    max_end: np.ndarray
    known: np.ndarray
    has_max: np.ndarray
    had_max: np.ndarray

    @classmethod
    def of(cls, last_raw: list[int], last_u: list[int | None],
           max_end: list[int | None]) -> SideColumns:
        known = np.array([u is not None for u in last_u], bool)
        has_max = np.array([m is not None for m in max_end], bool)
        return cls(np.array(last_raw, np.int64),
                   np.array([0 if u is None else u for u in last_u], np.int64),
                   np.array([0 if m is None else m for m in max_end], np.int64),
                   known, has_max, has_max.copy())

    def set_after(self, segments: np.ndarray, last_raw: np.ndarray, last_u: np.ndarray,
                  max_end: np.ndarray) -> None:
        """The values of `segments` after their data rows (all set then)."""
        self.last_raw[segments] = last_raw
        self.last_u[segments] = last_u
        self.max_end[segments] = max_end
        self.known[segments] = True
        self.has_max[segments] = True


def first_letter(name: str, mask: np.ndarray | None, places: np.ndarray,
                  starts: np.ndarray, keys: list[int], histories: list[str],
                  make_mask: Callable[[], np.ndarray] | None = None) -> np.ndarray:
    """first_where(mask, places, starts) for history letter `name` (upper case; a
    responder's segment, odd key, shows it in lower case): per segment, the place of its
    first row where mask holds, NO_ROW for none; all NO_ROW, with no pass over the rows,
    when no row has it or every segment's connection shows the letter already (then
    none would be added: a steady connection's D and A). histories: each segment's
    connection history; make_mask: the mask, made only when needed (mask None)."""
    if mask is not None and not mask.any():
        return np.full(starts.shape[0], NO_ROW, np.int64)
    lower = name.lower()
    for k, history in zip(keys, histories, strict=True):
        if (lower if k & 1 else name) not in history:
            break
    else:
        return np.full(starts.shape[0], NO_ROW, np.int64)
    if mask is None:
        assert make_mask is not None
        mask = make_mask()
        if not mask.any():
            return np.full(starts.shape[0], NO_ROW, np.int64)
    return first_where(mask, places, starts)


def last_data_of(frames: AtRows, ts: AtRows, data_rows: np.ndarray,
               starts: np.ndarray) -> list[tuple[int, float] | None]:
    """Per segment (rows grouped by segment from `starts`; frames, ts: the rows' frame
    numbers and times in seconds; data_rows: the rows with payload, ascending), its last
    data row's (frame, time), None for a segment without one
    (Connection.orig_last_data)."""
    if not data_rows.size:
        return [None] * starts.shape[0]
    last = last_where(data_rows, starts, frames.rows.shape[0])
    found = last >= starts
    at = np.where(found, last, 0)
    return [(frame, time) if ok else None for ok, frame, time in zip(
        found.tolist(), frames[at].tolist(), ts[at].tolist(), strict=True)]


def first_data_of(frames: AtRows, ts: AtRows, data_rows: np.ndarray,
                  starts: np.ndarray) -> list[tuple[int, float]]:
    """Per segment starting at `starts` (each one holding a data row: last_data_of found
    one), its first data row's (frame, time) (Connection.orig_first_data): the first of
    the ascending data_rows at or after its start."""
    at = data_rows[np.searchsorted(data_rows, starts)]
    return list(zip(frames[at].tolist(), ts[at].tolist(), strict=True))


def resends(columns: tuple[AtRows, AtRows, np.ndarray], data_segs: np.ndarray,
             firsts: np.ndarray,
             local: np.ndarray, new: np.ndarray, retransmitted: np.ndarray,
             start: np.ndarray, length: np.ndarray, sides: list[Endpoint]) -> None:
    """As _track_sequence: each side's trailing resends (Endpoint.resends) after the data
    rows (columns: the rows' times in seconds and frame numbers, the data rows among
    them; data rows grouped by segment from
    `firsts`; local: each row's segment index): a row with bytes never sent before (new)
    starts the count again, a retransmitted row
    adds one and is the latest resend (its start, time, frame and length); the first of the
    trailing run, when the count starts in these rows, is the run's first (its time and
    frame)."""
    times, frames, data_rows = columns
    last_new = last_where(new.nonzero()[0], firsts, new.shape[0])
    renewed = (last_new >= firsts).tolist()
    if not retransmitted.any():  # the usual run: new bytes end any resends before it
        for s, again in zip(data_segs.tolist(), renewed, strict=True):
            if again:
                sides[s].resends = 0
        return
    at = np.arange(new.shape[0])
    trailing = retransmitted & (at > last_new[local])
    tail = np.add.reduceat(trailing.astype(np.int64), firsts)
    latest = last_where(retransmitted.nonzero()[0], firsts, new.shape[0])
    found = latest >= 0
    latest = np.maximum(latest, 0)
    # The trailing run's first row here (any row when there is none: then unused).
    opening = np.minimum(first_where(trailing, at, firsts), at.shape[0] - 1)
    latest_rows, opening_rows = data_rows[latest], data_rows[opening]
    for s, again, count, has, u, size, ts, frame, first_ts, first_frame in zip(
            data_segs.tolist(), renewed, tail.tolist(), found.tolist(), start[latest].tolist(),
            length[latest].tolist(),
            times[latest_rows].tolist(), frames[latest_rows].tolist(),
            times[opening_rows].tolist(), frames[opening_rows].tolist(),
            strict=True):
        side = sides[s]
        if count and (again or not side.resends):
            side.resend_first_ts, side.resend_first_frame = first_ts, first_frame
        side.resends = count if again else side.resends + count
        if has:
            side.resent_u, side.resent_ts, side.resent_frame = u, ts, frame
            side.resent_len = size
