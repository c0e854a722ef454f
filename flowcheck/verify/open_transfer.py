"""A transfer still running where the capture stops (field check trial 31 D3): a data
connection of the session carried the job's data and is still open at the capture's end
(no RST, no FIN from the data's sender), no NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED (nor
a state reply saying HALTED) came after it opened, and the session's control connection
is still open too (no FIN or RST, no CONNECT_CLOSE request). Whether the transfer
completed, or failed after the capture (a reset the capture does not hold), cannot be
seen: step 5 is `unknown` (contract, "Verdict": the capture ended too close to the event)
and the capture_ended_early of the running job (flowcheck.verify.running) says so.

The transfer's end is in the capture, and its steps keep their judgement, when its data
connection was reset (flowcheck.verify.cut_transfer judges the reset), when the data's
sender closed it (its FIN: it had sent everything; the receiver's FIN or the halt may be
just cut), when the session's job halted after it opened, or when the control connection
ended (the job with it: flowcheck.verify.running). A data connection that opened before
the capture (a late start) is judged the same way: open at the end, its transfer's end
is not in the capture."""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text
from flowcheck.model import (
    Connection,
    NdmpMessage,
    NdmpStream,
    RingGap,
    Said,
    Session,
    cites_of,
    endpoint,
)
from flowcheck.sessions import message_op
from flowcheck.sessions.classify import JOB_STARTS, reply_to, seen_closing
from flowcheck.verify.allow_rules import capitalised
from flowcheck.verify.bytes_each_way import job_direction, sent_each_way
from flowcheck.verify.capture_time import after
from flowcheck.verify.context import Context
from flowcheck.verify.end_roles import conn_sides
from flowcheck.verify.no_reply import take_awaiting
from flowcheck.verify.replies import HALTS, says_halted
from flowcheck.verify.shared import partner

# Requests whose successful reply says the service halted (NDMP v4: DATA_STOP and
# MOVER_STOP are refused with ILLEGAL_STATE_ERR unless it is HALTED).
_STOPPED = {"DATA_STOP", "MOVER_STOP"}


@fields_dataclass(frozen=True, slots=True)
class OpenTransfer:
    """The session's data connections still carrying its job's data at the capture's
    end. bytes: the job's payload bytes they carried in the capture (each byte once; the
    receivers' ACKs' count for a capture of one direction); seconds: from their first
    captured packet to their last; last_frame / last_ts: their last data packet (from the
    data's sender, with payload: Connection.orig_last_data), else, when the capture holds
    none (one direction captured, the receiver's), their last packet (data False);
    since_last: seconds of capture after it (capture_time.after); flowing: since_last is
    less than the retransmission timeout (Config.retransmission_timeout); reverse: the
    job's data flows from the first connection's responder to its originator (the agent
    connected to the mover of a backup, and the like); gap: a ring buffer's hole that
    follows their last packet (its files most likely hold the end), None without one."""

    conns: list[Connection]
    bytes: int
    seconds: float
    last_frame: int
    last_ts: float
    since_last: float
    flowing: bool
    reverse: bool = False
    data: bool = True
    gap: RingGap | None = None
    # Seconds from the capture's last packet to its end when the end is a stop time the
    # capture recorded later (pcapng's isb_endtime, live's stop: Context.capture_end); 0.
    stopped_after: float = 0.0

    def _end_words(self) -> str:
        """"the end" (the capture's last packet), or the recorded stop time after it."""
        if self.stopped_after <= 0:
            return "the end"
        last = (f"{frame_text(self.last_frame)} is the capture's last packet"
                if self.stopped_after - self.since_last < 1e-6
                else f"{span_words(self.stopped_after)} after the capture's last packet")
        return f"the stop time the capture recorded ({last})"

    def words(self, halts: bool = True, whose: str = "") -> str:
        """"data was flowing at the capture's end (234080 B over 247 ms from
        10.77.1.2:6045 to 10.77.0.1:5044, its last data packet frame 299, 1.2 ms before
        the end), with no ... and no RST: whether the transfer completed, or failed after the
        capture (...), cannot be seen"; "from A to B (connection B -> A)" when the data
        flows against the connection's direction; "the data connection ... was still
        open at the capture's end (...)" when its last data packet came a retransmission
        timeout or more before the end (flowing). halts: name the halts the capture lacks
        too (the caller did not); whose: before "data was flowing" ("its", "the
        backup's"). A last packet the capture's end shares the timestamp of reads "with
        no capture time after it", not "0 ms before the end" (words64: lab-trial22's
        clean-listener-only, cut on the data's last packet)."""
        first = self.conns[0]
        orig, resp = endpoint(first.orig_h, first.orig_p), endpoint(first.resp_h, first.resp_p)
        on = (f"from {resp} to {orig} (connection {orig} -> {resp})" if self.reverse
              else f"from {orig} to {resp}")
        if len(self.conns) > 1:
            on = f"on {len(self.conns)} data connections, the first {on}"
        moved = (f"{self.bytes:,} B over {span_words(self.seconds)}"
                 + (f" {on}" if self.flowing else "")
                 + (f", its last data packet {frame_text(self.last_frame)}, " if self.data else
                    f", its last packet {frame_text(self.last_frame)} (the receiver's: the capture "
                    "holds no data packet), ")
                 + (f"{span_words(self.since_last)} before {self._end_words()}"
                    if self.since_last > 0 else "with no capture time after it"))
        head = (f"{whose} data was flowing at the capture's end ({moved})".lstrip()
                if self.flowing else
                f"the data connection {orig} -> {resp} was still open at the capture's end "
                f"({moved})")
        halted = "NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED, no " if halts else ""
        if self.gap is not None:
            # The capture did not stop there: the files of the hole are missing.
            gap = self.gap.words()
            return Said(f"the data connection {orig} -> {resp} shows no end in the capture "
                        f"({moved}): no {halted}FIN from the data's sender and no RST, and "
                        f"{gap} follows its last packet, so its end most likely lies in "
                        "those files: whether the transfer completed or failed cannot be "
                        "seen", cites_of(gap))
        return (f"{head}, with no "
                + halted
                + "FIN from the data's sender and no RST: whether the transfer completed, "
                "or failed after the capture (a reset or a stall it does not hold), cannot "
                "be seen")


