"""The profile's steps for each session: status, evidence, and step findings.

Runs after the connection and NDMP checks, so a step whose failure already has a root
cause finding only gets its status (failed/missing) and no step_missing on top.
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import (
    Connection,
    NdmpMessage,
    Session,
    Step,
    StepStatus,
    cites_of,
    connection_ends,
)
from flowcheck.profiles import StepSpec
from flowcheck.sessions import message_op, one_sided
from flowcheck.sessions.unseen import cut_last_word, side_words
from flowcheck.verify.after_close import job_ended
from flowcheck.verify.answer_seen import (
    answer_seen,
    callback_due,
    callback_elsewhere,
    callback_seen_detail,
    callback_seen_words,
)
from flowcheck.verify.attempts import one_way_words, unseen_way
from flowcheck.verify.before_job import ended_step
from flowcheck.verify.callback_address import elsewhere_note
from flowcheck.verify.callback_tie import tie_note
from flowcheck.verify.callback_unreached import (
    callback_allows,
    stopped_at_callback,
    taken_on_media_server,
    unproven_fix,
    unreached_fix,
    unreached_words,
)
from flowcheck.verify.capture_time import after, after_opened, opened_at, time_enough
from flowcheck.verify.closed_job import ended_beside_job, ended_step_of
from flowcheck.verify.connect_said import ndmp_port_only
from flowcheck.verify.context import Context, opening_frames
from flowcheck.verify.data_flow import data_flow_step
from flowcheck.verify.data_steps import announcement_step, data_connection_step
from flowcheck.verify.details import (
    connection_detail,
    port_words,
)
from flowcheck.verify.evidence import OR_FAILED, ended_early, is_open, judged, unseen_why
from flowcheck.verify.fallback import attempt_step, fallback_note, later_step
from flowcheck.verify.filtered import callback_unseen
from flowcheck.verify.half_open import half_open_check, half_open_words
from flowcheck.verify.hidden_ends import job_missed
from flowcheck.verify.kept import filtered_handshake
from flowcheck.verify.kind_shown import after_failed, job_unseen_words, settle_browse
from flowcheck.verify.late_job import joined_late_words, unjudge_job_steps
from flowcheck.verify.lost_reply import lost_reply_step
from flowcheck.verify.mid_session import started_mid_session
from flowcheck.verify.no_reply import silent_peer
from flowcheck.verify.order import check_order
from flowcheck.verify.port_check import (
    KIND_WHY,
    callback_not_due,
    connect_check,
    connect_check_words,
    unseen_wait,
)
from flowcheck.verify.profile_followed import OTHER_PRODUCT, OTHER_PRODUCT_FIX
from flowcheck.verify.range_stops import callback_stop, stop_lead, stop_words
from flowcheck.verify.reply_errors import waiting_tape
from flowcheck.verify.session_words import opened_unseen_words
from flowcheck.verify.shared import SHARED_KINDS, data_holders, shared_step
from flowcheck.verify.short_callbacks import ambiguous_step, short_only
from flowcheck.verify.stale import given_up_where, given_up_words, report_given_up
from flowcheck.verify.step_base import make_step, ports_in_range, report_missing
from flowcheck.verify.stream_evidence import stream_hidden
from flowcheck.verify.ttl_exceeded import traceroute_probe, traceroute_words
from flowcheck.verify.unresent import failed_opening_words
from flowcheck.verify.went_on import went_on_words

_LATER = ("announcement", "data_connection", "data_flow")


def check_steps(ctx: Context) -> None:
    # A session whose data connection another session holds (three-way jobs) reads its
    # data steps from that one: those go first.
    holders = {session.id: data_holders(ctx, session) for session in ctx.sessions}
    for session in sorted(ctx.sessions, key=lambda s: bool(holders[s.id])):
        session.steps = []
        for spec in ctx.profile.steps:  # in order: a step may read the ones before it
            step = _evaluate(ctx, session, spec, holders[session.id])
            session.steps.append(lost_reply_step(ctx, session, spec, step))
        session.ended = ended_beside_job(ctx, session)
        if connect_check(ctx, session):
            session.kind_unknown, session.kind_unknown_why = True, KIND_WHY
        settle_browse(session, [step for step, spec in zip(session.steps, ctx.profile.steps,
                                                            strict=True) if spec.kind in _LATER])
        control = ctx.by_uid[session.control_uid]
        if judged(ctx, control) == "midstream" and not filtered_handshake(ctx, session):
            # The job's start not in the capture either: its resources' steps cannot be
            # judged for the job as a whole (late_job).
            late = joined_late_words(ctx, session, control)
            if late is not None and not unjudge_job_steps(session, ctx.profile, late):
                late = None
            session.joined_late = late is not None
            # After the steps, whose statuses it names. A filter that kept only data
            # packets left the handshake out instead: capture_filtered says so.
            started_mid_session(ctx, session, control, late)
        check_order(ctx, session)
        _note_cut_last_word(ctx, session)


def _evaluate(ctx: Context, session: Session, spec: StepSpec,
              holders: list[Session]) -> Step:
    control = ctx.by_uid[session.control_uid]
    if spec.kind != "control" and (later := later_step(ctx, spec, control)) is not None:
        return later  # its control connection given up for the other IP version
    outcome = judged(ctx, control)
    if spec.kind != "control" and outcome == "unknown":
        return make_step(spec, "unknown", detail="unknown: whether the control connection (step "
                         "1) opened cannot be seen, and this step follows it")
    if spec.kind != "control" and outcome == "given_up":
        where = given_up_where(ctx, control)
        return make_step(spec, "not_applicable", detail="not a job in the capture: its control "
                         f"connection was given up {where} (step 1)", cites=cites_of(where))
    if spec.kind != "control" and half_open_check(ctx, control):
        return make_step(spec, "not_applicable",
                         detail="a half-open port check (step 1), not a job")
    if spec.kind != "control" and connect_check(ctx, session):
        return make_step(spec, "not_applicable", detail="a port check (step 1), not a job")
    if spec.kind != "control" and outcome in ("unanswered", "handshake_incomplete") and \
            traceroute_probe(ctx, control):
        return make_step(spec, "not_applicable", detail="a traceroute probe (step 1), not a job")
    if spec.kind != "control" and not is_open(outcome):
        return make_step(spec, "not_applicable", detail="the control connection never opened")
    ended = job_ended(ctx, session) if spec.kind != "control" else None
    if ended is not None:
        # Its job had ended before the capture saw it run: the capture holds only that
        # closed job's aftermath, nothing of this step (trial 15 D6).
        return ended_step_of(ctx, session, spec, ended)
    if spec.kind in SHARED_KINDS and holders:
        return shared_step(ctx, session, spec, holders)
    if spec.kind in _LATER and session.kind == "browse":
        silent = silent_peer(ctx, session)
        if silent:
            # The capture's end is no stop of the session (lab matrix seed 110 run 15).
            lead = ("whether a backup or restore started cannot be seen"
                    if silent.startswith("the capture ended") else
                    "the session stopped before a backup or restore could start")
            return make_step(spec, "unknown", detail=f"unknown: {lead}: {silent}",
                             cites=cites_of(silent))
        if outcome == "midstream":
            # Its DATA_* requests may have gone before the capture started (or in a
            # ring buffer's hole).
            # A connection held only closing beside the control connection's close
            # (Session.closing_only) may have carried a resource's data before the
            # capture: said, counted as none (docs/json.md `status`).
            closing = ", ".join(f"{uid} {connection_ends(ctx.by_uid[uid])}"
                                for uid in session.closing_only if uid in ctx.by_uid)
            opened = opened_unseen_words(session)
            return make_step(spec, "unknown", detail="unknown: whether the session started a "
                             "backup or restore cannot be seen: its control connection opened "
                             f"{opened}" + (
                                 f"; the capture holds {closing} only closing, beside the "
                                 "control connection's close: the job's closing, counted as "
                                 "none of its data connections" if closing else ""),
                             cites=cites_of(opened))
        stream = ctx.stream_by_uid.get(session.control_uid)
        hidden = unseen_wait(ctx, session) or stream_hidden(ctx, session, stream)
        # An unreadable or lossy stream shows no message that would tell.
        if hidden and (not stream or not stream.messages or job_missed(control, stream)):
            return make_step(spec, "unknown",
                             detail=f"unknown: whether the session started a backup or restore "
                                    f"cannot be seen: {hidden}", cites=cites_of(hidden))
        if session.job_unseen and not ctx.causes.get(session.id):
            # One direction, records cut whole, a last reply cut before its error: no sign
            # of a job is no proof there was none, nor that nothing failed first
            # (sessions.unseen). A failure the capture shows (a refused callback, an error
            # reply) ended the session as it does in a whole capture.
            return make_step(spec, "unknown", detail="unknown: whether the session started a "
                             "backup or restore, or failed before one, cannot be seen: "
                             f"{session.job_unseen}", cites=cites_of(session.job_unseen))
        if session.ended_before_job is not None:
            # Refused at its opening, or closed right after authenticating: it asked
            # nothing, so it browsed nothing (sessions.before_job).
            return ended_step(session, spec)
        waiting = waiting_tape(stream)
        if waiting is not None:  # a TAPE_OPEN refused, the session open at the end
            error = (waiting.error_name or str(waiting.error)).removeprefix("NDMP_")
            return make_step(spec, "unknown", [control.uid], [waiting.frame], detail=(
                f"unknown: the capture ended while the session waited for the tape drive: "
                f"TAPE_OPEN was answered {error} ("
                f"{frame_text(waiting.frame)}) and no later TAPE_OPEN, close or CONNECT_CLOSE "
                f"came; a "
                "backup or restore may have started after a retry"))
        if not _control_over(ctx, control):
            if not any(f.code == "capture_ended_early"  # one early end said once a session
                       for f in ctx.session_findings(session.id)):
                _control_ended_early(ctx, session, control, "a backup or restore could start",
                                     job_unseen_words(session),
                                     f"until the backup or restore has started{OR_FAILED}")
            return make_step(spec, "unknown", detail="unknown: the capture ended "
                             f"{span_words(after(ctx, *opened_at(control)))} after the "
                             "control connection opened, while it was still open: a "
                             "backup or restore may have started later")
        stopped = after_failed(ctx, session, spec)
        if stopped is not None:  # a failed callback stops a backup as it stops a browse
            return stopped  # (trial 20 D4), when the capture shows the stop
        return make_step(spec, "not_applicable",
                         detail="no backup or restore started in this session (browse)")
    evaluate = {"control": _control, "callback": _callback, "announcement": announcement_step,
                "data_connection": data_connection_step, "data_flow": data_flow_step}[spec.kind]
    return evaluate(ctx, session, spec, control)


def _note_cut_last_word(ctx: Context, session: Session) -> None:
    """ndmp_partial names the reply whose error field the snap length cut when that
    leaves the session's kind unknown (sessions.unseen): the message says the fields that
    were captured are decoded, and this one is the field that decides."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    if not session.job_unseen or ctx.causes.get(session.id) or stream is None \
            or stream.snap_finding is None:
        return
    reply = cut_last_word(stream)
    if reply is None or reply.body_len is None:
        return
    note = (f" The error field of the {message_op(reply)} reply ({frame_text(reply.frame)}), "
            f"session {session.id}'s last word, was cut: whether the {side_words(reply)} "
            "refused it cannot be seen, so the session's kind and its later steps are "
            "unknown, not failed.")
    if note not in stream.snap_finding.message:
        stream.snap_finding.message += note


