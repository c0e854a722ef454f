"""Which data connections were reset in the middle of their transfer (reported as
`data_reset` by flowcheck.verify.cut_transfer).

A data connection that carried bytes and then ended with a RST before any FIN, and whose
job did not report a normal end after it (NOTIFY_DATA_HALTED SUCCESSFUL, NOTIFY_MOVER_HALTED
CONNECT_CLOSED). A FIN before the RST does not excuse it when it came from the data's
receiver while the sender was still sending (flowcheck.verify.receiver_close), nor when
the sender's first answer to the receiver's FIN, after its silence, was a RST without ACK
(flowcheck.verify.unseen_reset): its side had been reset already, unseen. Some NDMP
servers end a finished transfer with a RST instead of a FIN; their job then halts
normally, so that reset is not one; nor is the reset of a connection that had stopped
delivering before it (data_stalled, flowcheck.verify.stalled_transfer), nor of one whose
receiver's window stayed 0 until it (data_receiver_stalled,
flowcheck.verify.closed_window). A capture that ends too soon after the reset to show
the halt cannot tell a cut transfer from a finished one (unseen_cut_transfers).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from flowcheck.model import Connection, NdmpMessage, Session
from flowcheck.sessions import message_op
from flowcheck.verify.clock_order import reset_end_order
from flowcheck.verify.closed_window import zero_window
from flowcheck.verify.context import Context
from flowcheck.verify.evidence import time_enough
from flowcheck.verify.one_way_data import carried, halts_unseen
from flowcheck.verify.own_halt import closed_by_halter, other_halts
from flowcheck.verify.receiver_close import closed_by_receiver
from flowcheck.verify.replies import HALTS, abnormal_reason
from flowcheck.verify.reset_first import reset_before
from flowcheck.verify.resource_halt import after_event, halt_of
from flowcheck.verify.rst_words import reset_frame, reset_time
from flowcheck.verify.stalled import data_stall
from flowcheck.verify.two_clocks import fin_may_precede_reset
from flowcheck.verify.unseen_reset import DroppedSide, dropped_side


def _resets(ctx: Context, session: Session
            ) -> list[tuple[Connection, NdmpMessage | None, bool]]:
    """The session's data connections reset mid-transfer with no normal halt after the
    reset: (connection, the abnormal halt that followed or None, whether the capture went
    on long enough after the reset to show a halt). Found once per session (ctx.resets):
    the check and the steps each read both kinds."""
    found = ctx.resets.get(session.id)
    if found is None:
        found = ctx.resets[session.id] = list(_find_resets(ctx, session))
    return found


def _find_resets(ctx: Context, session: Session
                 ) -> Iterator[tuple[Connection, NdmpMessage | None, bool]]:
    """_resets, for one pass over the session's data connections."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    messages = stream.messages if stream else []
    control = ctx.by_uid.get(session.control_uid)
    for uid in session.data_connections:
        conn = ctx.by_uid[uid]
        dropped = dropped_side(ctx, conn)
        if not conn.rst_frames or not carried(conn) or (
                conn.fin_frames and (conn.fin_frames[0] < conn.rst_frames[0]
                                     or fin_may_precede_reset(ctx, conn))  # two clocks
                and not closed_by_receiver(conn) and dropped is None):
            continue  # no reset, nothing carried, or a close begun before it
        if data_stall(conn) is not None:
            continue  # data_stalled: the reset came after the stall
        window = zero_window(conn, ctx.end_at(conn.ts))
        if window is not None and window.ended == "reset":
            continue  # data_receiver_stalled: the reset ended a closed window
        reset_ts = reset_time(conn)
        if closed_by_receiver(conn) and any(
                closed_by_halter(conn, session, h, abnormal_reason(h) or "")
                for h in other_halts(ctx, session, conn)[:1]):
            continue  # the other session's halt is the cause (flowcheck.verify.own_halt)
        reset_at = reset_frame(conn)
        halt = halt_of(messages, conn, reset_ts, reset_at, ctx.order)
        if dropped is not None and halt is not None and not after_event(
                ctx.order, halt.frame, halt.ts, dropped.fin_frame, dropped.fin_ts):
            continue  # the job had halted before the close: its end, not a cut
        if halt is None:
            if halts_unseen(ctx, session):
                yield conn, None, False  # its halt would be in the direction not captured
                continue
            across = reset_end_order(ctx, control, stream, conn) if control else ""
            ended = (None if across == "unknown" else across) if across \
                else _control_ended(control, conn)
            if time_enough(ctx, reset_ts, reset_at):
                yield conn, None, True
            elif any(message_op(m) in HALTS and after_event(ctx.order, m.frame, m.ts, reset_at,
                                                               reset_ts) for m in messages):
                continue  # halts after it that halt_of did not tie to this connection
            elif ended == "after":
                yield conn, None, True
            elif ended is None:
                yield conn, None, False
            # else the session had ended before the reset: no halt could come, the
            # control connection's end is the failure (flowcheck.verify.running)
        elif (reason := abnormal_reason(halt)) is not None:
            if closed_by_receiver(conn) and closed_by_halter(conn, session, halt, reason):
                continue  # the halt's own reason is the cause (flowcheck.verify.own_halt)
            yield conn, halt, True
        elif closed_by_receiver(conn) and not reset_before(control, conn):
            # A SUCCESSFUL halt says the sender's writes returned, not that its bytes
            # arrived: the receiver closed and reset bytes still coming (multipath trial:
            # the DMA's session reset under it, its mover closed mid-transfer; when the
            # capture holds that reset, control_reset reports it: cut_after_reset).
            yield conn, None, True


