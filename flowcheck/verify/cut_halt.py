"""A data connection that stopped delivering or was reset, and whose resource's halt
lost its reason to the snap length (`tcpdump -s 96`: the NOTIFY_*_HALTED header kept,
its body cut) or to a hole in the capture. A normal halt after such an event
(SUCCESSFUL, the mover's CONNECT_CLOSED) ends the transfer as jobs end, an abnormal one
(CONNECT_ERROR, ABORTED) makes the event the job's failure: with the reason cut neither
can be told, so the data step is `unknown`, not `ok` (stored failing captures cut to
96 bytes passed: an agent's firewall dropping its data ports mid-transfer, a path MTU
lowered mid-job, a full tape's mover reset).
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, Session, connection_ends
from flowcheck.sessions import message_op
from flowcheck.verify.context import Context
from flowcheck.verify.one_way_data import carried
from flowcheck.verify.replies import HALTS, halt_reason
from flowcheck.verify.resource_halt import halt_of
from flowcheck.verify.rst_words import reset_frame, reset_time
from flowcheck.verify.stall_timing import session_stalls


def reason_cut(halt: NdmpMessage) -> bool:
    """Is `halt` a NOTIFY_*_HALTED whose reason the capture did not hold (its body cut)?"""
    op = message_op(halt)
    if op not in HALTS or halt.type == "reply" or not halt.partial:
        return False
    prefix, _, names = HALTS[op]
    return halt_reason(halt, prefix, names) is None


def cut_halt_words(ctx: Context, session: Session) -> str | None:
    """Step 5's words when a data connection of the session stopped delivering (a
    stall, stall_timing.session_stalls) or was reset after carrying data, and the halt
    its resource notified after it (resource_halt.halt_of) lost its reason (reason_cut);
    None else."""
    messages, stalls = session_stalls(ctx, session)
    events: list[tuple[Connection, float, int | None, str]] = [
        (conn, stall.ts, stall.frame or None,
         f"stopped delivering (resent, never acknowledged: the last resend "
         f"{frame_text(stall.frame)})")
        for conn, stall in stalls]
    for uid in session.data_connections:
        conn = ctx.by_uid[uid]
        if conn.rst_frames and carried(conn):
            events.append((conn, reset_time(conn), reset_frame(conn),
                           f"was reset (RST, {frame_text(reset_frame(conn))})"))
    stream = ctx.stream_by_uid.get(session.control_uid)
    snapped = stream is not None and bool(stream.snap_cut)
    for conn, ts, frame, what in events:
        halt = halt_of(messages, conn, ts, frame, ctx.order)
        if halt is not None and reason_cut(halt):
            return (f"{conn.uid} ({connection_ends(conn)}) {what}, and its resource's "
                    f"{message_op(halt)} ({frame_text(halt.frame)}) lost its reason to "
                    + ("the snap length" if snapped else "a hole in the capture")
                    + ": whether the job ended normally or failed on it cannot be told"
                    + (" (capture with tcpdump -s 0)" if snapped else ""))
    return None
