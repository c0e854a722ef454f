"""A halt resent on the control connection when the capture ended (field check 41's
one-direction cuts): the agent's NOTIFY_DATA_HALTED (or a mover's halt) resent, with what
followed it, with no ACK reaching its sender, and the capture too short after it to judge
the stall (control_stalled judges it when it is not: flowcheck.verify.running). Whether
the halt reached the DMA, and so whether the job could end, cannot be seen: the data
step is `unknown`, not `ok` (an agent's halt resent three times over 1.7 s, captured
on the agent's side only, read PASS)."""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, NdmpStream, Session, connection_ends
from flowcheck.sessions import message_op
from flowcheck.verify.context import Context
from flowcheck.verify.control_stall import control_stall
from flowcheck.verify.end_roles import role_words
from flowcheck.verify.evidence import time_enough
from flowcheck.verify.replies import HALTS
from flowcheck.verify.stalled import Stall, unacked_from, unseen_run_long


def stall_judged(ctx: Context, control: Connection, stall: Stall,
                 last: NdmpMessage | None) -> bool:
    """Does the capture go on long enough to judge the control connection's stall (a
    FIN resent unanswered; an unseen stall's run of resends at least the retransmission
    timeout; else that timeout after `last`, its unacknowledged bytes' first message)?"""
    rto = ctx.config.retransmission_timeout
    return stall.fin or (unseen_run_long(stall, rto) if stall.unseen
                         else time_enough(ctx, last.ts if last else control.last_ts))


@fields_dataclass(slots=True, frozen=True)
class UnjudgedHalt:
    """control: the control connection; stall: its sender's resends; halt: the sender's
    last NOTIFY_*_HALTED at or before the first unacknowledged message, nothing of the
    peer's after it."""

    control: Connection
    stall: Stall
    halt: NdmpMessage


def unjudged_halt(ctx: Context, session: Session) -> UnjudgedHalt | None:
    """The session's control connection stalled on bytes sent at or after a halt
    (NOTIFY_DATA_HALTED, NOTIFY_MOVER_HALTED) that the capture ended too soon after to
    judge (stall_judged); None else, and when the control connection holds a RST (the
    resends answered by it, or the connection reset: control_reset's to read)."""
    control = ctx.by_uid.get(session.control_uid)
    stream = ctx.stream_by_uid.get(session.control_uid)
    if control is None or stream is None or control.rst_frames:
        return None
    stall = control_stall(control)
    if stall is None or stall.fin:
        return None
    first = unacked_from(stream, stall)
    if first is None or stall_judged(ctx, control, stall, first):
        return None
    halt = _halt_from(stream, stall.side, first)
    return UnjudgedHalt(control, stall, halt) if halt is not None else None


def _halt_from(stream: NdmpStream, side: str, first: NdmpMessage) -> NdmpMessage | None:
    """The last halt `side` sent at or before `first` when no message of the other side
    came after it (the resent bytes follow the halt unanswered), else None."""
    halts = [m for m in stream.messages if m.direction == side and message_op(m) in HALTS
             and m.frame <= first.frame]
    if not halts:
        return None
    halt = halts[-1]
    if any(m.direction != side and m.frame > halt.frame for m in stream.messages):
        return None
    return halt


def sender_words(session: Session, found: UnjudgedHalt) -> str:
    """"the agent 10.77.2.2's NOTIFY_DATA_HALTED (frame 1456)": the resent halt."""
    control = found.control
    host = control.host(found.stall.side)
    return (f"{role_words(control, session, host)}'s {message_op(found.halt)} ("
            f"{frame_text(found.halt.frame)})")


def unjudged_halt_words(ctx: Context, session: Session, found: UnjudgedHalt) -> str:
    """Step 5's words: "the agent 10.77.2.2's NOTIFY_DATA_HALTED (frame 1456) on the
    control connection ... was resent 3 times ..., when the capture ended 2.04 s after
    it: ... cannot be seen"."""
    control, stall, halt = found.control, found.stall, found.halt
    acked = ("its ACKs never reaching the sender" if stall.acks_lost else
             "no ACK reaching the sender (the receiver's packets not captured)"
             if stall.unseen else "never acknowledged")
    return (f"{sender_words(session, found)} on the control connection "
            f"{connection_ends(control)} was resent {stall.resends} times "
            f"(to {frame_text(stall.frame)}), {acked}, when the capture ended "
            f"{span_words(max(0.0, ctx.end_at(halt.ts) - halt.ts))} after it: too soon to tell "
            "a path that stopped delivering it from an ACK still on its way (retransmission "
            f"timeout {span_words(ctx.config.retransmission_timeout)}), so whether the halt "
            "reached the DMA, and the job ended, cannot be seen")
