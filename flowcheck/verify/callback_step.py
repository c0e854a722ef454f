"""Step 2 of flow-model.md's five steps: the agent's callback to the job engine, from the
agent to the media server's media range (or, for a profile whose callback is the control
connection, the agent's answer on it). `callback_step(ctx, session, spec, control)` ->
Step: `ok`, `violated` (outside the configured range), `failed` (its opening failed),
`missing` (no callback where the capture would show one: step_missing, its words and fix),
`unknown` (the capture cannot tell: one direction, ended too soon, snap-cut, filtered) or
`not_applicable` (not reached). Moved out of verify.steps unchanged."""

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
)
from flowcheck.profiles import StepSpec
from flowcheck.sessions import message_op, one_sided
from flowcheck.sessions.closing_unheld import control_close_unheld, job_closed_frame
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
from flowcheck.verify.callback_from_ack import from_ack_words
from flowcheck.verify.callback_tie import tie_note, tied_unnamed
from flowcheck.verify.callback_unreached import (
    callback_allows,
    stopped_at_callback,
    taken_on_agent,
    taken_on_media_server,
    unproven_fix,
    unreached_fix,
    unreached_words,
    unsent_fix,
    unsent_words,
)
from flowcheck.verify.capture_time import after, opened_at, time_enough
from flowcheck.verify.closing_candidates import (
    UNHELD_BESIDE,
    candidates_step,
    closing_candidates,
    unheld_close_words,
)
from flowcheck.verify.connect_said import ndmp_port_only, only_ndmp_port
from flowcheck.verify.context import Context, opening_frames
from flowcheck.verify.details import (
    connection_detail,
    port_words,
)
from flowcheck.verify.evidence import OR_FAILED, ended_early, is_open, judged, unseen_why
from flowcheck.verify.filtered import callback_unseen
from flowcheck.verify.first_hop import first_hop_fix, first_hop_ttl, first_hop_words
from flowcheck.verify.no_reply import silent_peer
from flowcheck.verify.not_reached import control_ended_early, control_over, not_due_step
from flowcheck.verify.port_check import callback_not_due
from flowcheck.verify.profile_followed import OTHER_PRODUCT, OTHER_PRODUCT_FIX
from flowcheck.verify.range_stops import callback_stop, stop_lead, stop_words
from flowcheck.verify.short_callbacks import ambiguous_step, short_only
from flowcheck.verify.step_base import make_step, ports_in_range, report_missing
from flowcheck.verify.unresent import failed_opening_words
from flowcheck.verify.went_on import went_on_words


