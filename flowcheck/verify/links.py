"""Checks on the connections of each session: did they open, on which ports, where to.

One root cause gives one error finding: retries of one failed connection are reported
once, and the cause is recorded in Context.causes so the step and NDMP checks do not
report its consequences again.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict

from flowcheck.model import Connection, Session
from flowcheck.sessions import announcement_groups, connection_outcome
from flowcheck.sessions.classify import originator_aborted
from flowcheck.verify.aborted import (
    check_aborted,
    late_answer,
    late_reading,
    reset_timeline,
)
from flowcheck.verify.addresses import (
    check_address_matched,
    elsewhere,
    mismatched,
    report_mismatch,
)
from flowcheck.verify.context import (
    Context,
    agent_side_port,
    allow_rule,
    callback_refused_fix,
    data_refused_fix,
    endpoint,
    media_side_port,
    opening_frames,
    refusal_causes,
    refusal_how,
    session_uids,
    unseen_syn_words,
)
from flowcheck.verify.evidence import (
    after,
    connector_unseen,
    ended_early,
    judged,
    listener_of,
    message_ts,
    note_unseen,
    time_enough,
)
from flowcheck.verify.filtered import moved_unseen, port_only_unseen


def check_links(ctx: Context) -> None:
    if not ctx.sessions:
        _no_control_session(ctx)
        return
    for session in ctx.sessions:
        control = ctx.by_uid[session.control_uid]
        _check_control(ctx, session, control)
        if session.callback_uid:
            _check_callback(ctx, session, ctx.by_uid[session.callback_uid])
        _check_data(ctx, session)
        _check_cut_announcements(ctx, session)
        _check_backup_network(ctx, session)
    _check_unannounced(ctx)


def _no_control_session(ctx: Context) -> None:
    port = ctx.config.ndmp_port
    seen = f"none of the {len(ctx.connections)} TCP connections" if ctx.connections \
        else "no TCP connection at all"
    ctx.add("no_control_session",
            f"No NDMP control connection in the capture: {seen} goes to the NDMP port {port}.",
            f"Check --ndmp-port (the agent's NDMP port, {port} here) and capture on the media "
            "server's interface toward the agent while the job starts.")


def _check_control(ctx: Context, session: Session, conn: Connection) -> None:
    outcome = judged(ctx, conn)
    if outcome == "unknown":
        note_unseen(ctx, session, conn, "control connection")
    target = endpoint(conn.resp_h, conn.resp_p)
    rule = allow_rule(ctx, conn, session)
    if outcome == "unanswered":
        ctx.add("control_unanswered",
                f"The media server {conn.orig_h} sent {len(conn.syn_frames) or 1} SYN(s) to the "
                f"agent's NDMP port {target} and never got an answer: {_silence(ctx, conn)}.",
                f"{_capitalised(rule)}; check that the Remote Agent service runs on "
                f"{conn.resp_h}.", session=session, conn=conn, cause="control")
    elif outcome == "refused":
        ctx.add("control_refused",
                f"The agent's NDMP port {target} refused the control connection from "
                f"{conn.orig_h} with {refusal_how(conn)}: no agent listening, or a firewall "
                f"rejects it.{unseen_syn_words(ctx, [conn])}",
                f"Start the Remote Agent service on {conn.resp_h} (NDMP port "
                f"{ctx.config.ndmp_port}) and {rule}.", session=session, conn=conn,
                cause="control")
    elif outcome == "handshake_incomplete":
        _handshake_incomplete(ctx, session, conn, "control connection", "control")
    media_port = conn.orig_p
    if not ctx.config.in_media_range(media_port):
        if ctx.profile.callback == "control":
            # In this reading the control connection itself is the job engine's port.
            ctx.add("port_outside_media_range",
                    f"The control connection leaves the media server from port {media_port}, "
                    f"outside {ctx.ranges('media')}; this profile takes it as the job "
                    "engine's port.",
                    f"Set the media server's dynamic port range to include the ports the job "
                    f"engine binds, or allow TCP from {conn.orig_h} ports {media_port} to "
                    f"{conn.resp_h} port {conn.resp_p}.", session=session, conn=conn)
        else:
            ctx.add("control_port_outside_media_range",
                    f"The control connection leaves the media server {conn.orig_h} from port "
                    f"{media_port}, outside {ctx.ranges('media')}.",
                    "Harmless if the firewall allows any source port toward the NDMP port; "
                    f"otherwise allow TCP from {conn.orig_h} (any port) to {conn.resp_h} port "
                    f"{conn.resp_p}.", session=session, conn=conn)


def _capitalised(text: str) -> str:
    """The first letter upper case, the rest as it is (str.capitalize lowers "TCP")."""
    return text[:1].upper() + text[1:]


def _handshake_incomplete(ctx: Context, session: Session | None, conn: Connection,
                          what: str, cause: str) -> None:
    head = (f"The {what} {endpoint(conn.orig_h, conn.orig_p)} -> "
            f"{endpoint(conn.resp_h, conn.resp_p)} got a SYN-ACK but the handshake never "
            "completed")
    return_rule = (f"allow the return traffic explicitly: TCP from {conn.resp_h} port "
                   f"{conn.resp_p} back to {conn.orig_h} port {conn.orig_p} (established "
                   "connections)")
    if originator_aborted(conn):
        _reset_by_originator(ctx, session, conn, head, return_rule, cause)
        return
    if conn.resp_rst:
        # The responder reset its half-open connection (RFC 9293 3.10.7.4: a listener
        # that closed, or a stack that gave the connection up), no ACK seen before it.
        ctx.add("handshake_incomplete",
                f"{head}: {conn.resp_h} reset it (RST, frame {conn.rst_frames[0]}) before "
                f"an ACK from {conn.orig_h} was seen. Its port stopped listening (the "
                "service or job on that side closed it), or the ACK never reached it and "
                "it gave the connection up.",
                f"See the log of the service on {conn.resp_h} port {conn.resp_p} for why it "
                f"closed the connection; if {conn.orig_h} sent the ACK (a capture on it "
                f"shows), {return_rule}.", session=session, conn=conn, cause=cause)
        return
    ctx.add("handshake_incomplete",
            f"{head}: the return traffic is blocked, typically by a stateless rule.",
            f"Make the rule stateful, or {return_rule}.", session=session, conn=conn,
            cause=cause)


def _reset_by_originator(ctx: Context, session: Session | None, conn: Connection, head: str,
                         return_rule: str, cause: str) -> None:
    """handshake_incomplete for a control connection or callback its originator reset
    after the SYN-ACK, read by the timing as data_aborted reads a data connection's."""
    if late_answer(ctx, conn):
        reading, fix = late_reading(conn, conn.orig_h)
    else:
        reading = (f"The SYN-ACK came at once: a rule on {conn.orig_h} rejects it with a "
                   "reset (a stateless firewall that does not let in the return traffic of "
                   f"its own connections), or {conn.orig_h} gave the connection up itself.")
        fix = (f"Check the firewall on {conn.orig_h}: make the rule stateful, or "
               f"{return_rule}; if it lets them in, see the log of the service that "
               "connected.")
    ctx.add("handshake_incomplete", f"{head}: {reset_timeline(conn)}. {reading}", fix,
            session=session, conn=conn, cause=cause,
            frames=[*conn.syn_frames, *conn.synack_frames, *conn.rst_frames[:1]])


