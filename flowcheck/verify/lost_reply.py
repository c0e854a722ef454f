"""A reply the sniffer lost (NdmpStream.lost_replies, flowcheck.ndmp.lost) to a request
whose error reply fails the job (contract: ndmp_error_reply is an error for
CONNECT_CLIENT_AUTH, the DATA_* and MOVER_* set-ups and starts, and CONNECT_OPEN unless a
later one succeeds: verify.replies.reply_severity).

Whether that reply was an error cannot be read, but what the session did next can tell
(field check D2: listen-error without its ILLEGAL_STATE_ERR reply passed). Signs the
request failed: the DMA asked the same request again right after it, as it does after an
error; fewer resources moved data than the configured `resources` and none after this
request (after a listen: no data connection attempted to it, however it ended); the DMA
then only stopped the session, unless a data connection of the job carried its data
after the request (newuser64: the job went on, whatever the control connection's
messages the capture lacks). With such a sign the step the request belongs to is
`unknown` (verdict inconclusive); without one (the job went on, the resource moved data)
the step stands and ndmp_partial alone warns of the loss; when only the data ruled out
the stop, the step's detail names the lost reply and that data.
"""

from __future__ import annotations

from dataclasses import replace

from flowcheck.frame_names import frame_text
from flowcheck.model import (
    Connection,
    NdmpMessage,
    NdmpStream,
    Session,
    Severity,
    Step,
    cited,
    cites_of,
)
from flowcheck.profiles import StepSpec
from flowcheck.sessions import DATA_INTENT, message_op
from flowcheck.sessions.classify import JOB_STARTS
from flowcheck.sessions.unseen import side_words
from flowcheck.verify.context import Context
from flowcheck.verify.data_flow import job_bytes
from flowcheck.verify.replies import reply_severity
from flowcheck.verify.shared import data_holders
from flowcheck.verify.step_base import make_step

# The step a request's refusal would leave undone (flow-model.md's steps by kind).
_STEP_OF = {"CONNECT_OPEN": "control", "CONNECT_CLIENT_AUTH": "control",
            "DATA_LISTEN": "announcement", "MOVER_LISTEN": "announcement",
            "DATA_CONNECT": "data_connection", "MOVER_CONNECT": "data_connection",
            **{op: "data_flow" for op in JOB_STARTS}}
_KINDS = ("control", "announcement", "data_connection", "data_flow")
# Requests whose successful reply announces the endpoint the DMA then connects to.
_LISTENS = ("DATA_LISTEN", "MOVER_LISTEN")
# Requests that only end a session's work (NDMP v2-v4).
_STOPS = {"DATA_ABORT", "DATA_STOP", "MOVER_ABORT", "MOVER_STOP", "CONNECT_CLOSE"}


