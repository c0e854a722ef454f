"""Connections between a media server and an agent that no control session announced
(`unannounced_connection`), split from flowcheck.verify.links (review58e): which end
opened them when the capture holds it, whether they failed or were given up at once,
and the fix by what the capture lacks (the announcing control connection's bytes, its
opening, or the whole of it).
"""

from __future__ import annotations

from collections import defaultdict

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session
from flowcheck.sessions import connection_outcome
from flowcheck.sessions.capture_start import lone_syn_given_up
from flowcheck.sessions.classify import is_failed
from flowcheck.sources.pieces import least_in
from flowcheck.verify.context import Context, endpoint, opening_frames
from flowcheck.verify.details import failure_words
from flowcheck.verify.evidence import after_last
from flowcheck.verify.lone_synack import lone_synack
from flowcheck.verify.plain_reading import vendor_signed
from flowcheck.verify.sessions_around import joined_late

__all__ = ["check_unannounced"]


def check_unannounced(ctx: Context) -> None:
    """unannounced_connection for each group of connections (originator, responder,
    port) between a media server and an agent that no session explains (role "other",
    not to the NDMP port, not tied nor an ambiguous callback), naming the session open
    around all of them, if one."""
    # The hosts of the judged sessions and the configured ones: a host only side traffic
    # reached (a web server whose port 10000 was probed) is no agent (trial 23 D9).
    judged_sessions = [s for s in ctx.sessions if not s.side]
    media = set(ctx.config.media_servers) | {s.media_server for s in judged_sessions}
    agents = set(ctx.config.remote_agents) | {s.remote_agent for s in judged_sessions}
    # A callback that fits several waiting sessions alike (Session.callback_ambiguous)
    # is one of their jobs': their steps 2 name it (lab matrix seed 110 run 2).
    ambiguous = {uid for s in judged_sessions for uid in s.callback_ambiguous}
    groups: dict[tuple[str, str, int], list[Connection]] = defaultdict(list)
    for conn in ctx.connections:
        # A session's connection of role other is its closing (Session.closing_only).
        if conn.role != "other" or conn.session is not None \
                or conn.resp_p == ctx.config.ndmp_port \
                or conn.uid in ctx.tied_reported or conn.uid in ambiguous:
            continue
        pair = {conn.orig_h, conn.resp_h}
        if pair & media and pair & agents and conn.orig_h != conn.resp_h:
            groups[(conn.orig_h, conn.resp_h, conn.resp_p)].append(conn)
    # The first SYN's frame each piece of the set holds (review58f: not another file's): a
    # connection first seen after it may have opened in the capture, its handshake lost.
    earliest = least_in(ctx.pieces, ((c.ts, c.syn_frames[0]) for c in ctx.connections
                                     if c.syn_frames)) if groups else {}
    for (orig, resp, port), conns in groups.items():
        first = conns[0]
        # The session between the two hosts open while every connection of the group
        # opened: traffic that spans several jobs (or goes on between them) is no one
        # job's, so it names none rather than whichever job ran when it began.
        session = ctx.session_around(first)
        if any(ctx.session_around(conn) is not session for conn in conns[1:]):
            session = None
        count = f"{len(conns)} connections" if len(conns) > 1 else "A connection"
        way = f"from {orig} to {endpoint(resp, port)}"
        if all(connection_outcome(c) == "midstream" for c in conns):
            # Its originator is only its first packet's sender (trial 20 D3). After an
            # opening the capture holds, the sniffer may have lost its own (newuser58:
            # a data handshake lost 2 ms into the job read "open before the capture").
            it = "it" if len(conns) == 1 else "them"
            lost = all(earliest.get(ctx.pieces.of(c.ts), c.first_frame) < c.first_frame
                       for c in conns)
            handshake = "its handshake" if it == "it" else "their handshakes"
            when = (f"open before the capture started or {handshake} lost by the "
                    f"sniffer (the capture holds an opening before {it}; which end opened "
                    f"{it} is not in it)" if lost else
                    f"open before the capture started (which end opened {it} is not in it)")
            way = (f"between {endpoint(orig, first.orig_p) if len(conns) == 1 else orig} and "
                   f"{endpoint(resp, port)}, {when},")
        signed = _backup_exec_callback(ctx, session, conns)
        ctx.add("unannounced_connection",
                f"{count} {way} between a media server and an "
                f"agent that no control session announced ({ctx.profile.name} profile)."
                + _failed_words(conns) + _given_up_words(ctx, conns)
                + ("" if signed is None else " Its session shows Backup Exec's signs (its "
                   f"vendor message, {frame_text(signed)}), and the {ctx.profile.name} "
                   "profile given has no callback step."),
                _unannounced_fix(ctx, session, joined_late(ctx.sessions, ctx.by_uid, conns),
                                 signed, len(conns) > 1),
                session=session, conn=first,
                frames=[f for c in conns for f in opening_frames(c)])


