"""Data connections whose receiver stopped reading them: `data_receiver_stalled`.

Their receiving process stopped taking data (flowcheck.verify.closed_window: the TCP
window stayed 0, the sender's probes answered; nothing was lost on the network). A zero
window that lasts ZERO_WINDOW_SECONDS or longer is reported: an error when it
never reopened (until the capture ended, or until the connection was closed or reset,
or the job halted abnormally), a warning when it reopened (the transfer went on; a job
with a timeout may have failed on it) or a normal halt followed it.
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text
from flowcheck.model import (
    Connection,
    NdmpMessage,
    Session,
    Severity,
    connection_ends,
    endpoint,
    other_direction,
)
from flowcheck.sessions import message_op
from flowcheck.verify.closed_window import ZeroWindow, zero_window
from flowcheck.verify.context import Context
from flowcheck.verify.end_roles import role_words
from flowcheck.verify.replies import abnormal_reason
from flowcheck.verify.resource_halt import halt_of


@fields_dataclass(slots=True, frozen=True)
class ReceiverStall:
    """A data connection's zero window (ZeroWindow) and the halt of its resource after
    it (None when none came); failed: the job failed by it (an error)."""

    conn: Connection
    window: ZeroWindow
    halt: NdmpMessage | None

    @property
    def failed(self) -> bool:
        return self.window.trailing and (self.halt is None
                                         or abnormal_reason(self.halt) is not None)


def receiver_stalls(ctx: Context, session: Session) -> list[ReceiverStall]:
    """The session's data connections whose receiver stopped reading them."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    messages = stream.messages if stream else []
    found = []
    for uid in session.data_connections:
        conn = ctx.by_uid[uid]
        window = zero_window(conn, ctx.end_at(conn.ts))
        if window is not None:
            halt = halt_of(messages, conn, window.ts, window.frame, ctx.order)
            found.append(ReceiverStall(conn, window, halt))
    return found


def _storage_words(role: str) -> str:
    """What stopped taking the data, by the receiver's role."""
    if role.startswith("the media server"):
        return "the media server's storage or tape stopped accepting data"
    if role.startswith("the agent"):
        return "the agent's file system or restore process stopped accepting data"
    return "the receiving process stopped accepting data"


def receiver_detail(stall: ReceiverStall, session: Session) -> str:
    """Step 5's words: "10.77.0.1:5076: not lost: the media server 10.77.0.1 stopped
    reading it (window 0 from frame 2090 for 16.1 s, 6 probes answered)"."""
    conn, window = stall.conn, stall.window
    receiver = conn.host(window.side)
    answered = f", {window.probes} probes answered" if window.probes else ""
    how = {"capture": "until the capture ended", "reset": "until it was reset",
           "closed": "until it was closed", "reopened": "before it reopened"}[window.ended]
    lost = "not lost: " if window.trailing else ""
    return (f"{endpoint(conn.resp_h, conn.resp_p)}: {lost}"
            f"{role_words(conn, session, receiver)} stopped reading it (window 0 from "
            f"{frame_text(window.frame)} for {span_words(window.seconds)} {how}{answered})")


def check_receiver_stalls(ctx: Context) -> None:
    """One data_receiver_stalled per data connection whose receiver stopped reading it:
    an error when its window never reopened and no normal halt followed, else a
    warning."""
    for session in ctx.sessions:
        for stall in receiver_stalls(ctx, session):
            conn, window, halt = stall.conn, stall.window, stall.halt
            receiver, sender = conn.host(window.side), conn.host(other_direction(window.side))
            role = role_words(conn, session, receiver)
            storage = _storage_words(role)
            head = (f"The data connection {connection_ends(conn)} "
                    + ("was not lost" if window.trailing else "stalled without a network "
                       "fault") + f": {role} stopped reading it. Its TCP window stayed 0 "
                    f"from {frame_text(window.frame)} for {span_words(window.seconds)}")
            probes = (f"; {role_words(conn, session, sender)} probed it {window.probes} "
                      "times" + (" and each probe was answered" if window.acks > window.probes
                                 else f", {window.acks - 1} of them answered")
                      if window.probes else "")
            ended = {"capture": " until the capture ended",
                     "reset": f" until the connection was reset (RST, "
                              f"{frame_text(window.end_frame)})",
                     "closed": f" until the connection was closed (FIN, "
                               f"{frame_text(window.end_frame)})",
                     "reopened": f", then it reopened "
                                 f"({frame_text(window.end_frame)})"}[window.ended]
            then = ""
            if halt is not None:
                reason = abnormal_reason(halt)
                then = (f" The job then halted with {reason} ({message_op(halt)}, "
                        f"{frame_text(halt.frame)})." if reason is not None else
                        f" The job then halted normally ({message_op(halt)}, "
                        f"{frame_text(halt.frame)}).")
            reading = (f" The network delivered every packet and each side went on "
                       f"answering (RFC 9293 3.8.6.1): {storage}, and no firewall rule "
                       "fixes this.")
            if stall.failed:
                if halt is None:
                    then = " No halt of the job came after it: the job cannot go on."
                message = head + ended + probes + "." + then + reading
            else:
                message = (head + ended + probes + "." + then + reading
                           + " The transfer went on, slowed down: a job with a timeout may "
                           "have failed on it.")
            ctx.add("data_receiver_stalled", message,
                    f"See {role.rsplit(' ', 1)[0]}'s device and storage logs and the job log "
                    "at that time (a tape drive error or a stuck drive, full or offline disk "
                    "or deduplication storage, a hung service); no firewall or network "
                    "change fixes this.",
                    session=session, conn=conn, ts=window.ts,
                    frames=[window.frame] + ([window.end_frame] if window.end_frame else [])
                    + ([halt.frame] if halt is not None else []),
                    severity=None if stall.failed else Severity.WARNING,
                    cause="data" if stall.failed else None)
