"""Why a session's kind is "backup or restore": what the capture shows of its job.

A session whose kind only the default gives (Session.kind_guessed: no DATA_START_*, no
mover mode, no data bytes either way) read "backup or restore (no DATA_START_* or data
in the capture to tell which)" also where the capture shows why none came: lab matrix
seed 141 runs 8, 13, 14 and 17 (Backup Exec backups and a restore) sent DATA_LISTEN,
whose request names an address type only (NDMP v4 ndmp_data_listen_request), and their
data connection failed (refused, unanswered); the job stopped there, before the
DATA_START_BACKUP or DATA_START_RECOVER that names the way. Backup and restore look
the same in those captures, byte for byte of their NDMP headers: the same requests, the
same end opening the data connection (the DMA chooses which end listens, not the data's
way). The text now says so: "backup or restore (the job stopped after step 4 failed,
before a DATA_START_BACKUP or DATA_START_RECOVER would tell which; its DATA_LISTEN names
no direction, nor does which end opened the data connection)".
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import NdmpStream, Session, Step
from flowcheck.sessions import message_op
from flowcheck.sessions.classify import DATA_INTENT, JOB_STARTS
from flowcheck.verify.context import Context
from flowcheck.verify.kind_shown import stop_seen

# Data setup requests that name no direction (NDMP v4 ndmp4_data_listen_request: an
# address type; ndmp4_data_connect_request: an address).
_UNDIRECTED = {"DATA_CONNECT", "DATA_LISTEN"}
# Those that name one by their mode (ndmp4_mover_listen_request, _connect_request: mode
# READ or WRITE), with which the kind is known (sessions.classify.said_kind): one whose
# kind is still a guess had its mode unread (the snap length cut its body). review64m:
# ndmjob-threeway/D-v4-3way-datadrop-dma's MOVER_LISTEN (frame 29) cut before its mode
# read "its MOVER_LISTEN names no direction".
_MODED = DATA_INTENT - JOB_STARTS - _UNDIRECTED


def _unreadable(ctx: Context, session: Session, stream: NdmpStream | None, failed: Step
                ) -> str:
    """What hides the control connection's messages after the failed step, where a
    DATA_START_* may be: "its control connection's NDMP messages are in TLS from frame
    11 on", "the capture could not read a record of its control connection after it
    (frame 40: ...)"; "" when every record after it was read. review64m: field48-tls-
    start-matrix/dual-stack-data-ack-dropped-tls-start (TLS from the first byte, 2,030 B
    of the agent's records, its data connection's ACK dropped: the media server's side
    held the connection open) read "the job stopped after step 4 failed, before a
    DATA_START_BACKUP or DATA_START_RECOVER would tell which", which the capture cannot
    show."""
    if stream is None:
        return "none of its control connection's NDMP messages are in the capture"
    if stream.tls_start is not None:
        return (f"its control connection's NDMP messages are in TLS from "
                f"{frame_text(stream.tls_start)} on")
    # The requests' side (the media server's, the DMA's) where the capture holds it: a
    # DATA_START_* is its request, and its reply only follows one (field48-matrix/lost-
    # listen-reply-data-refused: a hole in the agent's side at frame 24, every request
    # read, none a DATA_START_*).
    control = ctx.by_uid[session.control_uid]
    side = "resp" if ctx.lacks((control.orig_h, control.resp_h), control.ts) else "orig"
    unread = stream.unread_last.get(side, 0)
    if unread > min(failed.frames, default=0):
        return (f"the capture could not read a record of its control connection after it "
                f"({frame_text(unread)}: cut by the snap length, a hole, or not NDMP)")
    return ""


def settle_guess(ctx: Context, session: Session) -> None:
    """Set session.kind_guessed_why for a session whose kind is a guess (kind_guessed),
    from its judged steps and its control stream: the step after the control connection
    that failed or was missing before any data flowed, whether the capture shows the job
    stop there (kind_shown.stop_seen) or cannot show the messages after it (TLS, records
    unread: _unreadable), and the setup requests it sent."""
    if not session.kind_guessed or session.kind_unknown:
        return
    stream = ctx.stream_by_uid.get(session.control_uid)
    ops = set() if stream is None else {
        message_op(m) for m in stream.messages if m.type == "request"}
    sent = sorted(ops & _UNDIRECTED)
    moded = sorted(ops & _MODED)
    opened = (", nor does which end opened the data connection"
              if session.data_connections else "")
    named = (f"; its {' and '.join(sent)} name{'s' * (len(sent) == 1)} no direction{opened}"
             if sent else "")
    if moded:
        named += (f"; the mode of its {' and '.join(moded)} (READ or WRITE), which would "
                  "tell, is not in the capture")
    failed = next((step for step, spec in zip(session.steps, ctx.profile.steps, strict=False)
                   if step.step > 1 and step.status in ("failed", "missing")
                   and spec.kind != "data_flow"), None)
    if failed is None:
        session.kind_guessed_why = f"no DATA_START_* or data in the capture to tell which{named}"
        return
    how = "failed" if failed.status == "failed" else "was missing"
    conn = next((ctx.by_uid[uid] for uid in failed.uids if uid in ctx.by_uid), None)
    hidden = _unreadable(ctx, session, stream, failed)
    if hidden:
        said = (f"step {failed.step} {how}, and {hidden}, where a DATA_START_BACKUP or "
                "DATA_START_RECOVER would tell which")
    elif stop_seen(ctx, session, conn):
        said = (f"the job stopped after step {failed.step} {how}, before a "
                "DATA_START_BACKUP or DATA_START_RECOVER would tell which")
    else:
        said = (f"step {failed.step} {how} and the capture holds no DATA_START_BACKUP or "
                "DATA_START_RECOVER after it to tell which")
    session.kind_guessed_why = f"{said}{named}"