def _check_callback(ctx: Context, session: Session, conn: Connection) -> None:
    outcome = judged(ctx, conn)
    if outcome == "unknown":
        note_unseen(ctx, session, conn, "callback")
    target = endpoint(conn.resp_h, conn.resp_p)
    rule = allow_rule(ctx, conn, session)
    if outcome == "unanswered":
        ctx.add("callback_unanswered",
                f"The agent {conn.orig_h} tried to call the job engine back at {target} (step "
                f"2) and never got an answer: {_silence(ctx, conn)}.",
                f"{_capitalised(rule)}.", session=session, conn=conn, cause="callback")
    elif outcome == "refused":
        ctx.add("callback_refused",
                f"The agent's callback to the job engine was refused: {refusal_causes(conn)}."
                f"{unseen_syn_words(ctx, [conn])}",
                callback_refused_fix(ctx, conn, session), session=session, conn=conn,
                cause="callback")
    elif outcome == "handshake_incomplete":
        _handshake_incomplete(ctx, session, conn, "callback", "callback")
    _check_ports(ctx, session, conn, "callback")


def _silence(ctx: Context, conn: Connection) -> str:
    """What an unanswered opening shows: retried SYNs are the mark of a drop; one SYN
    that TCP never resent although the capture went on past its retransmission timeout
    more likely got an answer the capture lacks, or was given up at once."""
    if conn.syn_retries > 0:
        return "something drops them"
    return (f"its one SYN (frame {conn.syn_frames[0]}) was never resent in the "
            f"{after(ctx, conn.last_ts):.1f} s of capture after it, although TCP resends an "
            f"unanswered SYN within {ctx.config.retransmission_timeout:g} s: a drop is "
            "possible, but an answer the capture lacks (a RST or ICMP reject the sniffer "
            "missed) or a connector that gave up at once is likelier")


