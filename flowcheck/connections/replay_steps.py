"""Where a capture's time steps back far enough to go over moments it went over already
(flowcheck.connections.replays: captures joined end to end, `cat` or `mergecap -a`).

The stream's running maximum of TCP packet times (`reached`) and, per packet, the time
the latest step back of more than REPLAY_STEP at or before it went back from, and its
frame: a packet stamped at or before that time may be a replayed copy (replays.Spans),
and a copy found beside its original with such a step between them is one
(`across_step`). Cost per batch: one comparison of its times in order (the common
case), else a few running maxima; state: a few numbers.
"""

from __future__ import annotations

import numpy as np

REPLAY_STEP = 1.0  # s: a step back of the capture's time this large may be a replay


class ClockBack:
    """The capture's time reached so far and its latest step back (module docstring)."""

    def __init__(self) -> None:
        self.reached = -np.inf  # s: the latest TCP packet time so far
        self.went_from = -np.inf  # s: the time the latest step back went back from
        # The frame of the capture's latest step back (more than REPLAY_STEP; 0: none),
        # and per packet of the last batch the latest at or before it (one int when the
        # batch holds none): a copy after it of a packet before it is a replayed one.
        self._step_frame = 0
        self.stepped_at: np.ndarray | int = 0

    def back_from(self, ts: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray | float, bool]:
        """Per packet of the batch (times ts, s; frames: their frame numbers): the time
        the capture's latest step back (more than REPLAY_STEP) at or before it went back
        from (-inf: none yet), one float for the whole batch when it holds no step back
        (in time order, the common case: no running maximum taken); and whether the
        batch is in time order. Keeps the frame of that step back in `stepped_at` (per
        packet, or one int for the batch; 0: none yet)."""
        if ts[0] >= self.reached - REPLAY_STEP and bool(np.all(ts[1:] >= ts[:-1])):
            self.reached = max(self.reached, float(ts[-1]))
            self.stepped_at = self._step_frame
            return self.went_from, True
        before = np.empty(ts.shape[0])
        before[0] = self.reached
        np.maximum.accumulate(ts[:-1], out=before[1:])
        np.maximum(before[1:], self.reached, out=before[1:])
        stepped = ts < before - REPLAY_STEP
        back_from = np.where(stepped, before, -np.inf)
        np.maximum.accumulate(back_from, out=back_from)
        np.maximum(back_from, self.went_from, out=back_from)
        at = np.where(stepped, frames, 0)
        np.maximum.accumulate(at, out=at)
        self.stepped_at = np.maximum(at, self._step_frame)
        self._step_frame = int(self.stepped_at[-1])
        self.reached = max(self.reached, float(ts.max()))
        self.went_from = float(back_from[-1])
        return back_from, False

    def across_step(self, frames: np.ndarray, top: np.ndarray, position: np.ndarray,
                    copies: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Per copy copies.py found beside its original (bool; copies: their indexes into
        frames, the batch's packets and the tail's; top, position: copies.py's sort of
        them, equal packets adjacent in capture order; rows: each one's batch row, -1
        in the tail): whether a step back of the capture's clock (more than REPLAY_STEP)
        lies between the first of its equal packets and it (a replayed copy found
        beside its original: a join read in one chunk, where a copy is stamped as its
        original; the first, not the one before it, as replays.py marks a capture copy
        of a replayed packet too)."""
        stepped = self.stepped_at
        if not copies.size or (isinstance(stepped, int) and not stepped):
            return np.zeros(copies.shape[0], bool)
        n = top.shape[0]
        run = np.zeros(n, np.int64)  # per place in the sort: where its equal run starts
        starts = np.flatnonzero(top[1:] != top[:-1]) + 1
        run[starts] = starts
        np.maximum.accumulate(run, out=run)
        place = np.empty(n, np.int64)
        place[position] = np.arange(n)
        first = frames[position[run[place[copies]]]]
        return first < (stepped if isinstance(stepped, int) else stepped[rows[copies]])