def lost_reply_step(ctx: Context, session: Session, spec: StepSpec, step: Step) -> Step:
    """The step as evaluated, or `unknown` when it was ok and a lost reply to one of its
    requests is followed by signs the request failed (the detail names the reply, the
    signs, then what the step showed)."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    if step.status != "ok" or stream is None:
        return step
    for request in stream.lost_replies:
        if _step_kind(ctx, stream, request) != spec.kind:
            continue
        signs = failure_signs(ctx, session, stream, request)
        if not signs:
            went = data_after(ctx, session, job_connections(ctx, session), request)
            if went and _only_stops_after(stream, request):
                return replace(step, detail=f"{step.detail}; {went_on_words(request, went)}",
                               cites=cited(step.cites, ["ndmp_partial"]))
            continue
        op = message_op(request)
        peer = "agent" if request.direction == "orig" else "media server"
        return make_step(spec, "unknown", step.uids, [request.frame, *step.frames],
                         f"unknown: the reply to {op} ({frame_text(request.frame)}) is not in the "
                         "capture (the sniffer lost it: ndmp_partial), and what followed is "
                         f"what a refusal brings: {'; '.join(signs)}. Whether the {peer} "
                         f"refused {op} (an error reply fails the job: ndmp_error_reply) "
                         f"cannot be seen; the capture shows: {step.detail}",
                         cites=[*cites_of(*signs), *step.cites, "ndmp_partial",
                                "ndmp_error_reply"])
    return step


def _step_kind(ctx: Context, stream: NdmpStream, request: NdmpMessage) -> str | None:
    """The kind of the profile's step the request's refusal would leave undone (the next
    step the profile has when it lacks that one); None for a request whose error reply
    is no error (a poll, a CONNECT_OPEN a later one replaced)."""
    op = message_op(request)
    if op not in _STEP_OF or reply_severity(op, stream, stream.messages.index(request)) \
            != Severity.ERROR:
        return None
    kinds = _KINDS[_KINDS.index(_STEP_OF[op]):]
    return next((kind for kind in kinds if ctx.profile.step(kind)  # type: ignore[arg-type]
                 is not None), None)


def failure_signs(ctx: Context, session: Session, stream: NdmpStream,
                  request: NdmpMessage) -> list[str]:
    """What the session did after the request that a refusal of it would explain, in
    words ([] when it went on as after a success)."""
    op = message_op(request)
    asker = side_words(request)
    later = [m for m in stream.messages if m.frame > request.frame
             and m.direction == request.direction and m.type == "request"]
    signs = []
    mine: list[Connection] = []
    conns = job_connections(ctx, session)
    if op in DATA_INTENT:
        moved = [c for c in conns if job_bytes(ctx, session, [c])]
        end = next((m.ts for m in later if message_op(m) == op), None)
        # A listen's reply is the endpoint: a connection attempted after it, before the
        # next listen, refused or unanswered, shows the DMA got one (an error reply
        # gives none to connect to).
        tried = conns if op in _LISTENS else moved
        mine = [c for c in tried if _of_request(c, request, end)]
        resources = ctx.config.resources
        if not mine and resources and len(moved) < resources:
            signs.append(f"the data connections carried the data of {len(moved)} of the "
                         f"{resources} configured resources, none of them "
                         + ("opened after" if op not in JOB_STARTS else "open after")
                         + f" this request{f' and before the next {op}' if end else ''}")
    # Asked again, unless this request's own data connection came first: then it worked.
    if later and message_op(later[0]) == op and not mine:
        signs.insert(0, f"the {asker} asked {op} again right after ({frame_text(later[0].frame)}), "
                        "as it does after an error reply")
    # A job's set-up or start refused, the DMA polls the state before it stops (trial 11
    # F-badbutype: DATA_GET_STATE between the refusal and DATA_ABORT); a session's
    # opening refused, every later request is refused too: it goes on with none.
    asked = [m for m in later if op not in DATA_INTENT or "_GET_" not in message_op(m)]
    if not mine and all(message_op(m) in _STOPS for m in asked) \
            and not data_after(ctx, session, conns, request):
        then = ("asked nothing more" if not asked else "only stopped the session ("
                + ", ".join(f"{message_op(m)}, {frame_text(m.frame)}" for m in asked[:3]) + ")")
        signs.append(f"the {asker} then {then}: the job went no further")
    return signs


def job_connections(ctx: Context, session: Session) -> list[Connection]:
    """The session's data connections; a three-way job's tape session's, those of the
    session holding them (it reads its data from there: shared.data_holders)."""
    uids = session.data_connections or [uid for holder in data_holders(ctx, session)
                                        for uid in holder.data_connections]
    return [ctx.by_uid[uid] for uid in uids]


def _only_stops_after(stream: NdmpStream, request: NdmpMessage) -> bool:
    """Did the request's side ask nothing after it but stops (or nothing at all)?"""
    return all(message_op(m) in _STOPS for m in stream.messages
               if m.frame > request.frame and m.direction == request.direction
               and m.type == "request")


def went_on_words(request: NdmpMessage, went: list[Connection]) -> str:
    """"the reply to CONNECT_OPEN (frame 6) is not in the capture (the sniffer lost it:
    ndmp_partial), and the requests captured after it only stopped the session, but the
    job went on after it: C2 carried its data later (frame 9)": a lost reply's words
    when the job's data after the request (data_after: `went`, not empty) rules out
    "the job went no further"; the frame is the latest data packet of them."""
    last = max((d for c in went for d in (c.orig_last_data, c.resp_last_data)
                if d is not None), key=lambda d: d[1])
    uids = ", ".join(c.uid for c in went)
    whose = "its" if len(went) == 1 else "their"
    return (f"the reply to {message_op(request)} ({frame_text(request.frame)}) is not in "
            "the capture (the sniffer lost it: ndmp_partial), and the requests captured "
            "after it only stopped the session, but the job went on after it: "
            f"{uids} carried {whose} data later ({frame_text(last[0])})")


def data_after(ctx: Context, session: Session, conns: list[Connection],
               request: NdmpMessage) -> list[Connection]:
    """The job's data connections among conns that carried the job's bytes (job_bytes)
    with a data packet captured after the request (Connection.orig_last_data /
    resp_last_data: frame, seconds): the job went further than it, whatever the
    control connection's messages the capture lacks (newuser64: CONNECT_OPEN's reply
    lost with the next 30 NDMP messages, then DATA_STOP and CONNECT_CLOSE, read "the
    job went no further" beside 2,896 B of backup data 0.14 s before them)."""
    return [c for c in conns
            if any(last is not None and last[1] > request.ts
                   for last in (c.orig_last_data, c.resp_last_data))
            and job_bytes(ctx, session, [c])]


def _of_request(conn: Connection, request: NdmpMessage, end: float | None) -> bool:
    """Is the data connection the request's resource's: opened after a set-up request
    (a listen, a connect) and before the next one of its kind; for a start, open after
    it and opened before the next start."""
    if end is not None and conn.ts >= end:
        return False
    if message_op(request) in JOB_STARTS:
        return conn.last_ts > request.ts
    return conn.ts >= request.ts
