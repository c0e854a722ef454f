"""Whether the control bytes the sniffer lost may hide a job's end.

A message's absence is evidence only where the capture would show it: a halt
(NOTIFY_*_HALTED) never notified, a job the DMA never stopped. Bytes the capture missed
(Connection.missed_bytes) may hold such a message, but not every hole can: the NDMP
sequence numbers around a hole say how many whole messages it held, and which they were
when replies name them (flowcheck.ndmp.lost.hole_contents, NdmpStream.holes): a hole
that held only replies to known requests, or requests the peer's replies name, none of
them a halt or a request that ends the job, hides nothing of its end; nor does a hole
before the event judged (a job's start, a halt). The sweep of single packets removed from
stored failing captures found jobs read PASS on such holes: an agent killed mid-backup
with its DATA_START_BACKUP reply lost (ndmjob-kill/agent-kill9-media without frame 20),
a file-history segment of the agent's lost (ndmjob-pathloss/dma-killed-pathloss-media).
"""

from __future__ import annotations

from collections.abc import Iterable

from flowcheck.connections.endpoint import EVIDENCE_CAP
from flowcheck.model import (
    Announcement,
    Connection,
    ControlPacket,
    NdmpMessage,
    NdmpStream,
    Session,
    StreamHole,
    other_direction,
)
from flowcheck.sessions import message_op
from flowcheck.sessions.classify import JOB_STARTS

# The DMA's requests that end a started job or its session.
JOB_ENDS = frozenset({"DATA_STOP", "DATA_ABORT", "MOVER_STOP", "MOVER_ABORT", "MOVER_CLOSE",
                      "CONNECT_CLOSE"})
# The requests that make a three-way job's mover active (three_way_close.job_starts).
MOVER_STARTS = frozenset({"MOVER_LISTEN", "MOVER_CONNECT"})
# The posts that notify a halt (verify.replies.HALTS).
_HALT_POSTS = frozenset({"NOTIFY_DATA_HALTED", "NOTIFY_MOVER_HALTED"})
# The messages a hole must not hold for the job's end to be read without it: the halts
# and the requests that end the job.
_ENDS = JOB_ENDS | _HALT_POSTS


def ends_job(message: NdmpMessage) -> bool:
    """Does `message` end the job: a halt notified (NOTIFY_*_HALTED), or a request of
    JOB_ENDS?"""
    op = message_op(message)
    return op in _HALT_POSTS or (message.type == "request" and op in JOB_ENDS)


def missed_from(control: Connection, stream: NdmpStream | None, frame: int) -> bool:
    """May the control connection's bytes the capture missed hold a message sent after
    `frame` that ends the job (a halt, a request ending the job or session)? No when none
    was missed, or every gap (Connection.gap_frames: the packet after each, or the ACK
    covering bytes never seen; the list whole) is known by `frame` or an earlier one
    (the bytes were sent before that packet: field38-matrix/agent-killed-one-direction-in
    without the DATA_LISTEN reply just before the DATA_START_BACKUP reply read PASS) or
    is a hole of the stream whose whole messages the sequence numbers name, none of them
    such a message (hole_harmless), or a FIN the capture lacks, which the peer's ACK
    one past the side's last byte shows (Connection.orig/resp_fin_unseen, its gap at
    that ACK: NdmpStream.fins_lost): a FIN holds no message (the sniffer lost both FINs
    of field38-matrix/agent-killed-loss-before-start: "still open")."""
    if not control.missed_bytes:
        return False
    gaps = _gaps(control, stream)
    if gaps is None:
        return True  # gaps not all known by their frames
    holes = {hole.frame: hole for hole in stream.holes} if stream is not None else {}
    return any(gap > frame and not hole_harmless(holes.get(gap)) for gap in gaps)


def _gaps(control: Connection, stream: NdmpStream | None) -> list[int] | None:
    """The frames of the control connection's gaps (Connection.gap_frames) less those of
    FINs the capture lacks (_fins_acked_unseen); None when not every gap is known by
    its frame."""
    gaps = list(control.gap_frames)
    if not gaps or len(gaps) < control.gaps or len(gaps) >= EVIDENCE_CAP:
        return None
    for side in _fins_acked_unseen(control, stream):
        if side.frame in gaps:
            gaps.remove(side.frame)
    return gaps


# The names of the messages a job brings (its requests, replies and notices): a hole
# holding none of them hides no job's start.
_JOB_NAMES = ("DATA_", "MOVER_", "TAPE_", "NOTIFY_DATA", "NOTIFY_MOVER")


def job_missed(control: Connection, stream: NdmpStream | None) -> bool:
    """May the control bytes the capture missed hold a message of a job (a DATA_*,
    MOVER_* or TAPE_* message, a data or mover notice)? No when none was missed, or every
    gap (as missed_from reads them) is a hole whose whole messages the sequence numbers
    name, none of them a job's, or a FIN the capture lacks (lab matrix seed 110 run 32:
    the reply to CONFIG_GET_HOST_INFO lost, then a refused callback, read "whether the
    session started a backup or restore cannot be seen")."""
    if not control.missed_bytes:
        return False
    gaps = _gaps(control, stream)
    if gaps is None:
        return True
    holes = {hole.frame: hole for hole in stream.holes} if stream is not None else {}
    return any((hole := holes.get(gap)) is None or hole.held is None
               or any(name.upper().removeprefix("NDMP_").startswith(_JOB_NAMES)
                      for name in hole.held) for gap in gaps)


