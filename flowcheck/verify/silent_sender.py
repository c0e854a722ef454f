"""A side that closed its session after the data's sender went silent mid-transfer.

Trial 25 D7: the agent's link died in the middle of a backup. Every byte it had sent
was acknowledged, then nothing came from it on any connection for 30 s, and the media
server closed the data, control and callback connections at once (its data timeout);
the capture stopped right after those FINs. A side that closes its session with no halt
reads as its own service ending (control_closed), but after such a silence of its peer
it gave up waiting: the peer, or the path from it, is what failed. Trial 25 D4: with 30%
loss, the same silence, and the agent's CONNECT_ERROR halt only 8 ms after the media
server's FINs: the peer answered the close, so its packets after it do not count, and
its halt is the give-up's consequence (verify.running.check_gave_up).
"""

from __future__ import annotations

from flowcheck.durations import signed, span_words
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text
from flowcheck.model import (
    Connection,
    ControlPacket,
    NdmpStream,
    Session,
    connection_ends,
)
from flowcheck.sessions import message_op
from flowcheck.sessions.classify import first_fin
from flowcheck.verify.allow_rules import capitalised
from flowcheck.verify.context import Context, session_uids
from flowcheck.verify.end_roles import role_words
from flowcheck.verify.one_exit import ONE_EXIT_SECONDS
from flowcheck.verify.replies import HALTS, abnormal_reason
from flowcheck.verify.session_words import retransmitted_words
from flowcheck.verify.waited_close import SILENT_SECONDS


@fields_dataclass(slots=True, frozen=True)
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
    connection at fin_ts, while `closer` closed that data connection too (the
    connection's first FIN, within ONE_EXIT_SECONDS, no RST); None otherwise, or when a
    side's packet times are not known (Connection.orig_last_ts, fin_peer_last_ts). The
    sender may have answered the close (its halt, its FINs: trial 25 D4): its packets
    after fin_ts do not count."""
    conns = [ctx.by_uid[uid] for uid in session_uids(session) if uid in ctx.by_uid]
    for uid in session.data_connections:
        conn = ctx.by_uid[uid]
        if closer not in (conn.orig_h, conn.resp_h) or conn.orig_rst or conn.resp_rst:
            continue
        closer_is_orig = conn.orig_h == closer
        sent = conn.resp_bytes if closer_is_orig else conn.orig_bytes
        unacked = conn.resp_unacked if closer_is_orig else conn.orig_unacked
        # No data at all since it opened counts too: a sender whose every packet was lost
        # on the way (a path MTU black hole) leaves none in the capture (the sweep's cut
        # of trial 25's pmtu-blackhole-no-data read as the job engine's crash).
        if (not (sent or conn.established) or unacked or conn.missed_bytes
                or not conn.fin_frames
                or first_fin(conn) != ("F" if closer_is_orig else "f")
                or conn.fin_ts is None or abs(conn.fin_ts - fin_ts) > ONE_EXIT_SECONDS):
            continue
        sender = conn.resp_h if closer_is_orig else conn.orig_h
        last = _last_from(conns, sender, fin_ts)
        if last is not None and last <= fin_ts - SILENT_SECONDS:
            return SilentSender(conn, sender, last, fin_ts, conn.fin_frames[0])
    return None


def _last_from(conns: list[Connection], host: str, fin_ts: float) -> float | None:
    """The time of host's last packet on any of conns up to fin_ts; None when one is not
    known: a side's time None, or the later of a connection's two not its last packet's
    (a record not kept so: every path of the tracker keeps them, since session 54). A
    side that sent after fin_ts (it answered the close) counts up to the connection's
    first FIN, when that FIN is its peer's, within ONE_EXIT_SECONDS of fin_ts (the same
    close) and its time before it is kept (Connection.fin_peer_last_ts)."""
    times = []
    for conn in conns:
        known = [ts for ts in (conn.orig_last_ts, conn.resp_last_ts) if ts is not None]
        if not known or max(known) != conn.last_ts:
            return None
        for side_h, ts, letter in ((conn.orig_h, conn.orig_last_ts, "f"),
                                   (conn.resp_h, conn.resp_last_ts, "F")):
            if side_h != host:
                continue
            if ts is not None and ts > fin_ts:  # its last before its peer's FIN
                closed = (conn.fin_ts is not None and first_fin(conn) == letter
                          and conn.fin_ts >= fin_ts - ONE_EXIT_SECONDS)
                ts = conn.fin_peer_last_ts if closed else None
            if ts is None:
                return None
            times.append(ts)
    return max(times) if times else None


def answered_close(ctx: Context, session: Session, silent: SilentSender) -> bool:
    """Did the silent sender send anything after the closer's FIN (its halt, its FINs)?
    It was up then."""
    for uid in session_uids(session):
        conn = ctx.by_uid.get(uid)
        if conn is None:
            continue
        for side_h, ts in ((conn.orig_h, conn.orig_last_ts), (conn.resp_h, conn.resp_last_ts)):
            if side_h == silent.sender and ts is not None and ts > silent.fin_ts:
                return True
    return False


# The sender's last data this long before its last packet: its data stopped first.
_DATA_STOPPED_BEFORE_SECONDS = 5.0


def silent_words(ctx: Context, session: Session, silent: SilentSender, control: Connection,
                 control_fin: int, stream: NdmpStream, reset: ControlPacket | None
                 ) -> tuple[str, str]:
    """control_closed's message and fix when the closer gave up on a silent sender;
    stream: the control connection's, reset: the closer's RST after its FIN (None:
    none). A sender that answered the close (its halt after the FINs, trial 25 D4) was
    up then: its halt is named as the give-up's consequence, and the fix starts with the
    path when the session's connections show lost packets."""
    conn = silent.conn
    closer = conn.orig_h if silent.sender == conn.resp_h else conn.resp_h
    sender_words = role_words(conn, session, silent.sender)
    closer_words = role_words(conn, session, closer)
    sender_role = sender_words.rsplit(" ", 1)[0]
    sent = conn.resp_bytes if silent.sender == conn.resp_h else conn.orig_bytes
    since = ctx.capture_start
    after = ctx.end_at(silent.fin_ts) - silent.fin_ts
    # Its data stopped well before its last packet (field check 40 h1: a stopped source,
    # the agent answering polls on the control connection for 58 s more).
    data = conn.orig_last_data if silent.sender == conn.orig_h else conn.resp_last_data
    early = data is not None and silent.last_ts - data[1] >= _DATA_STOPPED_BEFORE_SECONDS
    data_words = (f", its last data at {signed(data[1] - since)} ({frame_text(data[0])})"
                  if data is not None and early else "")
    answered = answered_close(ctx, session, silent)
    loss = _session_loss(ctx, session)
    if answered:
        stopped = (_answer_words(session, silent, stream, reset, sender_words, closer_words)
                   + f" So for those {span_words(silent.fin_ts - silent.last_ts)} the path "
                   f"lost its packets, or its NDMP service sent nothing (waiting itself)."
                   + loss)
        if early:
            stopped += (f" Its data had stopped {span_words(silent.fin_ts - data[1])} "
                        "before the close while its other packets still came: its NDMP "
                        "service stopped sending data (a source it could not read on, a "
                        "paused or hung process).")
    else:
        seen = (f"The capture ends {span_words(after)} after these FINs: whether "
                f"{sender_role} answers them is not in it (a capture that "
                "runs on a few seconds after the job fails shows it)."
                if after < ctx.config.retransmission_timeout else
                f"Nothing of {sender_role} answered them in the "
                f"{span_words(after)} of capture after.")
        stopped = (f"{sender_words}, or the path from it, stopped (the host down or hung, its "
                   "link or a device between them failed, or its NDMP service stopped "
                   "sending). " + seen)
    carried = (f"had carried {sent:,} B, every byte acknowledged{data_words}" if sent else
               "had carried no data since it opened")
    message = (
        f"{capitalised(closer_words)} gave the job up after {sender_words} went silent "
        f"{'mid-transfer' if sent else 'before any data'}: nothing came from "
        f"{sender_words} on any of the session's "
        f"connections for {span_words(silent.fin_ts - silent.last_ts)} (its last packet at "
        f"{signed(silent.last_ts - since)}; the data connection "
        f"{connection_ends(conn)} "
        f"{carried}); then {closer_words} closed "
        f"the data connection (FIN, {frame_text(silent.fin_frame)}) and the control connection "
        f"{connection_ends(control)} (FIN, {frame_text(control_fin)}) with no "
        "halt of the job. It timed out waiting for the data, which is no crash of its own"
        + (". " if answered else ": ") + stopped)
    if not answered:
        fix = (f"Check that {sender_words} is up and reachable from {closer} (its console, "
               f"its link, its routes back to {closer}), then its NDMP service log and system "
               "event log at that time, and the switches and firewalls between them; the job "
               "log names the timeout. Keep the capture running a few seconds after a job "
               "fails, so the answer to the closing FINs shows.")
        return message, fix
    path = (f"the path between {silent.sender} and {closer} for lost packets (the interface "
            "error and drop counters of both hosts and of the switches and routers between "
            "them: ip -s link, ethtool -S, the switch ports' counters; a firewall or IPS "
            "dropping packets)")
    service = (f"{sender_words}'s NDMP service log at that time (why it sent nothing for "
               f"{span_words(silent.fin_ts - silent.last_ts)})" if not early else
               f"{sender_words}'s NDMP service log (why it sent no data for "
               f"{span_words(silent.fin_ts - data[1])} while it still answered)")
    first, then = (path, service) if loss else (service, path)
    fix = (f"Check {first}, then {then}; the job log names the timeout. A capture on both "
           "hosts at once shows where packets are lost.")
    return message, fix