def polled_halted(ctx: Context, stream: NdmpStream, frame: int, ts: float) -> bool:
    """Did a state reply after the event at (frame, ts) report its service halted? A DMA
    that polls rather than waits for the NOTIFY_*_HALTED post learns of the end this way."""
    return any(says_halted(m) and ctx.order.later(m.frame, m.ts, frame, ts)
               for m in stream.messages)


def _ends_work(m: NdmpMessage) -> bool:
    """A message that says the job's service halted: NOTIFY_*_HALTED, a state reply
    saying HALTED, or a successful DATA_STOP or MOVER_STOP reply (the service stops only
    once halted: NDMP v4 DATA_STOP / MOVER_STOP; verify.lost_reply._STOPS)."""
    op = message_op(m)
    return (op in HALTS or says_halted(m)
            or (m.type == "reply" and m.error_free and op in _STOPPED))


def _stop_asked_one_way(stream: NdmpStream, m: NdmpMessage) -> bool:
    """A DATA_STOP or MOVER_STOP request on a control stream that holds none of the NDMP
    server's messages (a capture of the DMA's direction only): the DMA asks it once the
    service halted (NDMP v4 DATA_STOP / MOVER_STOP: valid in the HALTED state only), so
    it stands for the halt and the reply the capture cannot hold."""
    return (m.type == "request" and message_op(m) in _STOPPED
            and all(other.direction == m.direction for other in stream.messages))


def job_sessions(ctx: Context, session: Session) -> list[Session]:
    """The session, then the other sessions of its three-way job (shared.partner of its
    announcements: the DMA's other control connection), each once."""
    return [session, *{id(found[0]): found[0] for a in session.announced
                       if (found := partner(ctx, session, a)) is not None}.values()]


def last_halt(ctx: Context, session: Session) -> tuple[int, float] | None:
    """(frame, ts) of the session's last sign its job halted (_ends_work), on its own
    control connection or on the other one of its three-way job (shared.partner: the
    tape server's NOTIFY_MOVER_HALTED comes there); None when there is none. Found once
    per analysis (ctx.last_halts)."""
    if session.id in ctx.last_halts:
        return ctx.last_halts[session.id]
    ends = [m for s in job_sessions(ctx, session)
            if (stream := ctx.stream_by_uid.get(s.control_uid))
            for m in stream.messages if _ends_work(m) or _stop_asked_one_way(stream, m)]
    last = max(ends, key=lambda m: ctx.order.key(m.frame, m.ts), default=None)
    found = None if last is None else (last.frame, last.ts)
    ctx.last_halts[session.id] = found
    return found


