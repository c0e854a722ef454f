"""A filter that kept only some packets of every connection, as the checks read it.

flowcheck.sessions.kept finds the shape from the packet kinds the capture holds (a
capture filter on the TCP flags or the packet size, a display filter saved with tshark
-Y ... -w). What those kinds leave out is unknown, not lost or failed: payload the
capture lacks is the filter's, not the sniffer's (no capture_loss advice), and a
handshake missing from a capture that holds the start of the NDMP conversation was
filtered out, not before the capture (no capture_started_mid_session). The one
capture_filtered warning says which filter (flowcheck.verify.filtered.report_left_out).
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Said, Session
from flowcheck.sessions.classify import FIRST_REQUEST, GREETING, OPENING_REASONS, message_op
from flowcheck.sessions.kept import KeptPackets, kept_packets, kept_words
from flowcheck.verify.context import Context


def kept(ctx: Context) -> KeptPackets:
    """The capture's packet kinds and filter shape (sessions.kept.kept_packets), built
    once; "data_only" only when a control stream whose handshake the capture lacks
    starts with the greeting (greeting_first): else the capture may simply have started
    mid-conversation, and its shape is None."""
    if ctx.kept is None:
        found = ctx.census.kept() if ctx.census is not None else kept_packets(ctx.connections)
        if found.shape == "data_only" and not any(greeting_first(ctx, s) for s in ctx.sessions):
            found = KeptPackets(found.kinds, None)
        ctx.kept = found
    return ctx.kept


def greeting_first(ctx: Context, session: Session) -> bool:
    """Is the first NDMP message on the session's control connection, whose SYN the
    capture lacks, the agent's greeting (NOTIFY_CONNECTED), or, when the capture holds
    none of the agent's messages on it (one direction), the DMA's CONNECT_OPEN request
    that answers the greeting? The capture then holds the start of the conversation: it
    began before the connection opened, and something else left the handshake out. A
    NOTIFY_CONNECTED with the reason SHUTDOWN is the agent's notice that it ends the
    session, no greeting (review56i: one such packet, a capture of data packets from
    it, read "Session S1 starts with the agent's NOTIFY_CONNECTED ..."); one whose reason
    the snap length cut counts as the greeting."""
    control = ctx.by_uid[session.control_uid]
    stream = ctx.stream_by_uid.get(session.control_uid)
    if control.syn_seen or stream is None or not stream.messages:
        return False
    first = stream.messages[0]
    if message_op(first) == GREETING:
        return first.body.get("reason", "CONNECTED") in OPENING_REASONS
    return (message_op(first) == FIRST_REQUEST and first.type == "request"
            and all(m.direction == first.direction for m in stream.messages))


def filtered_handshake(ctx: Context, session: Session) -> bool:
    """Did a filter that kept only data packets leave out the session's handshake (the
    capture holds the greeting but no SYN), rather than the capture start after it?"""
    return kept(ctx).shape == "data_only" and greeting_first(ctx, session)


def left_out_words(ctx: Context, conn: Connection) -> Said | str:
    """Why the capture lacks payload of conn when the filter left it out ("" when it
    did not): no packet that carries data kept at all, or conn's sequence gaps under a
    filter that kept only some packets."""
    shape = kept(ctx).shape
    if kept(ctx).no_data:
        return Said(f"the capture holds no packet of {conn.uid} that carries data: a filter "
                    "on the TCP flags or the packet size left them out (capture_filtered)",
                    ["capture_filtered"])
    if shape is not None and conn.missed_bytes:
        return Said(f"a filter on the TCP flags or the packet size left out "
                    f"{conn.missed_bytes:,} B of {conn.uid} (capture_filtered)",
                    ["capture_filtered"])
    return ""


def kept_detail(ctx: Context) -> str:
    """The filter's words for capture_filtered ("" when there is none): what it kept
    (sessions.kept.kept_words) and, for one that kept only data packets, the sessions
    whose handshake it left out."""
    found = kept(ctx)
    words = kept_words(found)
    if found.shape != "data_only":
        return words
    opened = [s for s in ctx.sessions if greeting_first(ctx, s)]
    first = ctx.stream_by_uid[opened[0].control_uid].messages[0]
    names = ", ".join(s.id for s in opened[:3]) + (" ..." if len(opened) > 3 else "")
    said = (f"the agent's {GREETING} ({frame_text(first.frame)}), its first message on a new "
            "connection" if message_op(first) == GREETING else
            f"the DMA's {FIRST_REQUEST} ({frame_text(first.frame)}), its first request on a new "
            "connection (the agent's direction is not in the capture)")
    return (f"{words}. Session {names} {'starts' if len(opened) == 1 else 'start'} with "
            f"{said}, but no handshake: the capture began before the control connection "
            "opened, and the filter left the handshake out")
