"""Data connections given up before any data: `data_aborted`.

SYN, SYN-ACK, then a RST from the side that connected instead of the ACK that completes
the handshake, and no data (Zeek's RSTO with history ShR). The port was reachable (it
answered), but the connector gave the connection up before it opened, so that
resource's data never flowed: step 5 failed, on the RST as evidence.

The timing tells the two readings apart. A SYN-ACK that came late (after SYN retries,
or later than the retransmission timeout after the first SYN) found the connect already
timed out: with no connection waiting for it, the connector's TCP answers it with a RST
(RFC 9293 section 3.10.7.1, CLOSED state): a slow or lossy path. A prompt SYN-ACK means
the connector abandoned the connection itself (the job was cancelled, an error on its
side), or a rule on its side rejects the SYN-ACK with a reset.

A close relative: SYN, SYN-ACK, ACK (the connection opened), then closed with no payload
byte either way (Zeek's ShAR, ShAr, ShAF, ...). The opening went fine (step 4 ok), but
that resource's data never flowed either (a backup or restore stream always carries
bytes, dump and tar headers at least). Who closed it tells where to look: its
originator (a RST or FIN: it gave the connection up itself), the responder (the service
behind the port dropped it at once), or RSTs from both ends (what a firewall or IPS
that lets the handshake through and then blocks the session does to its two ends).
"""

from __future__ import annotations

from collections import defaultdict

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import (
    Connection,
    ControlPacket,
    NdmpMessage,
    Said,
    Session,
    cites_of,
    connection_ends,
    endpoint,
)
from flowcheck.sessions import closed_before_data, closing, message_op
from flowcheck.sessions.syn_proxy import proxied
from flowcheck.sessions.unheard_ack import handshake_unheard
from flowcheck.verify.after_close import LateRefusal, taken_before
from flowcheck.verify.allow_rules import capitalised, lowered
from flowcheck.verify.bytes_each_way import flow_detail, job_direction, sent_each_way
from flowcheck.verify.context import Context
from flowcheck.verify.details import failure_words, handshake_words
from flowcheck.verify.end_roles import role_words
from flowcheck.verify.evidence import is_open, judged
from flowcheck.verify.one_exit import closed_with_control
from flowcheck.verify.one_way_close import one_way_head, one_way_opening, unseen_halt_words
from flowcheck.verify.other_host import report_wrong_address
from flowcheck.verify.pmtu import conn_fix, hole_why
from flowcheck.verify.replies import FATAL_REPLIES
from flowcheck.verify.rst_words import reset_words
from flowcheck.verify.sacked_unseen import sacked_of, sacked_reading
from flowcheck.verify.stalled import data_stall
from flowcheck.verify.synack_reset import (
    elapsed,
    late_answer,
    late_reading,
    rejected_words,
    resent_after_reset,
    reset_timeline,
    synacks_unreceived,
    syns_sent,
    unreceived_reading,
)
from flowcheck.verify.waited_close import gave_up_waiting

# Requests that would use the data connection: an error reply to one leaves it unused.
USES_DATA = FATAL_REPLIES - {"CONNECT_CLIENT_AUTH"}


def abandoned(ctx: Context, session: Session) -> list[list[Connection]]:
    """The session's data connections reset by their originator after the SYN-ACK
    (instead of the ACK, or after it before any data), grouped by endpoint (attempts in
    capture order), leaving out an endpoint that a later connection from the same host
    reached and opened (the connector retried and the resource's data could flow), a
    connection closed with a FIN resent unanswered (data_stalled), and one whose
    listener never got the ACK completing its handshake (handshake_incomplete)."""
    groups: dict[tuple[str, str, int], list[Connection]] = defaultdict(list)
    opened: dict[tuple[str, str, int], float] = {}  # the last one that opened, by key
    for uid in session.data_connections:
        conn = ctx.by_uid[uid]
        if _fin_stalled(conn) or handshake_unheard(conn) or proxied(conn):
            continue  # never opened at the listener (or refused behind a SYN proxy)
        key = (conn.orig_h, conn.resp_h, conn.resp_p)
        outcome = judged(ctx, conn)
        if outcome in ("unanswered", "late"):
            continue  # answered only after the job ended (after_close: field check 41)
        if outcome == "aborted" or closed_before_data(conn):
            groups[key].append(conn)
        elif is_open(outcome):
            opened[key] = max(conn.ts, opened.get(key, conn.ts))
    return [attempts for key, attempts in groups.items()
            if opened.get(key, float("-inf")) <= attempts[0].ts]


