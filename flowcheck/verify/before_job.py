"""Sessions that ended before asking anything (flowcheck.sessions.before_job): the later
steps and control_closed_after_auth.

A session refused at its opening (CONNECT_OPEN, CONNECT_CLIENT_AUTH) has its cause in
ndmp_error_reply; its later steps could not happen after it. A session that
authenticated and closed without a single request carried everything the network was
asked to carry: the job, if one was meant, stopped on the DMA's (media server's) side
before its first request (trial 14, Amanda ndmjob: "failed open tape drive", no free
mover port in a cut media range). Nothing on the wire says why, nor that a job was meant
(a DMA's test of the agent's credentials ends so too): a warning, and the later steps
unknown, so such a session is never a silent pass.
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Session, Step, connection_ends
from flowcheck.profiles import StepSpec
from flowcheck.sessions import message_op
from flowcheck.sessions.unseen import side_words
from flowcheck.verify.after_close import closed_words, control_close
from flowcheck.verify.context import Context
from flowcheck.verify.step_base import make_step
from flowcheck.verify.stream_evidence import stream_whole

CODE = "control_closed_after_auth"


def check_closed_after_auth(ctx: Context) -> None:
    """control_closed_after_auth (warning) for each session that authenticated and closed
    with no request (Session.ended_before_job: an accepted CONNECT_CLIENT_AUTH), whole
    in the capture (stream_evidence.stream_whole: no request can hide), with no root cause
    already reported (a control_reset says the close's own cause). Frames: the accepted
    CONNECT_CLIENT_AUTH reply and the first FIN or RST."""
    for session in ctx.sessions:
        accepted = session.ended_before_job
        stream = ctx.stream_by_uid.get(session.control_uid)
        if accepted is None or accepted.error or ctx.causes.get(session.id) \
                or not stream_whole(ctx, session, stream):
            continue
        closed = control_close(stream)
        if closed is None:
            continue
        control = ctx.by_uid[session.control_uid]
        where = connection_ends(control)
        dma = closed.direction == "orig"
        side = "on the media server's (the DMA's) side" if dma else \
            "on the agent's side (its NDMP service ended the session)"
        given_up = ("A job the DMA gave up before its first request (a tape or drive it could "
                    "not open, no free mover port in its range, an option the agent does not "
                    "support) ends like this, as does a test of the agent's credentials. "
                    if dma else "")
        ctx.add(CODE,
                f"Session {session.id} authenticated (the {side_words(accepted)} accepted "
                f"CONNECT_CLIENT_AUTH, {frame_text(accepted.frame)}) and then "
                f"{closed_words(session, closed)} {span_words(closed.ts - accepted.ts)} later "
                "without a single request: no backup, restore or browse was started on "
                f"control connection {where}. The network carried the session both ways: the "
                f"failure, if a job was meant, was {side}, not in the network. {given_up}"
                "Whether a backup or restore was meant cannot be seen, so the later steps "
                "are unknown.",
                "See the job log on the media server (the DMA) at that time: why the job "
                "stopped after authenticating (tape or drive, mover port, job options)"
                + ("." if dma else "; and the agent's NDMP service log: why it closed the "
                   "session."),
                session=session, conn=control, ts=accepted.ts,
                frames=[accepted.frame, closed.frame])


def ended_step(session: Session, spec: StepSpec) -> Step:
    """A later step (announcement, data connection, data) of a session that ended before
    asking anything: not applicable after a refused opening (no job could start after
    it, ndmp_error_reply says why), unknown after an authentication the session closed
    on (whether a job was meant cannot be seen: control_closed_after_auth)."""
    ended = session.ended_before_job
    assert ended is not None
    if ended.error:
        return make_step(spec, "not_applicable", frames=[ended.frame],
                         detail=f"not reached: the {side_words(ended)} refused "
                                f"{message_op(ended)} ({frame_text(ended.frame)}, "
                                f"{ended.error_name or ended.error}: ndmp_error_reply), so no "
                                "backup or restore could start in this session",
                         cites=["ndmp_error_reply"])
    return make_step(spec, "unknown", frames=[ended.frame],
                     detail=f"unknown: the session authenticated ({frame_text(ended.frame)})"
                            " and closed without a single request: whether a "
                            "backup or restore was meant, and stopped before its first "
                            "request, cannot be seen")
