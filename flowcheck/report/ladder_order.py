"""The order a ladder's arrows go down in: the capture's event order, which is time.

A ladder is a time picture. Its arrows follow the frames only where the frame numbers
are one sniffer's write order (one file of one interface: FileOrder.frames), which also
keeps a clock set back from moving the packets after the step above those before it.
Elsewhere the frames say nothing about which packet came first: a pcapng of several
interfaces written by dumpcap holds each interface's packets in blocks, so the file goes
back in time at each turn (docs/formats.md), and a router capture `dumpcap -i rm -i ra`
had the data SYN (+0.008 s) drawn above the callback SYN (+0.003 s) and the DATA_LISTEN
reply that announced its port (newuser63). There each arrow goes by its time (its clock
epoch first: FileOrder.key), ties by frame.

Pure; reads the arrows' `at` (the time of the packet an arrow is placed at, kept also
for the arrows that are drawn without a time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowcheck.report.ladder import Arrow
    from flowcheck.sessions.file_order import FileOrder

__all__ = ["in_event_order"]


def in_event_order(arrows: list[Arrow], order: FileOrder) -> list[Arrow]:
    """The arrows sorted as the capture's events came (order: flowcheck.sessions.
    file_order.capture_order of the analysis's traffic): by the frame each is
    placed at (Arrow.frame) then its `order` where the frames are the write order, else
    by FileOrder.key (clock epoch, seconds, frame). An arrow without a time (an ICMP
    reject whose time the capture keeps for no arrow) goes with the arrow before it in
    frame order, as it did when frames ordered them."""
    by_frame = sorted(arrows, key=lambda a: (a.frame, a.order))
    if order.frames:
        return by_frame
    keyed = []
    previous: float | None = None
    for arrow in by_frame:
        at = arrow.at if arrow.at is not None else arrow.ts
        if at is None:
            at = previous
        previous = at if at is not None else previous
        keyed.append((order.key(arrow.frame, at) if at is not None else (), arrow))
    # Arrows before any timed one (none in practice: a SYN or message comes first) keep
    # their place at the top: the empty key sorts first.
    return [arrow for _, arrow in sorted(keyed, key=lambda pair: (pair[0], pair[1].order))]
