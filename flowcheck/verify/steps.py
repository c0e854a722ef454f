"""The profile's steps for each session: status, evidence, and step findings.

Runs after the connection and NDMP checks, so a step whose failure already has a root
cause finding only gets its status (failed/missing) and no step_missing on top.
"""

from __future__ import annotations

from flowcheck.model import Connection, Session, Step, StepStatus
from flowcheck.profiles import StepSpec
from flowcheck.sessions import DATA_INTENT, announcement_groups, connection_outcome, message_op
from flowcheck.verify.context import (
    Context,
    agent_side_port,
    conn_sides,
    cut_announcement_words,
    endpoint,
    media_side_port,
    opening_frames,
)


def check_steps(ctx: Context) -> None:
    for session in ctx.sessions:
        session.steps = [_evaluate(ctx, session, spec) for spec in ctx.profile.steps]
        _check_order(ctx, session)


def _evaluate(ctx: Context, session: Session, spec: StepSpec) -> Step:
    control = ctx.by_uid[session.control_uid]
    opened = connection_outcome(control) in ("established", "midstream")
    if spec.kind != "control" and not opened:
        return _step(spec, "not_applicable", detail="the control connection never opened")
    if spec.kind in ("announcement", "data_connection", "data_flow") and \
            session.kind == "browse":
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
    outcome = connection_outcome(conn)
    where = f"{endpoint(conn.orig_h, conn.orig_p)} -> {endpoint(conn.resp_h, conn.resp_p)}"
    if outcome == "midstream":
        ctx.add("capture_started_mid_session",
                f"The capture started after session {session.id}'s control connection "
                f"{where} had opened: the steps before its first captured packet cannot be "
                "checked, and connections already running were matched to it by direction "
                "and ports.",
                "Start the capture before the job starts to check every step.",
                session=session, conn=conn, frames=[conn.first_frame])
    if outcome in ("established", "midstream"):
        note = " (capture started after the handshake)" if outcome == "midstream" else ""
        return _step(spec, "ok", [conn.uid], opening_frames(conn), f"{where}{note}")
    return _step(spec, "failed", [conn.uid], opening_frames(conn),
                 f"{where}: {outcome.replace('_', ' ')}")


def _callback(ctx: Context, session: Session, spec: StepSpec, control: Connection) -> Step:
    if ctx.profile.callback == "control":
        if control.resp_bytes > 0 or control.resp_pkts > 1:
            status: StepStatus = "ok" if ctx.config.in_media_range(control.orig_p) \
                else "violated"
            return _step(spec, status, [control.uid], [control.first_frame],
                         f"the agent answers on the control connection to port "
                         f"{control.orig_p}")
        _missing(ctx, session, spec, "the agent never answered on the control connection")
        return _step(spec, "missing", detail="the agent never answered")
    if session.callback_uid is None and connection_outcome(control) == "midstream":
        return _step(spec, "not_applicable",
                     detail="before the capture started (the control connection was "
                            "already open)")
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
    where = f"{endpoint(conn.orig_h, conn.orig_p)} -> {endpoint(conn.resp_h, conn.resp_p)}"
    outcome = connection_outcome(conn)
    if outcome not in ("established", "midstream"):
        return _step(spec, "failed", [conn.uid], opening_frames(conn),
                     f"{where}: {outcome.replace('_', ' ')}")
    if not _ports_in_range(ctx, session, conn):
        return _step(spec, "violated", [conn.uid], opening_frames(conn),
                     f"{where}: port outside the configured range")
    return _step(spec, "ok", [conn.uid], opening_frames(conn), where)


def _announcement(ctx: Context, session: Session, spec: StepSpec,
                  control: Connection) -> Step:
    if session.announced:
        where = ", ".join(f"{endpoint(a.ip, a.port)} in {a.message.removeprefix('NDMP_')}"
                          for a in session.announced)
        return _step(spec, "ok", [control.uid], [a.frame for a in session.announced], where)
    if session.match_reason:
        # The message was on the wire; only its address is missing from the capture.
        return _step(spec, "ok", [control.uid],
                     [frame for frame, _, _ in session.cut_announcements],
                     cut_announcement_words(session))
    stream = ctx.stream_by_uid.get(session.control_uid)
    refused = [m for m in (stream.messages if stream else [])
               if m.type == "reply" and m.error and message_op(m) in DATA_INTENT]
    if refused:
        first = refused[0]
        return _step(spec, "failed", [control.uid], [m.frame for m in refused],
                     f"{message_op(first)} answered {first.error_name.removeprefix('NDMP_')}: "
                     "no data endpoint was announced")
    partial = bool(stream and any(m.partial for m in stream.messages))
    cut = " The control stream was cut in the capture, so the message may be lost." \
        if partial or stream is None else ""
    _missing(ctx, session, spec,
             f"the session starts a {session.kind} but no data endpoint was announced on its "
             f"control connection.{cut}", conn=control)
    return _step(spec, "missing", [control.uid], detail="no endpoint announced")


def _data_connection(ctx: Context, session: Session, spec: StepSpec,
                     control: Connection) -> Step:
    conns = [ctx.by_uid[uid] for uid in session.data_connections]
    frames = [f for c in conns for f in opening_frames(c)]
    uids = [c.uid for c in conns]
    if not session.announced and not session.match_reason:
        return _step(spec, "missing", detail="nothing was announced, so nothing to connect to")
    failed = [c for c in conns if connection_outcome(c) not in ("established", "midstream")]
    if failed:
        first = failed[0]
        return _step(spec, "failed", uids, frames,
                     f"{endpoint(first.resp_h, first.resp_p)}: "
                     f"{connection_outcome(first).replace('_', ' ')}")
    unused = [g for g in announcement_groups(session.announced) if not any(a.used_by for a in g)]
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
        return _step(spec, "violated", uids, frames, "port outside the configured range")
    where = ", ".join(f"{endpoint(c.orig_h, c.orig_p)} -> {endpoint(c.resp_h, c.resp_p)}"
                      for c in conns)
    return _step(spec, "ok", uids, frames, where)


def _data_flow(ctx: Context, session: Session, spec: StepSpec, control: Connection) -> Step:
    conns = [ctx.by_uid[uid] for uid in session.data_connections]
    open_conns = [c for c in conns if connection_outcome(c) in ("established", "midstream")]
    if not open_conns:
        return _step(spec, "missing", detail="no data connection opened, so no data moved")
    sent = {"to_media": 0, "to_agent": 0}
    for conn in open_conns:
        agent_is_orig = conn_sides(conn, session)[1] == (conn.orig_h, conn.orig_p)
        sent["to_media"] += conn.orig_bytes if agent_is_orig else conn.resp_bytes
        sent["to_agent"] += conn.resp_bytes if agent_is_orig else conn.orig_bytes
    key = "to_agent" if session.kind == "restore" else "to_media"
    uids = [c.uid for c in open_conns]
    direction = "media server to agent" if key == "to_agent" else "agent to media server"
    if sent[key] > 0:
        return _step(spec, "ok", uids, [c.last_frame for c in open_conns],
                     f"{sent[key]} bytes {direction}")
    return _step(spec, "missing", uids, detail=f"no bytes {direction}")


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
    first_data = min((ctx.by_uid[u] for u in session.data_connections), key=lambda c: c.ts)
    if not callback.syn_seen or callback.ts <= first_data.ts:
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

