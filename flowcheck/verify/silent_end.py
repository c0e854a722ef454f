"""A job whose end the capture does not hold although its control connection had fallen
silent long before the capture stopped (the loss sweep of stored failing captures: a
control connection reset mid-job, its one RST among the 2% of frames removed, read PASS
with a warning that the capture "stopped while the backup was still running").

A job ends on its control connection: a halt (NOTIFY_DATA_HALTED, NOTIFY_MOVER_HALTED, a
state reply saying HALTED), then the session's close (CONNECT_CLOSE, the FINs). A control
connection lost mid-job ends in one packet too: a RST, from a host or from a device
between them in a host's name, or a FIN. A RST takes no sequence number, so the capture's
sequence numbers cannot show it missing: once the sniffer lost it, or it never passed the
capture point, the capture shows a job still running whose control connection merely fell
silent, as it does while the data flows.

So when the job started (DATA_START_*), no halt came after its latest start on any of
its control connections, its control connection shows no end (no FIN, no RST, no
CONNECT_CLOSE), its data is not flowing at the capture's end (that open transfer is
flowcheck.verify.open_transfer's), and the capture went on a retransmission timeout
(Config.retransmission_timeout, seconds) or more after the control connection's last
NDMP message, and either as long after the data's end (the session's data connections'
last packet: the halts were due in that time) or with nothing in that last timeout
showing the connection still open, the job's end is not in the capture and cannot be
judged: whether the job ended well, or its control connection was lost in that silence,
cannot be seen. The data step is `unknown` (contract, "Verdict": the capture cannot show
whether it worked) and capture_ended_early says what could not be seen and why
(flowcheck.verify.still_running).

Keepalive probes (RFC 1122 4.2.3.6) and pure ACKs are no messages: the silence runs from
the last NDMP message. A probe the peer answered (NdmpStream.probe_answer) shows both
TCPs still held the connection, no RST before it: answered within a retransmission
timeout of the capture's end, with the data's end as recent, the capture merely stopped
before the halts. A capture stopped less than a retransmission timeout after the last
message keeps the steps' judgement too (the job talked then; its end may simply be after
the capture), and so does a job whose end the capture holds: a halt (a capture stopped
before the session's close included), a FIN or a RST (judged by flowcheck.verify.running).
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text
from flowcheck.model import (
    Connection,
    ControlPacket,
    NdmpMessage,
    NdmpStream,
    Session,
    connection_ends,
)
from flowcheck.sessions import message_op
from flowcheck.sessions.classify import seen_closing
from flowcheck.verify.capture_time import after
from flowcheck.verify.context import Context
from flowcheck.verify.open_transfer import open_transfer

# ctx.early_events' key prefix of a session whose job's end was found unseen.
_KEY = "silent end"
# ... and of one whose capture stopped soon after the job's last message (unended_words).
_UNENDED = "unended"


@fields_dataclass(frozen=True, slots=True)
class SilentEnd:
    """control: the session's control connection; start: the job's latest start (a
    DATA_START_* request, or the reply standing for it); last: the control connection's
    last NDMP message (either side); silent: seconds of capture after it (capture_time
    .after); alive: the latest answer to a keepalive probe after it (the connection
    still open then), None without one; data: the session's data connection that ended
    last (its last packet), None without one; after_data: seconds of capture after that
    packet (silent without one); due: the capture went on a retransmission timeout past
    both the data's end and the last message (the halt was due in it); missed: bytes of
    TCP payload the sniffer missed in the whole capture (Census.missed); dropped:
    packets the sniffer reported dropped by the kernel (pcapng statistics)."""

    control: Connection
    start: NdmpMessage
    last: NdmpMessage
    silent: float
    alive: ControlPacket | None
    data: Connection | None
    after_data: float
    due: bool
    missed: int
    dropped: int


def silent_end(ctx: Context, session: Session, stream: NdmpStream,
               start: NdmpMessage) -> SilentEnd | None:
    """The session's job end unseen (the module's rule), for a job the caller found
    running at the capture's end (flowcheck.verify.running: started by `start`, no halt
    after it, the control connection not closed); None when the capture may simply have
    stopped before the end: its last message, or (the data's end within a
    retransmission timeout of the capture's end too) an answer to a keepalive probe,
    came within a retransmission timeout of the capture's end; None too when the
    control connection closed or the job's data still flows (open_transfer)."""
    control = ctx.by_uid[session.control_uid]
    if not stream.messages or seen_closing(control) or any(
            message_op(m) == "CONNECT_CLOSE" for m in stream.messages):
        return None
    if open_transfer(ctx, session) is not None:
        return None
    rto = ctx.config.retransmission_timeout
    last = stream.messages[-1]
    silent = after(ctx, last.ts, last.frame)
    if silent < rto:
        return None
    answer = stream.probe_answer
    alive = answer if answer is not None and ctx.order.later(
        answer.frame, answer.ts, last.frame, last.ts) else None
    conns = [ctx.by_uid[uid] for uid in session.data_connections if uid in ctx.by_uid]
    data = max(conns, key=lambda c: ctx.order.key(c.last_frame, c.last_ts), default=None)
    after_data = after(ctx, data.last_ts, data.last_frame) if data is not None else silent
    due = min(after_data, silent) >= rto
    if not due and alive is not None and after(ctx, alive.ts, alive.frame) < rto:
        return None  # the connection shown open, the capture stopped at the data's end
    census = ctx.census
    return SilentEnd(control, start, last, silent, alive, data, after_data, due,
                     census.missed if census is not None else 0, ctx.kernel_dropped)


def mark(ctx: Context, session: Session) -> None:
    """Record that the session's job end is unseen (read by silent_end_words)."""
    ctx.early_events.add((f"{_KEY} {session.id}", 0.0))


def _seen_when(found: SilentEnd) -> str:
    """"the capture went on for 19.2 s after it, 6.7 s of them after the data
    connection A -> B's last packet (frame 3299), when the halts were due" or "...
    17.7 s after it and stopped 0.4 ms after the data connection ...'s last packet
    (frame 2700), with nothing after the message showing the connection still open"."""
    head = f"the capture went on for {span_words(found.silent)} after it"
    conn = found.data
    name = ("" if conn is None else
            f"the data connection {connection_ends(conn)}'s last packet "
            f"({frame_text(conn.last_frame)})")
    if found.due:
        alive = found.alive
        kept = ("" if alive is None else
                f" (the keepalive probes were answered to {frame_text(alive.frame)}: the "
                "connection was open, but no halt came)")
        return (head + ("" if conn is None else
                        f", {span_words(found.after_data)} of them after {name}")
                + ", when the halts were due" + kept)
    return (head + ("" if conn is None else
                    f" and stopped {span_words(found.after_data)} after {name}")
            + ", with nothing after the message showing the connection still open (no "
            "answered keepalive probe)")


def _later_words(found: SilentEnd) -> str:
    """"; its packets after it, to frame 2248, carry no message: ACKs, TCP keepalive
    probes" when the control connection has packets after its last message, else ""."""
    control = found.control
    if control.last_frame == found.last.frame or control.last_ts <= found.last.ts:
        return ""
    return (f"; its packets after it, to {frame_text(control.last_frame)}, carry no message: "
            "ACKs, TCP keepalive probes")


def _missed_words(found: SilentEnd) -> str:
    """Where the end may be: among the packets the sniffer lost (named when it lost
    some), or never past the capture point."""
    lost = []
    if found.missed:
        lost.append(f"it missed {found.missed:,} B of TCP payload (capture_loss)")
    if found.dropped:
        lost.append(f"it reported {found.dropped:,} packets dropped by the kernel")
    seen = (f"; the capture shows sniffer loss: {' and '.join(lost)}" if lost else "")
    if found.alive is not None and found.due:  # the connection shown open to the end
        return ("the halt may be among the packets the sniffer missed, or the job had not "
                f"ended when the capture stopped{seen}")
    return ("a RST or a close that ended the control connection in that silence is one "
            "packet, which no sequence number shows missing: it may be among the packets "
            f"the sniffer missed, or may not have passed the capture point{seen}")


def silent_end_message(found: SilentEnd, kind: str, what: str) -> str:
    """capture_ended_early's head for a job whose end is unseen. kind: "backup",
    "restore"; what: "it", "its resource 2"."""
    control, start = found.control, found.start
    missed = _missed_words(found)
    return (
        f"The capture holds no end of the {kind}: {message_op(start)} ({frame_text(start.frame)}) "
        f"started {what}, no NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED came after it, and "
        f"the control connection {connection_ends(control)} fell silent after its last NDMP "
        f"message ({frame_text(found.last.frame)}{_later_words(found)}) with no close (no FIN, "
        f"RST or CONNECT_CLOSE), although {_seen_when(found)}. "
        f"{missed[0].upper()}{missed[1:]}. So whether the job "
        "ended well, or its control connection was lost while it ran, cannot be seen.")


SILENT_FIX = ("See the job log for how the job ended. Capture the whole job, from before it "
              "starts to after its control connection closes, so the sniffer keeps up "
              "(capture_loss says how), and on both hosts when a device between them may "
              "reset or drop the idle control connection.")


def silent_end_words(ctx: Context, session: Session) -> str | None:
    """Step 5's words for a session whose job end is unseen (marked by mark), else
    None: "the job's end is not in the capture: ... cannot be seen"."""
    if (f"{_KEY} {session.id}", 0.0) not in ctx.early_events:
        return None
    control = ctx.by_uid[session.control_uid]
    stream = ctx.stream_by_uid.get(session.control_uid)
    last = stream.messages[-1] if stream is not None and stream.messages else None
    where = (f"its last NDMP message ({frame_text(last.frame)}), "
             f"{span_words(after(ctx, last.ts, last.frame))} before the capture's end"
             if last is not None else "its last NDMP message")
    return (f"the job's end is not in the capture: no NOTIFY_DATA_HALTED or "
            f"NOTIFY_MOVER_HALTED, and the control connection "
            f"{connection_ends(control)} fell silent after {where}, with "
            "no FIN, RST or CONNECT_CLOSE: whether the job ended well, or its control "
            "connection was lost while it ran (a RST the sniffer missed), cannot be seen")


def mark_unended(ctx: Context, session: Session) -> None:
    """Record that the capture stopped while the session's job was still running, within
    a retransmission timeout of its last message, its data not flowing at the end
    (flowcheck.verify.still_running: neither silent_end's nor open_transfer's case)."""
    ctx.early_events.add((f"{_UNENDED} {session.id}", 0.0))


def unended_words(ctx: Context, session: Session) -> str | None:
    """The data step's words for a session marked by mark_unended, else None: "the job's
    end is not in the capture: the capture stopped 4.2 ms after the control connection's
    last NDMP message (frame 26), before any NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED:
    whether the job ended well cannot be seen". The data that flowed shows the step
    worked as far as the capture goes; the job's end, where a failure of its own or of a
    later resource shows (a halt's reason, a refused data connection), is after it
    (field cuts: a failing job stopped early, `editcap -r in out 1-N`, read PASS)."""
    if (f"{_UNENDED} {session.id}", 0.0) not in ctx.early_events:
        return None
    stream = ctx.stream_by_uid.get(session.control_uid)
    last = stream.messages[-1] if stream is not None and stream.messages else None
    where = (f"{span_words(after(ctx, last.ts, last.frame))} after the control "
             f"connection's last NDMP message ({frame_text(last.frame)})" if last is not None
             else "before the job's end")
    return (f"the job's end is not in the capture: the capture stopped {where}, before "
            "any NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED: whether the job ended well "
            "cannot be seen")
