"""How long the capture went on after an event, on a clock that may have been set back.

"The capture ended N s after X" is the capture's last time less X's; but when the
capturing host's clock is set back after X (capture_clock_stepped, or by less than
NTP's step threshold), every later packet is stamped before X and that reads 0 s
although the file holds hundreds of packets after it (trial 29 D2). Where the frame
numbers are one sniffer's write order (flowcheck.sessions.file_order), the time after X
is the clock's progress over the frames written after it: each forward move of the
timestamps counts, a backward step none. On a clock that never steps back that is the
last time less X's, as before.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Protocol

import numpy as np

from flowcheck.config import Config
from flowcheck.model import Connection, NdmpStream

__all__ = ["CaptureTime", "after", "after_last", "after_opened", "opened_at", "time_enough"]


class CaptureTime:
    """The capture's clock sampled where its connections open and end and where its
    NDMP messages came, in frame order.

    Built from each connection's first packet (first_frame, ts) and last one
    (last_frame, last_ts) and each decoded message's (frame, ts); `end` (seconds,
    capture clock) is when the capture stopped when later than its last TCP packet
    (Traffic.ended_at). Sampled at the first `after` call: most analyses ask none (a
    capture's two points per connection sorted for nothing)."""

    __slots__ = ("_frames", "_times", "_rest", "_end", "_read", "samples")

    def __init__(self, connections: list[Connection], streams: list[NdmpStream],
                 end: float | None = None) -> None:
        self._read: tuple[list[Connection], list[NdmpStream], float | None] | None = (
            list(connections), list(streams), end)
        self.samples = 0  # times the clock was sampled (0 or 1: tests)

    def _sample(self) -> None:
        """Sample the clock (the class's docstring) from what __init__ was given."""
        assert self._read is not None
        connections, streams, end = self._read
        self._read = None
        self.samples += 1
        points = sorted({_first(c) for c in connections} | {_last(c) for c in connections}
                        | {(m.frame, m.ts) for s in streams for m in s.messages})
        self._frames = [frame for frame, _ in points]
        times = np.array([ts for _, ts in points], dtype=np.float64)
        self._times = times.tolist()
        # The clock's forward progress from each point to the capture's end: its rises
        # summed, then the capture's running on past its last TCP packet.
        rises = np.maximum(0.0, np.diff(times)) if times.size else times
        tail = max(0.0, (end or 0.0) - float(times.max())) if times.size else 0.0
        self._rest = (np.concatenate((np.cumsum(rises[::-1])[::-1], [0.0])) + tail).tolist() \
            if times.size else []
        self._end = max(end or 0.0, float(times.max()) if times.size else 0.0)

    def after(self, frame: int, ts: float) -> float:
        """Seconds of capture after the event written at `frame` and stamped `ts`: the
        clock's progress from it over the points written after it; with none, the
        capture's end less ts."""
        if self._read is not None:
            self._sample()
        at = bisect_right(self._frames, frame)
        if at == len(self._frames):
            return max(0.0, self._end - ts)
        return max(0.0, self._times[at] - ts) + self._rest[at]


class Clocked(Protocol):
    """What the functions below read of flowcheck.verify.context.Context (which holds a
    CaptureTime: named here, not imported, so the two do not import each other)."""

    timeline: CaptureTime | None
    capture_end: float
    config: Config

    def end_at(self, ts: float) -> float: ...


def _first(conn: Connection) -> tuple[int, float]:
    """The clock at the connection's first frame: its start, unless records written out
    of time order moved the start off that frame's stamp (Connection.written_first)."""
    written = conn.written_first
    return written if written is not None and written[0] == conn.first_frame \
        else (conn.first_frame, conn.ts)


def _last(conn: Connection) -> tuple[int, float]:
    """The clock at the connection's last frame (as _first; Connection.written_last)."""
    written = conn.written_last
    return written if written is not None and written[0] == conn.last_frame \
        else (conn.last_frame, conn.last_ts or conn.ts)


def after(ctx: Clocked, ts: float, frame: int | None = None) -> float:
    """Seconds of capture after an event stamped ts: the capture's end less ts; given
    the event's frame where the frames are the sniffer's write order (Context.order),
    the clock's progress over the frames written after it, which a clock set back
    after the event does not undo (CaptureTime). In a set of files apart in time, the end
    is that of the piece holding the event (Context.end_at: sources.pieces), and the
    clock's progress stops there too (the files of such a set are one write order:
    connections.clock one_stream; the next file's frames, days later, are no time this
    capture went on)."""
    end = ctx.end_at(ts)
    if frame is not None and ctx.timeline is not None:
        went = ctx.timeline.after(frame, ts)
        return went if end >= ctx.capture_end else min(went, max(0.0, end - ts))
    return max(0.0, end - ts)


def after_last(ctx: Clocked, conn: Connection) -> float:
    """Seconds of capture after the connection's last packet (after)."""
    return after(ctx, conn.last_ts, conn.last_frame)


def after_opened(ctx: Clocked, conn: Connection) -> float:
    """Seconds of capture after the connection's first packet (after)."""
    return after(ctx, conn.ts, conn.first_frame)


def opened_at(conn: Connection) -> tuple[float, int]:
    """(time, frame) at which the words say a connection "opened": its first SYN-ACK,
    the answer that opens it, when captured, else its first packet. One measure for
    every "the capture ended N after the control connection opened" (newuser56: the
    callback's warning counted from the SYN, 0.0541 ms, the greeting's from the SYN-ACK,
    0.0191 ms, for the same capture)."""
    if conn.synack_ts is not None and conn.synack_frames:
        return conn.synack_ts, conn.synack_frames[0]
    return conn.ts, conn.first_frame


def time_enough(ctx: Clocked, ts: float, frame: int | None = None) -> bool:
    """Did the capture go on a retransmission timeout after the event (after)?"""
    return after(ctx, ts, frame) >= ctx.config.retransmission_timeout
