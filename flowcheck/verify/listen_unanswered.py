"""A listen request (DATA_LISTEN, MOVER_LISTEN) with no reply in the capture: never
answered (step 3 `missing`: the whole conversation shows it, or the receiver's sequence
numbers show it sent nothing after, or every record it sent after kept its header, or
the requester's own FIN acknowledges one sequence number of the receiver's past the
request's ACK, the receiver's FIN: acked_nothing_after), or
possibly answered by a record whose header the snap length cut (step 3 `unknown`).
Step 3 is flowcheck.verify.data_steps.announcement_step's."""

from __future__ import annotations

from collections.abc import Iterator

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, NdmpStream, Session, Step, other_direction
from flowcheck.model.ndmp import ControlPacket
from flowcheck.sessions import message_op
from flowcheck.tcp_sequence import seq_ahead
from flowcheck.verify.context import Context
from flowcheck.verify.control_stall import stalled_side
from flowcheck.verify.refused_listens import CONNECTS, LISTENS
from flowcheck.verify.snapped_halts import headers_from, silent_after
from flowcheck.verify.stream_evidence import answered, stream_whole, went_on


def never_answered(ctx: Context, session: Session, control: Connection
                   ) -> NdmpMessage | None:
    """The first listen request its peer never answered (stream_evidence.answered) though the
    capture went on past its reply (stream_evidence.went_on); None when there is none, or when
    the capture may lack control messages (stream_hidden, undecoded bytes) and does not
    show the peer silent after the request (snapped_halts.silent_after) nor every record
    it sent after the request with its header (snapped_halts.headers_from), or never
    delivered the request (control_stalled)."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    if stream is None or stalled_side(control) is not None:  # control_stalled: undelivered
        return None
    whole = stream_whole(ctx, session, stream)
    return next((request for request in _no_reply_seen(stream, control)
                 if whole or silent_after(ctx, session, request)
                 or headers_from(ctx, session, stream, _peer(request), request.frame)
                 or acked_nothing_after(stream, request)), None)


def sole_listen_unanswered(ctx: Context, session: Session, step3: Step | None) -> bool:
    """Did step 3 (announcement_step) read `missing` on the session's one and only
    listen request, never answered (its evidence: that request's frame alone), with no
    request that hands the peer an endpoint (DATA_CONNECT, MOVER_CONNECT) on the control
    connection and no announcement the snap length cut? Then nothing was announced, so
    step 4 had nothing to connect to, as the capture of both directions reads it, though
    the capture holds one direction only (Session.match_reason "one_direction": field
    check 71, seed 134 run 24, `tcpdump -Q out` on the media server, the agent closing on
    its only DATA_LISTEN: step 4 said "an announced endpoint got no connection")."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    if step3 is None or step3.status != "missing" or stream is None \
            or session.announced or session.cut_announcements:
        return False
    asks = [m for m in stream.messages
            if m.type == "request" and message_op(m) in LISTENS | CONNECTS]
    return (len(asks) == 1 and message_op(asks[0]) in LISTENS
            and step3.frames == [asks[0].frame])


def acked_nothing_after(stream: NdmpStream, request: NdmpMessage) -> bool:
    """Did the requester's own FIN, its first on the control connection and the
    connection's first, acknowledge exactly one sequence number of the receiver's past
    what the request's packet acknowledged (NdmpStream.request_acks, .fin_ack)? That one
    is the receiver's FIN (an NDMP record is never 1 byte; a reply is 28 bytes or more),
    and TCP acknowledges in order: the receiver closed with no reply, whatever the
    capture holds of its direction (none at all: `tcpdump -Q in` toward the media
    server, lab matrix seed 116 run 22, where the agent closed on a DATA_LISTEN it could
    not serve). Nothing acknowledged past the request proves nothing: a reply may still
    come after the requester's own FIN."""
    fin, before = stream.fin, stream.request_acks.get(request.frame)
    return (fin is not None and before is not None and stream.fin_ack is not None
            and fin.direction == request.direction and fin.frame > request.frame
            and seq_ahead(stream.fin_ack, before) == 1)


def reply_unread(ctx: Context, session: Session, control: Connection
                 ) -> tuple[NdmpMessage, int] | None:
    """(request, frame) for a listen request with no reply among the messages read though
    the session went on past it (stream_evidence.went_on), when the snap length cut the header
    of a record its peer sent after it (NdmpStream.unread_last: `frame`, that record's
    packet) and the session has fewer data connections than listen requests: the reply
    may be that record, an announcement never used or a refusal. None otherwise."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    if stream is None or not stream.snap_cut or stalled_side(control) is not None:
        return None
    listens = [m for m in stream.messages if m.type == "request" and message_op(m) in LISTENS]
    if len(listens) <= len(session.data_connections):
        return None
    for request in _no_reply_seen(stream, control):
        frame = stream.unread_last.get(_peer(request), 0)
        if frame > request.frame:
            return request, frame
    return None


def _no_reply_seen(stream: NdmpStream, control: Connection) -> Iterator[NdmpMessage]:
    """The listen requests, in order, with no reply among the messages read though the
    session went on past it (stream_evidence.answered, stream_evidence.went_on)."""
    messages = stream.messages
    for index, request in enumerate(messages):
        if request.type != "request" or message_op(request) not in LISTENS:
            continue
        later = messages[index + 1:]
        if not answered(request, later) and went_on(control, request, later):
            yield request


def _peer(request: NdmpMessage) -> str:
    """The direction ("orig", "resp") the request's reply travels."""
    return other_direction(request.direction)


def acked_words(ctx: Context, control: Connection, stream: NdmpStream,
                request: NdmpMessage) -> tuple[str, str] | None:
    """(words, fix) for a listen request never answered as acked_nothing_after shows it,
    where the capture holds nothing of the receiver's direction (Context.missing): what
    the requester's FIN acknowledged, and a fix that does not claim the request arrived
    (the receiver's FIN may have crossed it) and does not list a hang among its causes
    (that FIN shows the receiver closed the session: lab matrix seed 140 run 11, `-Q in`
    on the media server, fd77::1's FIN frame 166 acknowledging the agent's, whose fix
    read "it hung, closed the session, or could not bind a port"); None otherwise."""
    requester = control.host(request.direction)
    peer = control.host(other_direction(request.direction))
    if not ctx.lacks((peer, requester), control.ts) or not acked_nothing_after(stream, request):
        return None
    fin = stream.fin
    assert fin is not None  # acked_nothing_after's
    return (f"the capture holds none of {peer}'s packets on the control connection, but "
            f"{requester}'s FIN ({frame_text(fin.frame)}) acknowledged one sequence number of it "
            "past the request's ACK, its FIN, no reply (an NDMP reply is 28 bytes or more, "
            "a record never 1 byte)",
            f"See the log of the NDMP service on {peer} at that time: it closed the control "
            f"connection with no reply to the request reaching {requester} (its FIN, which "
            f"{requester}'s acknowledged, so it did not hang): it could not bind a port in "
            "its range, or gave the session up, and did not report it (its FIN may have "
            "crossed the request).")


def closed_instead(stream: NdmpStream, request: NdmpMessage) -> ControlPacket | None:
    """The FIN by which the request's receiver closed the control connection after a
    listen request never_answered found: the connection's first FIN (NdmpStream.fin),
    the receiver's, after the request; None when the requester closed first or none
    closed. No reply came (never_answered), so the receiver gave the session up rather
    than answer: it did not hang (lab matrix seed 118 run 2, a 3-port agent range for 3
    resources, the agent's FIN 0.2 ms after the third DATA_LISTEN, read "hung, or it
    could not bind a port"). Not when the capture shows a FIN of the requester's it
    lacks by then (NdmpStream.fins_lost: the receiver's FIN acknowledging one sequence
    number past the requester's bytes, the sniffer having lost that FIN): the requester
    closed first, and the receiver's FIN answered its close (review 51b)."""
    fin = stream.fin
    if fin is None or fin.direction != _peer(request) or fin.frame < request.frame:
        return None
    lost = stream.fins_lost.get(request.direction)
    if lost is not None and lost.frame <= fin.frame:
        return None
    return fin


def closed_listen_words(peer: str, request: NdmpMessage, fin: ControlPacket) -> tuple[str, str]:
    """(words, fix) for a listen request whose receiver closed the control connection
    instead of answering (closed_instead): its FIN and how long after the request."""
    after = max(0.0, fin.ts - request.ts)
    return (f"{peer} closed the control connection instead (its FIN, {frame_text(fin.frame)}, "
            f"{span_words(after)} after the request)",
            f"See the log of the NDMP service on {peer} at that time: it closed the "
            "control connection rather than answer the request (it could not bind a port "
            "in its range, or gave the session up, and did not report it).")


def note_closed_listens(ctx: Context) -> None:
    """After check_capacity: a listen request whose receiver closed the control
    connection instead of answering (Context.closed_listens: acked_words,
    closed_listen_words), where range_too_small found the receiver's range too small for
    the job (Context.too_small), says that first in its fix: the likely cause, which the
    receiver's log confirms (lab matrix seed 140 run 11: agent range 6001-6002 for 2
    resources, the agent's FIN acknowledged in frame 166; the fix named no range)."""
    for finding, which in ctx.closed_listens:
        need = ctx.too_small.get(which)
        if need is None or finding.fix.startswith("Widen"):
            continue
        rest = finding.fix[:1].lower() + finding.fix[1:]
        finding.fix = (f"Widen the {which} range {ctx.ranges(which)} first, to at least "
                       f"{need} ports (range_too_small: too few for the job, likely why "
                       "the request went unanswered), and open the widened range in the "
                       f"firewall. If the job still fails with the range widened: {rest}")
