"""The control messages of a session between two moments, and what an accepted one is:
the scan flowcheck.verify.filtered.data_moved (the data moved) and
flowcheck.verify.connect_said (the data connection made or failed) both read."""

from __future__ import annotations

from collections.abc import Iterator

from flowcheck.model import NdmpMessage, Session
from flowcheck.sessions.classify import message_op
from flowcheck.verify.context import Context


def window(ctx: Context, session: Session, start: float = float("-inf"),
           end: float = float("inf"), frames: tuple[float, float] | None = None
           ) -> Iterator[tuple[str, NdmpMessage]]:
    """(op, message) of the session's control messages with start <= ts < end (seconds,
    capture clock), in the stream's order. frames: the same window as frame numbers of
    the control connection (first, past the last), which decide instead where the frames
    are the sniffer's write order (Context.order: a clock set back)."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    if stream is None:
        return
    by_frame = frames is not None and ctx.order.by_frame(
        *(m.frame for m in stream.messages[:1]))
    for message in stream.messages:
        if frames is not None and by_frame:
            if not frames[0] <= message.frame < frames[1]:
                continue
        elif not start <= message.ts < end:
            continue
        yield message_op(message), message


def accepted(message: NdmpMessage) -> bool:
    """Is the message a reply whose error the capture holds and is NDMP_NO_ERR?"""
    return message.type == "reply" and message.error_name == "NDMP_NO_ERR"
