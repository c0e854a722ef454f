"""A data connection refused only after its job had ended: the answer of a closed job,
not a refusal the job met.

A connector's TCP resends an unanswered SYN until it gives the connect up (RFC 6298 5.7,
RFC 9293 3.8.1; Windows: 2 or 4 resends, 21 to 31 s; Linux: 6 or 10 resends, two minutes or
more: verify.syn_give_up) whether or not the job that asked for the connection still
waits for it. When the media server gives up and closes the control
connection, the listener it announced goes with the job; a retry that arrives later
meets a port nothing listens on and gets the RST a closed port sends (RFC 9293
3.10.7.1). That RST tells nothing of the endpoint while the job could use it: SYNs left
unanswered before the close for at least the retransmission timeout were dropped
(data_unanswered); a connection whose only SYN came after the close never reached the
endpoint while it was valid (announced_not_used). A refusal while the control
connection is open (the port in use, a reject rule) stays data_refused.

The close need not be captured: a control connection whose start the capture lacks and
from one side of which the only packet is a RST without ACK answering the other side's
segment (RFC 9293 3.10.7.1: a TCP with no such connection) had been closed on that side
before the capture started (gone_before): its job had ended, and every refusal of the
session in the capture is late, as are its NDMP server's error replies (trial 14: a
killed DMA's agent still retrying the connect 5.6 s later, its CONNECT_ERR reply reset).
A control connection whose start the capture lacks and whose first captured packet is
its close, before any packet of the session's data connections, ended as the capture
began: nothing of the job while it ran is in the capture either (trial 15: a DMA's
timeout FIN the capture's first packet, the agent's late connect retry and CONNECT_ERR
after it). Either way the session is not a job of the capture (job_ended): what
follows is that closed job's answer. A capture of the agent's side only cannot show the
close at all: when it holds no sign that the job ran in it (verify.unseen_running), the job
may have ended so, and its aftermath is judged as a closed job's, its steps unknown
(JobEnded.closed None).
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import Announcement, Connection, ControlPacket, NdmpStream, Session
from flowcheck.sessions import connection_outcome
from flowcheck.sessions.classify import rst_only
from flowcheck.sessions.clock_apart import MIN_APART_SECONDS, data_before_answer
from flowcheck.sessions.only_closing import closes_with
from flowcheck.verify.context import Context
from flowcheck.verify.details import syn_count
from flowcheck.verify.refusals import refusal_how
from flowcheck.verify.two_clocks import may_precede
from flowcheck.verify.unseen_running import running_unseen, unseen_words

# The TCP flags byte's bits (ControlPacket.flags).
_FIN, _RST, _ACK = 0x01, 0x04, 0x10


@fields_dataclass(frozen=True, slots=True)
class LateRefusal:
    """How a data connection's refusal came after its session's control connection
    closed (late_refusal)."""

    closed: ControlPacket  # the control connection's first FIN or RST
    answer_frame: int  # the RST or ICMP unreachable that refused the SYN
    after: float | None  # seconds from the close to that answer; None: its time not kept
    waited: float  # seconds its SYNs went unanswered before the close (0.0: none before)
    dropped: bool  # waited at least the retransmission timeout: dropped while the job ran
    before_capture: bool = False  # `closed` shows a close before the capture (gone_before)
    # The answer is a SYN-ACK: a listener took the retry after the job's was gone (another
    # job's at the same endpoint: field check 41 c4d), not a refusal.
    accepted: bool = False


def control_close(stream: NdmpStream | None) -> ControlPacket | None:
    """The control connection's first FIN or RST, either side (NdmpStream.fin, .reset);
    None when the capture holds neither."""
    ends = [p for p in (stream.fin, stream.reset) if p is not None] if stream else []
    return min(ends, key=lambda p: p.frame) if ends else None


def gone_before(ctx: Context, session: Session) -> ControlPacket | None:
    """The control connection's first RST when it shows its sender had closed the
    connection before the capture started: the connection's start not captured, the RST
    its sender's only packet in it (it never acknowledged anything), carrying no ACK and
    answering the other side's segment (payload or FIN) just before it; None else."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    conn = ctx.by_uid.get(session.control_uid)
    if stream is None or conn is None or conn.syn_seen:
        return None
    reset, before = stream.reset, stream.before_reset
    if reset is None or reset.flags & _ACK:
        return None
    sent, other = (conn.orig_pkts, conn.resp_pkts) if reset.direction == "orig" else \
        (conn.resp_pkts, conn.orig_pkts)
    if sent != 1:
        return None
    if other == 0:
        # The other side's direction not captured on it: the segment the RST answers is
        # not in the capture, but a RST without ACK is only ever a TCP's answer to a
        # segment that carried one (RFC 9293 3.10.7.1), so the connection was gone.
        return reset
    if before is None or before.direction == reset.direction \
            or not (before.payload or before.flags & _FIN):
        return None
    return reset


