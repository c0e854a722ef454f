"""control_closed for a session whose control connection carries TLS: the agent closed it
while its job ran, read from the TCP packets where the NDMP messages cannot be.

In the clear, flowcheck.verify.running reads a job's end from its messages: a FIN with
no NOTIFY_*_HALTED after the job's start is control_closed. Inside TLS neither the start
nor the halt can be read, but every NDMP message is a TLS record, a packet with payload:
once the session's data connection has carried its last byte, the agent notifies the
halt (NDMP v4 NOTIFY_DATA_HALTED / NOTIFY_MOVER_HALTED) and the DMA asks what it asks
and closes, or sends CONNECT_CLOSE, before the NDMP server closes. An agent that closes
the control connection first with no packet with payload from either side after its
data's last byte ended the session without a halt and without being asked: its NDMP
service stopped or crashed (a TLS library that shuts down cleanly sends a close_notify
alert first, a record: such a close is not read here). Lab matrix seeds 109 and 110
run 14: an agent killed in a TLS job read inconclusive, steps 4-5 `ok`.
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, ControlPacket, NdmpStream, Session, connection_ends
from flowcheck.sessions.classify import first_fin_by
from flowcheck.sessions.matching import ANNOUNCEMENT_JITTER_SECONDS
from flowcheck.verify.context import Context
from flowcheck.verify.control_closed import agent_close_words, reset_after_close_words
from flowcheck.verify.hidden_ends import missed_from
from flowcheck.verify.one_way_data import data_carried


def check_tls_close(ctx: Context) -> None:
    """control_closed (error, cause "control") for each session with no root cause yet
    whose control stream went on in TLS (NdmpStream.tls_start), when the agent closed
    it (its FIN the connection's first), the capture holding both directions of it
    whole from the session's data's last byte on (Connection.missed_bytes:
    hidden_ends.missed_from), and neither side sent payload on it between that byte and
    the FIN (NdmpStream.payload_before_fin)."""
    for session in ctx.sessions:
        stream = ctx.stream_by_uid.get(session.control_uid)
        if (stream is None or stream.tls_start is None or stream.fin is None
                or ctx.causes.get(session.id)):
            continue
        control = ctx.by_uid[session.control_uid]
        last = _last_data(ctx, session, stream.fin)
        if last is None or not _agent_closed_silent(ctx, control, stream, last):
            continue
        _report(ctx, session, stream, control, last)


def _last_data(ctx: Context, session: Session, fin: ControlPacket
               ) -> tuple[Connection, int, float] | None:
    """The session's data connection whose last data packet (either side's) came last
    before the control connection's FIN, with that packet's frame and time; None when
    no data connection carried data before it."""
    found: tuple[Connection, int, float] | None = None
    for conn in data_carried(ctx, session):
        for last in (conn.orig_last_data, conn.resp_last_data):
            if last is None or not ctx.order.later(fin.frame, fin.ts, *last):
                continue
            if found is None or ctx.order.later(*last, found[1], found[2]):
                found = (conn, *last)
    return found


def _agent_closed_silent(ctx: Context, control: Connection, stream: NdmpStream,
                         last: tuple[Connection, int, float]) -> bool:
    """Was the control connection's first FIN the agent's (its responder's), with both
    directions captured, nothing of it missed after the data's last byte, and no
    payload from either side between that byte and the FIN (by time, none within
    ANNOUNCEMENT_JITTER_SECONDS before the byte either: FileOrder.later)?"""
    fin = stream.fin
    if fin is None or fin.direction != "resp" or not (control.orig_pkts and control.resp_pkts):
        return False
    if "orig" not in stream.payload_before_fin or missed_from(control, stream, last[1]):
        return False  # the media server's side never seen speaking, or bytes missed
    # Ordered by time (two interfaces, files merged), a record stamped up to the jitter
    # between them before the data's last byte may have come after it: a fast agent's
    # halt and the media server's CONNECT_CLOSE follow that byte within a millisecond, and
    # a data NIC stamping 0.5 ms behind the control NIC's put the byte after them (a clean
    # job read control_closed). Written in one sniffer's order (frames), no slack.
    return not any(ctx.order.later(packet.frame, packet.ts, last[1],
                                   last[2] - ANNOUNCEMENT_JITTER_SECONDS)
                   for packet in stream.payload_before_fin.values())


def _report(ctx: Context, session: Session, stream: NdmpStream, control: Connection,
            last: tuple[Connection, int, float]) -> None:
    """The control_closed finding: the agent's close, the data's last byte, the silence
    between, the agent's other connections closed with it."""
    fin = stream.fin
    assert fin is not None
    conn, frame, ts = last
    agent = f"the {session.server_roles.get(control.resp_h, 'agent')}"
    said = stream.payload_before_fin
    spoke = "; ".join(f"{who}'s, {frame_text(said[side].frame)}" for side, who in
                      (("orig", "the media server"), ("resp", agent)) if side in said)
    head = (f"The control connection {connection_ends(control)} was closed by {agent} "
            f"{control.resp_h} (FIN, {frame_text(fin.frame)}) while the job was running: its data "
            f"connection {connection_ends(conn)} ({conn.uid}) carried its last byte in "
            f"{frame_text(frame)}, {span_words(fin.ts - ts)} before, and neither side sent "
            f"any payload on the control connection from then to the FIN (the last packets "
            f"with payload on it: {spoke}). The control connection carries TLS from "
            f"{frame_text(stream.tls_start)}, so its messages cannot be read, but each is a TLS "
            f"record: "
            f"a NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED from {agent}, or a CONNECT_CLOSE "
            "from the media server asking for the close, would be one. The job cannot go "
            "on without its control connection. " + _exit_words(ctx, session, control, frame))
    reset = reset_after_close_words(stream, agent)
    message, fix = agent_close_words(agent)
    frames = [frame, fin.frame, *([stream.reset.frame] if reset else [])]
    ctx.add("control_closed", head + reset + message, fix, session=session, conn=control,
            frames=frames, ts=fin.ts, cause="control")


def _exit_words(ctx: Context, session: Session, control: Connection, after: int) -> str:
    """"It closed C3 (FIN, frame 1571) and C2 (FIN, frame 1573) too, its first FIN on each
    (on it, for one) ...: one process's exit ends all its connections. " for the
    session's other connections whose first FIN was the agent's, after frame `after`
    (the data's last byte), else ""."""
    uids = [*session.data_connections, *([session.callback_uid] if session.callback_uid else [])]
    closed = [conn for uid in uids if (conn := ctx.by_uid.get(uid)) is not None
              and conn.fin_frames and conn.fin_frames[0] > after
              and first_fin_by(conn) == control.resp_h]
    if not closed:
        return ""
    listed = " and ".join(f"{conn.uid} (FIN, {frame_text(conn.fin_frames[0])})" for conn in closed)
    each = "it" if len(closed) == 1 else "each"
    return (f"It closed {listed} too, its first FIN on {each} after the data's last byte: "
            "one process's exit ends all its connections. ")
