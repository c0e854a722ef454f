"""When a session's data connection can open at the earliest, as its own captured
requests tell (field check 46, seed 93 run 11).

A capture that holds one direction of a control connection, the media server's (`tcpdump
-Q out` on it), lacks the agent's replies, so the DATA_LISTEN reply's address with them:
the session's data connections are matched by direction and ports
(flowcheck.sessions.by_ports, "one_direction"). The media server's requests are all
there, though, when that direction is captured whole: from the SYN on, every byte the
media server sent decoded, none missed, cut or unreadable. A data connection follows a
request of the DMA's that sets it up (NDMP v3/v4: DATA_LISTEN, DATA_CONNECT,
MOVER_LISTEN, MOVER_CONNECT; v2: DATA_START_* with the mover address: DATA_INTENT), so
it cannot be the session's before the first such request, nor at all when the session
sent none: two jobs at once whose IPv4 data connection fits both IPv6 sessions by ports
go to the one that asked for it (the other, a job stopped at its callback, asked
nothing past its vendor message).
"""

from __future__ import annotations

from flowcheck.model import Connection, NdmpMessage, NdmpStream
from flowcheck.sessions.classify import DATA_INTENT, message_op, one_sided
from flowcheck.sessions.file_order import END, TIME_ORDER, FileOrder, Moment
from flowcheck.sessions.matching import ANNOUNCEMENT_JITTER_SECONDS

# Decode findings after which a direction's later requests may be unread.
_UNREAD = frozenset({"ndmp_partial", "ndmp_undecodable"})


def media_side_whole(control: Connection, stream: NdmpStream | None) -> bool:
    """Does the capture hold the media server's side of the control connection whole
    and the agent's not at all: its SYN, every payload byte decoded (the stream's
    `orig_bytes` all the connection's), none missed or cut by the snap length, no decode
    problem?"""
    return (stream is not None and one_sided(control) == "resp" and control.syn_seen
            and not control.missed_bytes and not control.orig_acked_unseen
            and not stream.snap_cut and stream.orig_bytes == control.orig_bytes
            and not any(f.code in _UNREAD for f in stream.findings))


def asked_from_frame(control: Connection, stream: NdmpStream | None) -> int | None:
    """asked_from in frames, for a capture whose frames are the sniffer's write order:
    the control connection's first frame; with the media server's side captured whole,
    its first data setup request's frame, or None when it sent none."""
    if not media_side_whole(control, stream):
        return control.first_frame
    assert stream is not None
    first = _first_setup(stream)
    return None if first is None else first.frame


def asked_from(control: Connection, stream: NdmpStream | None,
               order: FileOrder = TIME_ORDER) -> Moment:
    """The earliest moment (clock epoch, s: FileOrder.moment, in the capture's `order`) a
    data connection of the session can open: its control connection's start; with the
    media server's side captured whole (media_side_whole), its first data setup request
    (DATA_INTENT, less the capture's reordering jitter), or END when it sent none."""
    opened = order.began(control)
    if not media_side_whole(control, stream):
        return opened
    assert stream is not None
    first = _first_setup(stream)
    return END if first is None else max(
        opened, order.moment(first.frame, first.ts - ANNOUNCEMENT_JITTER_SECONDS))


def _first_setup(stream: NdmpStream) -> NdmpMessage | None:
    """The media server's first data setup request on the control stream (DATA_INTENT:
    DATA_LISTEN, DATA_CONNECT, MOVER_LISTEN, MOVER_CONNECT, v2's DATA_START_*), or None."""
    return next((m for m in stream.messages if m.direction == "orig"
                 and m.type == "request" and message_op(m) in DATA_INTENT), None)
