"""What the control connection says of the connect to an announced endpoint.

A capture that evidently holds only the NDMP port (every TCP connection has that port on
one side, and the capture holds no other packet: no ARP, ICMP, ND or UDP, which a
'port 10000' filter or a mirror of that port leaves out too; or the capture filter it
records keeps only that port: flowcheck.verify.capture_filter.port_only_capture) cannot
show whether a data connection was tried: its absence is the filter's as much as the
network's. What the control connection says is still evidence:

- a CONNECT request carrying the endpoint (DATA_CONNECT, MOVER_CONNECT; NDMP v2's
  DATA_START_BACKUP / _RECOVER, which hold the mover's address) is answered once the
  connection is made or has failed (NDMP v3 and v4 connect before they answer, and so do
  v2's starts): NDMP_NO_ERR says it was made, a connect's error (CONNECT_ERR, or the I/O,
  timeout and undefined errors v2 servers give: refused_connect.CONNECT_FAILURES) that
  it failed; and no answer while the capture went on a retransmission timeout (or the
  control connection closed) says the connect did not complete in that time;
- a NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED with reason CONNECT_ERROR after the
  announcement says its service's connection failed;
- an accepted DATA_START_* (NDMP v3 and v4 take it only from a CONNECTED data server),
  or a DATA_GET_STATE / MOVER_GET_STATE reply whose service is CONNECTED, ACTIVE or
  PAUSED, between the announcement and the next, says the connection was made.

In a three-way job a LISTEN reply's endpoint is carried by a CONNECT request in the
other session (refused_connect.carrying_requests, which group_refusal reads too).
"""

from __future__ import annotations

from collections.abc import Sequence

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Announcement, Connection, NdmpMessage, Session
from flowcheck.sessions.classify import JOB_STARTS, message_op, seen_closing
from flowcheck.verify.capture_filter import quoted
from flowcheck.verify.capture_time import after, time_enough
from flowcheck.verify.connect_outcome import ConnectSaid, SaidKey
from flowcheck.verify.context import Context
from flowcheck.verify.control_window import accepted, window
from flowcheck.verify.refused_connect import CONNECT_FAILURES, carrying_requests, exchange
from flowcheck.verify.replies import posted_halt

# State replies and the states (NDMP v3/v4 ndmp_data_state, ndmp_mover_state) in which
# their service has its data connection: data CONNECTED or ACTIVE, mover ACTIVE or PAUSED
# (a mover leaves LISTEN for ACTIVE once its connection is accepted).
_CONNECTED_STATES = {"DATA_GET_STATE": {1: "the data service is ACTIVE",
                                        4: "the data service is CONNECTED"},
                     "MOVER_GET_STATE": {2: "the mover is ACTIVE", 3: "the mover is PAUSED"}}


def ndmp_port_only(ctx: Context) -> bool:
    """Does every TCP connection of the capture have the NDMP port on one side?"""
    if ctx.port_only is None:
        port = ctx.config.ndmp_port
        ctx.port_only = bool(ctx.connections) and all(
            port in (c.orig_p, c.resp_p) for c in ctx.connections)
    return ctx.port_only


def why_port_only(ctx: Context) -> str:
    """Why the capture could hold only the NDMP port (Context.port_only_capture), as a
    clause: "the capture's recorded filter 'port 10000' keeps only that port", "the
    capture holds no other packet (no ARP, ICMP or UDP)"; "" when it could hold others."""
    found = ctx.port_only_capture
    if found is None:
        return ""
    if found.kind == "filter":
        return f"the capture's recorded filter {quoted(found.filters)} keeps only that port"
    return "the capture holds no other packet (no ARP, ICMP or UDP)"


def only_ndmp_port(ctx: Context) -> bool:
    """Does the capture evidently hold only the NDMP port: every TCP connection has it
    on one side (ndmp_port_only) and the capture could hold nothing else
    (Context.port_only_capture: its recorded filter keeps only that port, or it holds no
    packet but TCP; False when not known)?"""
    return bool(ctx.port_only_capture) and ndmp_port_only(ctx)


def _peer(request: NdmpMessage) -> str:
    """Who answers the request: "the agent" when the DMA's side sent it."""
    return "the agent" if request.direction == "orig" else "the media server"


def _of_request(ctx: Context, control_uid: str, frame: int) -> ConnectSaid | None:
    """What the reply to the request in that frame of that control connection says
    (None: nothing, or an error that refused the request itself, which
    flowcheck.verify.refused_connect reads)."""
    found = exchange(ctx, control_uid, frame)
    if found is None:
        return None
    request, reply, later = found
    op, who = message_op(request), _peer(request)
    subject = f"{op} ({frame_text(request.frame)})"
    if reply is not None:
        name = (reply.error_name or "").removeprefix("NDMP_")
        if accepted(reply):
            return ConnectSaid("made", reply, subject, f"was answered NDMP_NO_ERR ("
                               f"{frame_text(reply.frame)}) by {who}: its connection to the "
                               f"endpoint was "
                               "made (NDMP answers it once connected)", request.frame)
        if name in CONNECT_FAILURES:
            return ConnectSaid("failed", reply, subject, f"was answered {reply.error_name} "
                               f"({frame_text(reply.frame)}) by {who}: its connect to the endpoint "
                               "failed", request.frame)
        return None
    if any(m.type == "reply" and m.direction != request.direction for m in later):
        return None  # it answered later requests: this reply was lost by the capture
    control = ctx.by_uid[control_uid]
    if not (time_enough(ctx, request.ts, request.frame)
            or (seen_closing(control) and control.last_ts >= request.ts)):
        return None  # too soon to tell, and the session still open
    waited = after(ctx, request.ts, request.frame)
    return ConnectSaid("pending", request, subject, f"was never answered by {who} in the "
                       f"{span_words(waited)} the capture went on after it: NDMP answers it once "
                       "the connection is made or has failed, so the connect did not "
                       "complete", request.frame, waited)


