"""A three-way job's control connections closed mid-job (trial 27 D4, D5).

In a three-way job (NDMP v4 section 1.4) the tape server's session carries no
DATA_START_*: its job is its mover's, started by MOVER_LISTEN (or MOVER_CONNECT) and
ended by NOTIFY_MOVER_HALTED or a MOVER_STOP / MOVER_ABORT / MOVER_CLOSE request. A
close of its control connection while the mover was active ends the job as a close
after DATA_START_* does (control_closed). When the tape agent's NDMP session ends so
(its service stopped or crashed), or its service halts abnormally (a full tape), the DMA
gives the job up and closes the data agent's control connection after it: that close is
the consequence, not the job engine's failure.
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Announcement, NdmpMessage, NdmpStream, Session
from flowcheck.sessions import message_op
from flowcheck.sessions.classify import JOB_STARTS
from flowcheck.verify.context import Context
from flowcheck.verify.hidden_ends import MOVER_STARTS
from flowcheck.verify.replies import HALTS, abnormal_reason
from flowcheck.verify.shared import three_way_hosts

_MOVER_ENDS = {"MOVER_STOP", "MOVER_ABORT", "MOVER_CLOSE", "CONNECT_CLOSE"}


def _started(stream: NdmpStream, ops: set[str]) -> list[NdmpMessage]:
    return [m for m in stream.messages if message_op(m) in ops and m.type == "request"]


def job_starts(ctx: Context, session: Session, stream: NdmpStream) -> list[NdmpMessage]:
    """The requests that started the session's job: DATA_START_*; in a session with none,
    MOVER_LISTEN / MOVER_CONNECT when its mover went active (a data connection reached
    its endpoint, or the other session of the three-way job started the data server:
    DATA_START_*) and no MOVER_STOP, MOVER_ABORT, MOVER_CLOSE or CONNECT_CLOSE request
    came after it; [] else."""
    starts = _started(stream, JOB_STARTS)
    if starts:
        return starts
    movers = _started(stream, MOVER_STARTS)
    if not movers or any(m.frame > movers[-1].frame for m in _started(stream, _MOVER_ENDS)):
        return []
    return movers if any(_went_active(ctx, session, a) for a in session.announced
                         if a.listener == "mover") else []


def _went_active(ctx: Context, session: Session, ann: Announcement) -> bool:
    """Did a connection to the mover's endpoint open, or the data server's session of
    the three-way job start its job?"""
    conn = ctx.by_uid.get(ann.used_by or "")
    if conn is not None and conn.established:
        return True
    found = three_way_hosts(ctx, session, ann)
    if found is None:
        return False
    stream = ctx.stream_by_uid.get(found[2].control_uid)
    return stream is not None and bool(_started(stream, JOB_STARTS))


def agent_closed_first(ctx: Context, session: Session, before: float
                       ) -> tuple[Session, str, float, str] | None:
    """(the other session, the words of how its side of the job ended, when, the code of
    its finding) when the
    other NDMP server of the session's three-way job ended its job before `before`: it
    closed its own control connection while its job ran (no halt notified before that
    FIN, job_starts), or its service halted abnormally (data_halted_abnormally); None
    otherwise."""
    for ann in session.announced:
        found = three_way_hosts(ctx, session, ann)
        if found is None:
            continue
        other = found[2]
        stream = ctx.stream_by_uid.get(other.control_uid)
        starts = job_starts(ctx, other, stream) if stream is not None else []
        if stream is None or not starts:
            continue
        control = ctx.by_uid[other.control_uid]
        who = f"the {other.server_roles.get(control.resp_h, 'agent')} {control.resp_h}"
        halt = next((m for m in stream.messages if message_op(m) in HALTS
                     and m.type != "reply" and starts[-1].ts <= m.ts < before), None)
        fin = stream.fin
        if halt is not None and abnormal_reason(halt) is not None:
            service = "mover" if message_op(halt) == "NOTIFY_MOVER_HALTED" else "data service"
            return other, (f"{who}'s {service} halted with reason {abnormal_reason(halt)} "
                           f"(session {other.id}, {frame_text(halt.frame)}): the job had failed "
                           "there"), halt.ts, "data_halted_abnormally"
        if halt is None and fin is not None and fin.direction == "resp" and fin.ts < before:
            return other, (f"{who} closed its own control connection of this three-way job "
                           f"(session {other.id}, FIN, {frame_text(fin.frame)}) with no halt "
                           "notified: the DMA gave the job up because that agent's NDMP "
                           "session ended"), fin.ts, "control_closed"
    return None


def gave_up_words(first: tuple[Session, str, float, str], closed: float) -> str:
    """The words of a DMA's close that followed the other agent's end of the job
    (agent_closed_first)."""
    other, how, ts, code = first
    return (f"It came {span_words(closed - ts)} after {how}, so this close is its consequence "
            f"(see session {other.id}'s {code}).")
