"""Listen requests the listener refused with an NDMP error while other resources of the
same session got their data endpoint (trial 20 D2): step 3 failed for that resource, and
the data steps carried fewer resources than configured. In a capture of the requests'
direction only, the replies (a refusal among them) are not in it: more endpoint requests
than data connections leave the announcement step unknown (unseen_replies)."""

from __future__ import annotations

from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import NdmpMessage, Said, Session, Severity
from flowcheck.sessions import message_op
from flowcheck.verify.context import Context

# Requests whose reply announces a data endpoint (flow-model.md).
LISTENS = {"DATA_LISTEN", "MOVER_LISTEN"}
# Requests that give the peer an endpoint to connect to.
CONNECTS = {"DATA_CONNECT", "MOVER_CONNECT"}


def refused_listens(ctx: Context, session: Session) -> list[NdmpMessage]:
    """The session's listen replies that carry an error and that ndmp_error_reply reported
    as an error (flowcheck.verify.replies: not a closed job's late answer), in order: the
    step's status then agrees with the verdict."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    if stream is None:
        return []
    findings = [*ctx.session_findings(session.id), *ctx.withheld.get(session.id, [])]
    reported = {frame for f in findings
                if f.code == "ndmp_error_reply" and f.severity == Severity.ERROR
                and f.session == session.id for frame in f.frames}
    return [m for m in stream.messages if m.type == "reply" and m.error
            and message_op(m) in LISTENS and m.frame in reported]


def refused_words(ctx: Context, session: Session, refused: list[NdmpMessage]) -> Said:
    """"1 of 3 DATA_LISTEN requests failed: DATA_LISTEN (frame 250) answered
    ILLEGAL_STATE_ERR: no data endpoint announced for it (ndmp_error_reply)"."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    ops = sorted({message_op(m) for m in refused})
    asked = sum(1 for m in (stream.messages if stream else [])
                if m.type == "request" and message_op(m) in ops)
    asked = max(asked, len(refused))  # a request the capture missed still had its reply
    named = "; ".join(f"{message_op(m)} ({frame_text(m.frame)}) answered "
                      f"{m.error_name.removeprefix('NDMP_') if m.error_name else m.error}"
                      for m in refused)
    them = "it" if len(refused) == 1 else "them"
    return Said(f"{len(refused)} of {asked} {'/'.join(ops)} requests failed: {named}: no "
                f"data endpoint announced for {them} (ndmp_error_reply)", ["ndmp_error_reply"])


def resource_words(ctx: Context, count: int, what: str) -> str:
    """"; {what} 2 of the 3 configured resources" when `resources` is configured and the
    data connections carried fewer (count); "" otherwise."""
    resources = ctx.config.resources
    if not resources or count >= resources:
        return ""
    return f"; {what} {count} of the {resources} configured resources"


def unseen_replies(ctx: Context, session: Session) -> list[NdmpMessage]:
    """The session's endpoint requests (LISTENS, or CONNECTS when there are more of them:
    one data connection each) when the capture holds only their sender's direction of
    the control connection (Session.match_reason "one_direction") and they outnumber the
    data connections matched to the session: their replies, a refusal among them
    (ndmp_error_reply), are in the direction the capture lacks (field check 41's cut of
    lab/listen-error: a refused DATA_LISTEN read `ok`). [] otherwise."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    if session.match_reason != "one_direction" or stream is None:
        return []
    requests = [m for m in stream.messages if m.type == "request"]
    listens = [m for m in requests if message_op(m) in LISTENS]
    connects = [m for m in requests if message_op(m) in CONNECTS]
    asked = max(listens, connects, key=len)
    if not asked or any(m.type == "reply" and m.direction != asked[0].direction
                        for m in stream.messages):
        return []
    return asked if len(asked) > len(session.data_connections) else []


def unseen_replies_words(session: Session, asked: list[NdmpMessage]) -> Said:
    """"3 DATA_LISTEN requests (frames 11, 40, 71) and 2 data connections: the replies
    are in the direction the capture lacks, ..."."""
    count = len(session.data_connections)
    frames = frames_words([m.frame for m in asked], ranges=False, plural=True)
    return Said(f"{len(asked)} {message_op(asked[0])} requests ({frames}) and {count} data "
                f"connection{'s' if count != 1 else ''}: the replies are in the direction "
                "the capture lacks, so whether each announced an endpoint, or refused it "
                "with an error (ndmp_error_reply), cannot be seen", ["ndmp_error_reply"])