def _control(ctx: Context, session: Session, spec: StepSpec, conn: Connection) -> Step:
    if (attempt := attempt_step(ctx, session, spec, conn)) is not None:
        return attempt  # given up for the other IP version (trial 28 D1)
    outcome = judged(ctx, conn)
    if outcome == "unknown":
        return make_step(spec, "unknown", [conn.uid], opening_frames(conn),
                         f"unknown: {unseen_why(ctx, conn)}")
    if outcome == "given_up":
        report_given_up(ctx, session, conn)
        return make_step(spec, "not_applicable", [conn.uid],
                         [*conn.synack_frames, *conn.rst_frames[:1]], given_up_words(ctx, conn))
    if is_open(outcome):
        ndmp_port = f"NDMP port {conn.resp_p}"
        if conn.resp_p != ctx.config.ndmp_port:  # found by its content
            ndmp_port += (f" (NDMP by its content, not the configured ndmp_port "
                          f"{ctx.config.ndmp_port}: rules written for that port do not "
                          "cover it)")
        own = port_words(ctx, session, conn)
        ports = ", ".join(p for p in (ndmp_port, own) if p)
        detail = connection_detail(ctx, conn, session, ports)
        check = connect_check_words(ctx, session) if connect_check(ctx, session) else ""
        if check:
            detail += f"; {check}"
        note = fallback_note(ctx, conn)
        return make_step(spec, "ok", [conn.uid], opening_frames(conn), detail + note,
                         cites=cites_of(own, check, note))
    if half_open_check(ctx, conn):
        return make_step(spec, "ok", [conn.uid], [*opening_frames(conn), *conn.rst_frames[:1]],
                         half_open_words(conn))
    if outcome in ("unanswered", "handshake_incomplete") and traceroute_probe(ctx, conn):
        return make_step(spec, "ok", [conn.uid],
                         [*opening_frames(conn), *conn.ttl_exceeded_frames,
                          *conn.rst_frames[:1]],
                         traceroute_words(conn))
    return make_step(spec, "failed", [conn.uid], opening_frames(conn),
                     failed_opening_words(ctx, conn))