@fields_dataclass(frozen=True, slots=True)
class JobEnded:
    """How a session's job had ended before the capture could see it run (job_ended)."""

    # The RST of gone_before, or the close the capture began with; None: the capture
    # cannot show whether the job ran (verify.unseen_running), its close would be unseen.
    closed: ControlPacket | None
    before_capture: bool  # gone_before: the close itself came before the capture
    # A connection of the job of which the capture holds only its closing
    # (sessions.only_closing.close_only), first seen before `closed`: (its uid, its first
    # frame), the earliest; None when none (leftover62: the callback's FIN came first).
    closing_first: tuple[str, int] | None = None

    def ended_by(self, frame: int) -> bool:
        """Had the job ended (or may it have: closed None) when the packet of `frame`
        was sent? gone_before's RST answers the packets before it; a captured close
        precedes what came after it."""
        if self.closed is None:
            return True
        return self.closed.frame > frame if self.before_capture else self.closed.frame < frame


def job_ended(ctx: Context, session: Session) -> JobEnded | None:
    """The session's job had ended before the capture saw any of it run: gone_before
    (its close came before the capture), or its control connection's first captured
    packet is its close (FIN or RST, either side; the start not captured) and no data
    connection or callback of the session shows a packet before that close, nor one that
    ran before it and fits this session and another alike (Session.port_tied). None when
    a data connection of the session opened in the capture (the job moved or could move
    data: what the capture shows of it is judged) or for any other session. Seen from the
    agent's side only with no sign the job ran in the capture (unseen_running.running_unseen),
    JobEnded(None, True): it may have ended so. A connection of which the capture holds
    only its closing, beside the control connection's (sessions.only_closing.closes_with),
    is the job closing, not a sign it ran (JobEnded.closing_first)."""
    conns = [ctx.by_uid[uid] for uid in session.data_connections if uid in ctx.by_uid]
    # Its callback too: one retried before the close shows the job running in the
    # capture (review61e: a callback whose SYNs a firewall dropped, the DMA's silent
    # FIN after them, read "ended before capture" and passed).
    if session.callback_uid in ctx.by_uid:
        conns.append(ctx.by_uid[session.callback_uid])
    # Not one of which the capture holds only its closing, beside the control
    # connection's (sessions.only_closing.closes_with): that is the job closing, whichever FIN the
    # capture begins with (leftover62: a Backup Exec agent closes its callback first; a
    # capture from that FIN read the job `unknown`, "a resource before the capture may
    # have failed", one from the control connection's FIN a packet later `ended`).
    closed = control_close(ctx.stream_by_uid.get(session.control_uid))
    closing = [c for c in conns if closed is not None and closes_with(c, closed.ts)]
    conns = [c for c in conns if not any(c is d for d in closing)]
    if any(connection_outcome(c) in ("established", "midstream") and not rst_only(c)
           for c in conns):
        return None
    gone = gone_before(ctx, session)
    if gone is not None:
        return JobEnded(gone, True)
    if running_unseen(ctx, session):
        return JobEnded(None, True)
    control = ctx.by_uid.get(session.control_uid)
    if control is None or control.syn_seen or closed is None \
            or closed.frame != control.first_frame \
            or any(c.first_frame < closed.frame for c in conns):
        return None
    # Nor when a connection that ran before the close fits it and another job alike
    # (Session.port_tied): it may be this job's data (review61e: two jobs begun before
    # the capture, one's control connection seen only at its FIN while its data
    # connections ran, tied between the two, read "ended before capture").
    if any(c.first_frame < closed.frame and connection_outcome(c) in ("established",
                                                                       "midstream")
           and not rst_only(c) and not closes_with(c, closed.ts)
           for uid in session.port_tied if (c := ctx.by_uid.get(uid))):
        return None
    first = min((c for c in closing if c.first_frame < closed.frame),
                key=lambda c: c.first_frame, default=None)
    return JobEnded(closed, False, (first.uid, first.first_frame) if first else None)


