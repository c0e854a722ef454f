"""How a data connection's stall is timed (what shows no ACK was merely still on its
way, flowcheck.verify.stalled_transfer), and the stalls the capture ended too soon after
to judge: step 5 unknown on them, not ok."""

from __future__ import annotations

from typing import Literal

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_pair
from flowcheck.model import Connection, NdmpMessage, Session, endpoint
from flowcheck.verify.context import Context
from flowcheck.verify.evidence import time_enough
from flowcheck.verify.replies import abnormal_reason
from flowcheck.verify.resource_halt import halt_of
from flowcheck.verify.stalled import (
    RESENDS_FOR_STALL,
    Stall,
    closed_unanswered_after,
    data_stall,
    unseen_run_long,
)

# The shortest retransmission timeout (seconds): Linux's TCP_RTO_MIN, 200 ms (RFC 6298
# 2.4 asks 1 s, Windows waits 300 ms; FreeBSD's 30 ms FIN resends may then need the
# capture to go on a retransmission timeout to be judged: the safe side).
TIMEOUT_MIN = 0.2


def session_stalls(ctx: Context, session: Session
                   ) -> tuple[list[NdmpMessage], list[tuple[Connection, Stall]]]:
    """The session's control messages, and its data connections with a stall whose time
    is known (data_stall): what stalled_transfers and unjudged_stalls each read."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    stalls = [(conn, stall) for uid in session.data_connections
              if (stall := data_stall(conn := ctx.by_uid[uid])) is not None
              and stall.ts is not None]
    return (stream.messages if stream else []), stalls


def unjudged_stalls(ctx: Context, session: Session) -> list[tuple[Connection, Stall]]:
    """The session's data connections whose sender resent its last bytes, never
    acknowledged, when the capture ended too soon to judge it (no stall_timed_by: an ACK
    could still have come) and no normal halt came after the first resend: (connection,
    stall). Step 5 is unknown on them, never ok: the resends are what the capture shows
    of the transfer's end (field check 20, D1: 8 resends over 2 s read as a pass)."""
    messages, stalls = session_stalls(ctx, session)
    found = []
    for conn, stall in stalls:
        if stall.lost or stall_timed_by(ctx, conn, stall) is not None:
            continue
        first, frame = ((conn.fin_ts, conn.fin_frames[0]) if stall.fin else
                        (stall.first_ts, stall.first_frame))
        halt = halt_of(messages, conn, first or stall.ts,
                       (frame if first else stall.frame) or None, ctx.order)
        if halt is None or abnormal_reason(halt) is not None:
            found.append((conn, stall))
    return found


def unjudged_detail(ctx: Context, conn: Connection, stall: Stall) -> str:
    """Step 5's words for an unjudged stall (unjudged_stalls)."""
    what = ("its FIN" if stall.fin else
            f"its last {stall.unacked:,} B" if stall.unacked else "its last bytes")
    acked = ("acknowledged by the receiver, the ACKs never reaching the sender"
             if stall.acks_lost else f"no ACK of {'it' if stall.fin else 'them'} reaching "
             "the sender (the receiver's packets not captured)" if stall.unseen
             else "never acknowledged")
    first, first_frame = ((conn.fin_ts, conn.fin_frames[0]) if stall.fin else
                          (stall.first_ts, stall.first_frame))
    first = first if first is not None else stall.ts
    return (f"{endpoint(conn.resp_h, conn.resp_p)}: {what} resent {stall.resends} times "
            f"({frame_pair(first_frame or stall.frame, stall.frame, 'to')}), {acked}, when "
            f"the capture ended {span_words(max(0.0, ctx.end_at(first) - first))} after the "
            f"first {'FIN' if stall.fin else 'resend'}, less than the retransmission timeout "
            f"({span_words(ctx.config.retransmission_timeout)}): whether the path stopped "
            f"delivering {'it' if stall.fin else 'them'} or an ACK was still on its way "
            "cannot be seen")


def stall_timed_by(ctx: Context, conn: Connection, stall: Stall
                   ) -> Literal["fin", "last", "closed", "first", "lost"] | None:
    """What shows no ACK of the stall was merely still on its way (stalled_transfer.
    StalledTransfer.timed_by);
    None when nothing does. A FIN resent unanswered (the closing shape, Stall.fin) is
    timed from the first FIN (Connection.fin_ts): its resends show timeouts' waits when
    they span TIMEOUT_MIN each at least (to the connection's last packet), or the
    capture went on a retransmission timeout after it; resends of a last segment that
    carries it come within a round trip in SACK recovery (trial 31: three in 0.5 ms), so
    a capture ending then cannot tell a lost FIN from an ACK still on its way (its time
    unknown: each resend taken as a timeout's, as before). Each resend
    of data waited a timeout (RFC 6298 5.4): the silence is timed from the first, as
    control_stalled times it from the message its bytes began."""
    if stall.fin:
        first = conn.fin_ts
        return ("fin" if first is None or time_enough(ctx, first)
                or conn.last_ts - first >= stall.resends * TIMEOUT_MIN else None)
    if stall.unseen:  # one direction: the run alone shows how long no ACK came
        return "first" if unseen_run_long(stall, ctx.config.retransmission_timeout) else None
    if stall.sender_only:  # the sender's own packets show it sent nothing new since
        from flowcheck.verify.stall_passed import passed_timed

        return "lost" if passed_timed(conn, stall, ctx.config.retransmission_timeout) else None
    if stall.lost:
        return "lost" if time_enough(ctx, stall.ts) else None
    if time_enough(ctx, stall.ts):
        return "last"
    if closed_unanswered_after(conn, stall):
        return "closed"
    if (stall.first_ts is not None and stall.resends >= RESENDS_FOR_STALL
            and time_enough(ctx, stall.first_ts)):
        return "first"
    return None