def _fins_acked_unseen(control: Connection, stream: NdmpStream | None) -> list[ControlPacket]:
    """The ACKs that show a FIN the capture lacks by acknowledging one sequence number
    past its side's last byte (NdmpStream.fins_lost, the peer's packet), for the sides
    the connection counts so (Connection.orig/resp_fin_unseen: a gap of one byte each)."""
    if stream is None:
        return []
    return [packet for side, packet in stream.fins_lost.items()
            if packet.direction != side
            and (control.orig_fin_unseen if side == "orig" else control.resp_fin_unseen)]


def hole_harmless(hole: StreamHole | None) -> bool:
    """Did the hole hold nothing but messages the sequence numbers name, none of them a
    halt or a request that ends the job (None: no hole of the stream's, an ACK covering
    bytes never seen with no data after them)?"""
    return hole is not None and hole.held is not None and not any(
        name.upper().removeprefix("NDMP_") in _ENDS for name in hole.held)


def harmless_frames(stream: NdmpStream) -> set[int]:
    """The frames a stream's unread records may be reported at (ndmp_partial) that hide
    no message: the packets after its harmless holes (hole_harmless) and the first frames
    of messages read with their body broken off by a hole (header read, `partial`)."""
    return ({hole.frame for hole in stream.holes if hole_harmless(hole)}
            | {m.frame for m in stream.messages if m.partial})


# The messages that carry a data endpoint (flow-model.md: the listener's reply, the
# connector's request).
_ANNOUNCING = frozenset({"DATA_LISTEN", "MOVER_LISTEN", "DATA_CONNECT", "MOVER_CONNECT"})


def announcement_lost(stream: NdmpStream | None, session: Session) -> bool:
    """Did a hole hold a message announcing a data endpoint (its request or reply) while
    no data connection is tied to the session? Its data connection, and a failure of it
    that would be the job's root cause (data_reset, data_aborted), cannot be seen: a
    close of the control connection after it is no failure of its own
    (trial27-three-way/3w-full-a without its DATA_CONNECT request read control_closed,
    the tape agent's reset of the data connection unseen)."""
    return stream is not None and not session.data_connections and any(
        name.upper().removeprefix("NDMP_") in _ANNOUNCING
        for hole in stream.holes if hole.held for name in hole.held)


def lost_start(stream: NdmpStream, session: Session) -> NdmpMessage | None:
    """The last successful reply to a start request the sniffer lost, its request not
    among the messages read: a DATA_START_* reply (whether or not a hole of the
    requester's direction named the request); else, a MOVER_LISTEN or MOVER_CONNECT reply
    whose request such a hole named (its sequence number the reply's `reply_sequence`:
    NdmpStream.holes), whose announced endpoint a connection of the session reached (the
    mover went active), and no request ending the job after it
    (three_way_close.job_starts). Where the job's
    start shows when its request does not (ndmjob-kill/agent-kill9-media without its
    frame 19, the DATA_START_BACKUP request: an agent killed mid-backup read PASS;
    trial27-three-way/3w-moverkill-t without its MOVER_LISTEN request). None else."""
    asked = {(m.direction, m.sequence) for m in stream.messages if m.type == "request"}
    lost = {name for hole in stream.holes if hole.held for name in hole.held}
    unasked = [m for m in stream.messages if m.type == "reply" and not m.error
               and (other_direction(m.direction), m.reply_sequence) not in asked]
    replies = [m for m in unasked if m.name in lost]
    # A successful DATA_START_* reply says by its own header that the job started,
    # whether or not a hole named its request (one lost with nothing of its sender's
    # after it leaves no hole: trial42-keepalive/keepalive-probe-reset-media without
    # frame 25, the DATA_START_BACKUP request, read PASS).
    starts = [m for m in unasked if message_op(m) in JOB_STARTS]
    if starts:
        return starts[-1]
    movers = active_mover_replies(replies, session.announced)
    if not movers or any(m.type == "request" and message_op(m) in JOB_ENDS
                         and m.frame > movers[-1].frame for m in stream.messages):
        return None  # none, or the DMA stopped the mover after it
    return movers[-1]


def active_mover_replies(replies: Iterable[NdmpMessage], announced: Iterable[Announcement]
                         ) -> list[NdmpMessage]:
    """The MOVER_LISTEN / MOVER_CONNECT replies among `replies` whose announced endpoint
    a connection reached (Announcement.used_by: the mover went active), in their order."""
    reached = {a.frame for a in announced if a.used_by}
    return [m for m in replies if message_op(m) in MOVER_STARTS and m.frame in reached]
