"""The profile's steps for each session: status, evidence, and step findings.

Runs after the connection and NDMP checks, so a step whose failure already has a root
cause finding only gets its status (failed/missing) and no step_missing on top.
"""

from __future__ import annotations

from flowcheck.model import Connection, Session, Step, StepStatus
from flowcheck.profiles import StepSpec
from flowcheck.sessions import DATA_INTENT, announcement_groups, message_op, one_sided
from flowcheck.verify.aborted import aborted_flow
from flowcheck.verify.context import (
    Context,
    agent_side_port,
    conn_sides,
    cut_announcement_words,
    endpoint,
    media_side_port,
    opening_frames,
)
from flowcheck.verify.details import (
    announcement_detail,
    connection_detail,
    data_connection_detail,
    failure_words,
    flow_detail,
    job_direction,
    port_words,
    sent_each_way,
)
from flowcheck.verify.evidence import (
    after,
    attempt_unseen,
    ended_early,
    flow_hidden,
    is_open,
    judged,
    listener_of,
    message_ts,
    one_way_words,
    pending_request,
    stream_hidden,
    time_enough,
    unseen_way,
    unseen_why,
)
from flowcheck.verify.quoted import quoted_step

_LATER = ("announcement", "data_connection", "data_flow")
# Requests whose reply announces a data endpoint (flow-model.md).
_LISTENS = {"DATA_LISTEN", "MOVER_LISTEN"}


def check_steps(ctx: Context) -> None:
    for session in ctx.sessions:
        session.steps = []
        for spec in ctx.profile.steps:  # in order: a step may read the ones before it
            session.steps.append(_evaluate(ctx, session, spec))
        _check_order(ctx, session)


def _previous(session: Session, ctx: Context, kind: str) -> Step | None:
    spec = ctx.profile.step(kind)  # type: ignore[arg-type]
    return next((s for s in session.steps if spec and s.step == spec.number), None)


def _evaluate(ctx: Context, session: Session, spec: StepSpec) -> Step:
    control = ctx.by_uid[session.control_uid]
    outcome = judged(ctx, control)
    if spec.kind != "control" and outcome == "unknown":
        return _step(spec, "unknown", detail="unknown: whether the control connection (step "
                     "1) opened cannot be seen, and this step follows it")
    if spec.kind != "control" and not is_open(outcome):
        return _step(spec, "not_applicable", detail="the control connection never opened")
    if spec.kind in _LATER and session.kind == "browse":
        if outcome == "midstream":
            # Its DATA_* requests may have gone before the capture started.
            return _step(spec, "unknown", detail="unknown: whether the session started a "
                         "backup or restore cannot be seen: the capture started after its "
                         "control connection had opened")
        stream = ctx.stream_by_uid.get(session.control_uid)
        hidden = stream_hidden(ctx, session, stream)
        # One direction still shows either the media server's DATA_* requests or the
        # agent's replies to them; an unreadable or lossy stream shows neither.
        if hidden and (not stream or not stream.messages or control.missed_bytes):
            return _step(spec, "unknown",
                         detail=f"unknown: whether the session started a backup or restore "
                                f"cannot be seen: {hidden}")
        if not _control_over(ctx, control):
            if not any(f.code == "capture_ended_early" and f.session == session.id
                       for f in ctx.findings):  # one early end is said once per session
                _control_ended_early(ctx, session, control, "a backup or restore could start")
            return _step(spec, "unknown", detail="unknown: the capture ended "
                         f"{ctx.capture_end - control.ts:.3f} s after the control connection "
                         "opened, while it was still open: a backup or restore may have "
                         "started later")
        return _step(spec, "not_applicable",
                     detail="no backup or restore started in this session (browse)")
    evaluate = {"control": _control, "callback": _callback, "announcement": _announcement,
                "data_connection": _data_connection, "data_flow": _data_flow}[spec.kind]
    return evaluate(ctx, session, spec, control)


def _step(spec: StepSpec, status: StepStatus, uids: list[str] | None = None,
          frames: list[int] | None = None, detail: str = "") -> Step:
    return Step(spec.number, spec.name, status, uids or [], sorted(set(frames or []))[:20],
                detail)