def _check_ports(ctx: Context, session: Session, conn: Connection, what: str) -> None:
    media_port = media_side_port(conn, session)
    agent_port = agent_side_port(conn, session)
    if media_port is not None and not ctx.config.in_media_range(media_port):
        role = "job engine port" if what == "callback" else "media server's end"
        ctx.add("port_outside_media_range",
                f"The {what} {endpoint(conn.orig_h, conn.orig_p)} -> "
                f"{endpoint(conn.resp_h, conn.resp_p)} uses port {media_port} as the "
                f"{role}, outside {ctx.ranges('media')}.",
                f"Make the media server bind its dynamic ports in {ctx.ranges('media')} "
                "(Backup Exec: \"Enable media server TCP dynamic port range\"), or if that "
                "range is wrong, set --media-range to what the firewall opens.",
                session=session, conn=conn)
    if agent_port is not None and not ctx.config.in_agent_range(agent_port):
        ctx.add("port_outside_agent_range",
                f"The {what} {endpoint(conn.orig_h, conn.orig_p)} -> "
                f"{endpoint(conn.resp_h, conn.resp_p)} uses port {agent_port} on the agent "
                f"{session.remote_agent}, outside {ctx.ranges('agent')}.",
                f"Make the agent bind its dynamic ports in {ctx.ranges('agent')} (Backup "
                "Exec: \"Enable remote agent TCP dynamic port range\"; on Linux "
                "net.ipv4.ip_local_port_range), or set --agent-range to what the firewall "
                "opens.", session=session, conn=conn)


