"""A side of a connection that stopped reading it: its TCP window stayed 0.

A receiving process that stops taking data from its socket (a tape drive stuck or
repositioning, a full disk or deduplication storage, a hung process) lets its TCP
receive buffer fill; its TCP then advertises a window of 0, and the sender probes the
closed window (RFC 9293 3.8.6.1: Linux without payload at snd_una - 1, Windows with one
byte) and gets each probe answered with window 0, until the window reopens or the job
engine gives up. The connection was never lost: every packet arrived, each side still
answered. The tracker keeps each side's trailing zero window and the longest that
reopened (SideEvidence.zero_window_ts, _longest: flowcheck.connections.conn);
`zero_window` reads them (data_receiver_stalled: flowcheck.verify.receiver_stalled).
"""

from __future__ import annotations

from typing import Literal

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection

# Flow control closes a window for a moment (a receiver a few milliseconds behind); a
# window that stays 0 this long means the receiving process stopped taking data.
ZERO_WINDOW_SECONDS = 5.0


@fields_dataclass(slots=True, frozen=True)
class ZeroWindow:
    """One side's zero window on a connection: side, the receiver ("orig", "resp"); ts,
    frame: its first window-0 segment; seconds: how long the window stayed 0; acks: its
    window-0 segments (0 when not known: a window that reopened); probes: the sender's
    segments into it (0 when not known); ended: "capture" (0 until the capture ended),
    "reset", "closed" (until the connection's RST or FIN), "reopened"; end_frame: the
    RST, FIN or reopening segment (0 for "capture")."""

    side: Literal["orig", "resp"]
    ts: float
    frame: int
    seconds: float
    acks: int
    probes: int
    ended: Literal["capture", "reset", "closed", "reopened"]
    end_frame: int

    @property
    def trailing(self) -> bool:
        """The window never reopened."""
        return self.ended != "reopened"


def zero_window(conn: Connection, capture_end: float) -> ZeroWindow | None:
    """conn's zero window of ZERO_WINDOW_SECONDS or more: a side's trailing one (timed to
    the connection's last packet when a RST or FIN came after it, else to capture_end,
    the capture's last packet), else the longest that reopened; None when neither
    lasted that long."""
    for side in ("orig", "resp"):
        evidence = conn.evidence(side)
        since = evidence.zero_window_ts
        if since is None:
            continue
        frame = evidence.zero_window_frame
        ended: Literal["capture", "reset", "closed"] = "capture"
        end, end_frame = capture_end, 0
        resets = [f for f in conn.rst_frames if f > frame]
        fins = [f for f in conn.fin_frames if f > frame]
        if resets or fins:  # timed to the connection's last packet
            ended, end_frame = ("reset", resets[0]) if resets else ("closed", fins[0])
            end = conn.last_ts
        if end - since >= ZERO_WINDOW_SECONDS:
            return ZeroWindow(side, since, frame, end - since, evidence.zero_window_acks,
                              evidence.zero_window_probes, ended, end_frame)
    longest = max(("orig", "resp"), key=lambda s: conn.evidence(s).zero_window_longest)
    evidence = conn.evidence(longest)
    if evidence.zero_window_longest < ZERO_WINDOW_SECONDS:
        return None
    return ZeroWindow(longest, evidence.zero_window_longest_ts,
                      evidence.zero_window_longest_frame, evidence.zero_window_longest, 0, 0,
                      "reopened", evidence.zero_window_reopened_frame)