def _control(ctx: Context, session: Session, spec: StepSpec, conn: Connection) -> Step:
    outcome = judged(ctx, conn)
    where = f"{endpoint(conn.orig_h, conn.orig_p)} -> {endpoint(conn.resp_h, conn.resp_p)}"
    if outcome == "midstream":
        ctx.add("capture_started_mid_session",
                f"The capture started after session {session.id}'s control connection "
                f"{where} had opened: the steps before its first captured packet cannot be "
                "checked (unknown), and data connections whose announcement the capture may "
                "have missed (already open, or opened before its control stream shows) "
                "were matched to it by direction and ports.",
                "Start the capture before the job starts to check every step.",
                session=session, conn=conn, frames=[conn.first_frame])
    if outcome == "unknown":
        return _step(spec, "unknown", [conn.uid], opening_frames(conn),
                     f"unknown: {unseen_why(ctx, conn)}")
    if is_open(outcome):
        ports = ", ".join(p for p in (f"NDMP port {conn.resp_p}",
                                      port_words(ctx, session, conn)) if p)
        detail = connection_detail(ctx, conn, session, ports)
        return _step(spec, "ok", [conn.uid], opening_frames(conn), detail)
    return _step(spec, "failed", [conn.uid], opening_frames(conn), failure_words(conn))


def _callback(ctx: Context, session: Session, spec: StepSpec, control: Connection) -> Step:
    if ctx.profile.callback == "control":
        if control.resp_bytes > 0 or control.resp_pkts > 1:
            status: StepStatus = "ok" if ctx.config.in_media_range(control.orig_p) \
                else "violated"
            return _step(spec, status, [control.uid], [control.first_frame],
                         f"the agent answers on the control connection to port "
                         f"{control.orig_p}")
        if one_sided(control) == "resp" or not _control_over(ctx, control):
            return _step(spec, "unknown", [control.uid], detail="unknown: no packet from the "
                         "agent on the control connection in the capture, which holds one "
                         "direction only or ended too soon")
        _missing(ctx, session, spec, "the agent never answered on the control connection")
        return _step(spec, "missing", detail="the agent never answered")
    quoted = quoted_step(ctx, session, "callback") if session.callback_uid is None else None
    if quoted is not None:  # an ICMP reject of a SYN the capture does not hold
        return _step(spec, "failed", frames=quoted[0], detail=quoted[1])
    if session.callback_uid is None and judged(ctx, control) == "midstream":
        # The callback may have come before the capture: not seen is not missing.
        return _step(spec, "unknown",
                     detail="unknown: no callback in the capture, which started after the "
                            "control connection had opened: it may have come before")
    way = unseen_way(ctx, session.remote_agent, [session.media_server])
    if session.callback_uid is None and way is not None:
        return _step(spec, "unknown", detail="unknown: no callback in the capture, but "
                     + one_way_words(way, "the agent's SYN"))
    if session.callback_uid is None and not _control_over(ctx, control):
        _control_ended_early(ctx, session, control, "the agent's callback could be seen")
        return _step(spec, "unknown", detail="unknown: the capture ended "
                     f"{ctx.capture_end - control.ts:.3f} s after the control connection "
                     "opened, while it was still open: the callback may have come later")
    if session.callback_uid is None:
        _missing(ctx, session, spec,
                 f"no connection from the agent {session.remote_agent} to the media server "
                 f"{session.media_server} into {ctx.ranges('media')} after the control "
                 "connection opened. Backup Exec's agent calls the job engine back on that "
                 "port (TechNote step 2); plain NDMP (for example Amanda's ndmjob) never "
                 "does, so if this is not Backup Exec use --profile ndmp",
                 fix=f"Allow TCP from {session.remote_agent} to {session.media_server} ports "
                     f"{ctx.ranges('media')} inbound on the media server; if the capture "
                     "is not Backup Exec traffic, analyze it with --profile ndmp.")
        return _step(spec, "missing", detail="no callback from the agent to the job engine")
    conn = ctx.by_uid[session.callback_uid]
    outcome = judged(ctx, conn)
    if outcome == "unknown":
        return _step(spec, "unknown", [conn.uid], opening_frames(conn),
                     f"unknown: {unseen_why(ctx, conn)}")
    if not is_open(outcome):
        return _step(spec, "failed", [conn.uid], opening_frames(conn), failure_words(conn))
    ports = port_words(ctx, session, conn)
    if not _ports_in_range(ctx, session, conn):
        return _step(spec, "violated", [conn.uid], opening_frames(conn),
                     f"port outside the configured range: {ports}")
    return _step(spec, "ok", [conn.uid], opening_frames(conn),
                 connection_detail(ctx, conn, session, ports))


