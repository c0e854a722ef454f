"""Evidence before verdict: may an absence in the capture be called a failure?

A packet missing from the capture is not a packet the network dropped. An absence (no
SYN-ACK, no final ACK, no callback, no connection to an announced endpoint, no data) is
judged only on evidence that the capture could have seen the answer: a retransmitted
SYN or SYN-ACK, a RST or ICMP unreachable, or enough capture time after the event for
TCP to have retried (its initial retransmission timeout, RFC 6298 section 2:
`Config.retransmission_timeout`). Without it the step is `unknown`, and
`capture_ended_early` or `capture_one_direction` say what could not be seen and why.
The control conversation's evidence (a whole stream, a reply that could have been seen)
is flowcheck.verify.stream_evidence's.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from flowcheck.durations import ended_words, span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Finding, Session, connection_ends
from flowcheck.sessions import (
    Outcome,
    connection_outcome,
    one_sided,
    quoted_syn_refused,
    rst_only,
)
from flowcheck.sessions.classify import originator_aborted
from flowcheck.sessions.local import icmp_word
from flowcheck.sessions.unheard_ack import acks_repeated, synack_resent
from flowcheck.verify.after_close import gone_before, job_ended, late_refusal
from flowcheck.verify.candidate_data import closing_beside
from flowcheck.verify.capture_time import CaptureTime, after, after_last, time_enough
from flowcheck.verify.census import Census, take_census
from flowcheck.verify.context import Context, opening_frames
from flowcheck.verify.cut_icmp import untied_words
from flowcheck.verify.gave_up import gave_up_at_once
from flowcheck.verify.kept import left_out_words
from flowcheck.verify.lone_synack import lone_synack, lone_synack_words
from flowcheck.verify.one_way_point import left_out_fix, one_direction_fix
from flowcheck.verify.openings_only import handshakes_only
from flowcheck.verify.own_unreachable import own_stack_refused
from flowcheck.verify.retry_wait import before_retry_words
from flowcheck.verify.stale import given_up_before
from flowcheck.verify.syn_on_receiver import receiver_silent, receiver_silent_words
from flowcheck.verify.unread_frames import could_carry, report_unread
from flowcheck.verify.unresent import lone_syn, lone_syn_unseen, stopped_after
from flowcheck.verify.unseen_tries import earlier_tries, earlier_tries_words
from flowcheck.verify.way_back import lacking_words

# "late": a data connection that tried its endpoint only after its job ended
# (flowcheck.verify.after_close): not the job's connection. "given_up": a control
# connection given up before the capture started, only its late SYN-ACK resend and the
# RST to it captured (flowcheck.verify.stale): no job of the capture.
Judged = Outcome | Literal["unknown", "late", "given_up"]


def missing_directions(connections: list[Connection],
                       seen: set[tuple[str, str]] | None = None
                       ) -> dict[tuple[str, str], list[Connection]]:
    """Host-to-host directions with no packet in the whole capture although connections
    prove that side talked (ACKs, data or FINs of the other side only a SYN-ACK or
    delivered data explains, or an ICMP unreachable quoting a SYN it sent:
    flowcheck.sessions.quoted_syn_refused): (sender, receiver) -> those connections, in
    order. seen: the directions the capture holds (Census.captured), when known; given
    them, connections may be those with a side silent alone (Census.one_sided)."""
    if seen is None:
        seen = take_census(connections).captured
    proven: dict[tuple[str, str], list[Connection]] = defaultdict(list)
    for conn in connections:
        if conn.orig_pkts and conn.resp_pkts:
            continue  # both sides captured: neither one_sided nor quoted_syn_refused
        if (conn.orig_h, conn.resp_h) in seen and (conn.resp_h, conn.orig_h) in seen:
            continue  # whichever side it proves, the capture holds that direction
        # A SYN its originator's own ICMP refused never left it (trial 28 D7).
        side = ("orig" if quoted_syn_refused(conn) and not own_stack_refused(conn)
                else one_sided(conn))
        if side == "resp":
            proven[(conn.resp_h, conn.orig_h)].append(conn)
        elif side == "orig":
            proven[(conn.orig_h, conn.resp_h)].append(conn)
    return {pair: conns for pair, conns in proven.items() if pair not in seen}


def check_evidence(ctx: Context, ended_at: float | None = None) -> None:
    """Learn what the capture can show (its end, the directions it lacks); one
    capture_one_direction warning per direction it lacks (with frames in an
    encapsulation flowcheck does not read that could carry it, capture_unread_encapsulation
    instead: verify.unread_frames). Runs before every check.
    ended_at: when the capture stopped, when known to be later than its last packet."""
    if ctx.census is None:
        ctx.census = take_census(ctx.connections, pieces=ctx.pieces)
    census = ctx.census
    ctx.capture_end = max(census.end_ts, ended_at or 0.0)
    if ctx.order.frames:  # a clock set back shows in frame order (verify.capture_time)
        ctx.timeline = CaptureTime(ctx.connections, ctx.streams, ended_at)
    ctx.captured = census.captured
    _missing_by_piece(ctx, census)
    missing = ctx.missing
    if ctx.unread:  # the direction may be in frames flowcheck cannot read (trial 36 D3)
        hidden = {way: conns for way, conns in missing.items()
                  if could_carry(ctx, way, conns)}
        missing = {way: conns for way, conns in missing.items() if way not in hidden}
        report_unread(ctx, hidden, len(missing))
    for index, lacked in enumerate(ctx.missing_in):
        _one_direction(ctx, {way: conns for way, conns in lacked.items() if way in missing},
                       ctx.pieces.words(index))


def _missing_by_piece(ctx: Context, census: Census) -> None:
    """ctx.captured_in, ctx.missing_in (per piece of the set: sources.pieces, each read
    from its own connections alone) and ctx.missing, their union (a direction's
    connections of every piece that lacks it, in order)."""
    ctx.captured_in = census.captured_in  # take_census: one set per piece, at least one
    ctx.missing_in = [missing_directions(conns, held) for conns, held in
                      zip(census.one_sided_in(), ctx.captured_in, strict=True)]
    ctx.missing = ctx.missing_in[0] if len(ctx.missing_in) == 1 else {}
    for lacked in ctx.missing_in if len(ctx.missing_in) > 1 else ():
        for way, conns in lacked.items():
            ctx.missing.setdefault(way, []).extend(conns)


def holds(where: str) -> str:
    """The verb after `where` (sources.pieces.Pieces.words, capitalised or not): "hold"
    after "the files a and b of the capture set" (review58j: "The files trace1 and trace2
    of the capture set holds no packet from ..."), else "holds"."""
    return "hold" if where.lower().startswith("the files ") else "holds"


def _one_direction(ctx: Context, missing: dict[tuple[str, str], list[Connection]],
                   where: str) -> None:
    """One capture_one_direction per direction `missing` lacks (its connections), of
    `where` ("the capture", or a piece of the set: sources.pieces.Pieces.words)."""
    where = where[:1].upper() + where[1:]
    for (sender, receiver), conns in missing.items():
        listed = ", ".join(conns_words(c) for c in conns[:3])
        more = f" and {len(conns) - 3} more" if len(conns) > 3 else ""
        quoted = any(quoted_syn_refused(c) for c in conns)
        icmp = icmp_word(conns[0])  # each of them has the sender at one end
        how = (f"an {icmp} unreachable quotes a SYN from {sender}" if quoted else "")
        if any(not quoted_syn_refused(c) for c in conns):
            how = (f"the other side ACKs, sends data or closes as only an answer from {sender} "
                   f"explains{', or ' + how if how else ''}")
        back = ctx.census.other_words(sender, receiver, at := conns[0].ts)  # in its piece
        if back is not None:  # that direction passed, its TCP did not (review 56b)
            _tcp_left_out(ctx, (sender, receiver), conns, f"{listed}{more}", how, back, where)
            continue
        said = ctx.add("capture_one_direction",
                       f"{where} {holds(where)} "
                       f"{ctx.census.none_words(sender, receiver, at_all=False, ts=at)}, "
                       "although "
                       f"{len(conns)} connection(s) show that side talking ({listed}{more}): "
                       f"{how}. The capture saw one direction only (a SPAN port or firewall "
                       "interface that sees one way, tcpdump -Q in/out, asymmetric routing), so "
                       "what only that direction would show is unknown, not failed (a failure the "
                       "captured direction shows, such as an ICMP reject, a listener that never "
                       "answered a connection it announced or a job engine that never answered "
                       "the agent's callback, is still reported).",
                       one_direction_fix(ctx, sender, receiver), conn=conns[0],
                       frames=[f for c in conns[:5] for f in opening_frames(c)])
        ctx.one_direction.setdefault((sender, receiver), []).append(said)


def _tcp_left_out(ctx: Context, way: tuple[str, str], conns: list[Connection],
                  listed: str, how: str, back: str, where: str = "The capture") -> None:
    """capture_one_direction of a direction whose TCP the capture lacks while it holds
    that direction's other packets (`back`: Census.other_words): no capture of one
    direction, but its TCP left out by a filter or routed past the capture point. A
    capture of the lab's clean job without 10.77.0.2's TCP, an echo reply of its kept,
    read "The capture saw one direction only (...)" (task nontcpback). where: "The
    capture", or the piece of the set (sources.pieces). The fix: one_way_point.left_out_fix
    (the capture's own host not told as the place to go to)."""
    sender, receiver = way
    said = ctx.add("capture_one_direction",
                   f"{where} {holds(where)} no TCP packet from {sender} to {receiver}, although "
                   f"{len(conns)} connection(s) show that side talking ({listed}): {how}. "
                   f"{'They hold' if holds(where) == 'hold' else 'It holds'} {back} from {sender} "
                   f"to {receiver}, so that direction passed the "
                   "capture point and only its TCP is missing: a capture filter left it out (one "
                   "on protocol, port or source address), or it took another path (asymmetric "
                   "routing, a load balancer or ECMP choosing by port). What only that "
                   "direction's TCP would show is unknown, not failed (a failure the captured "
                   "direction shows, such as an ICMP reject, a listener that never answered a "
                   "connection it announced or a job engine that never answered the agent's "
                   "callback, is still reported).",
                   left_out_fix(ctx, sender, receiver), conn=conns[0],
                   frames=[f for c in conns[:5] for f in opening_frames(c)])
    ctx.one_direction.setdefault(way, []).append(said)


def conns_words(conn: Connection) -> str:
    return (f"{conn.uid} {connection_ends(conn)}")


# The outcomes, by connection role, that are "late" when the connection's job had ended
# before the capture saw it run (after_close.job_ended): a data connection's silence (its
# refusal: late_refusal), and a connect taken for its callback, refused or unanswered
# (newuser61: with no profile given, a plain job's leftover kept backup-exec-9 and its
# late data SYN, refused, read callback_refused, FAIL).
_ENDED_LATE: dict[str, tuple[str, ...]] = {"data": ("unanswered",),
                                           "callback": ("refused", "unanswered")}


def judged(ctx: Context, conn: Connection) -> Judged:
    """connection_outcome, with a silence (unanswered, handshake incomplete) only when
    the capture could have seen the answer; "unknown" otherwise. A reset by the
    originator after the SYN-ACK ("aborted") is evidence for a data connection
    (data_aborted); a control connection or callback reset so is judged as a handshake
    that never completed, as before. A data connection refused only after its session's
    control connection closed (after_close.late_refusal) is "unanswered" when its SYNs
    went unanswered for the retransmission timeout while the job ran, else "late"; one
    whose job had ended before the capture saw it run (after_close.job_ended), refused
    or unanswered, is "late", and so is such a session's callback. A
    control connection of which the capture holds only a late SYN-ACK resend and the
    originator's RST to it is "given_up" (stale.given_up_before)."""
    if given_up_before(ctx, conn):
        return "given_up"
    outcome = connection_outcome(conn)
    if outcome in ("refused", "established", "aborted") and conn.role == "data":
        late = late_refusal(ctx, conn)
        if late is not None:
            return "unanswered" if late.dropped else "late"
    if outcome in _ENDED_LATE.get(conn.role, ()) and (
            session := ctx.session_of(conn)) is not None and job_ended(ctx, session):
        return "late"  # its job had ended before the capture saw it run: not its failure
    if outcome == "aborted":
        if conn.role == "data":
            return outcome
        outcome = "handshake_incomplete"
    if outcome == "unanswered":
        if conn.syn_retries > 0:
            return outcome
        if gave_up_at_once(ctx, conn) is not None:
            # Its connector stopped the job before TCP would have resent the SYN: it never
            # opened, whatever the capture lacks after it (verify.gave_up).
            return outcome
        if ctx.lacks((conn.resp_h, conn.orig_h), conn.ts):
            # A SYN-ACK, RST or ICMP answer would travel the uncaptured way; a SYN not
            # retried although the capture went on was answered by one of them.
            return "unknown"
        if not time_enough(ctx, conn.last_ts, conn.last_frame):
            return "unknown"
        if lone_syn(ctx, conn) and (conn.role == "control" or conn.role in (
                "callback", "data") and not stopped_after(ctx, conn)):
            return "unknown"  # never resent: the sniffer lost packets (verify.unresent)
        return outcome
    if outcome == "handshake_incomplete":
        # A retried SYN or SYN-ACK shows the ACK was missed; a RST from the responder,
        # that it gave the half-open connection up: either way it will not complete. So
        # do the originator's ACK answering each resent SYN-ACK and its FIN resent.
        if (synack_resent(conn) or conn.syn_retries > 0 or conn.resp_rst
                or acks_repeated(conn)):
            return outcome
        if ctx.lacks((conn.orig_h, conn.resp_h), conn.ts):
            return "unknown"  # the originator's ACK would travel the uncaptured way
        if not time_enough(ctx, conn.last_ts, conn.last_frame) or lone_synack(conn):
            return "unknown"  # never resent although it could have been (trial 43)
        return outcome
    if outcome == "midstream" and rst_only(conn) and not (
            conn.role == "control" and (session := ctx.session_of(conn)) is not None
            and gone_before(ctx, session) is not None):
        return "unknown"  # a RST without ACK refuses no SYN: it ends a connection
    return outcome


def is_open(outcome: Judged) -> bool:
    return outcome in ("established", "midstream")


def unseen_why(ctx: Context, conn: Connection) -> str:
    """Why the capture cannot show how the connection's opening went."""
    outcome = connection_outcome(conn)
    if outcome == "midstream" and rst_only(conn):
        sender = conn.resp_h if conn.resp_rst else conn.orig_h
        return (f"the capture holds only a RST from {sender} ({frame_text(conn.rst_frames[0])}) "
                "and no handshake: it may refuse a SYN the capture does not hold as well as "
                "end a connection that had opened")
    answer = _answer_direction(conn, outcome)
    if ctx.lacks(answer, conn.ts):
        return (f"the capture holds {lacking_words(ctx, *answer, conn.ts)}, so the answer "
                "could not be seen")
    if originator_aborted(conn):
        # The RST ended this attempt; what the capture cannot show is the next one.
        return (f"{conn.orig_h} reset it after the SYN-ACK (RST, {frame_text(conn.rst_frames[0])}) "
                f"and the capture ended {span_words(after_last(ctx, conn))} later, before a "
                f"retry (a new connection from {conn.orig_h}) could be seen")
    if outcome in ("handshake_incomplete", "aborted") and lone_synack(conn) and \
            time_enough(ctx, conn.last_ts, conn.last_frame):
        return lone_synack_words(conn, after_last(ctx, conn),
                                 ctx.config.retransmission_timeout)
    if outcome == "unanswered" and time_enough(ctx, conn.last_ts, conn.last_frame):
        # A lone SYN never resent: a control connection's, or a callback's or data
        # connection's whose job did not visibly stop (verify.unresent).
        return lone_syn_unseen(ctx, conn, after_last(ctx, conn))
    what = "SYN" if outcome == "unanswered" else "SYN-ACK"
    untied = untied_words(conn)  # a cut ICMP message that may answer it: not "no ICMP"
    # A lone SYN that may be a resend: its connect's earlier tries (verify.unseen_tries).
    tries = earlier_tries(ctx, conn) if outcome == "unanswered" else None
    went = after_last(ctx, conn)
    return (f"{ended_words(went, f'its last {what}')}, "
            f"{before_retry_words(ctx.config, went)}, and no retransmission"
            + (", RST or ICMP answer was seen" if not untied else f" or RST was seen; {untied}")
            + (f"; {earlier_tries_words(conn, tries)}" if tries else ""))


def _answer_direction(conn: Connection, outcome: Outcome) -> tuple[str, str]:
    """(sender, receiver) of the packet that would answer the connection's opening: the
    responder's SYN-ACK for an unanswered SYN, else the originator's final ACK."""
    return (conn.resp_h, conn.orig_h) if outcome == "unanswered" else \
        (conn.orig_h, conn.resp_h)


def note_unseen(ctx: Context, session: Session | None, conn: Connection, what: str) -> None:
    """Record why a connection's opening cannot be judged: capture_ended_early, unless
    the answer would travel a direction the capture lacks (capture_one_direction)."""
    outcome = connection_outcome(conn)
    if outcome == "midstream":
        return  # a lone RST: no answer to wait for (unseen_why says so)
    if outcome in ("unanswered", "handshake_incomplete") and \
            time_enough(ctx, conn.last_ts, conn.last_frame):
        return  # the capture ran on: the sniffer lost packets (unseen_why says so)
    if not ctx.lacks(_answer_direction(conn, outcome), conn.ts):
        words = (f"{what} {connection_ends(conn)}")
        if originator_aborted(conn):
            ended_early(ctx, session, f"{conn.orig_h}'s RST ({frame_text(conn.rst_frames[0])}) "
                        f"that ended the {words} after its SYN-ACK", conn.last_ts,
                        opening_frames(conn) + conn.rst_frames, conn=conn,
                        waits="a retry (a new connection) could be seen",
                        unseen=f"whether {conn.orig_h} tried again and got through",
                        frame=conn.last_frame)
            return
        event = "SYN" if outcome == "unanswered" else "SYN-ACK"
        # Its receiver's own capture may show it unanswered (verify.syn_on_receiver).
        silent = receiver_silent(ctx, conn) if outcome == "unanswered" else None
        shown = "" if silent is None else receiver_silent_words(conn, *silent)
        tries = earlier_tries(ctx, conn) if outcome == "unanswered" else None
        if tries is not None:  # a resend, its earlier tries cut (verify.unseen_tries)
            said = earlier_tries_words(conn, tries)
            shown = f"{shown} {said[:1].upper()}{said[1:]}.".lstrip()
        ended_early(ctx, session, f"the {event} of the {words}", conn.last_ts,
                    opening_frames(conn), conn=conn, frame=conn.last_frame, shown=shown)


# The end of a stop_after that names a step of the job: a failing job (the one flowcheck
# is run for) may never reach it, and its failure is what the capture must hold.
OR_FAILED = ", or until the job has failed"


def ended_early(ctx: Context, session: Session | None, event: str, ts: float,
                frames: list[int], *, conn: Connection | None = None,
                waits: str = "", unseen: str = "whether it was answered",
                frame: int | None = None, stop_after: str = "", shown: str = ""
                ) -> Finding | None:
    """One capture_ended_early warning per event: the capture ended before `waits` (by
    default TCP's retransmission timeout), so `unseen` cannot be seen. frame: the
    event's, when known (after). stop_after: how long after the event the fix asks the
    capture to run on, for a wait that is not TCP's retry (an NDMP answer); by default
    the retransmission timeout, with the advice to match the hosts' own. shown: what the
    capture does show of the event, a sentence after the unseen one ("": none). Returns
    the finding, None when the event had one already."""
    # One event, two waits (the greeting's, the callback's): two warnings.
    key = (f"{event}\n{waits}", ts)
    if key in ctx.early_events:
        return None
    ctx.early_events.add(key)
    rto = ctx.config.retransmission_timeout
    openings = handshakes_only(ctx.connections, ctx.config.ndmp_port)
    went = after(ctx, ts, frame)
    return ctx.add(
            "capture_ended_early",
            ended_words(went, event, "The capture", clause=True)
            + (f", before {waits}" if waits else f", {before_retry_words(ctx.config, went)}")
            + f": {unseen} cannot be seen.{' ' + shown if shown else ''} A packet missing "
            "from the capture is not a packet the network dropped."
            + (f" Every connection in it is its handshake only ({openings} of them, none "
               "carrying a byte), although those opened after the first show the job went "
               "on: a capture of each connection's first packets looks like this, as Check "
               "Point's fw monitor records with SecureXL acceleration on (it sees an "
               "accelerated connection's first packets only)." if openings else ""),
            ("If this is a fw monitor capture, take it again with acceleration off (fwaccel "
             "off) or with fw monitor -F (R80.20 and later). Else: c" if openings else "C")
            + "apture the whole job: start the capture before the job starts and stop it "
            + (f"after the job ends (at least {stop_after})." if stop_after else
               f"after the job ends (at least {rto:g} s after the last connection attempt)."
               # A timeout the user set is already theirs (retry_wait.before_retry_words).
               + ("" if "retransmission_timeout" in ctx.config.explicit else
                  " If the hosts retry sooner (Linux: 1 s), set --retransmission-timeout to "
                  "match.")),
            session=session, conn=conn, frames=frames, ts=ts)


def flow_hidden(ctx: Context, session: Session, conns: list[Connection], key: str) -> str:
    """Why the capture may not show the data that flowed ("" when it would)."""
    sender = session.media_server if key == "to_agent" else session.remote_agent
    for conn in conns:
        receiver = conn.resp_h if conn.orig_h == sender else conn.orig_h
        side = one_sided(conn)
        silent = conn.resp_h if side == "resp" else conn.orig_h if side == "orig" else None
        if ctx.lacks((sender, receiver), conn.ts):
            return f"the capture holds {lacking_words(ctx, sender, receiver, conn.ts)}"
        if silent == sender:
            return (f"the capture holds no packet from {sender} on {conn.uid} (one "
                    "direction only)")
        filtered = left_out_words(ctx, conn)
        if filtered and (conn.missed_bytes or not conn.orig_bytes + conn.resp_bytes):
            return filtered
        if conn.sniffer_missed > 0:
            return f"the sniffer missed {conn.sniffer_missed:,} B of {conn.uid}"
        if conn.untold_missed > 0:
            return (f"the capture lacks {conn.untold_missed:,} B of {conn.uid} (the network "
                    "or the sniffer lost them)")
        evidence = conn.evidence("orig" if conn.orig_h == sender else "resp")
        unseen = evidence.sent_unseen
        if unseen > 0 and ctx.lacks((receiver, sender), conn.ts):
            # Sent (the sender's own sequence numbers say so), never captured, and the
            # receiver's ACKs that would tell lost from not captured are not captured.
            frame = evidence.sent_unseen_frame
            return (f"{sender}'s sequence numbers show {unseen:,} B sent on {conn.uid} ("
                    f"{frame_text(frame)}) that the capture does not hold, and it holds "
                    f"{lacking_words(ctx, receiver, sender, conn.ts)}, whose ACKs would tell "
                    "whether they arrived")
    if all(not c.fin_frames and not c.rst_frames for c in conns) and \
            not any(time_enough(ctx, c.ts, c.first_frame) for c in conns) and \
            not closing_beside(ctx.by_uid[session.control_uid], conns):
        first = min(conns, key=lambda c: c.ts)
        # It opened (its handshake, or its ACKs, in the capture): what cannot be seen is
        # its data, not "whether it was answered" (newuser54), and no TCP retry is waited
        # for. The job's kind when the capture tells it (review54c: "backup or restore"
        # beside "DATA_START_BACKUP (frame 16) started it"); the fix one a failing job
        # meets too (its data may never flow).
        job = session.kind if session.kind in ("backup", "restore") and not (
            session.kind_guessed or session.kind_unknown) else "backup or restore"
        # Open before its first captured packet (the sniffer missed its handshake): not
        # "opened" then (review54c: v4-backup without frames 12-14, 20 and on).
        seen = (" opened" if judged(ctx, first) != "midstream" else "'s first captured "
                "packet (its opening is not in the capture)")
        ended_early(ctx, session, f"the data connection {first.uid}{seen}", first.ts,
                    opening_frames(first), conn=first, waits="its data could be seen",
                    unseen=f"whether the {job} data flowed on it",
                    stop_after=f"until data flows on the data connection{OR_FAILED}",
                    frame=first.first_frame)
        return ("the capture ended "
                f"{span_words(after(ctx, first.ts, first.first_frame))} after the "
                f"data connection{seen}, while it was still open")
    return ""