def callback_step(ctx: Context, session: Session, spec: StepSpec, control: Connection) -> Step:
    """Step 2 of `session` (`spec`), read beside its control connection `control` (module
    docstring)."""
    if ctx.profile.callback == "control":
        if control.resp_bytes > 0 or control.resp_pkts > 1:
            # The control connection's media port is the job engine's here (the NAT's
            # when translated: ports_in_range leaves it out).
            status: StepStatus = "ok" if ports_in_range(ctx, session, control) \
                else "violated"
            return make_step(spec, status, [control.uid], [control.first_frame],
                             f"the agent answers on the control connection to port "
                             f"{control.orig_p}")
        if one_sided(control) == "resp" or not control_over(ctx, control):
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
        # The callback may have come before the capture: not seen is not missing; when
        # connections held only closing may be it, the words name them, not "no callback".
        closing = closing_candidates(ctx, session, control)
        if closing:
            return candidates_step(spec, session, closing, "; or the callback came before the "
                                   "capture, which started after the control connection "
                                   "had opened", *([UNHELD_BESIDE]
                                                   if control_close_unheld(control) else []))
        # One of a callback's shape that fits another job as well is named, not "no
        # callback in the capture" (review64l: callback_from_ack names none then).
        tied, conns = tied_unnamed(ctx, session)
        if tied:
            return make_step(spec, "unknown", [c.uid for c in conns],
                             [c.first_frame for c in conns],
                             f"unknown: {tied}; or the callback came before the capture, "
                             "which started after the control connection had opened")
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
    if session.callback_uid is None and not control_over(ctx, control):
        control_ended_early(ctx, session, control, "the agent's callback could be seen",
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
        if session.id in ctx.not_due:
            return not_due_step(spec, "not reached: no callback in the capture, the session "
                                f"stopped before it could come: {silent}", cites_of(silent))
        # The capture's end is no stop of the session (as the later steps read it).
        lead = ("and whether it came after the capture's end cannot be seen"
                if session.id in ctx.silence_cut else
                "but the session stopped before it could come")
        return make_step(spec, "unknown", detail=f"unknown: no callback in the capture, "
                         f"{lead}: {silent}", cites=cites_of(silent))
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
        # The job stopped there, no recorded filter keeping only the NDMP port: the
        # placement leads (newuser67 item 2), but a filter that hid a callback dropped
        # after the capture point stops the job as well (review64g): a capture of
        # nothing but the NDMP port's TCP, its filter unrecorded, says so too.
        placed = stopped_at_callback(session, control) and not _port_filter_recorded(ctx)
        filtered = ndmp_port_only(ctx) and ctx.port_only_capture is not None
        # On the agent (newuser66 item 3), unless a filter may have kept its SYNs out:
        # the capture holds other connections, or the job stopped there.
        own = "" if ttls or (ndmp_port_only(ctx) and not placed) else \
            taken_on_agent(ctx, session)
        # On the agent's first hop, a router's -i any (newuser68 item 5), as for own.
        hop = None if ttls or own or (ndmp_port_only(ctx) and not placed) else \
            first_hop_ttl(ctx, session)
        hint = "" if (ttls or own or hop) and placed else _port_only_hint(ctx)
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
            f"step 2); {OTHER_PRODUCT}" + hint + (
                unreached_words(session, ttls, filtered=ctx.config.ndmp_port
                                if filtered and placed else None) if ttls else
                unsent_words(ctx, session, own, filtered=filtered) if own else
                first_hop_words(ctx, session, hop, filtered=filtered) if hop else ""),
            fix=unreached_fix(ctx, session, filtered=filtered and placed) if ttls else
            unsent_fix(ctx, session, filtered=filtered) if own else
            first_hop_fix(ctx, session, filtered=filtered) if hop else
            unproven_fix(ctx, session),
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
    # Beside a control connection whose close the capture does not hold
    # (sessions.closing_unheld): by its host pair, ports and close (closing_candidates).
    unheld = job_closed_frame(ctx.stream_by_uid.get(control.uid), conn) \
        if control_close_unheld(control) else None
    closing = "" if not (session.callback_closing and conn.fin_frames) else \
        unheld_close_words(conn, control, unheld) if unheld is not None else (
            f"seen only closing (its FIN, {frame_text(conn.fin_frames[0])}, beside the "
            "control connection's close, no job message between): taken for the "
            "callback by its direction, ports and that close alone")
    if session.callback_from_ack:
        closing = from_ack_words(ctx, session, conn)
    return make_step(spec, "ok", [conn.uid], opening_frames(conn),
                     "; ".join(w for w in (closing, connection_detail(ctx, conn, session,
                                                                      ports), note)
                               if w), cites=cites_of(ports, note))


def _port_only_hint(ctx: Context) -> str:
    """For step_missing of the callback in a capture of NDMP-port connections only: the
    callback may have been filtered out, as it may have been dropped before the capture
    point (the job then stops before announcing a data endpoint, which is why the
    absence stays an error). Not when the capture evidently holds more than that port
    (connect_said.only_ndmp_port: a packet that is not TCP, ICMP or ARP, or a recorded
    filter keeping others): no filter kept only that port (newuser68 item 5)."""
    if not only_ndmp_port(ctx):
        return ""
    port = ctx.config.ndmp_port
    return (f". The capture holds only connections to the NDMP port {port}: if a capture "
            f"filter kept only that port (tcpdump 'port {port}'), capture again without it")


def _port_filter_recorded(ctx: Context) -> bool:
    """Does every file of the capture record a capture filter that keeps only the NDMP
    port (verify.capture_filter.port_only_capture, kind "filter")? Then a callback SYN
    missing from it may have been filtered out wherever the capture was taken."""
    found = ctx.port_only_capture
    return found is not None and found.kind == "filter"


def _last_message(ctx: Context, control: Connection) -> NdmpMessage | None:
    """The control connection's last NDMP message in the capture; None when none."""
    stream = ctx.stream_by_uid.get(control.uid)
    return stream.messages[-1] if stream is not None and stream.messages else None