def _announcement(ctx: Context, session: Session, spec: StepSpec,
                  control: Connection) -> Step:
    pending = pending_request(ctx, session, _LISTENS)
    if pending is not None:
        # Its reply would announce (or refuse) the next endpoint: the resource it
        # starts cannot be judged, whatever earlier resources showed.
        op = message_op(pending)
        reply_way = (control.resp_h, control.orig_h) if pending.direction == "orig" else \
            (control.orig_h, control.resp_h)
        if reply_way in ctx.missing:
            why = one_way_words(reply_way, "its reply")
        else:
            ended_early(ctx, session, f"the {op} request (frame {pending.frame})",
                        pending.ts, [pending.frame], conn=control,
                        waits="its reply could be seen (retransmission timeout "
                              f"{ctx.config.retransmission_timeout:g} s)")
            why = (f"the capture ended {after(ctx, pending.ts):.3f} s after it, before its "
                   "reply")
        return _step(spec, "unknown", [control.uid], [pending.frame],
                     f"unknown: the {op} request (frame {pending.frame}) got no reply in the "
                     f"capture: {why}")
    if session.announced:
        return _step(spec, "ok", [control.uid], [a.frame for a in session.announced],
                     announcement_detail(session))
    frames = [frame for frame, _, _ in session.cut_announcements]
    if session.match_reason == "capture_start" or session.cut_announcements:
        # The announcing message is on the wire (its header and error were read); only
        # its address is missing from the capture.
        return _step(spec, "ok", [control.uid], frames, cut_announcement_words(session))
    if session.match_reason:
        # No announcing message could be read at all: a data connection that carried
        # the job's bytes proves the announcement worked; nothing else does.
        carried = _job_bytes(ctx, session, [ctx.by_uid[u] for u in session.port_matched])
        if carried and session.match_reason != "snap_length":
            return _step(spec, "ok", [control.uid], frames,
                         f"{cut_announcement_words(session)}; {carried}, so the "
                         "announcement worked")
        proof = (f"{carried}, but nothing ties them to an announcement" if carried else
                 "and no data connection that carried the job's bytes proves it")
        return _step(spec, "unknown", [control.uid], frames,
                     f"unknown: {cut_announcement_words(session)}; {proof}")
    stream = ctx.stream_by_uid.get(session.control_uid)
    refused = [m for m in (stream.messages if stream else [])
               if m.type == "reply" and m.error and message_op(m) in DATA_INTENT]
    if refused:
        first = refused[0]
        return _step(spec, "failed", [control.uid], [m.frame for m in refused],
                     f"{message_op(first)} answered {first.error_name.removeprefix('NDMP_')}: "
                     "no data endpoint was announced")
    hidden = stream_hidden(ctx, session, stream)
    if hidden or stream is None:
        why = hidden or "no NDMP message of the control connection was decoded"
        return _step(spec, "unknown", [control.uid],
                     detail=f"unknown: no announcement in the capture, but {why}")
    _missing(ctx, session, spec,
             f"the session starts a {session.kind} but no data endpoint was announced on its "
             "control connection", conn=control)
    return _step(spec, "missing", [control.uid], detail="no endpoint announced")


