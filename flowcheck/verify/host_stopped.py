"""A host that stopped on every connection at once, then answered with a RST of its own.

A firewall's or NAT's idle timeout drops the state of an idle connection; it does not
stop a busy one. When the host whose RST (with the TTL of its own packets: not a
device's) answered the control connection after a long silence had gone silent on the
session's data connection too, in the middle of sending (its last packets data, no FIN,
no RST), the host itself stopped: it restarted (a reboot, a power loss, a crash) or its
network went down, and its fresh TCP stack, which knows no connection, answered the next
packet with a reset (RFC 9293 3.10.7.1). A device that lost the state of both
connections at once (a failover) and answered with the host's TTL looks the same, and
is named second. The control connection's silence is then the
job's normal one (it sits idle while the data flows, polled every 30 s or so), not an
idle timeout's (field check 39 k03: a rebooted agent read as a firewall's idle timeout).
"""

from __future__ import annotations

from flowcheck.model import Connection, Session
from flowcheck.verify.context import Context

# It went silent at least this long before the RST (verify.reset_answer's IDLE_SECONDS).
_SILENT_SECONDS = 5.0


def host_stopped(ctx: Context, session: Session, host: str, reset_ts: float
                 ) -> Connection | None:
    """The session's data connection `host` was sending on and went silent on, mid-
    transfer, at least _SILENT_SECONDS before `reset_ts` (seconds): its last data then,
    no FIN of its own on it, and no RST on it before `reset_ts` (a RST of its own after
    it is its restarted stack's answer too); None when none."""
    for uid in session.data_connections:
        conn = ctx.by_uid.get(uid)
        if conn is None or host not in (conn.orig_h, conn.resp_h):
            continue
        data = conn.orig_last_data if conn.orig_h == host else conn.resp_last_data
        fin = ("F" if conn.orig_h == host else "f") in conn.history
        if (data is not None and not fin and reset_ts - data[1] >= _SILENT_SECONDS
                and (conn.rst_ts is None or conn.rst_ts >= reset_ts)):
            return conn
    return None


def stopped_words(conn: Connection, host: str, short: str, idle: str) -> str:
    """The reading of a RST after host_stopped found the host silent mid-transfer."""
    last = conn.orig_last_data if conn.orig_h == host else conn.resp_last_data
    assert last is not None
    return (f" Before it the control connection had sat idle {idle}, as it does while data "
            f"flows; but {short} had gone silent on its data connection too, in the middle "
            f"of sending (its last data in frame {last[0]}, then nothing, no FIN): a "
            "device's idle timeout does not stop a busy connection. "
            f"{short[0].upper()}{short[1:]} itself most likely stopped (its host restarted: "
            "a reboot, a power loss, a crash; or its network went down) and its TCP, which "
            "no longer knew the connection, answered with this reset; else a device between "
            "them lost the state of both connections at once (a failover) and answered in "
            "its name with the same TTL.")


def stopped_fix(host: str, short: str, service: str) -> str:
    """The fix of a RST from a host that had stopped (host_stopped)."""
    return (f"See {host}'s system log for an unexpected shutdown, restart or crash at the "
            "time the data stopped (Windows: System log events 41, 6008, 1074; Linux: "
            f"`journalctl --list-boots`, `last -x`), then {service} log; if {short} never "
            "restarted, check its network link and the switch port, and the firewalls "
            "between the hosts for a failover, at that time.")
