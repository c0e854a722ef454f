"""A CONNECT request's connect error right after the data connection's lone SYN, for
ndmp_error_reply.

A DATA_CONNECT / MOVER_CONNECT answered with a connect's error (CONNECT_ERR and the like,
not TIMEOUT_ERR: fast_connect_error.MAY_BE_REJECTED) names no cause; the capture may.
NDMP v3/v4 answer such a request once the connect has ended (sessions.named), so an
error within the retransmission timeout of the connector's only SYN of that connection
(no resend, nothing back: the capture of one direction lacks the answer) says the
connect failed at once, as it does on a reject (a RST or an ICMP unreachable) or an
unreachable host, and not on a drop (TCP resends a dropped SYN before it gives up:
verify.syn_give_up). Lab run by hand after field check 77 (index 901): ndmjob's agent
connecting to the media server, whose input chain rejected with a TCP reset, `-Q out` on
the agent: one SYN (frame 6), NDMP_CONNECT_ERR 0.03 ms after it (frame 7): the finding
said "DATA_CONNECT was answered CONNECT_ERR by the agent", nothing of the SYN, and its
fix ended "remove or narrow that drop". verify.lone_data_syn reads the same error for a
data_unanswered (its CONNECT request in the capture: connect_said); this one reads it
from the reply alone (its request may be in the direction the capture lacks), as
fast_connect_error does for resent SYNs, with its guards: the connector opened no other
connection between the SYN and the reply (opened_between), and the SYN is not as late as
a resend whose earlier tries the capture lacks (verify.resend_reading).
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, Session
from flowcheck.sessions.matching import ANNOUNCEMENT_JITTER_SECONDS
from flowcheck.sessions.named import CONNECT_REPLIES
from flowcheck.verify.context import Context, endpoint
from flowcheck.verify.fast_connect_error import CONNECTOR, MAY_BE_REJECTED, opened_between
from flowcheck.verify.resend_reading import at_once, resend_reading
from flowcheck.verify.syn_give_up import fast_reject_words


def lone_syn_error(ctx: Context, session: Session, reply: NdmpMessage
                   ) -> tuple[Connection, str] | None:
    """(the data connection, words) when `reply`, a DATA_CONNECT / MOVER_CONNECT reply
    with a connect's error, came within the retransmission timeout of the connector's
    lone SYN of one of the session's data connections (the last it opened before the
    reply: one SYN, not resent, not established, no SYN-ACK, RST or ICMP in the capture);
    None otherwise. Words: " The agent's connect failed 0.03 ms after its only SYN to
    10.77.0.1:5042 (frame 6), not resent: a connect fails that fast on a reject ..., so
    it was most likely rejected." """
    role = CONNECT_REPLIES.get(reply.name)
    name = (reply.error_name or "").removeprefix("NDMP_")
    if role is None or reply.type != "reply" or name not in MAY_BE_REJECTED:
        return None
    side, who = CONNECTOR[role]
    addresses = ctx.host_addresses(session, side)
    opened = [conn for uid in session.data_connections
              if (conn := ctx.by_uid.get(uid)) is not None and conn.orig_h in addresses
              and conn.ts <= reply.ts + ANNOUNCEMENT_JITTER_SECONDS]
    if not opened:
        return None
    conn = max(opened, key=lambda c: c.ts)
    if (conn.syn_ts is None or conn.syn_retries or conn.established or conn.synack_frames
            or conn.rst_frames or conn.icmp_frames or conn.orig_pkts != 1):
        return None
    seconds = max(0.0, reply.ts - conn.syn_ts)
    if seconds >= ctx.config.retransmission_timeout or opened_between(ctx, conn, reply.ts) \
            or resend_reading(ctx, conn, seconds) is not None:
        return None
    syn = f" ({frame_text(conn.syn_frames[0])})" if conn.syn_frames else ""
    # Later than a round trip and AT_ONCE after the SYN, the connector's own connect
    # timeout may have run out before TCP resent it (review64m: the error 900 ms after a
    # Linux agent's lone SYN, its resend due at 1 s, read "a connect fails that fast on a
    # reject"), as fast_connect_error hedges it.
    hedge = ("" if at_once(ctx, session, seconds) else
             f" (unless {who}'s own connect timeout ran out just then)")
    return conn, (
        f" {who[:1].upper()}{who[1:]}'s connect failed {span_words(seconds)} after its only "
        f"SYN to {endpoint(conn.resp_h, conn.resp_p)}{syn}, not resent: "
        f"{fast_reject_words(conn)}{hedge}.")