def _check_data(ctx: Context, session: Session) -> None:
    conns = [ctx.by_uid[uid] for uid in session.data_connections]
    failed: dict[tuple[str, int], list[Connection]] = defaultdict(list)
    checked_ports: set[tuple[str, int]] = set()
    for conn in conns:
        outcome = judged(ctx, conn)
        if outcome in ("unanswered", "refused", "handshake_incomplete"):
            # One a NAT rewrote too: it reached the port, so it is judged like any other
            # (steps 4-5); announced_address_mismatch names the address on top.
            failed[(conn.resp_h, conn.resp_p)].append(conn)
        elif outcome == "unknown":
            note_unseen(ctx, session, conn, "data connection")
        if (conn.orig_h, conn.orig_p) not in checked_ports:
            checked_ports.add((conn.orig_h, conn.orig_p))
            _check_ports(ctx, session, conn, "data connection")
    reported_from = len(ctx.findings)
    for attempts in failed.values():
        _report_failed_data(ctx, session, attempts)
    check_aborted(ctx, session)
    # The failure findings just added, by connection: the NAT finding points to them.
    failures = {f.uid: f for f in ctx.findings[reported_from:] if f.uid}
    check_address_matched(ctx, session, failures)
    for group in announcement_groups(session.announced):
        if any(a.used_by for a in group) or (session.id, group[0].frame) in \
                ctx.quoted_refusals:
            continue  # a connection reached it, or an ICMP reject of its SYN (data_refused)
        where = " or ".join(endpoint(a.ip, a.port) for a in group)
        first = group[0]
        if connector_unseen(ctx, session, first.listener, [a.ip for a in group]):
            continue  # its SYN would travel a direction the capture lacks: step unknown
        if moved_unseen(ctx, session, first.ts):
            continue  # the data moved: the capture left its connection out (capture_filtered)
        if not time_enough(ctx, first.ts):
            ended_early(ctx, session, f"{first.message.removeprefix('NDMP_')} (frame "
                        f"{first.frame}) announced {where}", first.ts, [first.frame],
                        waits="the connection to it could be seen (retransmission timeout "
                              f"{ctx.config.retransmission_timeout:g} s)")
            continue
        if port_only_unseen(ctx, session, "a connection to it was tried"):
            continue  # the capture holds the NDMP port only: an attempt could not show
        # Only when no alternative of the announcement is the address the control
        # connection reached (v4 may announce several).
        wrong = [m for a in group if (m := mismatched(ctx, session, a.ip, a.port))]
        if len(wrong) == len(group):
            report_mismatch(ctx, session, wrong[0], [])
            continue
        ctx.add("announced_not_used",
                f"{first.message.removeprefix('NDMP_')} (frame {first.frame}) announced {where} "
                "for the data connection, but no connection ever tried it: the side that "
                "should connect could not (for example it could not bind a port because the "
                "port was in use on its side).",
                f"Check that the ports of {ctx.ranges('media')} and {ctx.ranges('agent')} "
                "are free on both hosts and the ranges hold enough ports for all resources; "
                "look for the job's \"Communication Failure has occurred between the Job "
                "Engine and Remote Agent\" error.",
                session=session, frames=[a.frame for a in group], ts=first.ts, cause="data")


def _report_failed_data(ctx: Context, session: Session, attempts: list[Connection]) -> None:
    first = attempts[0]
    outcome = connection_outcome(first)
    wrong = mismatched(ctx, session, first.resp_h, first.resp_p)
    if outcome == "unanswered" and wrong is not None:
        report_mismatch(ctx, session, wrong, attempts)  # replaces the firewall explanation
        return
    frames = [f for conn in attempts for f in opening_frames(conn)]
    target = endpoint(first.resp_h, first.resp_p)
    tries = f" ({len(attempts)} attempts)" if len(attempts) > 1 else ""
    rule = allow_rule(ctx, first, session)
    translated = dict(session.address_matched).get(first.uid)
    if translated is not None:
        target += (f" (the port announced as {endpoint(translated, first.resp_p)}, reached "
                   "under the control connection's address: a NAT rewrote it)")
    elif first.uid in session.port_matched:
        why = {"capture_start": "came before the capture started",
               "one_direction": "is not in the capture, which holds one direction of the "
                                "control connection only",
               "capture_loss": "was lost by the sniffer"}.get(
            session.match_reason, "was cut by the capture's snap length")
        target += f" (its announcement {why}; matched to this session by direction and ports)"
    else:
        target = "the announced endpoint " + target
    if outcome == "unanswered":
        words, fix = elsewhere(ctx, session, first, rule) or ("", f"{_capitalised(rule)}.")
        ctx.add("data_unanswered",
                f"The data connection from {first.orig_h} to {target} "
                f"was never answered{tries}: "
                f"{'its SYNs are dropped' if len(attempts) > 1 else _silence(ctx, first)}, "
                f"so the job cannot move data.{words}", fix, session=session,
                conn=first,
                frames=frames, cause="data")
    elif outcome == "refused":
        ctx.add("data_refused",
                f"The data connection from {first.orig_h} was refused{tries}: "
                f"{refusal_causes(first)}.{unseen_syn_words(ctx, attempts)}",
                data_refused_fix(ctx, first, session),
                session=session, conn=first, frames=frames, cause="data")
    else:
        _handshake_incomplete(ctx, session, first, "data connection", "data")


