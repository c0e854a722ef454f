"""A control, callback or data SYN with no answer that TCP never resent, the capture running on.

An unanswered connect resends its SYN within the retransmission timeout (RFC 6298 5.7):
one SYN, no SYN-ACK, RST or ICMP, and no resend in a capture that went on past that
timeout means the sniffer lost packets there (the resends, the RST or ICMP reject that
stopped them, or the answer and what followed it), or the connector gave up at once.
Whether the SYN was dropped or rejected cannot be seen (trial 25 D4): the stretch of
capture the contract counts as evidence is one in which TCP's retries could be seen, and
here the capture's own silence contradicts TCP.

A callback's or data connection's step failed only when the job visibly stopped after
it: the session's control connection closed with no announcement (a callback's) or no
data moved (a data connection's) after the SYN. A control connection's is always
`unknown` (trial 29 D4): the job it starts has nothing after it to stop, and other
traffic of the same hosts meanwhile does not show the sniffer kept this connection's
packets (a data connection's lone SYN beside its control traffic is unknown too) nor
tell a reject it missed (the agent's service not running) from a drop; but other
unanswered attempts of the same host to the same port are the DMA's own retries, and
prove no answer came (lone_syn). Otherwise the attempt is `unknown`
(flowcheck.verify.evidence.judged) and the verdict inconclusive.

A SYN that was resent is evidence on its own (contract: "retransmitted SYNs"): TCP
resends only when no SYN-ACK or RST came within its timeout, so the step failed. What
the resends do not show is whether the last SYN, or one TCP would send later, got
through, when the capture ended less than the retransmission timeout after it and the
job did not visibly stop (resend_cut): the words then say how long the capture ran on
(new user trial 58: data-port-dropped.pcap cut after frame 24 read "2 SYNs over 1.02 s
... never answered", the capture ending 0 ms after the second SYN).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from flowcheck.durations import ended_words, span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, Session
from flowcheck.sessions.classify import connection_outcome, message_op, seen_closing
from flowcheck.sessions.unheard_ack import handshake_unheard
from flowcheck.verify.capture_time import after_last
from flowcheck.verify.connect_said import said_of
from flowcheck.verify.context import Context
from flowcheck.verify.cut_icmp import untied_words
from flowcheck.verify.details import failure_words, syn_count
from flowcheck.verify.filtered import data_moved
from flowcheck.verify.syn_too_big import syn_too_big_words
from flowcheck.verify.ttl_exceeded import ttl_exceeded
from flowcheck.verify.unseen_tries import earlier_tries, earlier_tries_words
from flowcheck.verify.way_back import answer_way_unseen, lacking_words


def lone_syn(ctx: Context, conn: Connection) -> bool:
    """One SYN, no answer of any kind in the capture, never resent, and no other attempt
    to the same endpoint: of the session (a callback or data connection), or from the
    same host, unanswered too (a control connection: a DMA that tries again on a new
    connection retries as TCP would, and its unanswered attempts prove the drop); the
    caller checks the capture's time after it."""
    # "unanswered" already means no RST and no ICMP answer (sessions.classify).
    if connection_outcome(conn) != "unanswered" or conn.syn_retries or \
            len(conn.syn_frames) > 1:
        return False
    if conn.role == "control":
        return not any(other is not conn and other.resp_p == conn.resp_p
                       and other.resp_h == conn.resp_h and other.orig_h == conn.orig_h
                       and connection_outcome(other) == "unanswered"
                       for other in ctx.connections)
    session = ctx.session_of(conn)
    return session is None or not any(
        uid != conn.uid and (other := ctx.by_uid[uid]).resp_h == conn.resp_h
        and other.resp_p == conn.resp_p for uid in session.data_connections)


def went_on_after(ctx: Context, session: Session, conn: Connection) -> bool:
    """Did the session go on past the attempt? A callback's: an announcement or data
    moved after it; a data connection's: data moved after it, before the next
    announcement, or the control connection says its connection was made (the CONNECT
    request carrying its endpoint answered NDMP_NO_ERR, a service gone ACTIVE:
    connect_said)."""
    later = [a.ts for a in session.announced if a.ts > conn.ts]
    if conn.role == "callback":
        return bool(later) or data_moved(ctx, session, conn.ts) is not None
    said = said_of(ctx, session, conn)
    return data_moved(ctx, session, conn.ts, min(later, default=float("inf"))) is not None \
        or (said is not None and said.outcome == "made")