def _later(ctx: Context, session: Session, start: float, end: float) -> ConnectSaid | None:
    """What the session's messages with start <= ts < end (seconds: from the announcement
    to the next) say: a NOTIFY_*_HALTED with reason CONNECT_ERROR (failed), an accepted
    DATA_START_* or a state reply whose service has its connection (made)."""
    for op, message in window(ctx, session, start, end):
        if posted_halt(message) == "CONNECT_ERROR":
            return ConnectSaid("failed", message, f"{op} ({frame_text(message.frame)})",
                               "gave the reason CONNECT_ERROR: its connection failed")
        if not accepted(message):
            continue
        if op in JOB_STARTS:
            return ConnectSaid("made", message, op, f"was accepted ({frame_text(message.frame)}): "
                               "NDMP takes it only once the data connection is made")
        if message.body.get("state") in _CONNECTED_STATES.get(op, ()):
            return ConnectSaid("made", message, f"the {op} reply ({frame_text(message.frame)})",
                               f"says {_CONNECTED_STATES[op][message.body['state']]}: its "
                               "data connection was made")
    return None


def connect_said(ctx: Context, session: Session, group: Sequence[Announcement] = (),
                 cut: tuple[int, float] | None = None) -> ConnectSaid | None:
    """What the control connections say of the connect to the group's endpoint (the
    alternatives of one announcement), or to the one announced in a message whose
    address the snap length cut (cut: its frame and time): a reply to a request carrying
    it first, else a halt, an accepted start or a state reply after it; None when they
    say nothing. Found once per session and group or cut (Context.connects_said): the
    step builders read it for each announcement more than once."""
    key: SaidKey = (session.id, tuple((a.control_uid, a.frame, a.ip, a.port) for a in group),
                    cut)
    if key not in ctx.connects_said:
        ctx.connects_said[key] = _said(ctx, session, group, cut)
    return ctx.connects_said[key]


def _said(ctx: Context, session: Session, group: Sequence[Announcement],
          cut: tuple[int, float] | None) -> ConnectSaid | None:
    """connect_said, worked out."""
    requests = ([(a.control_uid, a.frame) for a in carrying_requests(ctx, group)] if group
                else [(session.control_uid, cut[0])] if cut else [])
    said = [found for uid, frame in requests
            if (found := _of_request(ctx, uid, frame)) is not None]
    for outcome in ("failed", "made", "pending"):
        first = next((s for s in said if s.outcome == outcome), None)
        if first is not None:
            return first
    start = group[0].ts if group else cut[1] if cut else None
    if start is None:
        return None
    later = [a.ts for a in session.announced if a.ts > start]
    return _later(ctx, session, start, min(later, default=float("inf")))


def said_of(ctx: Context, session: Session, conn: Connection) -> ConnectSaid | None:
    """connect_said for the endpoint a data connection of the session reached (by the
    announced address a NAT rewrote too: Session.address_matched)."""
    ip = dict(session.address_matched).get(conn.uid, conn.resp_h)
    group = [a for a in session.announced if a.used_by == conn.uid and a.ip == ip] or [
        a for a in session.announced if (a.ip, a.port) == (ip, conn.resp_p)]
    return connect_said(ctx, session, group) if group else None


def port_only_words(ctx: Context, session: Session, said: ConnectSaid, frame: int
                    ) -> tuple[str, str]:
    """(message, fix) words of announced_not_used in a capture that evidently holds only
    the NDMP port, when the control connection says the connect failed (said; frame: the
    announcing message's, which the message names just before): the failure rests on
    its word, the capture-point reading only holds for a capture of every packet, and
    the fix asks for one. The message goes on from the announcement (", and it was
    answered ... If the capture holds every packet, ")."""
    port = ctx.config.ndmp_port
    message = (f", and {said.of(frame)}. The capture holds no connection to it, but every "
               f"connection it holds has the NDMP port {port} on one side and "
               f"{why_port_only(ctx)}: a capture filter or mirror that keeps only that "
               f"port (tcpdump 'port {port}': capture_filtered) leaves the data connection "
               "out whatever became of it, so the failure rests on the control connection's "
               "word, and where the connection failed cannot be seen. If the capture holds "
               "every packet, ")
    fix = (f" The capture holds only the NDMP port: to see whether the SYNs were sent, "
           "dropped or rejected, capture again without a port filter (tcpdump -w job.pcap "
           f"'host {session.media_server} and host {session.remote_agent}').")
    return message, fix
