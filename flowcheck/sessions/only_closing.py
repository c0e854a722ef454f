"""Connections of which the capture holds only their closing (leftover62).

A job that ends as the capture begins leaves in it only the closes of its connections,
in whichever order its hosts sent them (a Backup Exec agent closes its callback just
before the control connection). Such a connection shows the job closing, not a resource
running (verify.after_close.job_ended), and is the job's whose control connection
closes beside it (sessions.late_closes).
"""

from __future__ import annotations

from flowcheck.model import Connection

# A connection whose first FIN comes within this long of its first captured packet, with
# nothing but bare ACKs before it, is seen only closing (close_only): a job's engine
# closes its connections together (the lab's Backup Exec: within 0.2 ms).
CLOSING_SECONDS = 1.0


def close_only(conn: Connection) -> bool:
    """Does the capture hold only the connection's closing: no SYN or SYN-ACK, no payload
    either way, no RST, and a FIN that is its first captured packet or comes within
    CLOSING_SECONDS of it (the bare ACKs before it answer a FIN or the last data before
    the capture), a FIN acknowledged (Connection.orig_fin_acked, resp_fin_acked: a close
    that went through; FINs resent unanswered are a stall, trial37b
    state-flushed-capture-started-late-media's data_stalled)? Such a connection was open
    before the capture and ends as it begins: it shows its job closing, not a resource
    running (leftover62: a Backup Exec agent closes its callback just before the control
    connection, so a capture starting at the callback's FIN, or at the media server's
    ACK of it, took it for a running data connection of a job that was ending)."""
    if conn.syn_seen or conn.synack_seen or conn.orig_bytes or conn.resp_bytes \
            or conn.rst_frames or not conn.fin_frames \
            or not (conn.orig_fin_acked or conn.resp_fin_acked):
        return False
    return conn.fin_frames[0] == conn.first_frame or (
        conn.fin_ts is not None and conn.fin_ts - conn.ts <= CLOSING_SECONDS)


def closes_with(conn: Connection, ts: float) -> bool:
    """Is the connection seen only closing (close_only), its first packet within
    CLOSING_SECONDS of `ts` (seconds: its job's control connection's close)? A job's
    engine closes its connections together; one closed long before the control
    connection was a resource the job ran while the capture did (ndmjob-filtered-packets/
    fin-rst-media: a capture of FINs only, the data connection's 3 s before the control
    connection's)."""
    return close_only(conn) and abs(conn.ts - ts) <= CLOSING_SECONDS


def close_ts(control: Connection) -> float | None:
    """The time (s) of the connection's first FIN or RST, either side; None: neither
    captured."""
    closes = [ts for ts in (control.fin_ts, control.rst_ts) if ts is not None]
    return min(closes) if closes else None
