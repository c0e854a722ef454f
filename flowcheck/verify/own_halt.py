"""A data connection closed by the side whose service then halted on an error of its own
(new-user trial 27, D6).

A mover whose tape fills (ENOSPC) stops reading: it closes the data connection, its TCP
resets the data still arriving (RFC 1122 4.2.2.13), and it notifies NOTIFY_MOVER_HALTED
with reason MEDIA_ERROR on its control connection. The reset came first on the wire, but
the halt's reason is the cause: the tape or the storage device, not a firewall's reset or
a restarted service. So when the side that closed the data connection is the side whose
service halted with a reason of its own (MEDIA_ERROR, INTERNAL_ERROR),
flowcheck.verify.cut_transfer leaves the connection to that halt's finding,
data_halted_abnormally (flowcheck.verify.replies), which names the close as its
consequence. Other reasons (ABORTED, CONNECT_ERROR) stay the reset's consequence.
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, Session, connection_ends
from flowcheck.sessions import message_op
from flowcheck.sessions.classify import first_fin_by
from flowcheck.verify.context import Context
from flowcheck.verify.end_roles import conn_sides, role_words

# Halt reasons that come from the halting service itself (NDMP v4 ndmp_mover_halt_reason,
# ndmp_data_halt_reason).
OWN_REASONS = {"MEDIA_ERROR", "INTERNAL_ERROR"}
_HALT_OPS = {"NOTIFY_DATA_HALTED", "NOTIFY_MOVER_HALTED"}


def _halting_end(conn: Connection, session: Session, halt: NdmpMessage) -> str | None:
    """The host at the data connection's end of the service that halted: the mover's
    end for NOTIFY_MOVER_HALTED, the data service's for NOTIFY_DATA_HALTED."""
    media, agent = conn_sides(conn, session)
    end = media if message_op(halt) == "NOTIFY_MOVER_HALTED" else agent
    return end[0] if end else None


def closed_by_halter(conn: Connection, session: Session, halt: NdmpMessage,
                     reason: str) -> bool:
    """Did the side whose service halted with a reason of its own (OWN_REASONS) close
    the data connection (its FIN first)?"""
    return (reason in OWN_REASONS and bool(conn.fin_frames)
            and first_fin_by(conn) == _halting_end(conn, session, halt))


def other_halts(ctx: Context, session: Session, conn: Connection) -> list[NdmpMessage]:
    """The NOTIFY_*_HALTED posts after conn opened on the control connections of the
    other sessions whose announcements conn reached: a three-way job's tape server
    session, when conn belongs to the data server's (a capture of both control
    connections: flowcheck.sessions.threeway)."""
    found = []
    for other in ctx.sessions:
        if other is session or not any(a.used_by == conn.uid for a in other.announced):
            continue
        stream = ctx.stream_by_uid.get(other.control_uid)
        found += [m for m in (stream.messages if stream else []) if m.ts >= conn.ts
                  and m.type != "reply" and message_op(m) in _HALT_OPS]
    return found


def own_halt_words(ctx: Context, session: Session, halt: NdmpMessage, reason: str
                   ) -> tuple[str, list[int]]:
    """(words, frames) naming the data connection the halting side closed and reset
    before the halt (closed_by_halter, its FIN at or before the halt) as the halt's
    consequence: one of the session's, or one its announcements reached that another
    session holds (a three-way job); ("", []) when there is none."""
    reached = [a.used_by for a in session.announced if a.used_by]
    for uid in dict.fromkeys([*session.data_connections, *reached]):
        conn = ctx.by_uid[uid]
        if not closed_by_halter(conn, session, halt, reason) or \
                conn.fin_frames[0] > halt.frame:
            continue
        host = _halting_end(conn, session, halt)
        rst = conn.rst_frames[:1]
        reset = (f" and reset the data still arriving (RST, {frame_text(rst[0])})" if rst else "")
        return (f" {role_words(conn, session, host).capitalize()} closed the data connection "
                f"{connection_ends(conn)} "
                f"(FIN, {frame_text(conn.fin_frames[0])}){reset} because of it, before it notified "
                "the halt: that close is the halt's consequence, not a firewall's reset or a "
                "restarted service.", [conn.fin_frames[0], *rst])
    return "", []
