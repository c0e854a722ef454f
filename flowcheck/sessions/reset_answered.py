"""NDMP log messages a control connection's peer answered with nothing but a bare RST
(cutcb64b): they came after that peer had closed the connection.

A TCP whose application closed the connection answers data arriving after the close
with a RST built from the segment: no ACK flag, its sequence number the segment's
acknowledgement (RFC 9293 3.10.7.4, 3.10.7.1; Linux: TCPAbortOnData, tcp_v4_send_reset),
as a host with no socket for it does. A log message so answered reached a job engine
that had already let the connection go: it is no sign the job still ran when a
connection closing beside the control connection's close closed
(sessions.only_closing._spoken). lab-trial17/mtu-blackhole-media from frame 41: the
media server's control FIN (frame 40) cut off, the agent's LOG_MESSAGE (frame 44)
answered by the media server's RST (frame 45), read as the job speaking between the
callback's first packet and the close, so the callback counted as a data connection.
`logs_after_close(stream)` -> the frames of those messages.
"""

from __future__ import annotations

from flowcheck.model import NdmpStream

_ACK, _RST = 0x10, 0x04


def logs_after_close(stream: NdmpStream) -> set[int]:
    """The frames of the stream's NDMP_LOG_* messages (LOG_MESSAGE, LOG_FILE, v2's
    LOG_LOG and LOG_DEBUG) in the packet its first RST answers (NdmpStream.before_reset:
    the packet just before it, from the other side, carrying payload) when that RST is
    bare (RST without ACK): what the RST's sender's TCP answers data after its close
    with. A NOTIFY (DATA_HALTED: the data's end) still counts as the job speaking; a
    RST with ACK (an application aborting with data unread) tells nothing of when the
    message came. Empty when there is no such RST."""
    reset, before = stream.reset, stream.before_reset
    if reset is None or before is None or reset.flags & _ACK or not reset.flags & _RST \
            or before.direction == reset.direction or not before.payload:
        return set()
    return {m.frame for m in stream.messages
            if m.frame == before.frame and m.direction == before.direction
            and m.name.startswith("NDMP_LOG_")}
