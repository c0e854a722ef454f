"""The halt of the resource a data connection carried, for the checks of a transfer cut
short or stalled (flowcheck.verify.cut_transfer, stalled_transfer, stall_timing,
receiver_stalled).

"After it opened" and "after its reset" are the capture's order (Context.order,
flowcheck.sessions.file_order): within one file of one interface a NOTIFY_*_HALTED
written after the data connection's first packet follows it whatever its timestamp (the
capturing host's clock set back between them: a three-way job's tape agent capture read
`data_reset`, "no normal halt of its job after it", with the halt in the file right
after the reset); else time, as before.
"""

from __future__ import annotations

from flowcheck.model import Connection, NdmpMessage
from flowcheck.sessions import message_op
from flowcheck.sessions.classify import JOB_STARTS
from flowcheck.sessions.file_order import TIME_ORDER, FileOrder
from flowcheck.verify.replies import HALTS

__all__ = ["after_event", "halt_of"]


def after_event(order: FileOrder, frame: int, ts: float, than_frame: int | None,
                than_ts: float) -> bool:
    """Did the event at (frame, ts) come after the one at (than_frame, than_ts)?
    Written after it (order.by_frame, than_frame known), else stamped after it."""
    return frame > than_frame if order.by_frame(frame, than_frame) else ts > than_ts


def halt_of(messages: list[NdmpMessage], conn: Connection, reset: float,
            reset_frame: int | None = None, order: FileOrder = TIME_ORDER
            ) -> NdmpMessage | None:
    """The halt of the resource the data connection `conn` carried, reset (or stalled)
    at `reset` seconds (in `reset_frame`, when known): the first NOTIFY_*_HALTED after
    it opened (the halt may come before its reset: a finished transfer torn down with a
    RST) and before the next resource's DATA_START_* after the reset."""
    for message in messages:
        if (message.frame < conn.first_frame) if order.by_frame(message.frame, conn.first_frame) \
                else message.ts < conn.ts:
            continue
        op = message_op(message)
        if op in JOB_STARTS and message.type == "request" and after_event(
                order, message.frame, message.ts, reset_frame, reset):
            return None
        if op in HALTS and message.type != "reply":
            return message
    return None
