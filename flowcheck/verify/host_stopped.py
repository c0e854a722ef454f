"""A host that stopped on every connection at once, then answered with a RST of its own.

A firewall's or NAT's idle timeout drops the state of an idle connection; it does not
stop a busy one. When the host whose RST (with the TTL of its own packets: not a
device's) answered the control connection after a long silence had gone silent on the
session's data connection too, in the middle of sending (its last packets data, no FIN,
no RST), and said nothing on the control connection since, the host itself may have
stopped: it restarted (a reboot, a power loss, a crash) or its network went down, and
its fresh TCP stack, which knows no connection, answered the next packet with a reset
(RFC 9293 3.10.7.1); the control connection's silence is then the job's normal one (it
sits idle while the data flows, polled every 30 s or so). A host that paused sending (a
slow source) longer than an idle timeout that dropped both connections' state, its own
host firewall's (which sends its TTL) or a device's answering with the same TTL, looks
the same (field check 40 h2): both are said, the system log first, the idle timeout
second (field check 39 k03: a rebooted agent read as a firewall's idle timeout alone).
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session
from flowcheck.verify.context import Context

# It went silent at least this long before the RST (verify.reset_answer's IDLE_SECONDS).
_SILENT_SECONDS = 5.0
# A control message of the host's this long after its last data shows it up after the
# data stopped (an answer already under way as the data stopped is not).
_SPOKE_AFTER_SECONDS = 1.0


def host_stopped(ctx: Context, session: Session, host: str, reset_ts: float
                 ) -> Connection | None:
    """The session's data connection `host` was sending on and went silent on, mid-
    transfer, at least _SILENT_SECONDS before `reset_ts` (seconds): its last data then,
    no FIN of its own on it, no RST on it before `reset_ts` (a RST of its own after it
    is its restarted stack's answer too), and no NDMP message of the host's on the
    control connection after that data (a host that answered polls meanwhile was up:
    field check 40 h1); None when none."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    side = "orig" if session.media_server == host else "resp"
    spoke = [m.ts for m in (stream.messages if stream is not None else [])
             if m.direction == side and m.ts < reset_ts]
    for uid in session.data_connections:
        conn = ctx.by_uid.get(uid)
        if conn is None or host not in (conn.orig_h, conn.resp_h):
            continue
        data = conn.orig_last_data if conn.orig_h == host else conn.resp_last_data
        fin = ("F" if conn.orig_h == host else "f") in conn.history
        if (data is not None and not fin and reset_ts - data[1] >= _SILENT_SECONDS
                and (conn.rst_ts is None or conn.rst_ts >= reset_ts)
                and not any(ts > data[1] + _SPOKE_AFTER_SECONDS for ts in spoke)):
            return conn
    return None


def stopped_words(conn: Connection, host: str, short: str, idle: str) -> str:
    """The reading of a RST after host_stopped found the host silent mid-transfer: its
    host stopped, or it paused and an idle timeout dropped both connections' state (the
    capture cannot tell them apart: field check 40 h2, a paused source behind the agent's
    own firewall, read as a reboot)."""
    last = conn.orig_last_data if conn.orig_h == host else conn.resp_last_data
    assert last is not None
    return (f" Before it the control connection had sat idle {idle}, as it does while data "
            f"flows; but {short} had gone silent on its data connection too, in the middle "
            f"of sending (its last data in {frame_text(last[0])}, then nothing, no FIN), and this "
            f"RST came with its own TTL. Either its host stopped (a reboot, a power loss, a "
            "crash, its network down) and its fresh TCP, which no longer knew the "
            "connection, answered with it; or it paused sending (a slow source) longer than "
            "an idle timeout that dropped both connections' state: its own host firewall's "
            "(which sends its TTL) or a firewall's between them answering in its name.")


def stopped_fix(conn: Connection, host: str, short: str, service: str,
                reset_ts: float) -> str:
    """The fix of a RST from a host that had stopped (host_stopped) or paused."""
    last = conn.orig_last_data if conn.orig_h == host else conn.resp_last_data
    quiet = f" ({span_words(reset_ts - last[1])})" if last is not None else ""
    return (f"See {host}'s system log for an unexpected shutdown, restart or crash at the "
            "time the data stopped (Windows: System log events 41, 6008, 1074; Linux: "
            f"`journalctl --list-boots`, `last -x`). If it did not restart, the data "
            f"connection sat idle as long{quiet}: raise the TCP idle timeout for the job's "
            f"connections on {short}'s own firewall and the firewalls between the hosts "
            "above the longest pause, or enable TCP keepalives (the NDMP server's and the "
            f"backup application's settings) shorter than it; then {service} log for why "
            "it paused.")