def ended_words(session: Session, ended: JobEnded) -> str:
    """"before the capture started: the media server ... had closed the control
    connection by then (...)" or "as the capture began: the media server 10.77.0.1
    closed the control connection (FIN, frame 1), the first packet the capture holds of
    the job" ("... but the FIN of C1 (frame 1), a connection it holds only closing" when
    such a connection's FIN came first: JobEnded.closing_first); for a close the capture
    cannot show (JobEnded.closed None), "... cannot be seen" (unseen_running.unseen_words)."""
    if ended.closed is None:
        return unseen_words(session)
    if ended.before_capture:
        closed = closed_words(session, ended.closed, before_capture=True)
        return "before the capture started: " + closed.replace(
            " before the capture started (", " by then (", 1)
    if ended.closing_first is not None:
        uid, frame = ended.closing_first
        return (f"as the capture began: {closed_words(session, ended.closed)}, the first packet "
                f"the capture holds of the job but the FIN of {uid} ({frame_text(frame)}), a "
                "connection it holds only closing")
    return (f"as the capture began: {closed_words(session, ended.closed)}, the first packet "
            "the capture holds of the job")


def late_refusal(ctx: Context, conn: Connection) -> LateRefusal | None:
    """A data connection whose refusal (its first RST from the responder or ICMP
    unreachable) the capture holds only after its session's control connection closed;
    None for any other connection (a refusal while the job ran, or no close captured).
    Frames order the two, as the capture took them. So too a connection whose first
    SYN-ACK came only after that close, its SYNs sent before it (`accepted`): the job's
    listener was gone, so another took the retry (a later job's announced at the same
    endpoint, as Backup Exec's first free port comes back)."""
    if conn.role != "data":
        return None
    outcome = connection_outcome(conn)
    if outcome in ("established", "aborted", "handshake_incomplete") and conn.syn_frames:
        return _late_accept(ctx, conn)
    if outcome != "refused":
        return None
    session = ctx.session_of(conn)
    closed = control_close(ctx.stream_by_uid.get(session.control_uid) if session else None)
    if closed is None:
        return None
    answers = conn.icmp_frames[:1] + (conn.rst_frames[:1] if conn.resp_rst else [])
    if not answers:
        return None
    gone = gone_before(ctx, session) if session else None
    if gone is not None:  # closed before the capture: every refusal in it came after
        return LateRefusal(gone, min(answers), None, 0.0, False, before_capture=True)
    if min(answers) < closed.frame:
        return None
    # The refusal's stamp when it is the responder's RST.
    rst_ts = (conn.rst_ts if conn.resp_rst and conn.rst_ts is not None
              and min(answers) == conn.rst_frames[0] else None)
    if rst_ts is not None and not _after_close(ctx, session, closed, conn.resp_h, rst_ts):
        return None  # two clocks: the RST may have come before the close (two_clocks)
    # An ICMP unreachable is stamped on its sender's clock (the agent's own reject, in
    # its own capture): the agent's clock ahead stamped lab/data-port-rejected's reject
    # after the media server's FIN, and the job's refused data connection read as a
    # retry after the job (announced_not_used).
    stamp = conn.icmp_stamp
    if stamp is not None and stamp[0] == min(answers) and conn.icmp_sender is not None \
            and not _after_close(ctx, session, closed, conn.icmp_sender, stamp[1]):
        return None  # two clocks: the reject may have come before the close
    tried = conn.syn_ts is not None and conn.syn_frames and conn.syn_frames[0] < closed.frame
    waited = max(0.0, closed.ts - conn.syn_ts) if tried and conn.syn_ts is not None else 0.0
    after = rst_ts - closed.ts if rst_ts is not None else None
    return LateRefusal(closed, min(answers), after, waited,
                       waited >= ctx.config.retransmission_timeout)


