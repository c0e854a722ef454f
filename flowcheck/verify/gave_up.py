"""A data connection's lone SYN whose connector stopped the job before TCP would resend it.

An unanswered connect resends its SYN within the retransmission timeout (RFC 6298 5.7)
and, dropped, goes on resending before TCP gives it up (21 to 31 s on Windows, two
minutes or more on Linux: verify.syn_give_up); a connect answered with a reject
(a RST, an ICMP unreachable) fails at once. So when the connector itself closes the
session (its CONNECT_CLOSE, or its FIN or RST on the control connection) within the
retransmission timeout of its one SYN, with no data moved after it
(unresent.went_on_after), the connection never opened and the job stopped there: the
step failed, however much capture follows (none, when the job's end ended it: lab matrix
seed 116 run 1, 0.3 ms from the SYN to CONNECT_CLOSE) and even where the capture lacks
the direction the answer travels (`tcpdump -Q in` on the agent). It was most likely
rejected, the reject in the direction the capture lacks or lost by the sniffer; the
connector giving up on its own that fast is the other reading, named in
flowcheck.verify.lone_data_syn's words.

Only the connector's own stop counts: the other side closing says nothing of how the
connect ended. A callback's lone SYN keeps its rule (verify.lone_callback_syn). Nor
does a SYN that came as late after what asked for its connect as TCP's resends do
(verify.unseen_tries): its earlier tries may be missing from the capture, the connect
unanswered for seconds before the stop, as when the SYNs are dropped (new user trial
56: captures/lab/data-port-dropped.pcap without frames 22-25, the stop 438 ms after the
fourth SYN, read "most likely rejected"); its step is judged as any lone SYN's. Unless
the capture explains the lone SYN as a reject's without a loss the resend needs
(resend_reading: the reject's way not captured, or the stop within a round trip of the
SYN; review 56c: a slow connector's rejected connect, its first SYN 3 s after the
DATA_LISTEN reply).
"""

from __future__ import annotations

from typing import NamedTuple

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection
from flowcheck.sessions.classify import message_op
from flowcheck.verify.context import Context
from flowcheck.verify.resend_reading import resend_reading
from flowcheck.verify.syn_give_up import give_up_words
from flowcheck.verify.syn_too_big import syn_too_big_words
from flowcheck.verify.unresent import lone_syn, went_on_after
from flowcheck.verify.way_back import answer_way_unseen, lacking_words


class GaveUp(NamedTuple):
    """seconds: from the SYN to the connector's stop (capture clock); words: the stop,
    "the media server 10.77.0.1 closed the session (CONNECT_CLOSE, frame 12)"."""

    seconds: float
    words: str


def gave_up_at_once(ctx: Context, conn: Connection) -> GaveUp | None:
    """The connector's stop of the job within the retransmission timeout after a data
    connection's lone SYN (unresent.lone_syn), nothing moved after it; None else (another
    role, no session, the connector not one of the session's hosts, no such stop, or a
    SYN that may be a resend: resend_reading)."""
    if conn.role != "data" or not lone_syn(ctx, conn):
        return None
    session = ctx.session_of(conn)
    if session is None or went_on_after(ctx, session, conn):
        return None
    if conn.orig_h in ctx.host_addresses(session, "media"):
        side, who = "orig", f"the media server {session.media_server}"
    elif conn.orig_h in ctx.host_addresses(session, "agent"):
        side, who = "resp", f"the agent {session.remote_agent}"
    else:
        return None
    stream = ctx.stream_by_uid.get(session.control_uid)
    if stream is None:
        return None
    stops = [(m.ts, f"{who} closed the session (CONNECT_CLOSE, {frame_text(m.frame)})")
             for m in stream.messages
             if message_op(m) == "CONNECT_CLOSE" and m.type == "request"
             and m.direction == side and m.ts >= conn.ts]
    stops += [(p.ts, f"{who} closed the control connection "
                     f"({'RST' if p is stream.reset else 'FIN'}, {frame_text(p.frame)})")
              for p in (stream.fin, stream.reset)
              if p is not None and p.direction == side and p.ts >= conn.ts]
    if not stops:
        return None
    ts, words = min(stops)
    if ts - conn.ts >= ctx.config.retransmission_timeout or \
            resend_reading(ctx, conn, ts - conn.ts) is not None:
        return None
    return GaveUp(ts - conn.ts, words)