def _answer_words(session: Session, silent: SilentSender, stream: NdmpStream,
                  reset: ControlPacket | None, sender_words: str, closer_words: str) -> str:
    """How the silent sender answered the close: its halt after the FINs (and the
    closer's RST that answered it), else its packets after them."""
    side = stream.fin.direction if stream.fin is not None else None
    halt = next((m for m in stream.messages if m.ts > silent.fin_ts and m.direction != side
                 and message_op(m) in HALTS and m.type != "reply"), None)
    if halt is None:
        return (f"{capitalised(sender_words)} was up after these FINs: its packets answered "
                "them.")
    reason = abnormal_reason(halt)
    answer = (f" and the closed connection's system answered it with a reset (RST, "
              f"{frame_text(reset.frame)}), as a TCP answers packets after its close (RFC 9293 "
              "3.10.7.1)" if reset is not None and reset.frame > halt.frame else "")
    return (f"{capitalised(sender_words)} was up after these FINs: its {message_op(halt)}"
            + (f" (reason {reason}, {frame_text(halt.frame)})" if reason else
               f" ({frame_text(halt.frame)})")
            + f" came {span_words(halt.ts - silent.fin_ts)} after them{answer}: that halt "
            f"followed {closer_words}'s give-up, it did not cause it.")


def _session_loss(ctx: Context, session: Session) -> str:
    """" The session's connections show lost packets: 11 retransmitted packets (9 on C1,
    2 on C3)." when they do, else ""."""
    resent = retransmitted_words(ctx, session)
    return f" The session's connections show lost packets: {resent}." if resent else ""
