"""A handshake that looks incomplete only because the capture lacks its last ACK.

A listener whose SYN-ACK is not acknowledged resends it after its retransmission timeout
(RFC 6298 / RFC 9293 3.8.1: Linux after 1 s, then 2, 4, ...; Windows after 3 s), and an
originator whose SYN-ACK never arrived resends its SYN. One SYN, one SYN-ACK, neither
resent, no RST, in a capture that holds both directions and ran on past the
retransmission timeout is then no blocked return path: the ACK reached the listener and
the capture left it out (a capture filter on the TCP flags, `tcp[tcpflags] & tcp-syn !=
0`, a display filter `-Y tcp.flags.syn==1`, or the sniffer's loss). Its step is
`unknown`, as for a lone SYN never resent (flowcheck.verify.unresent), never
`handshake_incomplete` (field check 43: a SYN-only capture of a job whose control
connection and callback worked read two handshake_incomplete errors). A listener whose
SYN cookies keep no state resends nothing either, so its lone SYN-ACK proves nothing
whichever way."""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection
from flowcheck.sessions.classify import originator_aborted


def lone_synack(conn: Connection) -> bool:
    """One SYN and one SYN-ACK seen, neither resent, no RST from either side (the caller
    has ruled out the other resend signs and checks the capture's time after it)."""
    return (conn.synack_seen and len(conn.synack_frames) == 1 and conn.syn_retries == 0
            and len(conn.syn_frames) <= 1 and not conn.resp_rst and not conn.orig_rst
            and not originator_aborted(conn))


def lone_synack_words(conn: Connection, after: float, rto: float) -> str:
    """Why a lone SYN-ACK never resent leaves its step unknown."""
    return (f"its SYN-ACK ({frame_text(conn.synack_frames[0])}) was never resent, nor its SYN, "
            f"although the capture ran on {span_words(after)} past it (TCP resends an "
            f"unacknowledged SYN-ACK after its retransmission timeout, {rto:g} s here): the "
            f"handshake's last ACK most likely reached {conn.resp_h} and the capture lacks "
            "it (a capture filter on the TCP flags, or the sniffer's loss), so whether the "
            "connection opened cannot be seen")
