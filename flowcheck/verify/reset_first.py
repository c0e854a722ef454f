"""A data connection its receiver closed mid-transfer after the session's control
connection was reset (multipath field check: a firewall on the control connection's
path reset it right after the agent's halt; the DMA failed the job and its mover closed
the data connection while the agent was still sending, the later bytes reset).

The job ended with its session, its SUCCESSFUL halt notwithstanding (the halt says only
that the sender's writes returned): control_reset reports it, data_reset names the
reset and what its TTL tells (flowcheck.verify.ttl).
"""

from __future__ import annotations

from flowcheck.model import Connection, Session
from flowcheck.verify.context import Context
from flowcheck.verify.receiver_close import closed_by_receiver
from flowcheck.verify.ttl import forged_words, reset_ttls


def reset_before(control: Connection | None, conn: Connection) -> bool:
    """Was the session's control connection reset before the data connection's first
    FIN (its receiver's close)?"""
    return (control is not None and bool(control.rst_frames) and bool(conn.fin_frames)
            and control.rst_frames[0] < conn.fin_frames[0])


def cut_after_reset(ctx: Context, session: Session) -> Connection | None:
    """A data connection of the session its receiver closed mid-transfer (closed_by_
    receiver: the sender's later bytes reset) after the control connection's reset: the
    job ended with its session, its halt notwithstanding (control_reset says so)."""
    control = ctx.by_uid.get(session.control_uid)
    return next((c for uid in session.data_connections
                 if closed_by_receiver(c := ctx.by_uid[uid]) and reset_before(control, c)),
                None)


def control_reset_sender(ctx: Context, control: Connection) -> str:
    """"; the first, in 10.77.2.2's name, has its TTL 64, where 10.77.2.2's own packets
    arrive with 63: a device between them sent it" when the TTLs tell (verify.ttl), or
    "" when they do not."""
    frame, host = control.first_rsts[0]
    ttls = reset_ttls(ctx, control, "orig" if frame == control.orig_rst_frame else "resp")
    if ttls is None or ttls[0] == ttls[1]:
        return ""
    return f"; the first, in {host}'s name, has {forged_words(host, *ttls)}: a device sent it"