def _fin_stalled(conn: Connection) -> bool:
    """Did its closer resend its FIN and never have it answered (stalled.data_stall's
    closing shape)? The path lost the connection's packets: data_stalled says it
    (trial 25 D9: not "the job was cancelled")."""
    stall = data_stall(conn)
    return stall is not None and stall.fin


def aborted_flow(ctx: Context, session: Session, open_conns: list[Connection]
                 ) -> tuple[list[str], list[int], Said] | None:
    """Step 5 failed on evidence when a resource's connection was reset so: (uids, the
    RST frames, detail), the bytes the open connections moved named too (the detail a
    Said citing what their words cite: review63c, "(segments the sniffer missed:
    capture_loss ...)" read with cites ()); None when none was."""
    groups = abandoned(ctx, session)
    if not groups:
        return None
    gave_up = [attempts[0] for attempts in groups]
    first = gave_up[0]
    detail = f"{endpoint(first.resp_h, first.resp_p)}: {failure_words(first)}"
    refusal = refused_use(ctx, session, groups[0])
    if refusal is not None:
        detail += f", after {refusal_words(refusal)}"
    # One opened and reset before any data is open too: not one of the others.
    others = [c for c in open_conns if c not in gave_up]
    flow = (flow_detail(ctx, session, others, sent_each_way(session, others),
                        job_direction(session)) if others else "")
    if flow:
        detail += f"; the others: {flow}"
    return ([c.uid for c in gave_up + others],
            [f for c in gave_up for f in c.rst_frames + c.fin_frames],
            Said(detail, cites_of(flow)))


def check_aborted(ctx: Context, session: Session) -> None:
    """One data_aborted error per endpoint whose connection was reset so (one a NAT
    rewrote too: announced_address_mismatch points to it)."""
    for attempts in abandoned(ctx, session):
        if report_wrong_address(ctx, session, attempts):
            continue  # another host answered the announced address (trial 35 D1)
        if refused_use(ctx, session, attempts) is not None:
            continue  # the refusal is the root cause: ndmp_error_reply says it
        fin = closed_with_control(ctx, session, attempts[-1])
        if fin is not None and _lost_reading(ctx, session, attempts[-1]) is None:
            # Its closer ended the session: control_closed (verify.running) says it, else
            # report_deferred reports this.
            ctx.exit_closed[session.id].append(attempts)
            continue
        # Data sent that never arrived (a path MTU black hole) is the root cause even when
        # its closer gave the whole session up with it (trial 17 D6): the job timed out
        # waiting for that data, it did not crash.
        _report(ctx, session, attempts, fin)


def report_deferred(ctx: Context) -> None:
    """data_aborted for the connections check_aborted left to the control connection's
    close (Context.exit_closed) when no control connection failure was reported."""
    for session in ctx.sessions:
        if "control" not in ctx.causes.get(session.id, set()):
            for attempts in ctx.exit_closed.get(session.id, []):
                # One direction only: the close named, its halt unseen (one_way_close).
                fin = (closed_with_control(ctx, session, attempts[-1])
                       if one_way_opening(attempts[-1]) else None)
                _report(ctx, session, attempts, fin, one_way=fin is not None)


