"""Data connections reset in the middle of their transfer: `data_reset`.

A data connection that carried bytes and then ended with a RST before any FIN, and whose
job did not report a normal end after it (NOTIFY_DATA_HALTED SUCCESSFUL, NOTIFY_MOVER_HALTED
CONNECT_CLOSED): the transfer was cut short, step 5 failed, on the RST as evidence. Some
NDMP servers end a finished transfer with a RST instead of a FIN; their job then halts
normally, so that reset is not reported; nor is the reset of a connection that had
stopped delivering before it (data_stalled reports it, flowcheck.verify.stalled_transfer),
nor of one whose receiver's window stayed 0 until it (data_receiver_stalled,
flowcheck.verify.closed_window).
An abnormal halt after the reset (CONNECT_ERROR,
ABORTED) is its consequence, named in the message instead of a data_halted_abnormally of
its own. A capture that ends too soon after the reset to show the halt says nothing.
"""

from __future__ import annotations

from flowcheck.model import Connection, NdmpMessage, Session, endpoint
from flowcheck.sessions import message_op
from flowcheck.sessions.classify import JOB_STARTS
from flowcheck.verify.aborted import role_words
from flowcheck.verify.closed_window import zero_window
from flowcheck.verify.context import Context
from flowcheck.verify.details import reset_time, reset_words, sent_each_way
from flowcheck.verify.evidence import time_enough
from flowcheck.verify.replies import HALTS, abnormal_reason
from flowcheck.verify.stalled import data_stall


def cut_transfers(ctx: Context, session: Session) -> list[tuple[Connection, NdmpMessage | None]]:
    """The session's data connections reset mid-transfer, each with the abnormal halt that
    followed its reset (None when none came)."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    messages = stream.messages if stream else []
    found = []
    for uid in session.data_connections:
        conn = ctx.by_uid[uid]
        if not conn.rst_frames or not (conn.orig_bytes or conn.resp_bytes) or (
                conn.fin_frames and conn.fin_frames[0] < conn.rst_frames[0]):
            continue  # no reset, nothing carried, or a close begun before it
        if data_stall(conn) is not None:
            continue  # data_stalled: the reset came after the stall
        window = zero_window(conn, ctx.capture_end)
        if window is not None and window.ended == "reset":
            continue  # data_receiver_stalled: the reset ended a closed window
        reset_ts = reset_time(conn)
        halt = halt_of(messages, conn.ts, reset_ts)
        if halt is None:
            if time_enough(ctx, reset_ts):
                found.append((conn, None))
        elif abnormal_reason(halt) is not None:
            found.append((conn, halt))
    return found


def halt_of(messages: list[NdmpMessage], opened: float, reset: float
            ) -> NdmpMessage | None:
    """The halt of the resource a data connection opened at `opened` and reset (or
    stalled) at `reset` carried: the first NOTIFY_*_HALTED after it opened (the halt may come before
    its reset: a finished transfer torn down with a RST) and before the next resource's
    DATA_START_* after the reset."""
    for message in messages:
        if message.ts < opened:
            continue
        op = message_op(message)
        if op in JOB_STARTS and message.type == "request" and message.ts > reset:
            return None
        if op in HALTS and message.type != "reply":
            return message
    return None


def check_cut_transfers(ctx: Context) -> None:
    """One data_reset error per data connection reset mid-transfer."""
    for session in ctx.sessions:
        for conn, halt in cut_transfers(ctx, session):
            who = ("both ends" if conn.orig_rst and conn.resp_rst else
                   role_words(conn, session, conn.orig_h if conn.orig_rst else conn.resp_h))
            sent = sent_each_way(session, [conn])
            moved = (f"{sent['to_media']} B agent -> media server and {sent['to_agent']} B "
                     "media server -> agent")
            then = ""
            if halt is not None:
                then = (f" The job then halted with {abnormal_reason(halt)} "
                        f"({message_op(halt)}, frame {halt.frame}).")
            ctx.add("data_reset",
                    f"The data connection {endpoint(conn.orig_h, conn.orig_p)} -> "
                    f"{endpoint(conn.resp_h, conn.resp_p)} was reset by {who} "
                    f"({reset_words(conn)}) after carrying {moved}, before any FIN and with "
                    f"no normal halt of its job after it: the transfer was cut short."
                    + then,
                    "See the job log and both hosts' logs at that time for why the "
                    "transfer stopped; if neither host reset it, look for a firewall or IPS "
                    f"between {conn.orig_h} and {conn.resp_h} that resets long or large "
                    "transfers (a session timeout, a threat signature: its log names it).",
                    session=session, conn=conn,
                    frames=[*conn.rst_frames[:2]] + ([halt.frame] if halt else []),
                    ts=reset_time(conn),
                    cause="data")