def _data_connection(ctx: Context, session: Session, spec: StepSpec,
                     control: Connection) -> Step:
    conns = [ctx.by_uid[uid] for uid in session.data_connections]
    frames = [f for c in conns for f in opening_frames(c)]
    uids = [c.uid for c in conns]
    announcement = _previous(session, ctx, "announcement")
    if not conns and announcement is not None and announcement.status == "unknown":
        return _step(spec, "unknown", detail="unknown: the announcement (step "
                     f"{announcement.step}) cannot be seen, so neither can its connection")
    if not session.announced and not session.match_reason:
        return _step(spec, "missing", detail="nothing was announced, so nothing to connect to")
    outcomes = {c.uid: judged(ctx, c) for c in conns}
    # A connection its originator reset after the SYN-ACK reached the endpoint: its
    # failure is step 5's (no data flowed), not this step's.
    failed = [c for c in conns if not is_open(outcomes[c.uid])
              and outcomes[c.uid] not in ("unknown", "aborted")]
    if failed:
        first = failed[0]
        return _step(spec, "failed", uids, frames,
                     f"{endpoint(first.resp_h, first.resp_p)}: {failure_words(first)}")
    quoted = quoted_step(ctx, session, "data_connection")
    if quoted is not None:  # an ICMP reject of a SYN the capture does not hold
        return _step(spec, "failed", uids, frames + quoted[0], quoted[1])
    unknown = [c for c in conns if outcomes[c.uid] == "unknown"]
    if unknown:
        return _step(spec, "unknown", uids, frames,
                     f"unknown: {endpoint(unknown[0].resp_h, unknown[0].resp_p)}: "
                     f"{unseen_why(ctx, unknown[0])}")
    unused = [g for g in announcement_groups(session.announced) if not any(a.used_by for a in g)]
    # What no connection followed (cut ones too) needs a capture that could show one.
    unfollowed = [(f"{g[0].message.removeprefix('NDMP_')} (frame {g[0].frame}) announced "
                   f"{endpoint(g[0].ip, g[0].port)}",
                   attempt_unseen(ctx, session, g[0].listener, [a.ip for a in g], g[0].ts))
                  for g in unused]
    unfollowed += [(f"{name.removeprefix('NDMP_')} (frame {frame}) announced a data "
                    "endpoint (its address cut by the snap length)",
                    attempt_unseen(ctx, session, listener_of(name), [],
                                   message_ts(ctx, session, frame)))
                   for frame, name, uid in session.cut_announcements if not uid]
    if unfollowed and all(why for _, why in unfollowed):
        what, why = unfollowed[0]
        return _step(spec, "unknown", uids, frames, f"unknown: {what}, but {why}")
    if not conns or unused:
        return _step(spec, "missing", uids, frames,
                     "an announced endpoint got no connection")
    wrong_way = [c for c in conns if not _expected_connector(ctx, session, c)]
    if wrong_way:
        expected = "media server" if ctx.profile.connector == "media_server" else "agent"
        openers = _report_wrong_way(ctx, session, spec, wrong_way, expected)
        return _step(spec, "violated", uids, frames,
                     f"opened by {openers}, expected the {expected}")
    if not all(_ports_in_range(ctx, session, c) for c in conns):
        return _step(spec, "violated", uids, frames, "port outside the configured range: " +
                     "; ".join(port_words(ctx, session, c) for c in conns))
    return _step(spec, "ok", uids, frames, data_connection_detail(
        ctx, session, conns, [port_words(ctx, session, c) for c in conns]))


def _data_flow(ctx: Context, session: Session, spec: StepSpec, control: Connection) -> Step:
    conns = [ctx.by_uid[uid] for uid in session.data_connections]
    open_conns = [c for c in conns if is_open(judged(ctx, c))]
    failure = aborted_flow(ctx, session, open_conns)
    if failure is not None:  # data_aborted: a resource's connection reset before any data
        return _step(spec, "failed", *failure)
    if not open_conns:
        previous = _previous(session, ctx, "data_connection")
        if previous is not None and previous.status == "unknown":
            return _step(spec, "unknown", detail="unknown: whether the data connection (step "
                         f"{previous.step}) opened cannot be seen")
        return _step(spec, "missing", detail="no data connection opened, so no data moved")
    sent = sent_each_way(session, open_conns)
    key = job_direction(session)
    uids = [c.uid for c in open_conns]
    direction = "media server to agent" if key == "to_agent" else "agent to media server"
    if sent[key] > 0:
        return _step(spec, "ok", uids, [c.last_frame for c in open_conns],
                     flow_detail(session, open_conns, sent, key))
    hidden = flow_hidden(ctx, session, open_conns, key)
    if hidden:
        return _step(spec, "unknown", uids, detail=f"unknown: no bytes {direction} in the "
                     f"capture, but {hidden}")
    return _step(spec, "missing", uids, detail=f"no bytes {direction}")


def _job_bytes(ctx: Context, session: Session, conns: list[Connection]) -> str:
    """Words for the job's bytes these connections carried ("" when none)."""
    open_conns = [c for c in conns if is_open(judged(ctx, c))]
    sent = sent_each_way(session, open_conns)
    key = job_direction(session)
    if not sent[key]:
        return ""
    return (f"{', '.join(c.uid for c in open_conns)} carried {sent[key]} bytes "
            f"{'to the agent' if key == 'to_agent' else 'to the media server'}")


def _control_ended_early(ctx: Context, session: Session, control: Connection,
                         waits: str) -> None:
    """capture_ended_early for a control connection still open too soon after it opened
    (one warning, whichever step asks)."""
    ended_early(ctx, session, f"the control connection "
                f"{endpoint(control.orig_h, control.orig_p)} -> "
                f"{endpoint(control.resp_h, control.resp_p)} opened", control.ts,
                opening_frames(control), conn=control,
                waits=f"{waits} (retransmission timeout "
                      f"{ctx.config.retransmission_timeout:g} s)")


