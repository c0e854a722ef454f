"""How long a control connection had sat idle when a device's idle timeout dropped its
state, when the capture shows only the closer's FIN resent into the void after it
(control_stalled, trial 26 D8).

The control connection sits idle while the data flows. When the data connection ends,
the agent notifies the halt on the control connection (NDMP: NOTIFY_DATA_HALTED; a
mover's side, NOTIFY_MOVER_HALTED). Seen from the media server, a data connection its
peer closed in the middle of the control connection's silence, with no NDMP message
after it, means the halt was lost already: the device's state was gone then, so the
silence up to the data's end bounds its idle timeout. The media server's FIN, resent
unanswered, comes only when its own job engine gives up waiting (the trial's media
server: a 30 s receive timeout) or is stopped: the silence up to it is its own wait, not
the device's timeout, and a firewall sized from it would still drop the next job.
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, ControlPacket, Session, connection_ends, other_direction
from flowcheck.sessions.classify import first_fin_by
from flowcheck.verify.context import Context
from flowcheck.verify.reset_answer import Silence


@fields_dataclass(slots=True, frozen=True)
class DataEnd:
    """A data connection the control connection's peer closed during the silence before
    the closer's FIN: conn, its first FIN's frame and time, and idle (seconds from the
    silence's last NDMP message to that FIN: the most the control connection can have
    sat idle when the halt that followed was lost)."""

    conn: Connection
    frame: int
    ts: float
    idle: float


def data_end_in(ctx: Context, session: Session, control: Connection, silence: Silence,
                fin: ControlPacket) -> DataEnd | None:
    """The session's data connection whose first close (FIN, no RST before it) came from
    the host on the other side of the control connection from `fin`'s sender, after the
    silence's last NDMP message and before `fin`: the latest such; None when none (or
    the silence follows no message)."""
    if silence.after is None:
        return None
    peer = control.host(other_direction(fin.direction))
    found: DataEnd | None = None
    for uid in session.data_connections:
        conn = ctx.by_uid.get(uid)
        if conn is None or conn.fin_ts is None or not conn.fin_frames:
            continue
        closer = first_fin_by(conn)
        if closer != peer or (conn.rst_ts is not None and conn.rst_ts <= conn.fin_ts):
            continue
        if silence.after.ts < conn.fin_ts < fin.ts and (found is None or conn.fin_ts > found.ts):
            found = DataEnd(conn, conn.fin_frames[0], conn.fin_ts,
                            conn.fin_ts - silence.after.ts)
    return found


def bounded_idle_words(end: DataEnd, silence: Silence, fin: ControlPacket,
                       roles: tuple[str, str]) -> str:
    """", here after its idle timeout: ... at most 5.57 s ..." for control_stalled's
    reading when data_end_in found the data's end; roles: the FIN's sender's and its
    peer's ("the media server", "the agent")."""
    conn, after = end.conn, silence.after
    last = f" (no NDMP message after {frame_text(after.frame)})" if after is not None else ""
    return (", here after its idle timeout: the control connection sat idle while the data "
            f"flowed{last}, and the data connection {connection_ends(conn)} ended "
            f"{span_words(end.idle)} into that "
            f"silence ({roles[1]}'s FIN, {frame_text(end.frame)}) with no NDMP message after it, "
            f"not even the halt {roles[1]} notifies when the data ends: the connection's "
            "state was gone by then, so the device's idle timeout is at most "
            f"{span_words(end.idle)}. {roles[0][0].upper()}{roles[0][1:]} closed the "
            f"control connection only {span_words(fin.ts - end.ts)} after the data's end "
            "(its FIN): that wait was its own, not the device's timeout.")
