"""data_stalled's words for a stall seen from the receiving end (Stall.lost: bytes that
never arrived, the receiver's ACKs never covering them, no resend of them captured), and
the halt-after words every data_stalled ends with (flowcheck.verify.stalled_transfer)."""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, Session, connection_ends, other_direction
from flowcheck.model.traffic import ETHERNET_MSS
from flowcheck.sessions import message_op
from flowcheck.verify.allow_rules import capitalised, lowered
from flowcheck.verify.context import Context
from flowcheck.verify.control_stall import control_stall
from flowcheck.verify.pmtu import conn_fix, lost_by_size, mtu_reading
from flowcheck.verify.replies import abnormal_reason
from flowcheck.verify.stall_passed import passed_head
from flowcheck.verify.stall_record import Stall


def halt_then(halt: NdmpMessage | None) -> str:
    """The words after a stall of the halt that followed it (an abnormal
    NOTIFY_*_HALTED), or that none came."""
    return (f" The job then halted with {abnormal_reason(halt)} ({message_op(halt)}, "
            f"{frame_text(halt.frame)})." if halt is not None else
            " No halt of the job came after it: the job cannot go on without its "
            "data connection.")


def add_lost(ctx: Context, session: Session, conn: Connection, stall: Stall,
             halts: tuple[NdmpMessage | None, NdmpMessage | None],
             roles: tuple[str, str]) -> None:
    """data_stalled for a stall of conn seen from the receiving end (Stall.lost); halts:
    the abnormal halt after it and the normal one that came after the receiver closed
    without the bytes (stalled_transfer.StalledTransfer's halt and done)."""
    halt, done = halts
    sender, receiver = conn.host(stall.side), conn.host(other_direction(stall.side))
    later = (f", {span_words(stall.ack_ts - stall.ts)} after the gap"
             if stall.ack_ts is not None and stall.ts is not None else "")
    arrived = (f" {stall.next_len:,} B sent after them arrived ({frame_text(stall.frame)})"
               if stall.next_len else f" the packet after them arrived ({frame_text(stall.frame)})")
    unseen = conn.evidence(stall.side).sent_unseen
    more = (f" (and {unseen:,} B more after those: its ACK in "
            f"{frame_text(conn.evidence(stall.side).sent_unseen_frame)} carries a sequence number "
            "past them)" if unseen else "")
    head = passed_head(ctx, conn, stall, roles) if stall.sender_only else (
           f"The data connection {connection_ends(conn)} stopped delivering: {stall.unacked:,} B "
            f"{roles[0]} {sender} sent never reached {roles[1]} {receiver}{more}. "
            f"{capitalised(roles[1])}'s ACKs never covered them, to its last "
            f"({frame_text(stall.ack_frame)}{later}), while"
            f"{arrived}; the capture went on {span_words(ctx.end_at(stall.ts) - stall.ts)} after "
            "the gap and holds no resend of them either: the resends were lost on the way "
            "as the first sending was.")
    control = ctx.by_uid.get(session.control_uid)
    both = control_stall(control) if control is not None and stall.ts is not None else None
    if both is not None and both.first_ts is not None and both.first_ts >= stall.ts:
        # The control connection's small messages were lost as well, from the gap on:
        # no size-based drop (multipath field check: a 46 s outage read as a black hole).
        whose = "media server's" if both.side == "orig" else "agent's"
        reading = (f" The control connection stopped delivering too: the {whose} bytes on it "
                   f"were resent {both.resends} times from {frame_text(both.first_frame)} on and "
                   "never acknowledged, small packets as well as full-size ones: the path "
                   "between them stopped carrying packets (a link or route down, a device "
                   "that lost both directions, a failover slower than the hosts' TCP "
                   "retries), not a drop by size.")
        remedy = (f"Look at the path between {conn.orig_h} and {conn.resp_h} at that time: "
                  "the routers' and switches' logs for a link or route down or a failover, "
                  "the firewalls' for a lost state or a blocked flow.")
    elif lost_by_size(stall) and stall.sender_only:
        reading = (f" No data segment of {sender}'s larger than {stall.next_len:,} B came "
                   f"through (a full-size one on an Ethernet path carries {ETHERNET_MSS:,} B), "
                   f"while more than that never did: {mtu_reading(ctx, conn)}. A capture on "
                   f"{receiver} too (both directions) shows its ACKs.")
        remedy = conn_fix(ctx, conn) + "."
    elif lost_by_size(stall):
        reading = (" A smaller segment passed where larger ones never did: "
                   f"{mtu_reading(ctx, conn)}.")
        remedy = conn_fix(ctx, conn) + "."
    else:
        reading = (" Later packets of the connection arrived while these never did, "
                   "resent or not: a device between them drops some of its packets and not "
                   "others (a path MTU black hole drops the full-size ones, an IPS the ones it "
                   "matches).")
        remedy = (f"See the logs of the firewalls and IPSs between {conn.orig_h} and "
                  f"{conn.resp_h} for dropped packets of this connection; if the lost "
                  "segments are the full-size ones: " + lowered(conn_fix(ctx, conn)) + ".")
    then = halt_then(halt) if done is None else (
        f" {capitalised(roles[1])} closed the data connection without them (FIN, "
        f"{frame_text(stall.ack_frame)}); the {message_op(done)} SUCCESSFUL that came after "
        f"({frame_text(done.frame)}) says only that {sender} had handed its data to its "
        "TCP stack, not that it arrived.")
    ctx.add("data_stalled", head + reading + then, remedy,
            session=session, conn=conn,
            frames=[stall.frame, stall.ack_frame]
            + [m.frame for m in (halt, done) if m is not None],
            ts=stall.ts, cause="data")
