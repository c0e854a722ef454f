"""A data connection one side closed (its FIN) and the other then reset, just before an
abnormal halt of its job: an abortive close (new-user trial 19, D12).

A host that closes a socket with SO_LINGER 0 (a habit of Windows applications, and of a
process that closes with data unread) sends a RST instead of a FIN (RFC 9293 3.10.4,
RFC 1122 4.2.2.13). When the data's sender had sent everything and its FIN, the other
side's reset loses nothing it had acknowledged, but an NDMP server that reads the reset
as a broken connection halts with CONNECT_ERROR: the halt's cause is that reset, not a
firewall or the port ranges. The RST's IP TTL tells whether the host itself or a device
between them in its name sent it (flowcheck.verify.ttl). flowcheck.verify.cut_transfer
leaves such a connection (a close begun before the reset) to the halt's finding,
data_halted_abnormally (flowcheck.verify.replies), which names it with this module's
words.
"""

from __future__ import annotations

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, Session, connection_ends
from flowcheck.sessions import message_op
from flowcheck.sessions.classify import JOB_STARTS
from flowcheck.verify.context import Context
from flowcheck.verify.end_roles import role_words
from flowcheck.verify.rst_words import reset_time
from flowcheck.verify.ttl import forged_words, reset_ttls, ttl_word


@fields_dataclass(frozen=True, slots=True)
class AbortiveClose:
    """A data connection `closer` closed and `resetter` then reset: `sent`, the payload
    bytes the closer sent (capture copies left out); `unacked`, those the resetter never
    acknowledged (None when the capture cannot tell); `ttls`, (the RST's TTL, that of
    the resetter's own packets), None when either is unknown."""

    conn: Connection
    closer: str
    resetter: str
    sent: int
    unacked: int | None
    ttls: tuple[int, int] | None

    @property
    def forged(self) -> bool:
        """The RST's TTL is not the resetter's own: a device between sent it."""
        return self.ttls is not None and self.ttls[0] != self.ttls[1]


def abortive_close(ctx: Context, session: Session, halt: NdmpMessage) -> AbortiveClose | None:
    """The abortive close just before `halt`: the session's data connection reset last
    at or before the halt, with no DATA_START_* between its reset and the halt, that one
    side closed (its FIN) and the other side alone then reset (closed_then_reset); None
    when that connection is not one, or there is none."""
    reset = [ctx.by_uid[uid] for uid in session.data_connections
             if ctx.by_uid[uid].rst_frames and reset_time(ctx.by_uid[uid]) <= halt.ts]
    if not reset:
        return None
    conn = max(reset, key=reset_time)
    stream = ctx.stream_by_uid.get(session.control_uid)
    if stream is not None and any(
            message_op(m) in JOB_STARTS and m.type == "request"
            and reset_time(conn) < m.ts < halt.ts for m in stream.messages):
        return None
    return closed_then_reset(ctx, conn)


def closed_then_reset(ctx: Context, conn: Connection) -> AbortiveClose | None:
    """The AbortiveClose when one side's FIN (history: F the originator's, f the
    responder's) came before the connection's first RST and the other side alone reset
    it, having sent no FIN; None otherwise (no FIN first, both reset, or the closer's own
    RST: a receiver that gave the transfer up is cut_transfer's)."""
    if not conn.fin_frames or not conn.rst_frames or conn.fin_frames[0] > conn.rst_frames[0] \
            or conn.orig_rst == conn.resp_rst:
        return None
    closer_is_orig = conn.resp_rst
    closer_fin, resetter_fin = ("F", "f") if closer_is_orig else ("f", "F")
    if closer_fin not in conn.history or resetter_fin in conn.history:
        return None
    if closer_is_orig:
        sent, unacked, peer_pkts = (conn.sent_once("orig"), conn.orig_unacked,
                                    conn.resp_pkts)
    else:
        sent, unacked, peer_pkts = (conn.sent_once("resp"), conn.resp_unacked,
                                    conn.orig_pkts)
    # unacked is 0 also when the capture holds none of the peer's ACKs: beyond its
    # handshake packet and the RST, the peer must have sent some.
    told = sent > 0 and peer_pkts > 2
    closer, resetter = (conn.orig_h, conn.resp_h) if closer_is_orig else (conn.resp_h, conn.orig_h)
    return AbortiveClose(conn, closer, resetter, sent, unacked if told else None,
                         reset_ttls(ctx, conn, "resp" if closer_is_orig else "orig"))


def abortive_words(found: AbortiveClose, session: Session, halter: str) -> str:
    """The sentence data_halted_abnormally adds for the abortive close before the halt
    (halter: "the data agent", "the mover (tape side)")."""
    conn = found.conn
    closer = role_words(conn, session, found.closer)
    resetter = role_words(conn, session, found.resetter)
    short = closer.rsplit(" ", 1)[0]
    frame = conn.rst_frames[0]
    if found.forged and found.ttls is not None:
        by = (f"by a device between them, in the name of {resetter} (RST, {frame_text(frame)}; "
              f"{forged_words(found.resetter, *found.ttls)})")
    elif found.ttls is not None:
        by = (f"by {resetter} (RST, {frame_text(frame)}; its {ttl_word(found.resetter)} "
              f"{found.ttls[0]}, that of "
              f"{found.resetter}'s own packets: its own system sent it)")
    else:
        by = f"by {resetter} (RST, {frame_text(frame)})"
    if found.unacked == 0:
        acked = f", every byte {short} sent ({found.sent:,} B) acknowledged"
    elif found.unacked:
        acked = f", {found.unacked:,} B of the {found.sent:,} B {short} sent never acknowledged"
    else:
        acked = ""
    what = ("a reset in its name after the close" if found.forged else
            "an abortive close (a socket closed with SO_LINGER 0, a habit of Windows "
            "applications, or with data unread) instead of a FIN")
    return (f" Just before it, the data connection {connection_ends(conn)} was reset {by} "
            f"after {closer}'s FIN "
            f"({frame_text(conn.fin_frames[0])}){acked}: {what}, which {halter} took for a "
            "connection error.")


def abortive_fix(found: AbortiveClose, session: Session) -> str:
    """The fix of data_halted_abnormally after an abortive close."""
    conn = found.conn
    resetter = role_words(conn, session, found.resetter)
    if found.forged:
        return (f"Look for the firewall, NAT or IPS between {conn.orig_h} and {conn.resp_h} "
                "that reset the data connection after its close (a lost state, a threat "
                "signature: its log names the connection); the hosts did not.")
    return (f"Not a firewall or the port ranges: find why {resetter} closes its data "
            "connections with a reset (its software closing with SO_LINGER 0, or a security "
            "product on it resetting connections) in both hosts' NDMP and job engine logs at "
            "that time; an agent that fails a finished transfer on such a reset is a matter "
            "for its vendor (an update, a setting).")