def _report(ctx: Context, session: Session, attempts: list[Connection],
            control_fin: ControlPacket | None = None, one_way: bool = False) -> None:
    """data_aborted for one endpoint's attempts; control_fin: the control connection's
    FIN its closer sent with the data connection's (closed_with_control), named as the
    data loss's consequence, or with one_way as a close whose halt the capture's one
    direction cannot show (one_way_close.unseen_halt_words)."""
    first = attempts[0]
    frames = [f for c in attempts
              for f in c.syn_frames + c.synack_frames + c.rst_frames + c.fin_frames]
    taken = taken_before(ctx, first) if closing(first)[0] == "responder" else None
    if taken is not None:  # the stray connection's answer (its SYN-ACK), named too
        frames.append(taken[1].answer_frame)
    message, fix = _words(ctx, session, first, len(attempts), taken)
    if control_fin is not None and one_way:
        frames.append(control_fin.frame)
        message += unseen_halt_words(ctx, session, attempts[-1], control_fin)
    elif control_fin is not None:
        frames.append(control_fin.frame)
        message += (f" {_closer_role(session, attempts[-1])} closed the control connection "
                    f"too (FIN, {frame_text(control_fin.frame)}): it gave the job up after waiting "
                    "for data that never came (the job log's timeout), the data loss's "
                    "consequence, not a crash.")
    ctx.add("data_aborted", message, fix, session=session, conn=first, frames=frames,
            ts=first.rst_ts if first.rst_ts is not None else first.ts, cause="data")


def refused_use(ctx: Context, session: Session, attempts: list[Connection]
                ) -> NdmpMessage | None:
    """The first error reply on the session's control connection to a request that would
    have used the data connection (USES_DATA: DATA_START_BACKUP / _RECOVER, MOVER_ and
    DATA_LISTEN / _CONNECT; replies.FATAL_REPLIES) that came while these attempts to one
    endpoint were open (from the first one's SYN to the last one's last packet), when
    each opened and was closed before any data (closed_before_data); None otherwise.
    A connection reset in its handshake (Zeek's ShR) is left out: its own failure is the
    root cause and a CONNECT's error reply its consequence (replies._error_reply)."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    if stream is None or not all(closed_before_data(c) for c in attempts):
        return None
    start, end = attempts[0].ts, max(c.last_ts for c in attempts)
    return next((m for m in stream.messages
                 if m.type == "reply" and m.error and start <= m.ts <= end
                 and message_op(m) in USES_DATA), None)


def refusal_words(reply: NdmpMessage) -> str:
    """ "DATA_START_BACKUP was answered ILLEGAL_ARGS_ERR (frame 20)"."""
    error = reply.error_name.removeprefix("NDMP_") if reply.error_name else str(reply.error)
    return f"{message_op(reply)} was answered {error} ({frame_text(reply.frame)})"


def _opened(conn: Connection, session: Session) -> str:
    """The opening that completed and what closed it before any data: "opened (SYN at
    frame 22, SYN-ACK ..., ACK ...: handshake 0.036 ms) and then was reset by ..."."""
    syns, _ = syns_sent(conn)
    frames = frames_words(conn.syn_frames, ranges=False, plural=syns > 1)
    sent = f"SYN sent {syns} times at {frames}" if syns > 1 else f"SYN at {frames}"
    handshake = "" if conn.rtt is None else f": {handshake_words(conn)}" if conn.rtt < 0 \
        else f": handshake {span_words(conn.rtt)}"
    closer, how = closing(conn)
    end_ts = conn.rst_ts if how == "RST" else None
    after = elapsed(conn.synack_ts, end_ts)
    after_words = f" {span_words(after)} after the SYN-ACK" if after is not None else ""
    if how == "FIN":
        ended = (f"closed by {role_words(conn, session, _host(conn, closer))} (FIN, "
                 f"{frame_text(conn.fin_frames[0])})")
    elif closer == "both":
        ended = f"reset from both ends{after_words} ({reset_words(conn)})"
    elif closer == "originator":
        ended = (f"reset by its own originator, {role_words(conn, session)},{after_words} "
                 f"(RST, {frame_text(conn.rst_frames[0])})")
    else:
        ended = (f"reset by the side it reached, {role_words(conn, session, conn.resp_h)},"
                 f"{after_words} (RST, {frame_text(conn.rst_frames[0])})")
    opened = one_way_opening(conn) or (
        f"opened ({sent}, SYN-ACK from {conn.resp_h} at {frame_text(conn.synack_frames[0])}, "
        f"ACK from {conn.orig_h}{handshake})")
    sacked = how == "FIN" and sacked_of(conn, _host(conn, closer)) is not None
    return f"{opened} and then was {ended}, before any data{' was acknowledged' * sacked}"


