"""Sessions that show no sign of a job whose deciding messages the capture lacks.

A session is a browse (sessions.classify.session_kind) when its control stream holds
no DATA_* or MOVER_* setup, no DATA_START_* and no announcement. That absence says
"no job was started" only when the capture could have shown those messages and the
failure that would have stopped the job before them. It cannot when:

- the control connection went on in TLS (ndmp.stream: the session secured in band):
  the requests after it, a DATA_* request among them, cannot be read. This comes first,
  also when the capture holds one direction only: the side it holds is encrypted too,
  and the peers went on in TLS after CONNECT_CLIENT_AUTH, so its refusal is not the
  likely story (field check 48, seed 106 run 16);
- the capture holds one direction of the control connection only: the agent's
  replies (a CONNECT_CLIENT_AUTH refused) or the media server's requests (a
  DATA_CONNECT the agent never answered) are not in it;
- the snap length cut whole records (mark or header): their names are unknown, and
  one may be a DATA_* request or a reply that refused the job;
- the session's last word is a reply whose error word the capture cut (NDMP v4 spec:
  every reply body carries an error) to a request whose refusal ends the job
  (classify.FATAL_REPLIES, CONNECT_OPEN): the DMA closes after a refused
  CONNECT_CLIENT_AUTH, and the capture cannot show whether that is what happened.

Such a session's kind is unknown (Session.kind_unknown, the text says so; the JSON
kind keeps the contract's "browse") and steps 2-4 are unknown (flowcheck.verify.steps),
never failed: what the capture lacks is not evidence either way.
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Direction, NdmpMessage, NdmpStream, Said
from flowcheck.sessions.classify import FATAL_REPLIES, message_op, one_sided

# Replies whose refusal ends the job: a refused CONNECT_OPEN too, when no later one
# succeeds (it cannot, when it is the last word).
_ENDS_JOB = FATAL_REPLIES | {"CONNECT_OPEN"}


def one_way_unseen(conn: Connection, stream: NdmpStream | None) -> bool:
    """Does job_unseen read the session as unseen because the capture holds one
    direction of its control connection only (classify.one_sided), its conversation
    not in TLS (whose words come first: the side it lacks is said after them)?"""
    return not (stream is not None and stream.tls_from) and one_sided(conn) is not None


def job_unseen(conn: Connection, stream: NdmpStream | None) -> str:
    """Why the capture cannot show whether a session that shows no sign of a job (its
    control connection `conn`, its decoded `stream`) was a browse or a job that failed
    or was never answered before its first DATA_* request; "" when it can show it."""
    side = one_sided(conn)
    if stream is not None and stream.tls_from:
        # The side the capture lacks is a limit of the capture, cited so: the job's data
        # connections it would hold are judged by their TCP whatever the TLS hides (lab
        # matrix seed 127 run 19: a TLS backup captured `-Q in` on the media server, its
        # data SYNs dropped, read "the capture's own limits (capture_one_direction) are
        # not why a step is unknown", report.verdict_notes).
        held = (f", and {_held_side(conn, side)}: a limit of this capture "
                "(capture_one_direction), where one of both directions would show a "
                "job's data connections, if it opened any, judged by their TCP"
                if side is not None else "")
        return Said(f"its control connection carries TLS from {frame_text(stream.tls_start)}"
                    " (ndmp_undecodable): the requests in it, a DATA_* request that started "
                    f"a job among them, cannot be read{held}",
                    ["ndmp_undecodable", *(["capture_one_direction"] if held else [])])
    if side == "resp":
        return (f"{_held_side(conn, side)}: the agent's replies are not in it, and one of "
                "them may have refused the job (a CONNECT_CLIENT_AUTH refused, say)")
    if side == "orig":
        return (f"{_held_side(conn, side)}: the media server's requests are not in it, so a "
                "DATA_* request that started a job, or that the agent never answered, cannot "
                "be seen")
    if stream is None:
        return ""
    if stream.snap_lost:
        return snap_lost_words(stream)
    reply = cut_last_word(stream)
    if reply is None:
        return ""
    return (f"its last reply, to {message_op(reply)} ({frame_text(reply.frame)}), lost its error "
            f"field to {cut_words(reply)}: whether the {side_words(reply)} refused it, which "
            "ends the job, cannot be seen")


def snap_lost_words(stream: NdmpStream) -> str:
    """Why the kind of a session whose control connection's NDMP records the snap length
    cut (NdmpStream.snap_lost of them, their headers cut) cannot be told: also when not
    one message decoded, where the capture holds the conversation cut, not none of it
    (lab matrix seed 112 run 17: "none of its NDMP conversation in the capture")."""
    return (f"the capture's snap length cut the header of about {stream.snap_lost} NDMP "
            "record(s) of its control connection: which messages they were (a DATA_* "
            "request, a reply that refused the job) cannot be seen")


def _held_side(conn: Connection, side: str) -> str:
    """"the capture holds only the media server's side of its control connection
    (nothing from A to B, though B acknowledged N B of it)" for a control connection
    captured one way (side: classify.one_sided, "resp" when nothing of the responder's
    is in it, "orig" the other way round)."""
    holds, sender, receiver, unseen = (
        ("media server", conn.resp_h, conn.orig_h, "resp") if side == "resp"
        else ("agent", conn.orig_h, conn.resp_h, "orig"))
    acked = _acked_of_it(conn, unseen)
    though = f", though {receiver} acknowledged {acked}" if acked else ""
    return (f"the capture holds only the {holds}'s side of its control connection (nothing "
            f"from {sender} to {receiver}{though})")


def _acked_of_it(conn: Connection, side: Direction) -> str:
    """"344 B of it and its FIN", "344 B of it", "its FIN": what the other side's ACKs
    acknowledge of `side`, never captured (Connection.acked_unseen_split); "" for
    nothing."""
    acked, fin = conn.acked_unseen_split(side)
    if not acked:
        return "its FIN" if fin else ""
    return f"{acked:,} B of it and its FIN" if fin else f"{acked:,} B of it"


def acked_words(conn: Connection, side: Direction) -> str:
    """"840 B of it acknowledged, and its FIN", "840 B of it acknowledged", "its FIN
    acknowledged": what the other side's ACKs acknowledge of `side`, a side the capture
    holds no segment of (Connection.acked_unseen_split). An ACK counts a FIN as a byte:
    the FIN the receiver's own FIN and ACKs prove is said apart, not counted in the
    bytes (lab matrix seed 114 runs 0 and 1: "841 B of it acknowledged" of 840 B)."""
    acked, fin = conn.acked_unseen_split(side)
    if not acked:
        return "its FIN acknowledged" if fin else "nothing of it acknowledged"
    return f"{acked:,} B of it acknowledged" + (", and its FIN" if fin else "")


def cut_words(message: NdmpMessage) -> str:
    """What cut a partial message: the snap length (its wire length is known), else a
    hole or the capture's end."""
    return ("the capture's snap length" if message.body_len is not None else
            "a hole in the capture or its end")


def side_words(message: NdmpMessage) -> str:
    """Who sent a control message: the agent (the control connection's responder) or the
    media server."""
    return "agent" if message.direction == "resp" else "media server"


def cut_last_word(stream: NdmpStream) -> NdmpMessage | None:
    """The session's last request or reply (posts and CONNECT_CLOSE, which has no reply,
    left out) when it is a reply whose error the capture cut (NdmpMessage.error_unknown)
    to a request whose refusal ends the job; None otherwise."""
    for message in reversed(stream.messages):
        if message.type == "post" or message_op(message) == "CONNECT_CLOSE":
            continue
        if message.type == "reply" and message.error_unknown \
                and message_op(message) in _ENDS_JOB:
            return message
        return None
    return None
