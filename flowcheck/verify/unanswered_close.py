"""An agent that closed its NDMP session on a request it never answered, seen from its
own side only.

NDMP answers every request but CONNECT_CLOSE, which is a header alone: 28 bytes with its
record mark (RFC 5531 record marking, 24-byte NDMP header). A capture of the agent's
packets only (`tcpdump -Q in` on the media server, a SPAN that sees one way) lacks the
media server's requests, but the agent's ACK numbers count the bytes it received: when
its FIN acknowledges bytes of the media server's that came after its last NDMP message
and that are neither nothing, nor a CONNECT_CLOSE, nor the media server's FIN (one
sequence number), nor both, the agent closed the session on a request it never answered.
In a whole capture that request shows (a DATA_LISTEN the agent could not serve:
`step_missing`); here it does not, so the announcement step is `unknown`, never `ok`
(lab matrix seed 67 run 24: an agent range too small for the fifth resource, the agent
closed the session on its DATA_LISTEN, captured `-Q in` on the media server, passed).
"""

from __future__ import annotations

from flowcheck.model import Connection, Session
from flowcheck.sessions import message_op
from flowcheck.verify.context import Context

CONNECT_CLOSE_BYTES = 28  # record mark (4) + NDMP header (24), no body
# Bytes after the agent's last message that a normal end explains: none, the media
# server's FIN, its CONNECT_CLOSE, or both.
_NORMAL_END = {0, 1, CONNECT_CLOSE_BYTES, CONNECT_CLOSE_BYTES + 1}
_WRAP = 1 << 32


def unanswered_close_words(ctx: Context, session: Session, control: Connection) -> str:
    """Why step 3 is unknown when the agent (the control connection's responder) closed
    it first, the capture lacking the media server's direction, with bytes of the media
    server's it acknowledged after its last NDMP message that no normal end explains;
    "" otherwise."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    if stream is None or stream.fin is None or stream.fin_ack is None \
            or stream.fin.direction != "resp":
        return ""
    if (control.orig_h, control.resp_h) not in ctx.missing:
        return ""
    own = [m for m in stream.messages if m.direction == "resp" and m.frame < stream.fin.frame]
    acked = stream.last_message_ack.get("resp")
    if not own or acked is None or any(m.direction == "orig" for m in stream.messages):
        return ""
    unanswered = (stream.fin_ack - acked) % _WRAP
    if unanswered in _NORMAL_END or unanswered >= _WRAP // 2:
        return ""
    last = own[-1]
    agent, media = control.resp_h, control.orig_h
    return (f"after its last NDMP message, the {message_op(last)} {last.type} (frame "
            f"{last.frame}), {agent} acknowledged {unanswered} B more of {media}'s control "
            f"stream, answered none of it and closed the control connection (FIN, frame "
            f"{stream.fin.frame}): not a CONNECT_CLOSE ({CONNECT_CLOSE_BYTES} B), the one "
            f"request NDMP leaves unanswered. The capture holds only {agent}'s side of the "
            f"control connection, so what {media} asked cannot be seen (another resource's "
            f"DATA_LISTEN that {agent} could not serve, no free port left in its range, "
            "ends a job so; see the NDMP log of the agent)")
