"""A job whose control connection ended (FIN or RST) with no halt among the messages the
capture holds, while bytes the sniffer lost after its start may hold one: whether the job
ended before the close cannot be seen, so the data step is `unknown`, never `ok` (a sweep
removing one control packet from stored failing captures read PASS: the agent's last
DATA_GET_STATE reply lost before its FIN, ndmjob-kill/agent-kill9-media without frame
1010; a file-history segment lost and the records after it unreadable,
ndmjob-pathloss/dma-killed-pathloss-media without frame 20)."""

from __future__ import annotations

from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import Connection, NdmpMessage, NdmpStream, Said, Session
from flowcheck.sessions import message_op, one_sided
from flowcheck.sessions.classify import JOB_STARTS
from flowcheck.verify.context import Context
from flowcheck.verify.hidden_ends import ends_job, missed_from
from flowcheck.verify.open_transfer import polled_halted
from flowcheck.verify.three_way_close import job_starts


def halt_missed_words(ctx: Context, session: Session) -> Said | None:
    """"the control connection was closed (FIN, frame N) after DATA_START_BACKUP ...,
    but the sniffer lost bytes of it after the start ..." when the session's control
    connection, both directions captured, ended (its first FIN or RST) after the job's
    last start (a DATA_START_* request, else the agent's successful reply to one: the
    request may be what was lost) with no halt (NOTIFY_*_HALTED, a state reply saying
    HALTED) nor a request ending the job among the messages read after the start, and
    the bytes the capture missed from the start on may hold one
    (hidden_ends.missed_from: a hole the sequence numbers cannot name, or bytes missed
    at the stream's end with no data after them); None else."""
    control = ctx.by_uid[session.control_uid]
    stream = ctx.stream_by_uid.get(session.control_uid)
    ends = sorted(control.fin_frames[:1] + control.rst_frames[:1])
    if stream is None or not ends or not control.missed_bytes or one_sided(control):
        return None
    start = _start(ctx, session, stream)
    if start is None or start.frame > ends[0] or _ended(ctx, stream, start):
        return None
    if not missed_from(control, stream, start.frame):
        return None
    how = "closed (FIN" if control.fin_frames and control.fin_frames[0] == ends[0] \
        else "reset (RST"
    return Said(f"the control connection was {how}, {frame_text(ends[0])}) after "
                f"{message_op(start)}{' reply' if start.type == 'reply' else ''} ("
                f"{frame_text(start.frame)}) with no NOTIFY_DATA_HALTED or "
                "NOTIFY_MOVER_HALTED among the messages the capture holds, but the sniffer "
                f"lost bytes of it after the start {_where(control, start)} that the NDMP "
                "sequence numbers cannot name (capture_loss): a halt may be among them, so "
                "whether the job ended before the close cannot be seen", ["capture_loss"])


def _start(ctx: Context, session: Session, stream: NdmpStream) -> NdmpMessage | None:
    """The job's last start request, else the agent's last successful reply to one."""
    starts = job_starts(ctx, session, stream)
    if starts:
        return starts[-1]
    replies = [m for m in stream.messages if m.type == "reply" and m.error_free
               and message_op(m) in JOB_STARTS]
    return replies[-1] if replies else None


def _ended(ctx: Context, stream: NdmpStream, start: NdmpMessage) -> bool:
    """Does a message read after the start show the job's end: a halt, a request that
    ends the job, or a state reply saying its service halted?"""
    return any(m.frame > start.frame and ends_job(m) for m in stream.messages) \
        or polled_halted(ctx, stream, start.frame, start.ts)


def _where(control: Connection, start: NdmpMessage) -> str:
    """"(frame G)" or "(frames G, H)": the gaps from the start on, by their frames."""
    gaps = [g for g in control.gap_frames if g >= start.frame]
    if not gaps:
        return ""
    return f"({frame_text(gaps[0])})" if len(gaps) == 1 else \
        f"({frames_words(gaps[:3], ranges=False, plural=True)})"