def _callback(ctx: Context, session: Session, spec: StepSpec, control: Connection) -> Step:
    if ctx.profile.callback == "control":
        if control.resp_bytes > 0 or control.resp_pkts > 1:
            # The control connection's media port is the job engine's here (the NAT's
            # when translated: ports_in_range leaves it out).
            status: StepStatus = "ok" if ports_in_range(ctx, session, control) \
                else "violated"
            return make_step(spec, status, [control.uid], [control.first_frame],
                             f"the agent answers on the control connection to port "
                             f"{control.orig_p}")
        if one_sided(control) == "resp" or not _control_over(ctx, control):
            return make_step(spec, "unknown", [control.uid], detail="unknown: no packet from the "
                             "agent on the control connection in the capture, which holds one "
                             "direction only or ended too soon")
        report_missing(ctx, session, spec, "the agent never answered on the control connection")
        return make_step(spec, "missing", detail="the agent never answered")
    ended = session.ended_before_job
    if session.callback_uid is None and ended is not None and ended.error:
        # Refused at its opening (CONNECT_OPEN, CONNECT_CLIENT_AUTH): the agent calls the
        # job engine back only in a session it accepted, and ndmp_error_reply is the cause
        # (one root cause, one error; new-user trial: a wrong password headlined "step 2
        # missing" and a firewall rule).
        return ended_step(session, spec)
    if session.callback_uid is None and judged(ctx, control) == "midstream":
        # The callback may have come before the capture: not seen is not missing.
        return make_step(spec, "unknown",
                         detail="unknown: no callback in the capture, which started after the "
                            "control connection had opened: it may have come before")
    way = unseen_way(ctx, session.remote_agent, [session.media_server], control.ts)
    if session.callback_uid is None and way is not None:
        # Connections that fit other sessions too but are fewer than the sessions: one
        # of them had none (verify.short_callbacks), if the answer would be seen.
        short = short_only(ctx, session)
        due = None if callback_elsewhere(ctx, session) and not short else \
            callback_due(ctx, session)
        seen = None if due is None else answer_seen(ctx, way, due[0])
        if due is not None and seen is not None and short:
            return ambiguous_step(ctx, session, spec)
        if due is not None and seen is not None:  # the job engine's answer would be there
            frame = due[1]
            report_missing(ctx, session, spec, callback_seen_words(ctx, seen, frame),
                           fix=f"Allow TCP from {session.remote_agent} to "
                               f"{session.media_server} ports {ctx.ranges('media')} inbound "
                               "on the media server and on every firewall between them, "
                               "and its answers back out (ct state established,related "
                               "accept in the media server's output chain); the job log "
                               "and the agent's log tell whether it refused the job "
                               f"first{OTHER_PRODUCT_FIX}.", frames=[frame],
                           ts=due[0], allows=callback_allows(session), other_profile="fix")
            return make_step(spec, "missing", frames=[frame],
                             detail=callback_seen_detail(seen, frame))
        if session.callback_ambiguous:  # candidates in the capture, not "no callback"
            # (lab matrix seed 115 run 7: two dual-stack jobs' IPv4 callbacks, -Q out on
            # the media server); the tail keeps it from a step_missing the way hides.
            return ambiguous_step(ctx, session, spec,
                                  "; " + one_way_words(ctx, way, "the agent's SYN",
                                                              control.ts))
        return make_step(spec, "unknown", detail="unknown: no callback in the capture, but "
                         + one_way_words(ctx, way, "the agent's SYN", control.ts))
    if session.callback_uid is None and not _control_over(ctx, control):
        _control_ended_early(ctx, session, control, "the agent's callback could be seen",
                             "whether the agent called the job engine back",
                             f"until the agent's callback has connected{OR_FAILED}")
        ended = (f"the capture ended {span_words(after(ctx, *opened_at(control)))} after "
                 "the control connection opened, while it was still open: the callback may "
                 "have come later")
        if session.callback_ambiguous:  # candidates in the capture (seed 110 run 44)
            return ambiguous_step(ctx, session, spec, f"; or {ended}")
        return make_step(spec, "unknown", detail=f"unknown: {ended}")
    stream = ctx.stream_by_uid.get(session.control_uid)
    if session.callback_uid is None and stream is not None and stream.snap_cut \
            and not stream.messages:
        # Not one header read (`-s 68`, a packet broker's slicing): whether the session
        # asked for a callback (a job) or was a port check or another program on the
        # port cannot be seen (trial23-other-protocol/webmin-on-media so cut failed).
        return make_step(spec, "unknown", detail="unknown: no callback in the capture, but "
                         "the capture's snap length cut every NDMP message of the control "
                         "connection, so whether the session started a job that calls back "
                         "cannot be seen (capture with tcpdump -s 0)")
    silent = silent_peer(ctx, session) if session.callback_uid is None else None
    if silent:
        return make_step(spec, "unknown", detail="unknown: no callback in the capture, but "
                         f"the session stopped before it could come: {silent}",
                         cites=cites_of(silent))
    left_out = (callback_unseen(ctx, session) or callback_not_due(ctx, session)) \
        if session.callback_uid is None else ""
    if left_out:
        return make_step(spec, "unknown", detail=f"unknown: no callback in the capture, but "
                         f"{left_out}", cites=cites_of(left_out))
    went_on = went_on_words(ctx, session) if session.callback_uid is None else ""
    if went_on:
        return make_step(spec, "unknown", detail=f"unknown: {went_on}", cites=cites_of(went_on))
    last = _last_message(ctx, control) if session.callback_uid is None else None
    if (last is not None and not (control.fin_frames or control.rst_frames)
            and not (session.announced or session.cut_announcements
                     or session.data_connections)
            and not time_enough(ctx, last.ts, last.frame)):
        # Its NDMP conversation still going when the capture stopped, the job not yet past
        # where the callback comes (trial 37's 7 s handshake cut at half: the callback
        # comes after the DMA's requests, not after the opening).
        ended_early(ctx, session, f"the control connection's last NDMP message "
                    f"({message_op(last)}, {frame_text(last.frame)})", last.ts, [last.frame],
                    conn=control, frame=last.frame,
                    waits="the agent's callback could be seen",
                    unseen="whether the agent called the job engine back",
                    stop_after=f"until the agent's callback has connected{OR_FAILED}")
        return make_step(spec, "unknown", detail="unknown: the capture ended "
                         f"{span_words(after(ctx, last.ts, last.frame))} after the control "
                         f"connection's last NDMP message ({message_op(last)}, "
                         f"{frame_text(last.frame)}), while its conversation went on: the "
                         f"callback may "
                         "have come later")
    if session.callback_uid is None and session.callback_ambiguous:
        return ambiguous_step(ctx, session, spec)
    if session.callback_uid is None:
        ttls = taken_on_media_server(ctx, session)  # trial 26 D6
        hint = "" if ttls and stopped_at_callback(session, control) else _port_only_hint(ctx)
        # The agent's range full throughout: no source port for it (verify.range_stops).
        stop = callback_stop(ctx, session, control.ts, callback_due(ctx, session))
        into = (f"into {ctx.ranges('media')} after the control connection opened")
        lead = (f"no connection from the agent {session.remote_agent} to the media server "
                f"{session.media_server} {into}" if stop is None else
                f"no callback from the agent {session.remote_agent} to the media server "
                f"{session.media_server}, {stop_lead(ctx, stop)}: no connection {into}; "
                + stop_words(ctx, stop))
        finding = report_missing(
            ctx, session, spec,
            f"{lead}. Backup Exec's agent calls the job engine back on that port (TechNote "
            f"step 2); {OTHER_PRODUCT}" + hint + (unreached_words(session, ttls) if ttls else ""),
            fix=unreached_fix(ctx, session) if ttls else unproven_fix(ctx, session),
            allows=callback_allows(session), other_profile="said")
        if stop is None:
            return make_step(spec, "missing",
                             detail="no callback from the agent to the job engine")
        stop.finding = finding
        return make_step(spec, "missing", detail="no callback from the agent to the job "
                         f"engine, {stop_lead(ctx, stop)}: {stop_words(ctx, stop)}")
    conn = ctx.by_uid[session.callback_uid]
    outcome = judged(ctx, conn)
    if outcome == "unknown":
        return make_step(spec, "unknown", [conn.uid], opening_frames(conn),
                         f"unknown: {unseen_why(ctx, conn)}")
    note = elsewhere_note(ctx, session, conn)
    if not note:
        note, session.callback_tied_with = tie_note(ctx, session, conn)
    if not is_open(outcome):
        failed = failed_opening_words(ctx, conn)
        return make_step(spec, "failed", [conn.uid], opening_frames(conn),
                         "; ".join(w for w in (failed, note) if w), cites=cites_of(failed, note))
    ports = port_words(ctx, session, conn)
    if not ports_in_range(ctx, session, conn):
        # newuser59: a callback tied by order says so whatever its status (its
        # sessions[].callback_tied_with says so in the JSON).
        return make_step(spec, "violated", [conn.uid], opening_frames(conn),
                         "; ".join(w for w in (f"port outside the configured range: {ports}",
                                               note) if w), cites=cites_of(ports, note))
    # Seen only closing (sessions.only_closing.name_closing_callbacks): named by its
    # direction, ports and close (no job message between it and the control connection's
    # close), which a data connection's may share (newuser65 late-killed.pcap).
    closing = (f"seen only closing (its FIN, {frame_text(conn.fin_frames[0])}, beside the "
               "control connection's close, no job message between): taken for the "
               "callback by its direction, ports and that close alone"
               if session.callback_closing and conn.fin_frames else "")
    return make_step(spec, "ok", [conn.uid], opening_frames(conn),
                     "; ".join(w for w in (closing, connection_detail(ctx, conn, session,
                                                                      ports), note)
                               if w), cites=cites_of(ports, note))