def _lost_words(ctx: Context, conn: Connection, session: Session, closer: str
                ) -> tuple[str, str] | None:
    """The reading when the other side's pure ACKs show data it sent that never reached
    the closer (SideEvidence.sent_unseen: their sequence number above anything of it
    captured, the closer's ACKs never covering it, no byte of the capture's lost by the
    sniffer): the data was lost on the way while the handshake's and the close's small
    packets passed (a path MTU black hole, flowcheck.verify.pmtu). None otherwise."""
    other = "resp" if closer == conn.orig_h else "orig"
    unseen = conn.evidence(other).sent_unseen
    if not unseen or conn.sniffer_missed:
        return None
    sender = conn.host(other)
    sender_words = role_words(conn, session, sender)
    closer_words = role_words(conn, session, closer)
    frame = conn.evidence(other).sent_unseen_frame
    return (f", but not the data: {sender_words} had sent {unseen:,} B on it that never "
            f"arrived (its ACK in {frame_text(frame)} carries a sequence number {unseen:,} B past "
            f"anything of it captured, and {closer_words}'s ACKs never covered them); "
            f"{closer} closed it {span_words(conn.last_ts - conn.ts)} after it opened, "
            "having received nothing. Small packets passed both ways (the handshake, the "
            f"close) and the data did not: a path MTU black hole fits {hole_why(ctx, conn)}, "
            "or a device that drops the connection's "
            f"data; a capture on {sender} shows the resends and their size.",
            "If only full-size segments are lost (a path MTU black hole): "
            + lowered(conn_fix(ctx, conn, probing=True))
            + f". Else see the logs of the firewalls and IPSs between {conn.orig_h} and "
            f"{conn.resp_h} for dropped packets of this connection.")


def _lost_reading(ctx: Context, session: Session, conn: Connection
                  ) -> tuple[str, str] | None:
    """_lost_words for the side that closed conn (closing), None for a close by both
    sides or by a RST."""
    closer, how = closing(conn)
    if closer not in ("originator", "responder") or how != "FIN":
        return None
    return _lost_words(ctx, conn, session, _host(conn, closer))


def _closer_role(session: Session, conn: Connection) -> str:
    """ "The media server 10.77.0.1": who closed conn, by its role."""
    words = role_words(conn, session, _host(conn, closing(conn)[0]))
    return capitalised(words)


def _host(conn: Connection, closer: str) -> str:
    return conn.orig_h if closer == "originator" else conn.resp_h


def _words(ctx: Context, session: Session, conn: Connection, attempts: int,
           taken: tuple[Connection, LateRefusal] | None) -> tuple[str, str]:
    """The finding's message and fix, by the reading the timing supports (taken: as
    _closed_words')."""
    who = role_words(conn, session)
    role = who.rsplit(" ", 1)[0]
    more = (f" {attempts - 1} more attempt{'s' if attempts > 2 else ''} to it ended the same "
            "way." if attempts > 1 else "")
    if closed_before_data(conn):
        return _closed_words(ctx, conn, session, more, taken)
    head = (f"The data connection {connection_ends(conn)} was answered and then reset by its own "
            f"originator, {who}, before any data: {reset_timeline(conn)}.{more} This resource's "
            "data never flowed (step 5).")
    if late_answer(ctx, conn):
        reading, fix = late_reading(conn, role)
        return f"{head} {reading}", fix
    if resent := resent_after_reset(conn):
        return (f"{head} {rejected_words(conn, resent)}",
                f"Check the firewall on {conn.orig_h}: it must let in the return traffic of "
                f"its own connections (TCP from {conn.resp_h} port {conn.resp_p} to "
                f"{conn.orig_h} port {conn.orig_p}, established).")
    if unreceived := synacks_unreceived(conn):
        reading, fix = unreceived_reading(ctx, conn, unreceived)
        return f"{head} {reading}", fix
    return (f"{head} The SYN-ACK came at once, so the port was reachable and the network "
            f"delivered the answer: {conn.orig_h} gave the connection up itself (the job was "
            f"cancelled, or an error on its side), or a rule on {conn.orig_h} rejects the "
            "SYN-ACK with a reset.",
            f"See the job log and {role}'s log for why it gave this connection up (a "
            "cancelled job, an error on its side); if they show none, check the firewall "
            f"on {conn.orig_h}: it must let in the return traffic of its own connections "
            f"(TCP from {conn.resp_h} port {conn.resp_p} to {conn.orig_h} port "
            f"{conn.orig_p}, established).")


