"""A control conversation whose snap length cut only message bodies (field check 38): an
agent killed mid-backup, captured with `tcpdump -s 96` (every NDMP header kept, the
bodies cut), passed, because a halt's absence counted as evidence only in a whole
stream. Every header kept, both directions captured and no byte missed, the stream
still shows which messages were sent: a NOTIFY_*_HALTED would be there, body cut or not.
So too when the sniffer lost bytes of the stream only before the job started (field
check 41, lab matrix seed 49 run 28: an agent killed mid-backup, one reply lost before
DATA_START_BACKUP, passed): a halt after the start would be in the capture. And a
request whose receiver sent not one byte after it (silent_after) went unanswered, however
much of the stream the snap length cut (lab matrix seed 55 run 26: a DATA_LISTEN the
agent never answered, captured `-s 96`, passed), or whose receiver sent after it only
records whose header the capture kept (headers_from: an agent that logs its failure,
then closes without answering)."""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, NdmpStream, Session, other_direction
from flowcheck.sessions import message_op, one_sided
from flowcheck.tcp_sequence import SEQUENCE_SPACE, seq_ahead
from flowcheck.verify.context import Context
from flowcheck.verify.hidden_ends import ends_job, harmless_frames, missed_from
from flowcheck.verify.kept import left_out_words
from flowcheck.verify.stream_evidence import UNREAD_STREAM
from flowcheck.verify.three_way_close import job_starts


def headers_whole(ctx: Context, session: Session, stream: NdmpStream | None) -> bool:
    """Did the capture keep every NDMP message header of the session's control
    conversation although its snap length cut bodies: both directions captured, no byte
    missed or filtered out, no record whose mark or header was cut (`snap_lost` 0, each
    message found by the record marks' lengths), nothing undecodable (_headers_kept)?"""
    return (stream is not None and not stream.snap_lost
            and _headers_kept(ctx, ctx.by_uid[session.control_uid], stream))


def _headers_kept(ctx: Context, control: Connection, stream: NdmpStream | None) -> bool:
    """A control stream the snap length cut, read otherwise whole: messages read, both
    directions captured, nothing filtered out (_both_ways), no byte missed, nothing
    undecodable. Which headers the cut lost is the caller's to ask (snap_lost,
    unread_last)."""
    return (stream is not None and bool(stream.snap_cut) and bool(stream.messages)
            and _both_ways(ctx, control) and not control.missed_bytes
            and not _undecodable(stream))


def _both_ways(ctx: Context, control: Connection) -> bool:
    """Does the capture hold both directions of the control connection, nothing of it
    left out by a filter?"""
    return one_sided(control) is None and not left_out_words(ctx, control)


def _undecodable(stream: NdmpStream) -> bool:
    return any(f.code == "ndmp_undecodable" for f in stream.findings)


def _no_gap_from(control: Connection, frame: int) -> bool:
    """Is every gap of the connection listed (Connection.gap_frames) and before `frame`?"""
    gaps = control.gap_frames
    return len(gaps) >= control.gaps and all(g < frame for g in gaps)



SNAPPED_WORDS = ("The capture's snap length cut the messages' bodies but kept every "
                 "header, both directions: a halt notified would be in it. ")


SNAPPED_FROM_WORDS = ("The capture's snap length cut the messages' bodies but kept every "
                      "header from the job's start on, both directions: a halt notified "
                      "would be in it. ")


def whole_after(ctx: Context, session: Session, stream: NdmpStream | None, frame: int) -> bool:
    """Does the capture show the session's control conversation from `frame` on (a job's
    start request): both directions, nothing filtered out, and the stream readable from
    it on (readable_from: a snap length that kept every header from it on too; field
    check 41's sniffer loss before the start with -s 96 passed)?"""
    if stream is None:
        return False
    control = ctx.by_uid[session.control_uid]
    return _both_ways(ctx, control) and readable_from(stream, control, frame)


def readable_from(stream: NdmpStream, control: Connection, frame: int) -> bool:
    """Is the control stream readable from `frame` on, so that a halt after it would be
    seen: every gap of the connection (Connection.gap_frames) and every message it could
    not read whole (ndmp_partial) before it, nothing undecodable; or a snap length that
    cut the bodies but kept every header from it on (NdmpStream.unread_last before it:
    field check 38's `-s 96`) with no gap from it on (the matrix's sniffer loss before
    the job started: seed 49 run 28, cut to the agent's direction)? A gap after it whose
    whole messages the sequence numbers name, none a halt or a job's end, hides none
    (hidden_ends.missed_from), nor do the records it broke (hidden_ends.harmless_frames:
    ndmjob-kill/agent-kill9-media without the agent's DATA_START_BACKUP reply passed)."""
    if missed_from(control, stream, frame) or _undecodable(stream):
        return False
    unread = [f for f in stream.findings if f.code in UNREAD_STREAM]
    if stream.snap_cut:  # bodies cut: every record whose header was cut came before it
        return all(last < frame for last in stream.unread_last.values())
    # A hole known by `frame` itself (the packet after it) lies before its message.
    harmless = harmless_frames(stream) | ({frame} & {hole.frame for hole in stream.holes})
    return all(finding.frames and all(f < frame or f in harmless for f in finding.frames)
               for finding in unread)