def stopped_after(ctx: Context, conn: Connection) -> bool:
    """Did the job visibly stop after the attempt: its session's control connection
    closed in the capture (or CONNECT_CLOSE was sent after the attempt) and the session
    did not go on past it?"""
    session = ctx.session_of(conn)
    if session is None:
        return True  # no job to show otherwise: judged as before
    control = ctx.by_uid[session.control_uid]
    stream = ctx.stream_by_uid.get(session.control_uid)
    closed = seen_closing(control) or any(
        message_op(m) == "CONNECT_CLOSE" and m.ts >= conn.ts
        for m in (stream.messages if stream else []))
    return closed and not went_on_after(ctx, session, conn)


def resend_cut(ctx: Context, conns: Sequence[Connection]) -> tuple[float, Connection] | None:
    """(seconds of capture after the last SYN, the attempt that sent it) of unanswered
    attempts to one endpoint whose SYNs were resent (one SYN resent, or several
    attempts), when the capture ended less than the retransmission timeout after that
    SYN, before the SYNs' spacing had the next resend due (next_resend_due), and the job
    did not visibly stop or move on after it (ended_after): whether that SYN, or a
    later resend, got through cannot be seen. None otherwise (a lone SYN: lone_syn's
    rules; an answer of any kind, an ICMP time exceeded for its SYNs among them:
    ttl_exceeded; the capture ran on; the job stopped or moved on)."""
    if not conns or any(connection_outcome(c) != "unanswered" or ttl_exceeded(c)
                        for c in conns):
        return None
    if len(conns) == 1 and not conns[0].syn_retries and len(conns[0].syn_frames) < 2:
        return None
    last = max(conns, key=lambda c: (c.last_ts, c.last_frame))
    went = after_last(ctx, last)
    if went >= min(ctx.config.retransmission_timeout, next_resend_due(conns)) \
            or ended_after(ctx, last):
        return None
    return went, last


def next_resend_due(conns: Sequence[Connection]) -> float:
    """Seconds after the last SYN of `conns` (one endpoint's unanswered attempts) by
    which the SYNs' own spacing had the next resend due: twice their mean gap (TCP
    doubles its timeout after each resend, RFC 6298 5.5; Linux's first resends, 1 s
    apart with tcp_syn_linear_timeouts, come sooner). A capture that ran on past it
    with no resend shows TCP had given up (or the sniffer lost the resend), not a
    resend it could not see: field53's two-jobs-control-synacks-dropped-by-agent-ipv6,
    4 SYNs over 3.05 s, the capture 2.11 s on, said "whether that one or a later resend
    got through cannot be seen" beside a control_unanswered that said it never opened.
    The mean is a floor under the last gap where the gaps grew: a capture that ran past
    twice the mean but not past twice the last gap keeps the words it had before."""
    first = min(conns, key=lambda c: (c.ts, c.first_frame))
    last = max(conns, key=lambda c: (c.last_ts, c.last_frame))
    gaps = sum(syn_count(c) for c in conns) - 1
    return 2 * max(0.0, last.last_ts - first.ts) / gaps if gaps > 0 else float("inf")


# What a capture that ended within the resends' reach cannot show (resend_cut): the
# words cut_answer_words and resend_cut_words put in a finding, and its Finding.hedges.
RESEND_UNSEEN = "whether that one or a later resend got through cannot be seen"


def resend_hedges(cut: tuple[float, Connection] | None) -> tuple[str, ...]:
    """Finding.hedges for a finding whose words are cut_answer_words' for `cut`:
    (RESEND_UNSEEN,) for a resend_cut, () for none."""
    return (RESEND_UNSEEN,) if cut is not None else ()


def resend_cut_words(cut: tuple[float, Connection]) -> str:
    """"the capture ended 0 ms after the last SYN, so whether that one or a later resend
    got through cannot be seen" (resend_cut)."""
    return f"{ended_words(cut[0], 'the last SYN')}, so {RESEND_UNSEEN}"


# Messages after which no connection of the job is waited for: its data or mover
# operation halted or was stopped, or the session closed.
ENDING_OPS = frozenset({"NOTIFY_DATA_HALTED", "NOTIFY_MOVER_HALTED", "DATA_ABORT",
                        "DATA_STOP", "MOVER_ABORT", "MOVER_STOP", "CONNECT_CLOSE"})