def _late_accept(ctx: Context, conn: Connection) -> LateRefusal | None:
    """late_refusal's accepted case: the first SYN-ACK after the session's control
    connection closed, the first SYN before it (a close before the capture: gone_before,
    the whole connection after it)."""
    session = ctx.session_of(conn)
    stream = ctx.stream_by_uid.get(session.control_uid) if session else None
    closed = control_close(stream)
    if session is None or closed is None or not conn.synack_frames \
            or gone_before(ctx, session) is not None:
        return None
    answer = conn.synack_frames[0]
    if answer < closed.frame or conn.syn_frames[0] > closed.frame or conn.syn_ts is None:
        return None
    early = data_before_answer(conn)
    if early is not None and early > MIN_APART_SECONDS:
        # The connector sent data before that SYN-ACK was written: some answer had
        # reached it already (a SYN-ACK the sniffer lost, or this one stamped on another
        # host's clock: two hosts' own captures merged, flowcheck.sessions.clock_apart),
        # so no listener took a retry after the job. Not data in a SYN (TCP Fast Open,
        # RFC 7413: sent before any answer), nor data stamped within clock_apart's 5 ms
        # of the SYN-ACK (a capture's queues writing the answer and the data that
        # followed it the other way round).
        return None
    if conn.synack_ts is not None and not _after_close(ctx, session, closed, conn.resp_h,
                                                       conn.synack_ts):
        return None  # two clocks: the SYN-ACK may have come before the close (two_clocks)
    waited = max(0.0, closed.ts - conn.syn_ts)
    after = conn.synack_ts - closed.ts if conn.synack_ts is not None else None
    return LateRefusal(closed, answer, after, waited,
                       waited >= ctx.config.retransmission_timeout, accepted=True)


def _after_close(ctx: Context, session: Session | None, closed: ControlPacket, host: str,
                 ts: float) -> bool:
    """Did host's answer stamped `ts` surely come after the control connection's close
    `closed`? Written after it (the callers' frames) and, the capture holding two hosts'
    clocks apart, not possibly before it on the closer's clock (two_clocks.may_precede:
    the agent's clock 0.5 s ahead stamped a good Backup Exec backup's data SYN-ACKs
    after the media server's FIN, each a listener's answer after the job)."""
    control = ctx.by_uid.get(session.control_uid) if session is not None else None
    if control is None:
        return True
    closer = control.host(closed.direction)
    return host == closer or not may_precede(ctx, host, ts, closer, closed.ts)


def late_only(ctx: Context, conn: Connection) -> bool:
    """Did the connection try its endpoint only after the job ended (late_refusal, its
    SYNs not left unanswered while the job ran)? Such a connection is not the job's."""
    late = late_refusal(ctx, conn)
    return late is not None and not late.dropped


def tried_in_time(ctx: Context, group: list[Announcement]) -> bool:
    """Did a connection reach one of these announcements (used_by) while its job could
    use it (not late_only)?"""
    return any(a.used_by and not late_only(ctx, ctx.by_uid[a.used_by]) for a in group)


def late_conns(ctx: Context, session: Session) -> list[Connection]:
    """The session's data connections that came only after the job ended (late_only)."""
    return [c for uid in session.data_connections if late_only(ctx, c := ctx.by_uid[uid])]


def closed_words(session: Session, closed: ControlPacket, *,
                 before_capture: bool = False) -> str:
    """"the media server 10.77.0.1 closed the control connection (FIN, frame 3786)";
    before_capture (gone_before): "... had closed ... before the capture started (...)"."""
    who = (f"the media server {session.media_server}" if closed.direction == "orig"
           else f"the agent {session.remote_agent}")
    if before_capture:
        return (f"{who} had closed the control connection before the capture started (its "
                f"only packet on it, {frame_text(closed.frame)}, is a RST without ACK answering "
                "the other side: no connection there any more)")
    how = "RST" if closed.flags & _RST else "FIN"
    return f"{who} closed the control connection ({how}, {frame_text(closed.frame)})"