def open_transfer(ctx: Context, session: Session) -> OpenTransfer | None:
    """The session's transfer still running at the capture's end (the module's rule);
    None when the capture holds its end, or there is no data to speak of. With no NDMP
    message of the control connection in the capture (a late start), on the connections
    alone: the control connection not closed and the data connection open."""
    control = ctx.by_uid.get(session.control_uid)
    stream = ctx.stream_by_uid.get(session.control_uid)
    if control is None or seen_closing(control):
        return None  # the job ended with its control connection (running.py judges it)
    if stream is not None and any(message_op(m) == "CONNECT_CLOSE" for m in stream.messages):
        return None
    key = job_direction(session)
    halt = last_halt(ctx, session)
    starts = [] if stream is None else [
        m for i, m in enumerate(stream.messages)
        if m.type == "request" and message_op(m) in JOB_STARTS and _taken(stream, i)]
    carried = {conn.uid: _job_bytes(session, conn, key)
               for conn in (ctx.by_uid[uid] for uid in session.data_connections)
               if _open_at_end(conn, session, key)
               and not _started_again(ctx, session, conn, starts)
               and (halt is None or not ctx.order.later(*halt, conn.first_frame, conn.ts))}
    conns = [ctx.by_uid[uid] for uid, sent in carried.items() if sent]
    if not conns:
        return None  # no data yet: flowcheck.verify.not_started's case
    sent = sum(carried.values())
    ended = max(c.last_ts for c in conns)
    data = [found for c in conns if (found := _sender_last_data(c, session, key))]
    frame, ts = (max(data, key=lambda d: ctx.order.key(*d)) if data else
                 max(((c.last_frame, c.last_ts) for c in conns),
                     key=lambda d: ctx.order.key(*d)))
    since = after(ctx, ts, frame)
    media, agent = conn_sides(conns[0], session)
    receiver = media if key == "to_media" else agent
    gap = next((g for g in ctx.ring_gaps if not g.head and g.start >= ended), None)
    return OpenTransfer(conns, sent, max(0.0, ended - min(c.ts for c in conns)),
                        frame, ts, since,
                        gap is None and since < ctx.config.retransmission_timeout,
                        receiver == (conns[0].orig_h, conns[0].orig_p), bool(data), gap,
                        _stopped_after(ctx))


def _stopped_after(ctx: Context) -> float:
    """OpenTransfer.stopped_after: how long after its last packet the capture says it
    stopped (newuser66: "223 ms before the end" of a dumpcap file whose last packet was
    that data packet: the end was the recorded stop time, unsaid)."""
    last = ctx.census.end_ts if ctx.census is not None else ctx.capture_end
    return max(0.0, ctx.capture_end - last)