# The requests whose error reply says the agent's connect() returned: TCP gave up.
CONNECT_OPS = frozenset({"DATA_CONNECT", "MOVER_CONNECT"})


def ended_after(ctx: Context, conn: Connection) -> bool:
    """Did the job visibly stop or move on after the connection's last packet:
    stopped_after; a message of its session's control connection after that packet
    ending its operation (ENDING_OPS: trial 34's data-ack-dropped-at-agent,
    NOTIFY_DATA_HALTED 481 ms after the last SYN-ACK resend) or a DATA_CONNECT or
    MOVER_CONNECT reply with an error (the connect gave up); of a control connection, a
    later connection of its host to the same endpoint (the DMA tried again); or, of a
    data connection, a later announcement of the session (the job moved on to another
    endpoint: field54's
    ipv6-data-synacks-dropped-by-agent-router-any-sniffer-loss cut after frame 119, a
    DATA_LISTEN 440 ms after port 6004's last SYN, read "it ended 1.47 s after the
    last, so whether that one or a later resend got through cannot be seen" of 6004)?
    False for a connection of no session."""
    if conn.role == "control" and any(
            other is not conn and other.ts > conn.last_ts and other.orig_h == conn.orig_h
            and (other.resp_h, other.resp_p) == (conn.resp_h, conn.resp_p)
            for other in ctx.connections):
        return True  # the DMA gave it up and tried again on a new connection (lone_syn)
    session = ctx.session_of(conn)
    if session is None:
        return False
    return stopped_after(ctx, conn) or any(
        a.ts > conn.last_ts for a in session.announced if conn.role == "data") or any(
        (op := message_op(m)) in ENDING_OPS or (m.type == "reply" and m.error != 0
                                                and op in CONNECT_OPS)
        for m in _messages_from(ctx, session, conn.last_ts))


def ending_message_after(ctx: Context, session: Session, since: float) -> bool:
    """Does the session's control connection carry a message at or after `since`
    (seconds) that ends its operation or the session (ENDING_OPS)? Read by
    verify.kind_shown.stop_seen (ended_after asks it in the same pass as its connect
    errors)."""
    return any(message_op(m) in ENDING_OPS for m in _messages_from(ctx, session, since))


def _messages_from(ctx: Context, session: Session, since: float) -> Iterator[NdmpMessage]:
    """The messages of the session's control connection at or after `since` (seconds),
    in the stream's order; none when the capture holds no stream of it."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    return (m for m in (stream.messages if stream else []) if m.ts >= since)


def unheard_cut(ctx: Context, conn: Connection) -> float | None:
    """Seconds of capture after the last packet of a connection whose listener resent
    its SYN-ACK after the originator's ACK (sessions.unheard_ack.handshake_unheard: the
    return path blocked), when shorter than the retransmission timeout and the job did
    not visibly stop after it (ended_after): the resends show no ACK had reached the
    listener until then, not whether a later one did (control-ack-dropped cut after
    frame 6: "never opened on 10.77.0.2's side", the capture ending at the second
    resend). None otherwise, and for a connection one of its ends closed (a FIN or RST:
    data-ack-dropped's media server, trial 37's listener), which no later ACK opens."""
    if not handshake_unheard(conn) or conn.fin_frames or conn.rst_frames:
        return None
    went = after_last(ctx, conn)
    if went >= ctx.config.retransmission_timeout or ended_after(ctx, conn):
        return None
    return went


def unheard_cut_words(conn: Connection, went: float) -> str:
    """What a capture that ended `went` seconds after such a connection (unheard_cut)
    cannot show, without a leading capital or a full stop."""
    last = "this connection's last packet"
    return (f"{ended_words(went, last)} "
            f"({frame_text(conn.last_frame)}), so whether a later ACK from {conn.orig_h} reached "
            f"{conn.resp_h} cannot be seen (the resent SYN-ACKs show none had until then)")


def cut_answer_words(conns: Sequence[Connection], words: str,
                     cut: tuple[float, Connection] | None, *, counted: bool = False) -> str:
    """A finding's words for an opening's missing answer (cut_icmp.no_answer_words) as
    they stand, or, for a resend_cut `cut` of `conns`, with how long the capture ran on:
    "got no answer in the capture (2 SYNs over 1.02 s; it ended 0 ms after the last, so
    whether that one or a later resend got through cannot be seen)". For a cut the
    caller's words already say "in the capture" (no_answer_words' `unseen`): "never" is
    not what a capture that ended there can show. counted: the words before already give
    the SYNs' count ("sent 2 SYNs"), so the brackets give only their span."""
    if len(conns) == 1:  # what the capture holds instead of an answer: path MTU's message
        words += syn_too_big_words(conns[0])
    if cut is None:
        return words
    first = min(conns, key=lambda c: (c.ts, c.first_frame))
    syns = sum(syn_count(c) for c in conns)
    return (f"{words} ({'' if counted else f'{syns} SYNs '}over "
            f"{span_words(max(0.0, cut[1].last_ts - first.ts))}; "
            f"{ended_words(cut[0], 'the last', 'it')}, so {RESEND_UNSEEN})")