def _unannounced_fix(ctx: Context, session: Session | None,
                     late: Session | None = None, signed: int | None = None,
                     several: bool = False) -> str:
    """The fix for unannounced_connection: the session open around it lost bytes of its
    control connection (sniffer loss: the announcement may be among them), else a
    control connection the capture joined after it opened (`late`:
    verify.sessions_around.joined_late; its announcements may precede the capture), else
    a control connection the capture missed (it started too late) or other traffic; a
    Backup Exec callback judged by a profile the user gave without one (`signed`: its
    session's vendor message's frame, _backup_exec_callback; `several`: a group of
    connections) says so and names backup-exec-9."""
    control = ctx.by_uid[session.control_uid] if session is not None else None
    if control is not None and control.missed_bytes:
        # The findings that tell of it: ndmp_partial only when the decoder met the hole
        # (bytes the peer acknowledged after the stream's last captured byte leave none).
        stream = ctx.stream_by_uid.get(control.uid)
        told = ("ndmp_partial, capture_loss" if stream is not None and any(
            f.code == "ndmp_partial" for f in stream.findings) else "capture_loss")
        return (f"The capture missed {control.missed_bytes:,} B of session {session.id}'s "
                f"control connection {control.uid} (sniffer loss: {told}), "
                "so the announcement of this connection may be among them: capture without "
                "drops (dumpcap, or tcpdump -B 16384 when you run it yourself) to tell.")
    if late is not None:
        return (f"Session {late.id}'s control connection {late.control_uid} between these "
                "hosts is in the capture but opened before it started: if this is that "
                "job's traffic, its announcement may have come before the capture (start "
                "the capture before the job to see it); otherwise it is other traffic "
                "between the two hosts and can be ignored.")
    if signed is not None:
        what, them = ("These are callbacks", " them") if several else ("This is a callback", "")
        return (f"{what} from the agent to the media server's range after the control "
                f"connection opened, as Backup Exec's agent makes{them} (its vendor "
                f"message, {frame_text(signed)}): give --profile backup-exec-9 (or profile = "
                "\"backup-exec-9\" in flowcheck.toml) to judge the job as Backup Exec's.")
    return ("If this is backup traffic, the capture may miss the control connection that "
            "announced it (start the capture before the job); otherwise it is other "
            "traffic between the two hosts and can be ignored.")


def _backup_exec_callback(ctx: Context, session: Session | None,
                          conns: list[Connection]) -> int | None:
    """The frame of the vendor message (a Backup Exec sign: the test profile_inferred
    reads, plain_reading.vendor_signed) of `session`, when the user gave a profile
    without a callback (--profile ndmp, or profile = "ndmp" in the configuration) and
    every one of `conns` is a callback as Backup Exec's agent makes it: from the
    session's agent to its media server, to a port in the media range, its SYN in the
    capture after the control connection's; None otherwise. newuser65 (dc2.pcapng): a
    Backup Exec job given --profile ndmp read its callback "the capture may miss the
    control connection ... (start the capture before the job)", the control connection
    captured from its SYN with the vendor message on it."""
    if session is None or "profile" not in ctx.config.explicit or ctx.profile.backup_exec:
        return None
    control = ctx.by_uid.get(session.control_uid)
    stream = ctx.stream_by_uid.get(session.control_uid)
    if control is None or not control.syn_seen or stream is None:
        return None
    if not all(c.orig_h == session.remote_agent and c.resp_h == session.media_server
               and c.syn_seen and c.ts > control.ts and ctx.config.in_media_range(c.resp_p)
               for c in conns):
        return None
    vendor = [f for f in stream.findings if f.code == "ndmp_vendor_message" and f.frames]
    if session.id not in (vendor_signed([session], vendor) or set()):
        return None
    return min(frame for f in vendor for frame in f.frames)


def _failed_words(conns: list[Connection]) -> str:
    """" It failed: unanswered: 5 SYNs over 15.0 s, ..." for the connections of the group
    whose opening failed (trial 30 D3: a dropped one read like any other), else "". A
    lone SYN-ACK never resent shows no failure (verify.lone_synack)."""
    failed = [c for c in conns if is_failed(c) and not lone_synack(c)]
    if not failed:
        return ""
    if len(conns) == 1:
        return f" It failed: {failure_words(failed[0])}."
    return " Of them failed: " + "; ".join(f"{c.uid} ({failure_words(c)})"
                                          for c in failed) + "."


def _given_up_words(ctx: Context, conns: list[Connection]) -> str:
    """" Its one SYN (frame 5) was never resent ..." when each connection is a lone SYN
    its connector gave up at once (sessions.capture_start.lone_syn_given_up), else ""."""
    if len(conns) != 1 or not lone_syn_given_up(conns[0], ctx.end_at(conns[0].ts),
                                                ctx.config.retransmission_timeout):
        return ""
    conn = conns[0]
    return (f" Its one SYN ({frame_text(conn.syn_frames[0])}) was never resent in the "
            f"{span_words(after_last(ctx, conn))} of capture after it: its connector gave "
            "up at once, as after a connect's last SYN retry (an earlier job's, begun before "
            "the capture), or an answer the capture lacks ended it; nothing ties it to a job "
            "in the capture, so it fails none.")