def ended_data(ctx: Context, session: Session) -> list[Connection]:
    """The data connections of the session's latest resource (none started again after
    them: _started_again), when each ended in the capture as far as its transfer goes (a
    RST, or the data's sender's FIN: not _open_at_end); [] when there is none, or one is
    still open (newuser55: capture_ended_early said "still running" of a job whose data
    connection had closed, a FIN each way)."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    key = job_direction(session)
    starts = [] if stream is None else [
        m for i, m in enumerate(stream.messages)
        if m.type == "request" and message_op(m) in JOB_STARTS and _taken(stream, i)]
    conns = [conn for conn in (ctx.by_uid[uid] for uid in session.data_connections)
             if not _started_again(ctx, session, conn, starts)]
    if not conns or any(_open_at_end(conn, session, key) for conn in conns):
        return []
    return conns


def _sender_last_data(conn: Connection, session: Session,
                      key: str) -> tuple[int, float] | None:
    """(frame, ts) of the data connection's last data packet from the side that sends the
    job's data (key: job_direction; Connection.orig_last_data), None when the capture
    holds none."""
    media, agent = conn_sides(conn, session)
    sender = agent if key == "to_media" else media
    return conn.orig_last_data if sender == (conn.orig_h, conn.orig_p) else \
        conn.resp_last_data


def _started_again(ctx: Context, session: Session, conn: Connection,
                   starts: list[NdmpMessage]) -> bool:
    """Did the DMA start the job again (DATA_START_*: a later resource) after the start
    of the data connection's own resource (the first at or after its announcement, else
    its first packet: an announcement the capture lacks starts no earlier)? The
    data service starts only from IDLE, after the earlier run halted and was stopped
    (NDMP v4 DATA_START_*): that resource's transfer ended, though a capture of one
    direction holds neither its sender's FIN nor the halt. starts: the session's
    DATA_START_* requests the data service took (_taken: a refused one, NDMP_ILLEGAL_STATE_ERR
    while the earlier run is still ACTIVE, proves nothing)."""
    if len(starts) < 2:
        return False
    ann = next((a for a in session.announced if a.used_by == conn.uid), None)
    frame, ts = (ann.frame, ann.ts) if ann is not None else (conn.first_frame, conn.ts)
    return sum(ctx.order.later(m.frame, m.ts, frame, ts) for m in starts) > 1


def _taken(stream: NdmpStream, index: int) -> bool:
    """Did the data service take the DATA_START_* request stream.messages[index]: its
    reply in the capture carries no error, nor a cut one (NDMP v4: an error reply, such
    as NDMP_ILLEGAL_STATE_ERR, leaves the service as it was)? With no reply to it in the
    capture, only when the capture holds no message of the replying side at all (one
    direction captured: the DMA starts again only once told the earlier run halted);
    a capture that stops before the reply cannot tell."""
    start = stream.messages[index]
    later = stream.messages[index + 1:]
    reply = reply_to(start, later)
    if reply is not None:
        return reply.error_free  # a cut error word: unknown, no start taken
    return not any(m.direction != start.direction for m in stream.messages)


def _job_bytes(session: Session, conn: Connection, key: str) -> int:
    """The job's bytes the data connection carried in the capture (key: job_direction):
    each byte once; for a capture of one direction, what the receiver's ACKs acknowledge
    (0 when that may be a FIN alone: an ACK counts a FIN as one byte; one byte fewer when
    the receiver closed last, its FIN the connection's last packet: closing second, its
    ACK number counts the sender's FIN too. A receiver that closed first goes on ACKing
    what still arrives, the sender's data: its count is the data's, no FIN in it)."""
    sent = sent_each_way(session, [conn])[key]
    if sent:
        return sent
    acked = sent_each_way(session, [conn], acked_unseen=True)[key]
    media, agent = conn_sides(conn, session)
    receiver = media if key == "to_media" else agent
    letter = "F" if receiver == (conn.orig_h, conn.orig_p) else "f"
    if letter in conn.history and conn.last_frame in conn.fin_frames:
        acked -= 1  # the receiver closed last: its FIN's ACK counts the sender's FIN
    return acked if acked > 1 else 0


def _open_at_end(conn: Connection, session: Session, key: str) -> bool:
    """Is the data connection still open at the capture's end as far as its transfer
    goes: no RST, and no FIN from the side that sends the job's data (key: job_direction;
    a FIN from the receiver alone does not end the sending), captured or proved by the
    receiver's ACK one past the sender's last byte (Connection.orig/resp_fin_unseen), or,
    the capture holding no packet of the sender, by the receiver's last ACK at or after
    its own FIN one past its ACK before (the same fields: a lone last byte looks alike)?"""
    if conn.rst_frames or conn.orig_rst or conn.resp_rst or "R" in conn.history \
            or "r" in conn.history:
        return False
    media, agent = conn_sides(conn, session)
    sender = agent if key == "to_media" else media
    orig = sender == (conn.orig_h, conn.orig_p)
    if conn.orig_fin_unseen if orig else conn.resp_fin_unseen:
        return False
    if not seen_closing(conn):
        return True
    return ("F" if orig else "f") not in conn.history


# The fix when a ring buffer's hole holds the transfer's end (as still_running's).
RING_FIX = ("Analyze the whole ring: copy every file of it, and make the ring large enough "
            "(dumpcap -b files:N, tcpdump -W N) that no file is overwritten before it is "
            "copied.")
# ctx.early_events' key of a session whose capture_ended_early names its open transfer.
_SAID = "open transfer"


def step_words(ctx: Context, ring: bool = False) -> str:
    """"step 4 (the data) is unknown: capture until the job ends", the profile's number;
    "...: analyze the whole ring" (ring) when a ring buffer's hole holds the end."""
    spec = ctx.profile.step("data_flow")
    number = f"step {spec.number} " if spec is not None else "the data step "
    return (f"{number}(the data) is unknown: "
            + ("analyze the whole ring" if ring else "capture until the job ends"))


def said(ctx: Context, session: Session) -> None:
    """Record that a capture_ended_early of the session named its open transfer (the
    running job's: flowcheck.verify.running)."""
    ctx.early_events.add((f"{_SAID} {session.id}", 0.0))


def report_open_transfer(ctx: Context, session: Session) -> None:
    """capture_ended_early for a session with an open transfer (open_transfer) whose
    running job's warning (flowcheck.verify.running) did not name it: its job started
    before the capture (no DATA_START_* in it), or halted before the data connection
    opened. Nothing for a session with a failure of its own (ctx.causes)."""
    if (f"{_SAID} {session.id}", 0.0) in ctx.early_events or ctx.causes.get(session.id):
        return
    flowing = open_transfer(ctx, session)
    if flowing is None:
        return
    # Its request unanswered at the end too: said here, one end one finding (review
    # 61c: the stored v4-backup without its DATA_START_BACKUP read two warnings).
    waited = take_awaiting(ctx, session, f"the {session.kind}'s")
    ctx.add("capture_ended_early",
            capitalised(flowing.words(whose=f"the {session.kind}'s"))
            + f"; {step_words(ctx, ring=flowing.gap is not None)}."
            + (f" {waited[0]}" if waited else ""),
            (RING_FIX if flowing.gap is not None else
             "Capture the whole job: start the capture before the job starts and stop it "
             "after the job ends (the job log says when).")
            + (f" {waited[1]}" if waited else ""),
            session=session, conn=flowing.conns[0],
            frames=[flowing.last_frame, *(waited[2] if waited else [])], ts=flowing.last_ts)