def _control_ended(control: Connection | None, conn: Connection
                   ) -> Literal["before", "after"] | None:
    """Did the session's control connection end (its first FIN or RST) before or after
    the data connection's first RST? None: it did not in the capture. No halt comes after
    it ends: when none came before either, the capture shows there was none, however
    soon it stopped."""
    closes = (control.fin_frames[:1] + control.rst_frames[:1]) if control else []
    if not closes:
        return None
    return "after" if min(closes) > conn.rst_frames[0] else "before"


def cut_transfers(ctx: Context, session: Session) -> list[tuple[Connection, NdmpMessage | None]]:
    """The session's data connections reset mid-transfer, each with the abnormal halt that
    followed its reset (None when none came)."""
    return [(conn, halt) for conn, halt, seen in _resets(ctx, session) if seen]


def unseen_cut_transfers(ctx: Context, session: Session) -> list[Connection]:
    """The session's data connections reset mid-transfer less than the retransmission
    timeout before the capture ended, with no halt of their job after the reset in it
    and their control connection still open (_control_ended), or with no halt in a
    capture that lacks the direction halts travel (halts_unseen): whether the job halted
    normally (a finished transfer torn down with a RST) or the transfer was cut short is
    not in the capture."""
    return [conn for conn, _, seen in _resets(ctx, session) if not seen]


def halted_drops(ctx: Context, session: Session
                 ) -> list[tuple[DroppedSide, NdmpMessage]]:
    """The session's data connections dropped on their sender's side unseen
    (unseen_reset.dropped_side: the sender's RST without ACK answering the receiver's FIN
    after its silence) whose job had halted abnormally (CONNECT_ERROR, ABORTED) before
    that FIN, each with that halt. _find_resets leaves them to the halt's finding
    (data_halted_abnormally), but the transfer was cut all the same: step 5 fails on
    them, not "ok" (newuser 67 item 4: a router's `reject with tcp reset` to the agent,
    captured on the media server; its FIN 30 s later answered by the agent's bare RST).
    A normal halt before the FIN is a finished transfer: not one of these."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    messages = stream.messages if stream else []
    found = []
    for uid in session.data_connections:
        conn = ctx.by_uid[uid]
        dropped = dropped_side(ctx, conn)
        if dropped is None or not carried(conn):
            continue
        halt = halt_of(messages, conn, reset_time(conn), reset_frame(conn), ctx.order)
        if halt is not None and abnormal_reason(halt) is not None and not after_event(
                ctx.order, halt.frame, halt.ts, dropped.fin_frame, dropped.fin_ts):
            found.append((dropped, halt))
    return found
