"""Data connections that stopped delivering in the middle of their transfer: `data_stalled`.

A data connection whose sender resent its last bytes (flowcheck.verify.stalled: 2 or more
retransmissions after its last new byte) that the receiver never acknowledged in the
capture, or that the capture shows acknowledged while the sender went on resending them
(the ACKs lost between the capture point and the sender); the capture went on at least
the retransmission timeout (Config.retransmission_timeout, RFC 6298) after the latest
resend, or after the first resend of the run (each resend waited a timeout for an ACK
that did not come: a capture stopped by hand or a job killed without a close ends soon
after the last), or the receiver then closed it and resent its FIN unanswered (those
resends waited their own timeouts); and no normal halt of its resource came after it
(NOTIFY_DATA_HALTED SUCCESSFUL, NOTIFY_MOVER_HALTED CONNECT_CLOSED). The transfer
stopped: step 5 failed.
A busy data connection has no idle timeout to blame: a firewall or NAT lost its state
(a failover, a reload), the route changed, or an IPS dropped the flow. A stall that
resumed (new bytes after the resends) is not one; an abnormal halt after it is its
consequence, named in the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from flowcheck.model import Connection, NdmpMessage, Session
from flowcheck.sessions import message_op
from flowcheck.verify.aborted import role_words
from flowcheck.verify.context import Context
from flowcheck.verify.cut_transfer import halt_of
from flowcheck.verify.evidence import time_enough
from flowcheck.verify.replies import abnormal_reason
from flowcheck.verify.stalled import (
    RESENDS_FOR_STALL,
    STATE_LOST,
    Stall,
    closed_unanswered_after,
    data_stall,
    stall_words,
)


@dataclass(slots=True, frozen=True)
class StalledTransfer:
    """A data connection that stopped delivering mid-transfer: its stall, the abnormal
    halt that followed (None when none came), and what showed the stall was no late ACK:
    "fin" (the sender's FIN resent), "last" (the capture went on a retransmission
    timeout after the latest resend), "closed" (the receiver then closed it and resent
    its FIN unanswered: closed_unanswered_after) or "first" (a timeout after the run's
    first resend)."""

    conn: Connection
    stall: Stall
    halt: NdmpMessage | None
    timed_by: Literal["fin", "last", "closed", "first"]


def stalled_transfers(ctx: Context, session: Session) -> list[StalledTransfer]:
    """The session's data connections that stopped delivering mid-transfer."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    messages = stream.messages if stream else []
    found = []
    for uid in session.data_connections:
        conn = ctx.by_uid[uid]
        stall = data_stall(conn)
        if stall is None or stall.ts is None:
            continue
        timed_by = _timed_by(ctx, conn, stall)
        if timed_by is None:
            continue  # an ACK comes within the retransmission timeout: it may be missed
        halt = halt_of(messages, conn.ts, stall.ts)
        if halt is None or abnormal_reason(halt) is not None:
            found.append(StalledTransfer(conn, stall, halt, timed_by))
    return found


def _timed_by(ctx: Context, conn: Connection, stall: Stall
              ) -> Literal["fin", "last", "closed", "first"] | None:
    """What shows no ACK of the stall was merely still on its way (StalledTransfer);
    None when nothing does. Resent FINs each waited a timeout already (the stall's own,
    or the receiver's after it, which the sender never answered); so did each resend of
    the run (RFC 6298 5.4): the silence is timed from the first, as control_stalled
    times it from the message its bytes began."""
    if stall.fin:
        return "fin"
    if time_enough(ctx, stall.ts):
        return "last"
    if closed_unanswered_after(conn, stall):
        return "closed"
    if (stall.first_ts is not None and stall.resends >= RESENDS_FOR_STALL
            and time_enough(ctx, stall.first_ts)):
        return "first"
    return None


def stalled_detail(conn: Connection, stall: Stall) -> str:
    """Step 5's words for a stalled data connection."""
    what = ("resent bytes its peer acknowledged, the ACKs lost on the way" if stall.acks_lost
            else "its FIN never answered" if stall.fin
            else f"its last {stall.unacked} B never acknowledged")
    return f"stopped delivering mid-transfer ({stall.resends} retransmissions: {what})"


def check_stalled_transfers(ctx: Context) -> None:
    """One data_stalled error per data connection that stopped delivering mid-transfer."""
    for session in ctx.sessions:
        for stalled in stalled_transfers(ctx, session):
            conn, stall, halt = stalled.conn, stalled.stall, stalled.halt
            sender, receiver = ((conn.orig_h, conn.resp_h) if stall.side == "orig"
                                else (conn.resp_h, conn.orig_h))
            roles = (role_words(conn, session, sender).rpartition(" ")[0],
                     role_words(conn, session, receiver).rpartition(" ")[0])
            what = ("bytes" if stall.acks_lost else
                    "its FIN" if stall.fin else
                    f"its last {stall.unacked} B")
            since = stall.first_ts if stalled.timed_by == "first" else stall.ts
            head = stall_words("data", conn, roles, stall, what,
                               None if stall.fin else ctx.capture_end - since,
                               from_first=stalled.timed_by == "first")
            then = (f" The job then halted with {abnormal_reason(halt)} ({message_op(halt)}, "
                    f"frame {halt.frame})." if halt is not None else
                    " No halt of the job came after it: the job cannot go on without its "
                    "data connection.")
            reset = (f" The connection was then reset (RST, frame {conn.rst_frames[0]})."
                     if conn.rst_frames else "")
            closed = (f" {roles[1][0].upper()}{roles[1][1:]} then closed it and resent its "
                      f"FIN {len(conn.fin_frames) - 1} times (the last in frame "
                      f"{conn.fin_frames[-1]}), never answered: the path was still losing "
                      "its packets." if stalled.timed_by == "closed" else "")
            ctx.add("data_stalled",
                    head + reset + closed + then
                    + f" {STATE_LOST}. The data connection was busy, so not after an idle "
                    "timeout: the device lost its state table or reloaded it (a failover, a "
                    "restart), the route between them changed, or an IPS "
                    "dropped the flow.",
                    f"See the session and event logs of the firewalls, NAT devices and IPSs "
                    f"between {conn.orig_h} and {conn.resp_h} at that time (a session "
                    "dropped, a failover, a blocked flow) and any routing change; a capture "
                    "on both hosts at once shows where the packets are lost.",
                    session=session, conn=conn,
                    frames=[stall.frame, *conn.rst_frames[:1]]
                    + ([halt.frame] if halt is not None else []),
                    ts=stall.ts, cause="data")
