"""A connector's CONNECT error reply right after its resent SYN, for data_unanswered.

A data connection whose SYNs were resent and never answered in a capture that lacks the
way back (one direction only: `tcpdump -Q in` on the listener, say) reads "something
drops or rejects its SYNs or drops the SYN-ACKs": the capture cannot show the answer.
The connector's own word can: NDMP v3/v4 answer a DATA_CONNECT / MOVER_CONNECT once the
connect has ended (sessions.named.connect_failures), and a connect that failed right
after a SYN (sooner than the wait before TCP's next resend, which is at least as long as
the last one, RFC 6298 5.5) failed on an answer to that SYN: a RST or an ICMP
unreachable, which travels the way the capture lacks, or on the connector's own connect
timeout. A dropped SYN fails its connect only a whole wait after its last resend
(two minutes or more after the first SYN on Linux's defaults, 21 to 31 s on Windows':
verify.syn_give_up). Lab
matrix seed 140 run 18: ndmjob's agent connected to the media server, whose input chain
rejected the SYNs with ICMP host-unreachable; captured on the media server with `tcpdump
-Q in`: the SYNs (frames 6, 8) and the DATA_CONNECT reply NDMP_CONNECT_ERR (frame 9)
1.46 ms after the second, which the finding left unmentioned. Its request may be in the
direction the capture lacks (the announcement not captured): the reply's own message
code names it.
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, Session
from flowcheck.sessions.late_owners import CONNECT_REPLY_SECONDS
from flowcheck.sessions.matching import ANNOUNCEMENT_JITTER_SECONDS
from flowcheck.sessions.named import CONNECT_REPLIES
from flowcheck.verify.context import Context
from flowcheck.verify.refused_connect import CONNECT_FAILURES

# A CONNECT reply's connector (sessions.named.CONNECT_REPLIES' value): its side for
# Context.host_addresses and its words.
CONNECTOR = {"remote_agent": ("agent", "the agent"),
             "media_server": ("media", "the media server")}
# A connect's errors that may answer a reject: not TIMEOUT_ERR, the connector's own word
# that its timeout ran out, which "most likely rejected" would contradict (review64a).
MAY_BE_REJECTED = CONNECT_FAILURES - {"TIMEOUT_ERR"}


def fast_error(ctx: Context, session: Session, conn: Connection) -> NdmpMessage | None:
    """The session's first DATA_CONNECT / MOVER_CONNECT reply with a connect's error
    (refused_connect.CONNECT_FAILURES but TIMEOUT_ERR) from the side that made `conn`
    (the agent for DATA_CONNECT, the media server for MOVER_CONNECT, by its addresses),
    sent after conn's last SYN (less the capture's reordering) and sooner than both
    late_owners.CONNECT_REPLY_SECONDS and half the mean wait between its SYNs; None when
    there is none, conn's SYNs were not resent (a lone SYN: verify.lone_data_syn), or
    the connector opened another connection before the reply (opened_between)."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    if stream is None or conn.syn_retries < 1 or conn.syn_ts is None:
        return None
    # The SYNs are all conn's packets: the last is conn.last_ts. TCP's next resend comes
    # no sooner after it than the longest wait between them, so than their mean (the
    # backoff doubles each, or keeps it at first: Linux's tcp_syn_linear_timeouts, the
    # lab's SYNs 1 s apart four times, field57-matrix).
    wait = min(CONNECT_REPLY_SECONDS, (conn.last_ts - conn.syn_ts) / conn.syn_retries / 2)
    for message in stream.messages:
        host = CONNECT_REPLIES.get(message.name)
        if (message.type != "reply" or host is None or message.ts
                < conn.last_ts - ANNOUNCEMENT_JITTER_SECONDS):
            continue
        if message.ts - conn.last_ts >= wait:
            return None
        name = (message.error_name or "").removeprefix("NDMP_")
        if name in MAY_BE_REJECTED and conn.orig_h in ctx.host_addresses(
                session, CONNECTOR[host][0]):
            return None if opened_between(ctx, conn, message.ts) else message
    return None


def opened_between(ctx: Context, conn: Connection, until: float) -> bool:
    """Did conn's connector open another connection after conn's last SYN and by `until`
    (a CONNECT reply's time, seconds)? The reply may then be that one's failure (an
    agent trying the next announced address, say), not conn's (review64a). One walk over
    the capture's connections, made only for a reply fast_error would name."""
    return any(other is not conn and other.orig_h == conn.orig_h
               and conn.last_ts < other.ts <= until for other in ctx.connections)


def fast_error_words(ctx: Context, session: Session, conn: Connection
                     ) -> tuple[str, list[int]]:
    """(" The agent's DATA_CONNECT reply (frame 9) says its connect failed
    (NDMP_CONNECT_ERR) 1.46 ms after its last SYN (frame 8), before TCP's next resend:
    ... so they were most likely rejected (unless the agent's own connect timeout ran
    out just then, 1.01 s after its first SYN captured).", [9]: the reply's frame) for
    fast_error's reply; ("", []) without one. TCP's own give-up comes a whole wait after
    the last SYN (RFC 6298 5.5; not "a minute or more": Windows gives up after 21 to 31 s,
    review64a)."""
    reply = fast_error(ctx, session, conn)
    if reply is None:
        return "", []
    who = CONNECTOR[CONNECT_REPLIES[reply.name]][1]
    op = reply.name.removeprefix("NDMP_")
    # syn_frames is capped: its last is the last SYN only when it holds every one.
    last = conn.syn_frames[-1] if len(conn.syn_frames) == conn.syn_retries + 1 else None
    after = span_words(max(0.0, reply.ts - conn.last_ts))
    # The whole wait, for the reader to hold against the connector's own connect timeout.
    since = span_words(max(0.0, reply.ts - conn.syn_ts)) if conn.syn_ts is not None else ""
    return (f" {who[:1].upper()}{who[1:]}'s {op} reply ({frame_text(reply.frame)}) says its "
            f"connect failed ({reply.error_name}) {after} after its last SYN"
            f"{f' ({frame_text(last)})' if last else ''}, before TCP's next resend: TCP "
            "gives dropped SYNs up only when the wait after the last one runs out (no "
            "shorter than the waits before it), while a reject (a RST or an ICMP "
            "unreachable, which would travel the way the capture lacks) fails the connect "
            "as it arrives, so they were most likely rejected (unless "
            f"{who}'s own connect timeout ran out just then"
            f"{f', {since} after its first SYN captured' if since else ''}).", [reply.frame])
