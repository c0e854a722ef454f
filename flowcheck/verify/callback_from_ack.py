"""Step 2's words for a callback the capture holds only from the agent's ACK on, before
the control stream's first message (sessions.callback_from_ack: its opening cut off,
taken by its direction, ports and silence; lab-trial17/mtu-blackhole-media from frame 25
read it as a second data connection). `from_ack_words(ctx, session, conn)` -> the hedge."""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session
from flowcheck.verify.context import Context


def from_ack_words(ctx: Context, session: Session, conn: Connection) -> str:
    """The words for `conn`, `session`'s callback named by
    sessions.callback_from_ack: first seen at the agent's packet (its first frame)
    before the control stream's first captured message, carrying nothing, still open at
    the session's first announcement (its frame); how it was taken, and that a
    connection of a resource before the capture would look the same."""
    first = min(session.announced, key=lambda a: a.frame)
    stream = ctx.stream_by_uid.get(session.control_uid)
    said = f" ({frame_text(stream.messages[0].frame)})" if stream and stream.messages else ""
    return (f"seen from the agent's packet at {frame_text(conn.first_frame)} on, before the "
            f"control stream's first captured message{said}, its opening not in the "
            "capture, carrying nothing and still open when "
            f"{first.message.removeprefix('NDMP_')} ({frame_text(first.frame)}) announced "
            "the data endpoint: taken for the callback by its direction, ports and silence "
            "alone (a data connection of a resource before the capture, idle and still "
            "open, would look the same)")
