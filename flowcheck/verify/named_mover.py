"""The `--profile ndmp` advice for a session the capture joined after its announcements,
when a later reply shows the mover listening (latecut).

A capture started after the control connection had opened and after the job's
announcements (captures/ndmjob/v4-backup.pcap kept from frame 20 on: its DATA_CONNECT,
frame 11, gone) shows no announcement to tell who listened, so latestart's doubt
(verify.profile_doubt) never reads it, and nothing suggested `--profile ndmp` though the
job was plain NDMP. The session's DATA_GET_STATE or MOVER_GET_STATE reply still names
the endpoint of its data connection, the one listened at (flowcheck.sessions.named; NDMP
v4 ndmp_data_get_state_reply.data_connection_addr): on the media server, the mover
listened and the agent connected, plain NDMP's three-way backup (flow-model.md, "How
plain NDMP announces data connections"), where Backup Exec 9's agent listens (its step
3). Not proof: a Backup Exec job whose agent connects to the mover shows the same, so
the words are an advice under a condition ("If this is plain NDMP ..."), given only when
no profile was given and the capture holds no sign of Backup Exec (no vendor message, no
callback) nor an announcement with the agent listening.
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Session
from flowcheck.sessions.named import named_endpoints
from flowcheck.verify.context import Context
from flowcheck.verify.plain_reading import PLAIN_PROFILE, may_infer


def named_mover_advice(ctx: Context, session: Session) -> str:
    """" If this is plain NDMP (...), analyze it with --profile ndmp." for a session read
    by the default profile whose control stream's GET_STATE reply names its data
    connection's endpoint on the media server (module docstring), else ""."""
    if (not may_infer(ctx.config, ctx.profile) or session.profile == PLAIN_PROFILE
            or any(a.listener != "mover" for a in session.announced)):
        return ""
    stream = ctx.stream_by_uid.get(session.control_uid)
    if stream is None or _backup_exec_sign(ctx):
        return ""
    ends = {(c.orig_h, c.orig_p) for uid in session.data_connections
            if (c := ctx.by_uid.get(uid)) is not None} | {
        (c.resp_h, c.resp_p) for uid in session.data_connections
        if (c := ctx.by_uid.get(uid)) is not None}
    named = sorted((frame, name, ip, port)
                   for (ip, port), (frame, name) in named_endpoints(stream).items()
                   if ip == session.media_server and (ip, port) in ends)
    if not named:
        return ""
    frame, name, ip, port = named[0]
    return (f" If this is plain NDMP, analyze it with --profile ndmp: the "
            f"{name.removeprefix('NDMP_')} reply of {frame_text(frame)} names its data "
            f"connection's endpoint {ip}:{port}, on the media server: its mover listened "
            "and the agent connected, plain NDMP's three-way backup, where backup-exec-9 "
            "(the default: no profile was given) has the agent listen; the capture holds "
            "no sign of Backup Exec (no vendor message, no callback), but it started "
            "after the control connection opened, where they would show.")


def _backup_exec_sign(ctx: Context) -> bool:
    """Does the capture hold a sign of Backup Exec anywhere: a vendor message on any
    control stream (the decoder's ndmp_vendor_message is in the stream's findings, not
    yet in ctx.findings while the checks run), or any session's callback (read, or
    ambiguous)? The advice's words say the capture holds none (review56p: v4-backup.pcap
    from frame 20 merged with lab/clean-3-resources.pcap, whose S2 has both, said "the
    capture holds no sign of Backup Exec (no vendor message, no callback)" for S1)."""
    return (any(f.code == "ndmp_vendor_message"
                for f in (*ctx.findings, *(f for s in ctx.stream_by_uid.values()
                                           for f in s.findings)))
            or any(s.callback_uid or s.callback_ambiguous for s in ctx.sessions))