def _check_cut_announcements(ctx: Context, session: Session) -> None:
    """Announcements the snap length cut: the decode finding says how their data
    connections were matched, and one that no connection followed is still reported."""
    if not session.match_reason:
        return
    stream = ctx.stream_by_uid.get(session.control_uid)
    finding = stream.snap_finding if stream else None
    if finding is not None and session.port_matched:
        conns = [ctx.by_uid[uid] for uid in session.port_matched]
        listed = ", ".join(f"{c.uid} ({endpoint(c.orig_h, c.orig_p)} -> "
                           f"{endpoint(c.resp_h, c.resp_p)})" for c in conns)
        note = (f" Because the announcement of the data endpoint was cut, session "
                f"{session.id}'s data connection(s) {listed} were matched by direction and "
                f"ports ({ctx.profile.name} profile) instead of by the announced address.")
        if note not in finding.message:
            finding.message += note
    for frame, name, uid in session.cut_announcements:
        ts = message_ts(ctx, session, frame)
        if not uid and (connector_unseen(ctx, session, listener_of(name))
                        or moved_unseen(ctx, session, ts)):
            continue  # as above: the connector's direction or the connection not captured
        if not uid and not time_enough(ctx, ts):
            ended_early(ctx, session, f"{name.removeprefix('NDMP_')} (frame {frame}) "
                        "announced a data endpoint", ts, [frame],
                        waits="the connection to it could be seen (retransmission timeout "
                              f"{ctx.config.retransmission_timeout:g} s)")
        elif not uid and not port_only_unseen(ctx, session, "a connection to it was tried"):
            op = name.removeprefix("NDMP_")
            ctx.add("announced_not_used",
                    f"{op} (frame {frame}) announced a data endpoint (its address was cut by "
                    f"the capture's snap length), but no connection between "
                    f"{session.media_server} and {session.remote_agent} followed: the side "
                    "that should connect could not (for example it could not bind a port "
                    "because the port was in use on its side).",
                    f"Check that the ports of {ctx.ranges('media')} and {ctx.ranges('agent')} "
                    "are free on both hosts; capture with tcpdump -s 0 to see the endpoint.",
                    session=session, frames=[frame], cause="data")


def _check_backup_network(ctx: Context, session: Session) -> None:
    network = ctx.config.backup_network
    if network is None:
        return
    for uid in session_uids(session):
        conn = ctx.by_uid[uid]
        outside = [h for h in (conn.orig_h, conn.resp_h) if not _in_network(h, network)]
        if not outside:
            continue
        ctx.add("control_off_backup_network",
                f"The {conn.role} connection {endpoint(conn.orig_h, conn.orig_p)} -> "
                f"{endpoint(conn.resp_h, conn.resp_p)} runs outside the backup network "
                f"{network} ({', '.join(outside)} not in it).",
                f"Make the agent's name resolve to its address in {network} on the media "
                "server (Backup Exec: \"Backup To Network Card\" / \"Use any available network "
                "interface\" off), or route that traffic through the backup network.",
                session=session, conn=conn)


def _in_network(host: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(host) in network
    except ValueError:
        return False


def _check_unannounced(ctx: Context) -> None:
    media, agents = ctx.media_hosts, ctx.agent_hosts
    groups: dict[tuple[str, str, int], list[Connection]] = defaultdict(list)
    for conn in ctx.connections:
        if conn.role != "other" or conn.resp_p == ctx.config.ndmp_port:
            continue
        pair = {conn.orig_h, conn.resp_h}
        if pair & media and pair & agents and conn.orig_h != conn.resp_h:
            groups[(conn.orig_h, conn.resp_h, conn.resp_p)].append(conn)
    for (orig, resp, port), conns in groups.items():
        first = conns[0]
        session = ctx.session_around(first)
        count = f"{len(conns)} connections" if len(conns) > 1 else "A connection"
        ctx.add("unannounced_connection",
                f"{count} from {orig} to {endpoint(resp, port)} between a media server and an "
                f"agent that no control session announced ({ctx.profile.name} profile).",
                "If this is backup traffic, the capture may miss the control connection that "
                "announced it (start the capture before the job); otherwise it is other "
                "traffic between the two hosts and can be ignored.",
                session=session, conn=first,
                frames=[f for c in conns for f in opening_frames(c)])