def moved_between(ctx: Context, conn: Connection, until: float) -> list[Connection]:
    """The session's other data connections that opened after conn's SYN and carried TCP
    payload the capture holds before `until` (its connector's stop, capture clock: a
    side's first data packet, Connection.orig_first_data / resp_first_data): data moved
    between, though no control message the capture holds says so (went_on_after reads
    those alone; lab matrix seed 128 run 7, `-Q out` on the media server: the first of
    three resources' data connections reset by the agent, the other two moving 400000 B
    before CONNECT_CLOSE, read "closed the session ... with no data moved"). A connection
    opened before the stop whose data came only after it moved none in between (review58h:
    run 7's C4 with its data moved 0.2 s later, read "C4, C5, carried data in between")."""
    session = ctx.session_of(conn)
    if session is None:
        return []
    others = (ctx.by_uid.get(uid) for uid in session.data_connections)
    return [c for c in others if c is not None and c is not conn
            and conn.ts < c.ts < until and _data_before(c, until)]


def _data_before(conn: Connection, until: float) -> bool:
    """Whether either side of conn sent a data packet the capture holds before `until`,
    or, of a side the capture holds no segment of (one direction captured: `tcpdump -Q
    in` on the receiver), its peer's ACKs acknowledged more bytes than a closing FIN
    before `until` (as verify.one_way_data.carried; Connection.orig/resp_acked_unseen_ts,
    the first such ACK's time), whatever the peer sent after it (field check 76 seed 139
    run 17: `-Q in` on the agent, three backup data connections' 600,000 B acknowledged
    by the media server before its CONNECT_CLOSE, read "with no data moved"; with the
    media server's FINs on them after the close, as when it ends the data connections
    once the session is closed, the same words came back while only the peer's last
    packet was read)."""
    if any(first is not None and first[1] < until
           for first in (conn.orig_first_data, conn.resp_first_data)):
        return True
    return any(moved is not None and moved < until
               for moved in (conn.orig_acked_unseen_ts, conn.resp_acked_unseen_ts))


def gave_up_words(ctx: Context, conn: Connection, gave: GaveUp) -> str:
    """What the capture shows of a lone SYN its connector gave up at once (no final
    stop): the SYN, the stop and how soon (with the data the session's later data
    connections moved before it, moved_between), why that reads as a reject, and where
    the reject is not (the direction the capture lacks, or the sniffer's loss)."""
    lacking = answer_way_unseen(ctx, conn)
    where = (f"the capture holds {lacking_words(ctx, *lacking, conn.ts)}, the way one would travel"
             if lacking is not None
             else "the capture lacks it: the sniffer lost it")
    moved = moved_between(ctx, conn, conn.ts + gave.seconds)
    uids = ", ".join(c.uid for c in moved[:4]) + (", ..." if len(moved) > 4 else "")
    between = (f" (the session's data connection{'s' if len(moved) > 1 else ''} opened "
               f"after it, {uids}, carried data in between)"
               if moved else " with no data moved")
    return (f"its one SYN ({frame_text(conn.syn_frames[0])}) got no answer in the capture"
            f"{syn_too_big_words(conn)}, and "
            f"{gave.words} {span_words(gave.seconds)} after it{between}, before "
            f"TCP would have resent the SYN (within {ctx.config.retransmission_timeout:g} "
            f"s; {give_up_words(conn)}): a connect fails that fast "
            f"on a reject, a RST or an ICMP unreachable ({where}), or when its program "
            "gives it up on its own; most likely rejected")


def gave_up_fix(ctx: Context, conn: Connection, refused: str) -> str:
    """The fix of a lone SYN its connector gave up at once: the reject's (refused:
    refusals' fix for the step), then how to capture the reject itself."""
    lacking = answer_way_unseen(ctx, conn)
    see = ("A capture of both directions holds the reject and what sent it"
           if lacking is not None else
           "The capture lacks the reject (the sniffer lost packets): capture again with a "
           "larger buffer (tcpdump -B 16384, or dumpcap) to see it and what sent it")
    return f"{refused} {see}."