def _port_only_hint(ctx: Context) -> str:
    """For step_missing of the callback in a capture of NDMP-port connections only: the
    callback may have been filtered out, as it may have been dropped before the capture
    point (the job then stops before announcing a data endpoint, which is why the
    absence stays an error)."""
    if not ndmp_port_only(ctx):
        return ""
    port = ctx.config.ndmp_port
    return (f". The capture holds only connections to the NDMP port {port}: if a capture "
            f"filter kept only that port (tcpdump 'port {port}'), capture again without it")


def _control_ended_early(ctx: Context, session: Session, control: Connection,
                         waits: str, unseen: str, stop_after: str) -> None:
    """capture_ended_early for a control connection still open too soon after it opened
    (one warning, whichever step asks): the capture ended before `waits`, so `unseen`
    cannot be seen (the control connection's own answer is in the capture: it opened);
    the fix asks it to run on `stop_after` (ending OR_FAILED: the job may fail first). A
    step of the job, not a TCP retry: no retransmission timeout is named (newuser54:
    "before a backup or restore could start (retransmission timeout 3 s)")."""
    opened, frame = opened_at(control)
    ended_early(ctx, session, f"the control connection "
                f"{connection_ends(control)} opened", opened,
                opening_frames(control), conn=control, frame=frame,
                waits=waits, unseen=unseen, stop_after=stop_after)


def _last_message(ctx: Context, control: Connection) -> NdmpMessage | None:
    """The control connection's last NDMP message in the capture; None when none."""
    stream = ctx.stream_by_uid.get(control.uid)
    return stream.messages[-1] if stream is not None and stream.messages else None


def _control_over(ctx: Context, control: Connection) -> bool:
    """Could the capture have seen the callback? The control connection closed, or the
    capture went on long enough after it opened."""
    return bool(control.fin_frames or control.rst_frames) or \
        after_opened(ctx, control) >= ctx.config.retransmission_timeout
