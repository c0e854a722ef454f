"""A listen request (DATA_LISTEN, MOVER_LISTEN) with no reply in the capture: never
answered (step 3 `missing`: the whole conversation shows it, or the receiver's sequence
numbers show it sent nothing after, or every record it sent after kept its header), or
possibly answered by a record whose header the snap length cut (step 3 `unknown`).
Step 3 is flowcheck.verify.data_steps.announcement_step's."""

from __future__ import annotations

from collections.abc import Iterator

from flowcheck.model import Connection, NdmpMessage, NdmpStream, Session, other_direction
from flowcheck.sessions import message_op
from flowcheck.verify.context import Context
from flowcheck.verify.control_stall import stalled_side
from flowcheck.verify.refused_listens import LISTENS
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
                 or headers_from(ctx, session, stream, _peer(request), request.frame)), None)


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