def silent_after(ctx: Context, session: Session, request: NdmpMessage) -> bool:
    """Did the request's receiver send no byte of payload on the control connection
    after it, as the sequence numbers show whatever the snap length cut or the decoder
    could not read: both directions captured, nothing filtered out, no gap from the
    request on (Connection.gap_frames: a reply the sniffer lost leaves one at the
    receiver's next packet), its last data packet before the request, and a packet of
    its after it (its ACK, FIN or RST: the capture ran on and would show a gap)? A gap
    after the request of the requester's only (its FIN the sniffer lost: lab matrix seed
    55 run 26 with 2% of its frames removed read PASS) does not count when the
    receiver's own sequence numbers show no byte of its missing from the request on
    (_own_whole_after)."""
    control = ctx.by_uid[session.control_uid]
    if not _both_ways(ctx, control):
        return False
    if not _no_gap_from(control, request.frame) and not _own_whole_after(
            ctx.stream_by_uid.get(session.control_uid), request):
        return False
    if request.direction == "orig":
        last_data, last_ts = control.resp_last_data, control.resp_last_ts
    else:
        last_data, last_ts = control.orig_last_data, control.orig_last_ts
    return ((last_data is None or last_data[0] < request.frame)
            and last_ts is not None and last_ts > request.ts)


def _own_whole_after(stream: NdmpStream | None, request: NdmpMessage) -> bool:
    """Do the request's receiver's own sequence numbers show no byte of its the capture
    lacks sent after the request (NdmpStream.own_gaps)? A gap of 1 is a FIN, and bytes
    the requester had acknowledged when it sent the request came before it
    (NdmpStream.request_acks)."""
    if stream is None or not stream.own_gaps_all:
        return False
    receiver = other_direction(request.direction)
    acked = stream.request_acks.get(request.frame)
    for frame, start, size in stream.own_gaps.get(receiver, []):
        if frame <= request.frame or size == 1:
            continue
        if acked is None or seq_ahead(acked, start + size) >= SEQUENCE_SPACE // 2:
            return False  # not acknowledged by the request's packet: maybe after it
    return True


def headers_from(ctx: Context, session: Session, stream: NdmpStream | None,
                 direction: str, frame: int) -> bool:
    """Did the capture keep the header of every NDMP record `direction` ("orig", "resp")
    sent on the session's control connection after `frame`, although its snap length cut
    bodies, or the headers of records before it (NdmpStream.unread_last)? Both directions
    captured, no byte missed or filtered out, nothing undecodable (_headers_kept, as
    headers_whole, with the records the snap length lost all before `frame`): a reply to
    a request in `frame` would be in the capture, whatever else the receiver sent after
    it (lab matrix seed 55 run 26 and seed 57 run 10 with a LOG_MESSAGE of the agent's
    before its close: it passed)."""
    return (stream is not None and _headers_kept(ctx, ctx.by_uid[session.control_uid], stream)
            and stream.unread_last.get(direction, 0) < frame)


def halt_unread_words(ctx: Context, session: Session) -> str | None:
    """"the control connection was closed ... but the snap length cut the headers of
    records sent after the start ..." when the control connection was closed (a FIN)
    after the job's last start request (three_way_close.job_starts) with no halt
    (NOTIFY_*_HALTED) nor JOB_ENDS request among the messages read after it, and the
    snap length cut the header of a record sent after the start (NdmpStream.unread_last):
    a halt may be among them, so whether the job ended before the close cannot be seen;
    None else (ndmjob-pathloss/dma-killed-pathloss-media cut to 96 bytes: the agent's
    file history packed several records a packet, and the DMA's close mid-job passed)."""
    control = ctx.by_uid[session.control_uid]
    stream = ctx.stream_by_uid.get(session.control_uid)
    if stream is None or not stream.snap_cut or not control.fin_frames:
        return None
    starts = job_starts(ctx, session, stream)
    if not starts:
        return None
    start = starts[-1]
    fin = control.fin_frames[0]
    if fin < start.frame or any(start.frame < m.frame < fin and ends_job(m)
                                for m in stream.messages):
        return None  # a halt, or the DMA ending the job (it stops a halted data server)
    unread = [last for last in stream.unread_last.values() if last > start.frame]
    if not unread:
        return None
    return (f"the control connection was closed (FIN, {frame_text(fin)}) after "
            f"{message_op(start)} ({frame_text(start.frame)}) with no NOTIFY_DATA_HALTED or "
            "NOTIFY_MOVER_HALTED among the messages the capture could read, but the snap "
            f"length cut the headers of records sent after the start (the last in "
            f"{frame_text(max(unread))}): a halt may be among them, so whether the job ended "
            f"before the "
            "close cannot be seen (capture with tcpdump -s 0)")