def _closed_words(ctx: Context, conn: Connection, session: Session, more: str,
                  taken: tuple[Connection, LateRefusal] | None) -> tuple[str, str]:
    """Message and fix for a connection that opened and was closed before any data, by
    who closed it; taken: the stray connection its listener took first (after_close.
    taken_before), when the responder closed it."""
    closer, how = closing(conn)
    sacked = (sacked_reading(ctx, conn, session, _host(conn, closer))
              if closer != "both" and how == "FIN" else None)
    head = (f"The data connection {connection_ends(conn)} {_opened(conn, session)}.{more} This "
            "resource's data never flowed (step 5). " + (
                one_way_head(sacked is not None) if one_way_opening(conn)
                else "The handshake completed, so "
                "the port was reachable and the network carried both directions"))
    if closer == "both":
        return (f"{head}; the resets came from both ends: what a firewall or IPS between "
                f"{conn.orig_h} and {conn.resp_h} does when it lets a session open and then "
                "blocks it (an application or threat rule that does not know NDMP data), "
                "though two hosts giving up at once would look the same.",
                "Check the firewalls and IPSs between the hosts for a rule or signature that "
                f"resets TCP from {conn.orig_h} to {conn.resp_h} port {conn.resp_p} after the "
                "handshake (their threat or session log names it) and allow NDMP data "
                "connections through; if none is there, see both hosts' logs.")
    host = _host(conn, closer)
    who = role_words(conn, session, host)
    role = who.rsplit(" ", 1)[0]
    lost = _lost_words(ctx, conn, session, host) if closer != "both" else None
    if lost is not None:
        return head.rsplit(" and the network", 1)[0] + lost[0], lost[1]
    if taken is not None:  # a stray retry of an ended job took the listener (check 41)
        stray, late = taken
        other = ctx.session_of(stray)
        name = f"session {other.id}'s" if other is not None else "another job's"
        return (f"{head}: {host} {'reset' if how == 'RST' else 'closed'} it because its "
                f"listener had already taken another connection: {stray.uid} from "
                f"{endpoint(stray.orig_h, stray.orig_p)}, {name} connect still retrying "
                f"after that job ended, answered at {frame_text(late.answer_frame)}. The listener "
                "serves one connection, so this one, its own job's, was the wrong peer for "
                "it.",
                f"Fix what left {name} connect unanswered while its job ran (its own "
                "finding names it); the next job on this port then gets its own connection.")
    if closer == "responder" and how == "RST":
        return (f"{head}: {host} (or a firewall or IPS in its name) reset it: the "
                "service behind the port dropped the connection (an error on its side, "
                "the wrong peer), or a device between them that lets the handshake "
                "through blocks the session.",
                f"See {role}'s log for why it dropped the connection from {conn.orig_h}; "
                "if it shows none, check the firewalls and IPSs between the hosts for a "
                f"rule that resets TCP to {conn.resp_h} port {conn.resp_p} after the "
                "handshake (their threat or session log names it).")
    if sacked is not None:
        return f"{head}: {sacked[0]}", sacked[1]
    if how == "FIN" and (waited := gave_up_waiting(conn, session, host)) is not None:
        return f"{head}: {waited[0]}", waited[1]
    return (f"{head}: {host} {'reset' if how == 'RST' else 'closed'} it itself (the job "
            "was cancelled, or an error on its side).",
            f"See the job log and {role}'s log for why it gave this connection up (a "
            "cancelled job, an error on its side).")
