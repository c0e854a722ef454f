"""Words for a data connection closed before any data as a capture of one direction
shows it (flowcheck.sessions.classify.closed_one_way; trial 27 toc-filehist-a, the media
server's packets only): what the captured side's own packets prove, and what the
direction the capture lacks leaves unknown (the other side's ACK that completes the
handshake, a halt the agent may have notified before the close)."""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, ControlPacket, Session, other_direction
from flowcheck.sessions import message_op, one_sided
from flowcheck.sessions.classify import JOB_STARTS
from flowcheck.verify.context import Context


def captured_host(conn: Connection) -> str | None:
    """The host whose packets alone the capture holds of conn; None when it holds both
    directions (or neither is proven missing)."""
    side = one_sided(conn)
    if side is None:
        return None
    return conn.host(other_direction(side))


def one_way_opening(conn: Connection) -> str | None:
    """ "opened (the capture holds only 10.77.0.1's packets of it: its SYN-ACK at frame
    7 and its FIN, with no byte sent and none of 10.77.0.2's acknowledged)"; None for a
    connection captured both ways."""
    host = captured_host(conn)
    if host is None:
        return None
    other = conn.resp_h if host == conn.orig_h else conn.orig_h
    what, frames = (("SYN", conn.syn_frames) if host == conn.orig_h
                    else ("SYN-ACK", conn.synack_frames))
    return (f"opened (the capture holds only {host}'s packets of it: its {what} at "
            f"{frame_text(frames[0])} and its FIN, with no byte sent and none of {other}'s "
            "acknowledged before it)")


def one_way_head(carried: bool = False) -> str:
    """What replaces "the handshake completed, so ... the network carried both
    directions" when the capture holds one direction; carried: its closer's ACKs SACKed
    bytes of the other side's (SideEvidence.sacked_unseen), so it did carry some."""
    return ("Its closer's own packets show it opened (a FIN comes only on an opened "
            f"connection){'' if carried else ' and carried nothing'}, though the capture "
            "holds one direction only")


def unseen_halt_words(ctx: Context, session: Session, conn: Connection,
                      fin: ControlPacket) -> str:
    """The control connection's close by the same host within moments (fin:
    one_exit.closed_with_control's), read as far as one direction allows: one process's
    exit ends all its connections, but a halt the other side notified before it would
    travel the direction the capture lacks (no control_closed then)."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    starts = [m for m in (stream.messages if stream else [])
              if m.type == "request" and m.frame < fin.frame and message_op(m) in JOB_STARTS]
    host = captured_host(conn) or ""
    start = (f" while its {message_op(starts[-1])} ({frame_text(starts[-1].frame)}) ran"
             if starts else "")
    return (f" {host} closed the session's control connection too (FIN, {frame_text(fin.frame)})"
            f"{start}: one process's exit ends all its connections at once (a job engine "
            "stopped, restarted or crashed, or a cancelled job), but whether the other side "
            "had notified a halt before it (NOTIFY_DATA_HALTED, NOTIFY_MOVER_HALTED) cannot "
            f"be seen: the capture holds only {host}'s packets.")
