"""An NDMP peer that stopped answering: the agent never greeted the media server, or a
request was never answered (ndmp_no_reply).

An NDMP server greets every new control connection with NDMP_NOTIFY_CONNECTED and
answers each request with one reply, at once (NDMP v4 spec, "Connection"; long
operations reply first and notify their end later). A peer whose TCP accepted the
connection and acknowledged the request, but that sent nothing more before the session
was closed or for NO_REPLY_SECONDS, has stopped answering: a hung service, or another
program listening on the NDMP port (Webmin's default port is 10000). Backup Exec ends
such a job with "Communication Failure has occurred between the Job Engine and Remote
Agent" though every connection opened.
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import (
    Allows,
    Connection,
    ControlPacket,
    Finding,
    NdmpMessage,
    NdmpStream,
    Said,
    Session,
    connection_ends,
    endpoint,
)
from flowcheck.ndmp.collector import ANNOUNCERS
from flowcheck.sessions import closing, message_op
from flowcheck.sessions.classify import one_sided, seen_closing
from flowcheck.sessions.unheard_ack import synacks_after_ack
from flowcheck.verify.after_close import control_close
from flowcheck.verify.capture_time import opened_at
from flowcheck.verify.context import Context
from flowcheck.verify.control_stall import stalled_side
from flowcheck.verify.evidence import after, ended_early, judged, left_out_words
from flowcheck.verify.shared import three_way_hosts
from flowcheck.verify.snapped_halts import silent_after
from flowcheck.verify.stream_evidence import answered, stream_whole
from flowcheck.verify.unseen_end import check_unseen_end

# Silence after a request (or after the handshake, for the greeting) that shows the
# peer stopped answering, when nobody closed the connection: far above any reply time.
NO_REPLY_SECONDS = 30.0
# Why a capture that ended sooner cannot show a missing answer, and how long the fix asks
# it to run on: the words of the unanswered request's capture_ended_early, whether said
# alone (_still_waiting) or in the job's own (take_awaiting).
_PEER_WAIT = (f"(an NDMP peer answers at once; {NO_REPLY_SECONDS:g} s of silence would "
              "show it stopped)")
_STOP_AFTER = (f"{NO_REPLY_SECONDS:g} s after the last NDMP message, the silence that shows "
               "a peer stopped answering")
# Requests NDMP answers in other ways: CONNECT_CLOSE has no reply (the connection's
# close is its end); a listen request unanswered is step 3's (`step_missing`).
_NOT_HERE = {"CONNECT_CLOSE", "DATA_LISTEN", "MOVER_LISTEN"}


def check_no_reply(ctx: Context) -> None:
    """ndmp_no_reply for each session whose control connection opened (its handshake in
    the capture), whose whole control conversation the capture shows
    (stream_evidence.stream_whole; or a request its receiver sent nothing after,
    snapped_halts.silent_after), that has no root cause yet and whose peer stopped
    answering: no greeting, or a request never answered though its TCP acknowledged it;
    and then the connection closed, or the capture went on NO_REPLY_SECONDS."""
    for session in ctx.sessions:
        control = ctx.by_uid[session.control_uid]
        stream = ctx.stream_by_uid.get(session.control_uid)
        if stream is None and not control.orig_bytes and not control.resp_bytes:
            stream = NdmpStream(control.uid)  # not a byte either way: nothing to decode
        if (stream is None or ctx.causes.get(session.id) or judged(ctx, control) != "established"
                or stalled_side(control) is not None):
            continue
        request = _unanswered(stream)
        if not stream_whole(ctx, session, stream) and not _late_greeting_snapped(
                ctx, control, stream) and (
                # Messages may be unread; a request its receiver sent no byte after is
                # unanswered all the same (lab matrix seed 55 run 26: -s 96).
                request is None or not silent_after(ctx, session, request)):
            continue
        if request is not None and not _acked(control, request):
            if _closer(control) is None:  # nor resent: the sniffer missed packets
                check_unseen_end(ctx, session, control, request)
            continue  # its peer may never have received it
        late = _late_greeting(control, stream) if request is None else None
        if late is None and request is None and (
                control.resp_bytes or stream.announcements
                or any(m.direction == "resp" for m in stream.messages)):
            continue  # the agent spoke (an announcement comes from its message too)
        since = request.ts if request is not None else _opened(control)
        closer = _closer(control)
        if closer is None and after(ctx, since) < NO_REPLY_SECONDS:
            _still_waiting(ctx, session, control, request, since)
            continue
        asker = "orig" if request is None else request.direction
        closed = late[1].ts if late is not None else control.last_ts
        if closer == asker and closed - since < ctx.config.retransmission_timeout:
            continue  # closed without waiting for the answer: no silence shown
        _report(ctx, session, control, request, since, closer, late)


def silent_peer(ctx: Context, session: Session) -> str | None:
    """Why the session's later steps cannot be judged when its NDMP peer stopped
    answering (ndmp_no_reply) or had not answered when the capture ended: what the
    session would have done next (Backup Exec's callback, the announcements) never came,
    and their absence is no evidence of a block. None for a session whose peer answered."""
    return ctx.silent_peer.get(session.id)


def _still_waiting(ctx: Context, session: Session, control: Connection,
                   request: NdmpMessage | None, since: float) -> None:
    """capture_ended_early: the capture ended, the connection still open, while the
    media server waited for the agent's greeting or an answer (less than
    NO_REPLY_SECONDS after): whether it came cannot be seen. The finding and its words
    kept in ctx.awaiting: still_running, when the job is still running too, says it in
    its own."""
    what = ("the agent's NDMP greeting (NDMP_NOTIFY_CONNECTED)" if request is None else
            f"the answer to {message_op(request)} ({frame_text(request.frame)})")
    waits = f"{what} came {_PEER_WAIT}"
    resent = synacks_after_ack(control) if request is None else []
    finding = ended_early(ctx, session, f"the control connection "
                f"{connection_ends(control)} "
                + ("opened" if request is None else f"carried {message_op(request)}"),
                since, [request.frame] if request is not None else
                control.synack_frames[:1] + resent,
                conn=control, frame=request.frame if request is not None else
                opened_at(control)[1], waits=waits, unseen="whether it came",
                stop_after=_STOP_AFTER, shown=_unaccepted_words(control, resent))
    if finding is not None and request is not None:  # for the job's warning to say
        ctx.awaiting[session.id] = (finding, span_words(after(ctx, since, request.frame)),
                                    f"{message_op(request)} ({frame_text(request.frame)})")
    asker = "the agent" if request is not None and request.direction == "resp" else \
        "the media server"
    ctx.silent_peer[session.id] = Said(f"the capture ended while {asker} waited for {what} "
                                       "(capture_ended_early)", ["capture_ended_early"])
    ctx.silence_cut.add(session.id)


def _unaccepted_words(control: Connection, resent: list[int]) -> str:
    """What the agent's SYN-ACK resent after the media server's ACK completing the
    handshake shows of a greeting still awaited (`resent`: unheard_ack.synacks_after_ack;
    "" when none): that ACK had not reached its TCP (lost on the way or dropped by its
    own firewall: review63d, run 26's agent input chain dropped it on the host), and an
    NDMP server greets a connection only once it has accepted it. Too few resends for
    handshake_incomplete (one is what a single lost ACK gives: RESENDS_ENOUGH) still say
    why no greeting had come (field check 75 seed 138 run 26: the agent's input chain
    dropping all but the SYN, the capture stopped 1.17 s in, read only "an NDMP peer
    answers at once")."""
    if not resent:
        return ""
    return (f"The capture holds {control.resp_h}'s SYN-ACK resent after {control.orig_h}'s "
            f"ACK completing the handshake ({frame_text(control.ack_frame)}; the resend: "
            f"{frames_words(resent)}): that ACK had not reached {control.resp_h}'s TCP (a "
            "listener resends its SYN-ACK only while it waits for it, RFC 9293 3.10.7.4), and "
            "an NDMP server greets a connection only once it has accepted it; whether a later "
            f"ACK of {control.orig_h}'s got through cannot be seen.")


def take_awaiting(ctx: Context, session: Session, whose: str = "its"
                  ) -> tuple[str, str, list[int]] | None:
    """The capture_ended_early of the session's request still unanswered at the capture's
    end (_still_waiting, ctx.awaiting), taken back for the job's own capture_ended_early
    to say: one end of the capture, one finding (newuser60). Returns its sentence ("The
    capture ended 40.8 ms after its request DATA_GET_STATE (frame 2142), before the
    answer came ..."; whose: the request's owner as it is named, "its" or "the
    backup's"), the sentence for the fix and its frames; None when the session has none.
    Called by verify.still_running and, for a job whose start request the capture lacks,
    open_transfer.report_open_transfer (review 61c: that one read two warnings)."""
    waited = ctx.awaiting.pop(session.id, None)
    if waited is None:
        return None
    finding, span, request = waited
    ctx.withdraw(finding)
    return (f"The capture ended {span} after {whose} request {request}, before the answer "
            f"came {_PEER_WAIT}: whether it came cannot be seen.",
            f"Let the capture run on at least {_STOP_AFTER}.", finding.frames)


def fold_awaiting(ctx: Context, session: Session, into: Finding) -> None:
    """take_awaiting's sentence said in `into`, the session's capture_ended_early of a
    data connection reset just before the end (verify.cut_transfer), the two taken back
    and added again as one: one end of the capture, one finding (review 61c: the running
    job's polled DATA_GET_STATE unanswered beside its data connection's RST read two)."""
    waited = take_awaiting(ctx, session, f"the {session.kind}'s")
    if waited is None:
        return
    ctx.withdraw(into)
    ctx.add("capture_ended_early", f"{into.message} {waited[0]}", f"{into.fix} {waited[1]}",
            session=session, conn=ctx.by_uid[into.uid] if into.uid else None,
            frames=[*into.frames, *waited[2]], ts=into.ts, allows=into.allows)


def _unanswered(stream: NdmpStream) -> NdmpMessage | None:
    """The last request its peer never answered and sent nothing after; None if none."""
    for index in range(len(stream.messages) - 1, -1, -1):
        message = stream.messages[index]
        if message.type != "request":
            continue
        later = stream.messages[index + 1:]
        if (message_op(message) in _NOT_HERE or answered(message, later)
                or any(m.direction != message.direction for m in later)):
            return None
        return message
    return None


def _late_greeting(control: Connection, stream: NdmpStream
                   ) -> tuple[NdmpMessage, ControlPacket] | None:
    """(the agent's greeting, the media server's close before it) when the agent's first
    NDMP message came only after the media server, having sent nothing, closed the
    connection (FIN or RST): a hung or overloaded service's late answer, not a greeting
    the media server got (trial 27 D3: 20 DMAs at once against one daemon); None else."""
    close = control_close(stream)
    if (close is None or close.direction != "orig" or control.orig_bytes
            or stream.announcements or not stream.messages
            or any(m.direction != "resp" for m in stream.messages)):
        return None
    greeting = stream.messages[0]
    return (greeting, close) if greeting.frame > close.frame else None


def _late_greeting_snapped(ctx: Context, control: Connection, stream: NdmpStream) -> bool:
    """Does a capture whose snap length cut the control stream still show a late
    greeting (_late_greeting)? Both directions captured, no byte missed or filtered out:
    the cut took only message bodies, and the packets' wire lengths and times still say
    that the media server sent nothing and that the agent's first bytes, the header of
    its greeting, came after the media server's close (field check 20, D2)."""
    return (stream.snap_cut > 0 and one_sided(control) is None and not control.missed_bytes
            and not left_out_words(ctx, control) and _late_greeting(control, stream) is not None)


def _acked(control: Connection, request: NdmpMessage) -> bool:
    """Did the peer's TCP acknowledge every byte the request's side sent?"""
    return not (control.orig_unacked if request.direction == "orig" else control.resp_unacked)


def _opened(control: Connection) -> float:
    """When the handshake ended (the SYN-ACK, as near as the record keeps it: opened_at,
    the one measure of "opened" in the words)."""
    return opened_at(control)[0]


def _closer(control: Connection) -> str | None:
    """"orig" or "resp": the side that ended the connection (sessions.closing); "both"
    for RSTs from both ends; None while the connection is open."""
    if not seen_closing(control):
        return None
    return {"originator": "orig", "responder": "resp", "both": "both"}[closing(control)[0]]


def _connecting(ctx: Context, session: Session, request: NdmpMessage | None
                ) -> tuple[str, str, Allows] | None:
    """(cause, fix, what the fix's rule is for: Finding.allows) when the unanswered
    request is one that told the agent to connect to an announced endpoint
    (DATA_CONNECT, MOVER_CONNECT; v2's DATA_START_*): NDMP answers it once the data
    connection is made or has failed (NDMP v4, DATA_CONNECT / MOVER_CONNECT), so the
    agent was still connecting, its SYNs unanswered. In a
    three-way job (flowcheck.verify.shared.three_way_hosts) that connection runs between
    the two agents, where a capture on one of them shows its SYNs. None otherwise."""
    ann = next((a for a in session.announced if request is not None
                and a.frame == request.frame and (a.message, False) in ANNOUNCERS), None)
    agent = ctx.by_uid[session.control_uid].resp_h
    if ann is None:
        return _connecting_cut(agent, request)
    where = endpoint(ann.ip, ann.port)
    op = ann.message.removeprefix("NDMP_")
    cause = (f" NDMP answers {op} once the data connection is made or has failed: {agent} "
             f"was most likely still connecting to {where}, its SYNs unanswered (dropped "
             "on the way, or the answers on the way back), when the job was given up.")
    fix = (f"Allow TCP from {agent} to {where} inbound on {ann.ip} and on any firewall "
           f"between them, and its return traffic; a capture on {agent} shows whether its "
           "SYNs leave it unanswered.")
    found = three_way_hosts(ctx, session, ann)
    if found is not None and found[0] != found[1]:
        connector, listener, other, _ = found
        cause += (f" It is a three-way job (session {other.id} announced {where} on "
                  f"{listener}): that connection runs between {connector} and {listener}, "
                  "off the path of a capture on the DMA.")
        fix = (f"Allow TCP from {connector} to {where} inbound on {listener} and on any "
               f"firewall between the two agents, and its return traffic; capture on "
               f"{connector} or {listener}, or on the path between them, to see its SYNs.")
        return cause, fix, Allows((connector, listener))
    return cause, fix, Allows((agent, ann.ip))


def _connecting_cut(agent: str, request: NdmpMessage | None
                    ) -> tuple[str, str, Allows] | None:
    """_connecting's reading for a DATA_CONNECT or MOVER_CONNECT whose address the
    capture's snap length cut (its header read, its body not): the endpoint is not in
    the capture. None for any other request."""
    if (request is None or not request.partial or request.addresses
            or message_op(request) not in ("DATA_CONNECT", "MOVER_CONNECT")):
        return None
    op = message_op(request)
    cause = (f" NDMP answers {op} once the data connection is made or has failed: {agent} "
             "was most likely still connecting to the endpoint it named (the capture's snap "
             "length cut its address), its SYNs unanswered (dropped on the way, or the "
             "answers on the way back), when the job was given up.")
    fix = (f"Allow TCP from {agent} to the endpoint {op} named (capture with tcpdump -s 0 "
           "to see it, or see the DMA's log) inbound on its host and on any firewall "
           f"between them, and its return traffic; a capture on {agent} shows whether its "
           "SYNs leave it unanswered.")
    return cause, fix, Allows((agent,))


def _report(ctx: Context, session: Session, control: Connection, request: NdmpMessage | None,
            since: float, closer: str | None,
            late: tuple[NdmpMessage, ControlPacket] | None = None) -> None:
    media, agent = control.orig_h, control.resp_h
    asker = "orig" if request is None else request.direction
    allows: Allows | None = None  # the fix's allow rules: _connecting's alone give some
    silent = f"the agent {agent}" if asker == "orig" else f"the media server {media}"
    where = (f"the control connection {connection_ends(control)}")
    if request is None:
        what = (f"{silent} accepted {where} but never sent an NDMP message on it (an NDMP "
                "server greets each connection with NDMP_NOTIFY_CONNECTED at once)")
    else:
        what = (f"{silent} never answered {message_op(request)} ({frame_text(request.frame)}) on "
                f"{where}, although its TCP acknowledged it")
    firsts = [frames[0] for frames in (control.fin_frames, control.rst_frames) if frames]
    close_frames = [min(firsts)] if firsts else []
    close_ts = control.last_ts if late is None else late[1].ts
    if late is not None:
        what = (f"{silent} accepted {where} but sent no NDMP message on it while the media "
                "server waited (an NDMP server greets each connection with "
                "NDMP_NOTIFY_CONNECTED at once)")
    at = f" ({frame_text(close_frames[0])})" if close_frames else ""
    if closer is None:
        end = f"; the capture went on {span_words(after(ctx, since))} with nothing from it"
    elif closer == "both":
        end = (f"; the connection was then reset by both ends{at} (a firewall or IPS does "
               "that)")
    elif closer == asker:
        who = "the media server" if closer == "orig" else "the agent"
        end = (f"; {who} gave up and closed the connection {span_words(close_ts - since)} "
               f"later{at}")
    else:
        end = (f"; it closed the connection instead{at}, "
               f"{span_words(close_ts - since)} later")
    port = control.resp_p
    webmin = " (Webmin, for one, listens on 10000 by default)" if port == 10000 else ""
    if late is not None:
        greeting = late[0]
        end += (f"; its {greeting.name} ({frame_text(greeting.frame)}) came only after it, "
                f"{span_words(greeting.ts - late[1].ts)} after the close")
        cause = (" The agent's NDMP service answered, but too late: it was hung, or "
                 "overloaded (more sessions at once than it accepts: it greets them one at "
                 "a time), and the media server gave the job up before its greeting.")
        fix = (f"See the NDMP service's log on the agent {agent} at that time; run fewer "
               "jobs against it at once, or restart its NDMP service (Backup Exec: the "
               "Remote Agent) if it hangs.")
    elif asker == "orig" and request is None:
        cause = (f" What listens on port {port} of the agent is not answering NDMP: its NDMP "
                 f"service hung or stopped working, or another program holds the port{webmin}.")
        fix = (f"On the agent {agent}, see which program listens on TCP {port} (Windows: "
               f"netstat -abno | findstr :{port}; Linux: ss -ltnp 'sport = :{port}'); restart "
               "its NDMP service (Backup Exec: the Remote Agent), or move the other program "
               f"off port {port}.")
    elif asker == "orig" and (pending := _connecting(ctx, session, request)) is not None:
        cause, fix, allows = pending
    elif asker == "orig":
        cause = (" The agent's NDMP service stopped answering: hung, or stuck on the "
                 "request.")
        fix = (f"See the NDMP service's log on the agent {agent} at that time (what the request "
               "waited for: a disk, a snapshot, a lock), then restart the service (Backup "
               "Exec: the Remote Agent) before the job runs again.")
    else:
        cause = " The media server's job engine stopped answering the agent."
        fix = (f"See the job log and the media server {media}'s job engine service (hung or "
               "stopped) at that time.")
    frames = ([request.frame] if request is not None else control.synack_frames[:1]) \
        + close_frames + ([late[0].frame] if late is not None else [])
    ctx.silent_peer[session.id] = Said(f"{silent} stopped answering (ndmp_no_reply)",
                                       ["ndmp_no_reply"])
    ctx.silence_cut.discard(session.id)
    ctx.add("ndmp_no_reply", f"{what[0].upper()}{what[1:]}{end}.{cause} The job cannot go "
            "on without its answers.", fix, session=session, conn=control, frames=frames,
            ts=since, cause="control", allows=allows)
