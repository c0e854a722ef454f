"""A side that closed its session after the data's sender went silent mid-transfer.

Trial 25 D7: the agent's link died in the middle of a backup. Every byte it had sent
was acknowledged, then nothing came from it on any connection for 30 s, and the media
server closed the data, control and callback connections at once (its data timeout);
the capture stopped right after those FINs. A side that closes its session with no halt
reads as its own service ending (control_closed), but after such a silence of its peer
it gave up waiting: the peer, or the path from it, is what failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowcheck.model import Connection, Session, endpoint
from flowcheck.verify.aborted import ONE_EXIT_SECONDS
from flowcheck.verify.allow_rules import capitalised
from flowcheck.verify.context import Context, role_words
from flowcheck.verify.details import span_words

# A data sender silent this long mid-transfer, on every connection of its session,
# before its peer closed the session: the peer gave up waiting (a healthy transfer
# has no pause of seconds, and a closing host does not wait that long to close).
SILENT_SECONDS = 5.0


@dataclass(slots=True, frozen=True)
class SilentSender:
    """The data connection whose sender went silent (conn), the sender's address, its
    last packet's time on any of the session's connections (last_ts), and the closer's
    FIN time (fin_ts) and the data connection's FIN frame (fin_frame)."""

    conn: Connection
    sender: str
    last_ts: float
    fin_ts: float
    fin_frame: int


def silent_sender(ctx: Context, session: Session, closer: str, fin_ts: float
                  ) -> SilentSender | None:
    """The session's data connection whose sender (the side that is not `closer`) had
    sent payload, every byte of it acknowledged, and then sent nothing on any of the
    session's connections for SILENT_SECONDS or more up to `closer`'s FIN of the control
    connection at fin_ts, while `closer` closed that data connection too (its FIN first,
    within ONE_EXIT_SECONDS, no RST, no FIN from the sender); None otherwise, or when a
    side's packet times are not known (Connection.orig_last_ts)."""
    uids = [session.control_uid, session.callback_uid, *session.data_connections]
    conns = [ctx.by_uid[uid] for uid in uids if uid and uid in ctx.by_uid]
    for uid in session.data_connections:
        conn = ctx.by_uid[uid]
        if closer not in (conn.orig_h, conn.resp_h) or conn.orig_rst or conn.resp_rst:
            continue
        closer_is_orig = conn.orig_h == closer
        sent = conn.resp_bytes if closer_is_orig else conn.orig_bytes
        unacked = conn.resp_unacked if closer_is_orig else conn.orig_unacked
        closer_fin, sender_fin = ("F", "f") if closer_is_orig else ("f", "F")
        closed = conn.orig_last_ts if closer_is_orig else conn.resp_last_ts
        if (not sent or unacked or conn.missed_bytes or closer_fin not in conn.history
                or sender_fin in conn.history or not conn.fin_frames or closed is None
                or abs(closed - fin_ts) > ONE_EXIT_SECONDS):
            continue
        sender = conn.resp_h if closer_is_orig else conn.orig_h
        last = _last_from(conns, sender)
        if last is not None and last <= fin_ts - SILENT_SECONDS:
            return SilentSender(conn, sender, last, fin_ts, conn.fin_frames[0])
    return None


def _last_from(conns: list[Connection], host: str) -> float | None:
    """The time of host's last packet on any of conns; None when one is not known: a
    side's time None, or the later of a connection's two not its last packet's (a
    short-connection path of the tracker, which keeps none, saw packets after)."""
    times = []
    for conn in conns:
        known = [ts for ts in (conn.orig_last_ts, conn.resp_last_ts) if ts is not None]
        if not known or max(known) != conn.last_ts:
            return None
        for side_h, ts in ((conn.orig_h, conn.orig_last_ts), (conn.resp_h, conn.resp_last_ts)):
            if side_h != host:
                continue
            if ts is None:
                return None
            times.append(ts)
    return max(times) if times else None


def silent_words(ctx: Context, session: Session, silent: SilentSender, control: Connection,
                 control_fin: int) -> tuple[str, str]:
    """control_closed's message and fix when the closer gave up on a silent sender."""
    conn = silent.conn
    closer = conn.orig_h if silent.sender == conn.resp_h else conn.resp_h
    sender_words = role_words(conn, session, silent.sender)
    closer_words = role_words(conn, session, closer)
    sent = conn.resp_bytes if silent.sender == conn.resp_h else conn.orig_bytes
    since = ctx.capture_start
    after = ctx.capture_end - silent.fin_ts
    seen = (f"The capture ends {span_words(after)} after these FINs: whether "
            f"{sender_words.rsplit(' ', 1)[0]} answers them is not in it (a capture that "
            "runs on a few seconds after the job fails shows it)."
            if after < ctx.config.retransmission_timeout else
            f"Nothing of {sender_words.rsplit(' ', 1)[0]} answered them in the "
            f"{span_words(after)} of capture after.")
    message = (
        f"{capitalised(closer_words)} gave the job up after {sender_words} went silent "
        f"mid-transfer: nothing came from {sender_words} on any of the session's "
        f"connections for {span_words(silent.fin_ts - silent.last_ts)} (its last packet at "
        f"+{silent.last_ts - since:.3f}s, on the data connection "
        f"{endpoint(conn.orig_h, conn.orig_p)} -> {endpoint(conn.resp_h, conn.resp_p)}, "
        f"which had carried {sent} B, every byte acknowledged); then {closer_words} closed "
        f"the data connection (FIN, frame {silent.fin_frame}) and the control connection "
        f"{endpoint(control.orig_h, control.orig_p)} -> "
        f"{endpoint(control.resp_h, control.resp_p)} (FIN, frame {control_fin}) with no "
        "halt of the job. It timed out waiting for the data, which is no crash of its own: "
        f"{sender_words}, or the path from it, stopped (the host down or hung, its link "
        "or a device between them failed, or its NDMP service stopped sending). " + seen)
    fix = (f"Check that {sender_words} is up and reachable from {closer} (its console, its "
           f"link, its routes back to {closer}), then its NDMP service log and system event "
           "log at that time, and the switches and firewalls between them; the job log "
           "names the timeout. Keep the capture running a few seconds after a job fails, "
           "so the answer to the closing FINs shows.")
    return message, fix