def late_words(ctx: Context, conn: Connection, *, closed_said: bool = False) -> str:
    """Why the connection's refusal is not the job's, as a sentence (no final stop): ""
    when it is not a late refusal. closed_said: the close was just named ("later")."""
    late = late_refusal(ctx, conn)
    session = ctx.session_of(conn)
    if late is None or session is None:
        return ""
    span = f"{span_words(late.after)} " if late.after is not None else ""
    closed = "" if closed_said else \
        f" after {closed_words(session, late.closed, before_capture=late.before_capture)}"
    if late.accepted:
        return _accepted_words(ctx, conn, late, closed_said, span)
    how = f"{refusal_how(conn)} ({frame_text(late.answer_frame)})"
    syns = conn.syn_frames
    if not late.dropped and len(syns) > 1:
        # Every SYN late: the unanswered ones before the refused retry are named too.
        listed = frames_words(syns[:8], ranges=False, plural=True) + (
            f" and {len(syns) - 8} more" if len(syns) > 8 else "")
        said = (f"its SYNs ({conn.uid}, {listed}){closed or ', after the close,'} "
                f"were answered only by {how}"
                + (f", {span}after {'it' if closed_said else 'the close'}" if span else ""))
    else:
        attempt = "its SYN retry" if late.dropped else f"its SYN ({conn.uid})"
        when = (f" {span}later" if span else ", after the close,") if closed_said else \
            f" {span}{closed.lstrip()}"
        said = f"{attempt}{when} was answered with {how}"
    return (f"{said}: the listener was gone with the job by then, so that is the answer of "
            "a job already closed, not a refusal the job met")


def _accepted_words(ctx: Context, conn: Connection, late: LateRefusal, closed_said: bool,
                    span: str) -> str:
    """late_words for a retry a listener accepted after the job's close."""
    session = ctx.session_of(conn)
    closed = "" if closed_said or session is None else \
        f" after {closed_words(session, late.closed)}"
    taker = _taker(ctx, conn, late)
    when = f" {span}later" if closed_said and span else f" {span}{closed.lstrip()}"
    return (f"its SYN retry{when} was answered with a SYN-ACK ({frame_text(late.answer_frame)})"
            f"{taker}: the job's listener was gone with the job by then, so another took "
            "the connection, not an answer the job got")


def _taker(ctx: Context, conn: Connection, late: LateRefusal) -> str:
    """" by the listener session S2 announced at the same endpoint (DATA_CONNECT, frame
    32)" when another session announced it after the close and before the SYN-ACK."""
    own = ctx.session_of(conn)
    for other in ctx.sessions:
        for a in other.announced:
            if other is not own and (a.ip, a.port) == (conn.resp_h, conn.resp_p) \
                    and late.closed.frame < a.frame < late.answer_frame:
                return (f" by the listener session {other.id} announced at the same endpoint "
                        f"({a.message.removeprefix('NDMP_')}, {frame_text(a.frame)})")
    return ""


def taken_before(ctx: Context, conn: Connection) -> tuple[Connection, LateRefusal] | None:
    """Another session's data connection that the listener at conn's endpoint accepted
    after that session had ended (late_refusal's `accepted`) and before conn's first
    SYN: the listener announced for conn's job took that stray retry first (field check
    41 c4d: it then reset conn, the wrong peer for it). None when none."""
    own = ctx.session_of(conn)
    for other in ctx.sessions:
        if other is own:
            continue
        for uid in other.data_connections:
            stray = ctx.by_uid.get(uid)
            if stray is None or (stray.resp_h, stray.resp_p) != (conn.resp_h, conn.resp_p):
                continue
            late = late_refusal(ctx, stray)
            if late is not None and late.accepted and late.answer_frame < conn.first_frame:
                return stray, late
    return None


def dropped_detail(ctx: Context, conn: Connection) -> str:
    """Step 4's detail for a connection whose SYNs went unanswered while the job ran and
    whose retry was refused after it ended ("" for any other)."""
    late = late_refusal(ctx, conn)
    session = ctx.session_of(conn)
    if late is None or not late.dropped or session is None:
        return ""
    return (f"unanswered while the job ran: SYNs from {frame_text(conn.syn_frames[0])} for "
            f"{span_words(late.waited)} ({syn_count(conn)} SYNs in all), no SYN-ACK, until "
            f"{closed_words(session, late.closed)}; "
            f"{late_words(ctx, conn, closed_said=True)}")