def failed_opening_words(ctx: Context, conn: Connection) -> str:
    """What a step's detail says of a failed opening (details.failure_words), naming the
    direction the capture lacks that its answer would travel (answer_way_unseen): the
    control connection's and the callback's steps (verify.control_step,
    verify.callback_step), the data connections' (verify.data_steps). Here, not in
    details: details sits below this module (unresent -> connect_said -> replies ->
    after_close -> details)."""
    lacking = answer_way_unseen(ctx, conn)
    words = failure_words(conn, None if lacking is None else
                          lacking_words(ctx, *lacking, conn.ts))
    cut = resend_cut(ctx, [conn])
    if cut is not None:
        return f"{words}; {resend_cut_words(cut)}"
    went = unheard_cut(ctx, conn)
    return words if went is None else f"{words}; {unheard_cut_words(conn, went)}"


def unresent_words(ctx: Context, conn: Connection, after: float) -> str:
    """What the capture shows of a lone SYN: never resent within `after` seconds of
    capture, although TCP resends within the retransmission timeout; and, when the
    capture lacks the direction its answer would travel (answer_way_unseen), that a RST
    or ICMP reject that stopped the resends may be there."""
    untied = untied_words(conn)
    rto = ctx.config.retransmission_timeout
    lacking = answer_way_unseen(ctx, conn)
    lost = ("the sniffer lost packets here (the resends, or a RST or ICMP reject that "
            "stopped them), or the connector gave up at once")
    if lacking is not None:
        also = ("" if lacking == (conn.resp_h, conn.orig_h) else
                f", nor any from {conn.resp_h} to {conn.orig_h}, the same hosts' other "
                "addresses")
        lost = (f"the capture holds {lacking_words(ctx, *lacking, conn.ts)}{also}, the way a "
                f"RST or ICMP reject that stopped the resends would travel; or {lost}")
    # A SYN as late after what asked for it as a resend: TCP's next one waits longer.
    tries = earlier_tries(ctx, conn)
    resend = ("" if tries is None else
              f"; {earlier_tries_words(conn, tries, 'it')}; a later resend may wait longer "
              "than the first (TCP doubles its timeout)")
    return (f"its one SYN ({frame_text(conn.syn_frames[0])}) got no answer in the capture"
            f"{syn_too_big_words(conn)} and was "
            f"never resent in the {span_words(after)} of capture after it, although TCP resends an "
            f"unanswered SYN within {rto:g} s: {lost}"
            + (f"; the capture holds {untied}" if untied else "") + resend)


def lone_syn_unseen(ctx: Context, conn: Connection, after: float) -> str:
    """Why a lone SYN never resent within `after` seconds of capture leaves its step
    unknown: unresent_words, then for a control connection where the answer is (the
    job's own error), for a callback or data connection what its session did after it."""
    words = unresent_words(ctx, conn, after)
    if conn.role == "control":
        return (f"{words}; so whether it opened (the sniffer losing the rest), or was dropped "
                "or rejected, cannot be seen: the job's error on the media server tells "
                "(\"connection refused\": a reject, the agent's NDMP service not running or a "
                "firewall that rejects; \"timed out\": a firewall that drops)")
    session = ctx.session_of(conn)
    went_on = session is not None and went_on_after(ctx, session, conn)
    return words + ("; the session went on after it, so it most likely opened and the "
                    "sniffer lost the rest of it" if went_on else
                    "; the job did not visibly stop after it, so whether it opened, or was "
                    "dropped or rejected, cannot be seen")
