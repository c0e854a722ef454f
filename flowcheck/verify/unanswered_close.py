"""An agent that closed its NDMP session on a request it never answered, which the
capture does not hold (its own side only, or the sniffer lost the request).

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
The same holds when the capture has both directions but not those bytes: the sniffer
lost the request, the media server's messages read after the agent's last one account
for fewer bytes than its FIN acknowledges (seed 55 run 26's capture without the DATA_LISTEN
request the agent could not serve, frame 457, passed).
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Said, Session
from flowcheck.sessions import message_op
from flowcheck.tcp_sequence import SEQUENCE_SPACE, seq_ahead
from flowcheck.verify.context import Context
from flowcheck.verify.first_close import fin_words, peer_fin_first

CONNECT_CLOSE_BYTES = 28  # record mark (4) + NDMP header (24), no body
# Bytes after the agent's last message that a normal end explains: none, the media
# server's FIN, its CONNECT_CLOSE, or both.
_NORMAL_END = {0, 1, CONNECT_CLOSE_BYTES, CONNECT_CLOSE_BYTES + 1}


def unanswered_close_words(ctx: Context, session: Session,
                           control: Connection) -> Said | str:
    """Why step 3 is unknown when the agent (the control connection's responder) closed
    it first with bytes of the media server's acknowledged after its last NDMP message
    that no normal end explains and that the capture does not hold as messages (its
    direction missing, or lost by the sniffer); or closed it second, its FIN answering
    the media server's lost one (first_close.peer_fin_first), with such bytes and none
    of its own the capture lacks (NdmpStream.fin_unseen 0: it answered none of them, the
    media server gave up); "" otherwise."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    if stream is None or stream.fin is None or stream.fin_ack is None \
            or stream.fin.direction != "resp" or stream.tls_from:
        return ""  # (bytes in TLS are held, not lost: session_words says why)
    media_closed = peer_fin_first(control, stream)
    if media_closed and stream.fin_unseen:
        # Its FIN acknowledged the media server's, which the capture lacks: the media
        # server closed first and the agent's close answered it, after bytes of its own
        # the capture lacks that may answer the requests lost before. With none (its
        # sequence numbers show it sent nothing more), it answered none of them, and
        # the media server gave up on them: still a request never answered.
        return ""
    own = [m for m in stream.messages if m.direction == "resp" and m.frame < stream.fin.frame]
    acked = stream.last_message_ack.get("resp")
    if not own or acked is None:
        return ""
    last = own[-1]
    # The media server's messages read after the agent's last one: bytes the capture
    # holds (a CONNECT_CLOSE among them is a normal end); of unknown size, nothing to say.
    read = [m for m in stream.messages if m.direction == "orig" and m.frame > last.frame]
    if any(not m.size for m in read):
        return ""
    unanswered = seq_ahead(stream.fin_ack, acked + sum(m.size for m in read))
    if unanswered in _NORMAL_END or unanswered >= SEQUENCE_SPACE // 2:
        return ""
    agent, media = control.resp_h, control.orig_h
    lost = not ctx.lacks((media, agent), control.ts)  # the words cite capture_loss
    if not lost:
        unseen = (f"The capture holds only {agent}'s side of the control connection, so "
                  f"what {media} asked cannot be seen")
    else:
        unseen = (f"The capture lacks those bytes of {media}'s (the sniffer lost them: "
                  f"capture_loss), so what {media} asked cannot be seen")
    if media_closed:  # it sent nothing after its last message (fin_unseen 0)
        return Said(f"after its last NDMP message, the {message_op(last)} {last.type} ("
                    f"{frame_text(last.frame)}), {agent} acknowledged {unanswered:,} B more of "
                    f"{media}'s "
                    f"control stream{' than the capture holds' if read else ''} and answered "
                    f"none of it; then {media} closed the control connection "
                    f"({fin_words(control, stream)}): those bytes are more than a "
                    f"CONNECT_CLOSE ({CONNECT_CLOSE_BYTES:,} B), the one request NDMP leaves "
                    f"unanswered, and the FIN. {unseen} (a request {agent} never answered, "
                    f"{media} giving up on it; see the NDMP log of the agent)",
                    ["capture_loss"] if lost else [])
    if stream.fin_unseen:  # its own bytes before the FIN the capture lacks
        answered = (f"sent {stream.fin_unseen:,} B the capture lacks (its sequence numbers "
                    "show them) that may answer some of it, then closed")
        unseen += f", nor what {agent} answered"
    else:
        answered = "answered none of it and closed"
    return Said(f"after its last NDMP message, the {message_op(last)} {last.type} ("
                f"{frame_text(last.frame)}), {agent} acknowledged {unanswered:,} B more of "
                f"{media}'s control "
                f"stream{' than the capture holds' if read else ''}, {answered} the control "
                f"connection (FIN, {frame_text(stream.fin.frame)}): not a CONNECT_CLOSE "
                f"({CONNECT_CLOSE_BYTES:,} B), the one request NDMP leaves unanswered. {unseen} "
                f"(another resource's DATA_LISTEN that {agent} could not serve, no free port "
                "left in its range, ends a job so; see the NDMP log of the agent)",
                ["capture_loss"] if lost else [])
