"""One process's exit seen on two connections: a data connection closed before any
data by the host that closed the session's control connection too, at once, while its
job ran (closed_with_control). The control connection's close is then the root cause
(control_closed, flowcheck.verify.control_closed) and the data connection's close its
consequence (data_aborted, flowcheck.verify.aborted). ONE_EXIT_SECONDS, the bound on
one exit's closes, is read by cut_transfer and silent_sender too.
"""

from __future__ import annotations

from flowcheck.model import Connection, ControlPacket, Session
from flowcheck.sessions import closed_before_data, closing, message_op
from flowcheck.sessions.classify import JOB_STARTS
from flowcheck.verify.context import Context
from flowcheck.verify.replies import HALTS
from flowcheck.verify.two_clocks import may_precede

# A process's connections end together when it exits (the system closes or resets each
# of its sockets in turn): microseconds apart, well within this (seconds).
ONE_EXIT_SECONDS = 0.1


def closed_with_control(ctx: Context, session: Session, conn: Connection
                        ) -> ControlPacket | None:
    """The session's control connection's first FIN when the host that closed the data
    connection (FIN, before any data: closed_before_data) closed the control connection
    too within ONE_EXIT_SECONDS, while its job ran (a DATA_START_* request before it and
    no NOTIFY_*_HALTED after that): one process's exit, the control connection's close
    the root cause (control_closed) and the data connection's its consequence; None
    otherwise. The data FIN's own time is not kept: the data connection's last packet
    bounds it (after it when the FIN came first, before it when the FIN came later)."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    control = ctx.by_uid.get(session.control_uid)
    if stream is None or control is None or stream.fin is None or not conn.fin_frames \
            or conn.orig_rst or conn.resp_rst or not closed_before_data(conn):
        return None
    fin = stream.fin
    closer = conn.orig_h if closing(conn)[0] == "originator" else conn.resp_h
    if closer != control.host(fin.direction):
        return None
    if (conn.fin_frames[0] < fin.frame and conn.last_ts < fin.ts - ONE_EXIT_SECONDS) or \
            (conn.fin_frames[0] > fin.frame and conn.last_ts > fin.ts + ONE_EXIT_SECONDS):
        return None
    # A start written after the close may have come before it when the capture proves
    # the closer's clock behind its peer's (two hosts' own captures merged: two_clocks):
    # the agent's crash 0.5 s behind read data_aborted, not control_closed.
    starts = [m for m in stream.messages if m.type == "request" and message_op(m) in JOB_STARTS
              and (m.frame < fin.frame or (m.direction != fin.direction and may_precede(
                  ctx, control.host(m.direction), m.ts, closer, fin.ts)))]
    if not starts or any(message_op(m) in HALTS and starts[-1].frame < m.frame < fin.frame
                         for m in stream.messages):
        return None
    return fin
