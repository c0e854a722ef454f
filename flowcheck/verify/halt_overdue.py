"""A job whose data connections all closed, with no halt after, while the capture of
both directions of its control connection went on for the retransmission timeout or
longer: the data server notifies its halt (NOTIFY_DATA_HALTED, NOTIFY_MOVER_HALTED) as
its data ends, and the DMA answers it (DATA_STOP, CONNECT_CLOSE); none of it, nor a FIN
or RST of the control connection, is in the capture. It is not a capture that stopped
mid-job (flowcheck.verify.still_running's reading), and the data that flowed does not
show the job ended: the data step is `unknown` (trial42-keepalive/keepalive-reset-agent
without the agent's RST of the control connection, frame 2887: the data connection
closed at 12.5 s, the capture ran to 32.7 s, and it read PASS).
"""

from __future__ import annotations

from flowcheck.model import Session, endpoint
from flowcheck.sessions import one_sided
from flowcheck.sessions.classify import seen_closing
from flowcheck.verify.context import Context
from flowcheck.verify.details import span_words
from flowcheck.verify.open_transfer import last_halt
from flowcheck.verify.three_way_close import job_starts


def halt_overdue(ctx: Context, session: Session) -> tuple[float, float] | None:
    """(when the session's last data connection ended, how long the capture went on
    after it), in seconds, when the job started (its latest DATA_START_* read), no halt
    came after that start (open_transfer.last_halt), the control connection is still
    open in the capture, both its directions captured, every data connection of the
    session closed (a FIN or RST) and the capture went on at least the retransmission
    timeout after the last; None else."""
    control = ctx.by_uid.get(session.control_uid)
    stream = ctx.stream_by_uid.get(session.control_uid)
    if control is None or stream is None or one_sided(control) is not None \
            or seen_closing(control) or not session.data_connections:
        return None
    starts = job_starts(ctx, session, stream)
    if not starts:
        return None
    # A halt by any sign on any of the job's control connections (a three-way job's
    # other one too: open_transfer.last_halt).
    halt = last_halt(ctx, session)
    if halt is not None and ctx.order.later(*halt, starts[-1].frame, starts[-1].ts):
        return None
    data = [ctx.by_uid[uid] for uid in session.data_connections if uid in ctx.by_uid]
    if not data or not all(conn.fin_frames or conn.rst_frames for conn in data):
        return None
    ended = max(conn.last_ts for conn in data)
    ran_on = ctx.capture_end - ended
    return (ended, ran_on) if ran_on >= ctx.config.retransmission_timeout else None


def halt_overdue_words(ctx: Context, session: Session) -> str | None:
    """The data step's words for halt_overdue; None when it does not apply."""
    found = halt_overdue(ctx, session)
    if found is None:
        return None
    _, ran_on = found
    control = ctx.by_uid[session.control_uid]
    count = len(session.data_connections)
    return (f"the job's {'data connection' if count == 1 else f'{count} data connections'} "
            f"closed, and the capture went on {span_words(ran_on)} after with no halt "
            f"(NOTIFY_DATA_HALTED, NOTIFY_MOVER_HALTED) nor any other packet of the control "
            f"connection {endpoint(control.orig_h, control.orig_p)} -> "
            f"{endpoint(control.resp_h, control.resp_p)}, both of whose directions it "
            "holds: the halt notified as the data ends, the DMA's answer or the control "
            "connection's close are not in the capture, so whether the job ended, and how, "
            "cannot be seen (the sniffer lost them, or a reset or a broken path the capture "
            "does not show ended the session)")