def _control_over(ctx: Context, control: Connection) -> bool:
    """Could the capture have seen the callback? The control connection closed, or the
    capture went on long enough after it opened."""
    return bool(control.fin_frames or control.rst_frames) or time_enough(ctx, control.ts)


def _report_wrong_way(ctx: Context, session: Session, spec: StepSpec,
                      wrong_way: list[Connection], expected: str) -> str:
    """One step_out_of_order naming every data connection opened from the wrong side;
    returns who opened them."""
    listed = ", ".join(f"{endpoint(c.orig_h, c.orig_p)} -> {endpoint(c.resp_h, c.resp_p)}"
                       for c in wrong_way)
    openers = " and ".join(dict.fromkeys(c.orig_h for c in wrong_way))
    ports: dict[tuple[str, str], list[int]] = {}
    for conn in wrong_way:
        pair = ports.setdefault((conn.orig_h, conn.resp_h), [])
        if conn.resp_p not in pair:
            pair.append(conn.resp_p)
    allowed = "; ".join(f"TCP from {orig} to {resp} port{'s' if len(pair) > 1 else ''} "
                        f"{', '.join(map(str, pair))}" for (orig, resp), pair in ports.items())
    what, verb, them = ("data connection", "is", "it") if len(wrong_way) == 1 else \
        (f"{len(wrong_way)} data connections", "are", "them")
    ctx.add("step_out_of_order",
            f"The {what} {listed} {verb} opened by {openers}; the {ctx.profile.name} "
            f"profile expects the {expected} to open {them} (step {spec.number}).",
            f"If this is not {ctx.profile.name} traffic, analyze it with the matching "
            "profile (--profile ndmp for plain NDMP); otherwise the firewall must allow "
            f"{allowed}.",
            session=session, conn=wrong_way[0],
            frames=[f for c in wrong_way for f in opening_frames(c)])
    return openers


def _expected_connector(ctx: Context, session: Session, conn: Connection) -> bool:
    media, agent = conn_sides(conn, session)
    connector = (conn.orig_h, conn.orig_p)
    if ctx.profile.connector == "media_server":
        return media == connector
    if ctx.profile.connector == "remote_agent":
        return agent == connector
    return True  # "listener": reaching the announced endpoint is the direction


def _ports_in_range(ctx: Context, session: Session, conn: Connection) -> bool:
    media_port = media_side_port(conn, session)
    agent_port = agent_side_port(conn, session)
    return (media_port is None or ctx.config.in_media_range(media_port)) and \
        (agent_port is None or ctx.config.in_agent_range(agent_port))


def _missing(ctx: Context, session: Session, spec: StepSpec, why: str, *,
             fix: str = "", conn: Connection | None = None) -> None:
    ctx.add("step_missing",
            f"Step {spec.number} ({spec.name}) of the {ctx.profile.name} profile is missing: "
            f"{why}.".replace("..", "."),
            fix or "Capture the whole job from its start on the media server's interface "
                   "toward the agent; if the job really skipped this step, see its log.",
            session=session, conn=conn or ctx.by_uid.get(session.control_uid))


def _check_order(ctx: Context, session: Session) -> None:
    """The callback (step 2) comes before the data connection (step 4)."""
    callback_spec = ctx.profile.step("callback")
    data_spec = ctx.profile.step("data_connection")
    if callback_spec is None or data_spec is None or not session.callback_uid or \
            not session.data_connections:
        return
    callback = ctx.by_uid[session.callback_uid]
    # By frame, the order the sniffer wrote the packets: timestamps may go backwards (a
    # clock step, capture_clock_stepped) or jitter between two interfaces.
    def order(conn: Connection) -> tuple[int, float]:
        return conn.first_frame, conn.ts

    first_data = min((ctx.by_uid[u] for u in session.data_connections), key=order)
    if not callback.syn_seen or order(callback) <= order(first_data):
        # Without its SYN the callback opened before the capture: before any data
        # connection the capture saw open, and its true start is unknown anyway.
        return
    ctx.add("step_out_of_order",
            f"The callback {endpoint(callback.orig_h, callback.orig_p)} -> "
            f"{endpoint(callback.resp_h, callback.resp_p)} (step {callback_spec.number}) came "
            f"after the data connection (step {data_spec.number}).",
            "Check that the capture covers the whole job from its start; if it does, the "
            "agent does not follow the documented sequence: see its version and log.",
            session=session, conn=callback)
    for index, step in enumerate(session.steps):
        if step.step == callback_spec.number and step.status == "ok":
            session.steps[index] = _step(callback_spec, "violated", step.uids, step.frames,
                                         "came after the data connection")

