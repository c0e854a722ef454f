"""A control conversation whose snap length cut only message bodies (field check 38): an
agent killed mid-backup, captured with `tcpdump -s 96` (every NDMP header kept, the
bodies cut), passed, because a halt's absence counted as evidence only in a whole
stream. Every header kept, both directions captured and no byte missed, the stream
still shows which messages were sent: a NOTIFY_*_HALTED would be there, body cut or not.
So too when the sniffer lost bytes of the stream only before the job started (field
check 41, lab matrix seed 49 run 28: an agent killed mid-backup, one reply lost before
DATA_START_BACKUP, passed): a halt after the start would be in the capture."""

from __future__ import annotations

from flowcheck.model import NdmpStream, Session
from flowcheck.sessions import one_sided
from flowcheck.verify.context import Context
from flowcheck.verify.kept import left_out_words


def headers_whole(ctx: Context, session: Session, stream: NdmpStream | None) -> bool:
    """Did the capture keep every NDMP message header of the session's control
    conversation although its snap length cut bodies: both directions captured, no byte
    missed or filtered out, no record whose mark or header was cut (`snap_lost` 0, each
    message found by the record marks' lengths), nothing undecodable?"""
    if stream is None or not stream.snap_cut or stream.snap_lost or not stream.messages:
        return False
    control = ctx.by_uid[session.control_uid]
    return (one_sided(control) is None and not control.missed_bytes
            and not left_out_words(ctx, control)
            and not any(f.code == "ndmp_undecodable" for f in stream.findings))


SNAPPED_WORDS = ("The capture's snap length cut the messages' bodies but kept every "
                 "header, both directions: a halt notified would be in it. ")


def whole_after(ctx: Context, session: Session, stream: NdmpStream | None, frame: int) -> bool:
    """Does the capture show the session's control conversation whole from `frame` on
    (a job's start request): both directions, nothing filtered out or cut by the snap
    length, and every gap of the control connection (Connection.gap_frames, each where
    a gap opened; an end acknowledged beyond the last byte is cited at that ACK) and
    every message the stream could not read whole before it?"""
    if stream is None or stream.snap_cut:
        return False
    control = ctx.by_uid[session.control_uid]
    gaps = control.gap_frames
    return (one_sided(control) is None and not left_out_words(ctx, control)
            and len(gaps) >= control.gaps and all(g < frame for g in gaps)
            and all(f.code == "ndmp_partial" and f.frames and max(f.frames) < frame
                    for f in stream.findings if f.code in ("ndmp_partial",
                                                           "ndmp_undecodable")))
