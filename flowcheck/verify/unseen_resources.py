"""Resources the capture cannot show (field check trial 32): the configuration says a
job has `resources` resources, the capture holds fewer, and the session's control
connection is still open at the capture's end (no FIN or RST, no CONNECT_CLOSE request):
the job was not over, its remaining resources' announcements and data connections may
come after the capture stopped. Where the capture holds one side only and its last ACK
of the other takes one sequence number more (that side's FIN, or a last byte), the
words say so and that whether the connection was still open cannot be seen. Steps 4
and 5 are then `unknown` for them (contract, "Verdict": the capture ended too close to
the event) and capture_ended_early names it.
A control connection the capture saw closed keeps its judgement (control_reset,
control_closed, or the steps as they are)."""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpStream, Session, connection_ends
from flowcheck.sessions import message_op
from flowcheck.sessions.classify import seen_closing
from flowcheck.verify.context import Context
from flowcheck.verify.replies import HALTS
from flowcheck.verify.three_way_close import job_starts


def resources_seen(ctx: Context, session: Session, count: int) -> int:
    """The resources of the session the capture shows: the larger of `count` (the data
    connections the caller counts) and its job starts (DATA_START_*, one per resource)."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    starts = job_starts(ctx, session, stream) if stream is not None else []
    return max(count, len(starts))


def unseen_resources_words(ctx: Context, session: Session, count: int) -> str | None:
    """"the capture stopped after resource 1 of 3: ..." when `resources` is configured,
    the session shows fewer (resources_seen with `count`) and its control connection is
    still open at the capture's end with no CONNECT_CLOSE request; None otherwise."""
    resources = ctx.config.resources
    control = ctx.by_uid.get(session.control_uid)
    stream = ctx.stream_by_uid.get(session.control_uid)
    if not resources or control is None or stream is None or seen_closing(control):
        return None
    if any(message_op(m) == "CONNECT_CLOSE" for m in stream.messages):
        return None  # the DMA ended the session: the job was over
    seen = resources_seen(ctx, session, count)
    if seen >= resources:
        return None
    last = last_message_words(stream, control)
    rest = resources - seen
    starts = job_starts(ctx, session, stream)
    halted = not starts or any(message_op(m) in HALTS and m.frame > starts[-1].frame
                               for m in stream.messages)
    later = (f"the announcements and data connections of the other {rest} configured "
             f"resource{'s' if rest > 1 else ''} may have come after it")
    head = f"the capture stopped {'after' if halted else 'during'} resource {seen} of {resources}"
    closed = closed_unseen_words(control)
    if closed:
        # Not "the capture stopped after resource N": the side's FIN the ACK may show
        # ends the job, not the capture, which may run on for seconds (field check 74,
        # seed 137 run 14: a killed agent's FIN, the capture 5.9 s longer).
        head = (f"the capture holds {seen} of the {resources} configured resources")
        return (f"{head}: it holds no FIN or RST of the control connection "
                f"{connection_ends(control)} ({last}), but "
                f"{closed}, so whether it was still open at the capture's end cannot be "
                f"seen, and {later}")
    return (f"{head}: the control connection {connection_ends(control)} is still open at "
            f"its end (no FIN or RST; {last}), so {later}")


def closed_unseen_words(control: Connection) -> str:
    """"10.77.0.1's last ACK of 10.77.0.2's bytes takes one sequence number more than
    the one before: 10.77.0.2's FIN, or one last byte, which the capture lacks (it holds
    no packet of 10.77.0.2's on this connection)" when the capture holds nothing of one
    side of the control connection and its peer's highest ACK of it is one past its ACK
    level before (Connection.orig/resp_fin_or_byte); "" otherwise. A FIN and a lone last
    byte look the same there, so nothing proves the side closed, nor that it did not
    (lab matrix seed 108 run 18: the agent's FIN after its close_notify, read "still
    open at its end")."""
    if control.resp_fin_or_byte:
        side, peer = control.resp_h, control.orig_h
    elif control.orig_fin_or_byte:
        side, peer = control.orig_h, control.resp_h
    else:
        return ""
    return (f"{peer}'s last ACK of {side}'s bytes takes one sequence number more than the "
            f"one before: {side}'s FIN, or one last byte, which the capture lacks (it holds "
            f"no packet of {side}'s on this connection)")


def report_unseen_resources(ctx: Context, session: Session) -> None:
    """capture_ended_early for a session whose latest resource halted and whose other
    configured resources the capture cannot show (unseen_resources_words); steps 4 and 5
    say unknown. A resource still running at the capture's end has its own
    capture_ended_early (flowcheck.verify.running), which names them too."""
    words = unseen_resources_words(ctx, session, len(session.data_connections))
    if words is None:
        return
    control = ctx.by_uid[session.control_uid]
    stream = ctx.stream_by_uid[session.control_uid]
    last = stream.messages[-1] if stream.messages else None
    ctx.add("capture_ended_early",
            f"{words[0].upper()}{words[1:]}: the {session.kind} "
            f"{'may not have been' if closed_unseen_words(control) else 'was not'} over. "
            f"{still_due_words()}",
            "Capture the whole job: start the capture before the job starts and stop it "
            "after the job ends (the job log says when).",
            session=session, conn=control,
            frames=[last.frame] if last is not None else [control.last_frame],
            ts=last.ts if last is not None else control.last_ts)


def still_due_words() -> str:
    """What an unseen resource leaves unknown: steps 4 and 5."""
    return ("Whether they got their data connections and their data (steps 4 and 5) "
            "cannot be seen: the steps are unknown.")


def last_message_words(stream: NdmpStream, control: Connection,
                       before: int | None = None) -> str:
    """"last NDMP message: frame 142", the control stream's last message (before frame
    `before` when given); for a stream that went on in TLS after it (or whose messages
    are all in TLS) no NDMP message can be named: "its NDMP messages in TLS from frame
    131 on; last packet: frame 142" (the connection's last packet: a TLS record or an
    ACK, which the words do not tell; with `before`, no packet is named). Field check 74
    run 14 named a TLS record "last NDMP message"."""
    messages = [m for m in stream.messages if before is None or m.frame < before]
    tls = stream.tls_start
    if tls is not None and (before is None or tls < before) and (
            not messages or messages[-1].frame < tls):
        in_tls = f"its NDMP messages in TLS from {frame_text(tls)} on"
        return in_tls if before is not None else \
            f"{in_tls}; last packet: {frame_text(control.last_frame)}"
    if messages:
        return f"last NDMP message: {frame_text(messages[-1].frame)}"
    return f"last packet: {frame_text(control.last_frame)}"
