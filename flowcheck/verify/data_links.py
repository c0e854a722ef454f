"""Checks on a session's data connections and the announcements that should bring them:
check_data groups its failed openings by announced endpoint (their finding:
flowcheck.verify.failed_data), checks their ports, aborted and NAT-rewritten ones, and
reads the announced endpoints no connection tried (announced_not_used, written here);
announcements the snap length cut are flowcheck.verify.cut_announcements'. A failed
connection or an unused announcement is recorded as the root cause "data"
(Context.causes).
"""

from __future__ import annotations

from collections import defaultdict

from flowcheck.frame_names import frame_text
from flowcheck.model import Allows, Announcement, Connection, Session
from flowcheck.sessions import announcement_groups, is_local_group, message_op
from flowcheck.sessions.classify import reply_to
from flowcheck.verify.aborted import check_aborted
from flowcheck.verify.addresses import check_address_matched, mismatched, report_mismatch
from flowcheck.verify.after_close import control_close, late_conns, late_words, tried_in_time
from flowcheck.verify.answer_seen import AnswerSeen, answer_seen, answer_seen_words
from flowcheck.verify.attempts import connector_unseen
from flowcheck.verify.clock_match import event_words, unbounded_doubt
from flowcheck.verify.connect_said import port_only_words
from flowcheck.verify.context import Context, endpoint
from flowcheck.verify.evidence import ended_early, judged, note_unseen
from flowcheck.verify.failed_data import FAILED, report_failed_data
from flowcheck.verify.filtered import moved_unseen, off_path, port_only_reading
from flowcheck.verify.opening import (
    capitalised,
)
from flowcheck.verify.range_stops import connect_stop, stop_lead, stop_words
from flowcheck.verify.ranges import check_ports
from flowcheck.verify.refused_connect import group_refusal
from flowcheck.verify.retry_wait import seen_after_wait
from flowcheck.verify.shared import three_way_hosts
from flowcheck.verify.stack_own import (
    stand_in,
    stands_for_control,
    stood_in_host,
    unseen_no_evidence,
)
from flowcheck.verify.stream_evidence import announcement_time_enough
from flowcheck.verify.two_clocks import report_clocks_apart
from flowcheck.verify.unused_syns import (
    dropped_before_words,
    dropped_first_words,
    ends,
    never_left_fix,
    never_left_words,
    outbound_fix,
    taken_on,
)


def check_data(ctx: Context, session: Session) -> None:
    """The session's data connections (failed openings, one finding per endpoint; their
    ports; aborted and NAT-rewritten ones) and its announcements no connection tried."""
    conns = [ctx.by_uid[uid] for uid in session.data_connections]
    failed: dict[tuple[str, int], list[Connection]] = defaultdict(list)
    checked_ports: set[tuple[str, int]] = set()
    for conn in conns:
        outcome = judged(ctx, conn)
        if outcome in FAILED:
            # One a NAT rewrote too: it reached the port, so it is judged like any other
            # (steps 4-5); announced_address_mismatch names the address on top.
            failed[(conn.resp_h, conn.resp_p)].append(conn)
        elif outcome == "unknown":
            note_unseen(ctx, session, conn, "data connection")
        if (conn.orig_h, conn.orig_p) not in checked_ports:
            checked_ports.add((conn.orig_h, conn.orig_p))
            check_ports(ctx, session, conn, "data connection")
    reported_from = len(ctx.findings)
    for attempts in failed.values():
        report_failed_data(ctx, session, attempts)
    check_aborted(ctx, session)
    # The failure findings just added, by connection: the NAT finding points to them.
    failures = {f.uid: f for f in ctx.findings[reported_from:] if f.uid}
    check_address_matched(ctx, session, failures)
    for group in announcement_groups(session.announced):
        if tried_in_time(ctx, group):
            continue  # a connection reached it while the job ran
        if is_local_group(session, group):
            continue  # inside one host: never on the network (sessions.local)
        if group_refusal(ctx, group) is not None:
            continue  # refused before any connect: ndmp_error_reply (verify.replies)
        if (doubt := unbounded_doubt(ctx, session, group)) is not None:
            # A connection stamped before the window the lag's least allowed may have
            # followed it on two clocks (verify.clock_match): not read.
            report_clocks_apart(ctx, session, ctx.by_uid[session.control_uid], doubt[0],
                                *event_words(group, doubt[1]), "announced_not_used",
                                cause="data")
            continue
        where = " or ".join(endpoint(a.ip, a.port) for a in group)
        first = group[0]
        way = connector_unseen(ctx, session, first.listener, [a.ip for a in group])
        seen = answer_seen(ctx, way, first.ts, [a.ip for a in group])
        if way is not None and seen is None:
            continue  # its SYN would travel a direction the capture lacks: step unknown
        if moved_unseen(ctx, session, first.ts, first.frame):
            continue  # the data moved: the capture left its connection out (capture_filtered)
        if off_path(ctx, session, group):
            continue  # a three-way job's, between two hosts off the capture's path
        if not announcement_time_enough(ctx, session, first.ts, first.frame):
            ended_early(ctx, session, f"{first.message.removeprefix('NDMP_')} ("
                        f"{frame_text(first.frame)}) announced {where}", first.ts, [first.frame],
                        waits=seen_after_wait(ctx.config, "the connection to it"),
                        frame=first.frame)
            continue
        port_only = port_only_reading(ctx, session, "a connection to it was tried", group)
        if port_only.unseen:
            continue  # the capture holds the NDMP port only: an attempt could not show
        # Only when no alternative of the announcement is the address the control
        # connection reached (v4 may announce several).
        wrong = [m for a in group if (m := mismatched(ctx, session, a.ip, a.port))]
        point, proof = taken_on(ctx, session, first) or (None, None)
        # 0.0.0.0 over IPv6 and the listener's own IPv4 address tried in vain look alike
        # where the connector's SYNs may have been lost before the capture point: in a
        # capture lacking its direction (field check 46), and in one not taken on it (the
        # lab matrix's seed 109 run 32: a router dropped them, captured on the agent).
        if len(wrong) == len(group) and not (
                (way is not None or point != "connector")
                and all(unseen_no_evidence(ctx, session, m) for m in wrong)):
            report_mismatch(ctx, session, wrong[0], [])
            continue
        connector, side = _connector(ctx, session, first)
        if seen is not None:  # trial 22 D3: the listener's answer would show
            _one_way_not_used(ctx, session, group, seen, where, connector, side)
            continue
        announced = where
        targets = [a.ip for a in group]  # the hosts of `where`, for the rules' Allows
        if wrong and all(stands_for_control(ctx, session, m) for m in wrong):
            # The connection goes to the control connection's address (stack_own).
            announced, where = _stood_in(ctx, session, group)
            targets = [stood_in_host(ctx, session, a) for a in group]
        late = _late_after(ctx, session, group)
        # What the capture holds: the readings below may have it tried (seed 113 run 45).
        head = (f"{first.message.removeprefix('NDMP_')} ({frame_text(first.frame)}) announced "
                f"{announced} for the data connection, but " + (
                    "no connection in the capture tried it while the job ran: " if late
                    else "the capture holds no connection to it: "))
        said = port_only.failed
        filtered, refilter = (port_only_words(ctx, session, said, first.frame) if said
                              else ("", ""))
        if said is not None:  # the control connection's word, not the absence
            head = (f"{first.message.removeprefix('NDMP_')} ({frame_text(first.frame)}) announced "
                    f"{announced} for the data connection{filtered}no connection "
                    f"{'tried it while the job ran' if late else 'tried it'}: ")
        ports = (f"heck that the ports of {ctx.ranges('media')} and {ctx.ranges('agent')} "
                 "are free on both hosts and the ranges hold enough ports for all resources; "
                 + ("look for the job's \"Communication Failure has occurred between the Job "
                    "Engine and Remote Agent\" error." if ctx.profile.backup_exec else
                    "look for the connect error in the agent's and the backup application's "
                    "logs."))
        host = ends(ctx, session, first)[0]
        # The connector's range full as the endpoint came: no source port for it
        # (verify.range_stops); not when a connection tried it later (it had one).
        stop = None if late else connect_stop(
            ctx, session, host, first.ts, first.frame,
            f"{first.message.removeprefix('NDMP_')} ({frame_text(first.frame)})")
        if stop is not None:
            head = (f"{head[:-2]}, {stop_lead(ctx, stop)}; {stop_words(ctx, stop)}. "
                    "If not the range: ")
        outbound = outbound_fix(ctx, connector, host, where, side, "see its log.")
        if point == "connector":  # no SYN left it: its own rules or it never sent one
            message = (f"{head}{never_left_words(ctx, session, first, connector, proof)}."
                       f"{late}")
            fix = never_left_fix(ctx, host, where, side, f"C{ports}")
        elif proof is not None:  # the listener's side (taken_on: its proof with it)
            # Trial 26 D10: on the listener's side SYNs lost on the way are the common
            # cause; a connector that could not connect at all, the rarer one.
            message = f"{head}{dropped_first_words(connector, proof.shown)}.{late}"
            fix = (f"{_between_fix(ctx, connector, where, side)} "
                   f"{outbound_fix(ctx, connector, host, where, side, f'c{ports}')}")
        else:
            message = (f"{head}the side that should connect could not (for example it could "
                       "not bind a port because the port was in use on its side)"
                       f"{dropped_before_words(connector)}.{late}")
            fix = f"C{ports} {_between_fix(ctx, connector, where, side)} {outbound}"
        finding = ctx.add("announced_not_used", message, fix + refilter,
                          session=session, frames=[a.frame for a in group], ts=first.ts,
                          cause="data", allows=Allows(tuple(dict.fromkeys((host, *targets)))),
                          hedges=proof.hedges if proof is not None else ())
        if stop is not None:
            stop.finding = finding


def _stood_in(ctx: Context, session: Session, group: list[Announcement]) -> tuple[str, str]:
    """(the group's endpoints as announced with the note saying what stands for them,
    the endpoints a connection goes to) for announcements stack_own.stand_in turns into
    the control connection's address."""
    ends_in = [stand_in(ctx, session, a) for a in group]
    note = "".join(dict.fromkeys(words for _, words in ends_in))
    announced = " or ".join(endpoint(a.ip, a.port) for a in group) + note
    return announced, " or ".join(dict.fromkeys(end for end, _ in ends_in))


def _one_way_not_used(ctx: Context, session: Session, group: list[Announcement],
                      seen: AnswerSeen, announced: str, connector: str, side: str) -> None:
    """announced_not_used in a capture of the listener's direction only (answer_seen);
    announced: the group's endpoints as announced. The answer and the rules name the
    endpoint a connection goes to (verify.stack_own.stand_in: 0.0.0.0 over IPv6 is the
    control connection's address)."""
    first = group[0]
    ends = [stand_in(ctx, session, a) for a in group]
    where = " or ".join(dict.fromkeys(end for end, _ in ends))
    note = "".join(dict.fromkeys(words for _, words in ends))
    ctx.add("announced_not_used",
            f"{first.message.removeprefix('NDMP_')} ({frame_text(first.frame)}) announced "
            f"{announced}{note}, but {answer_seen_words(seen, where)}. So the job "
            f"could not move its data: either {connector} could not connect (for example it "
            "could not bind a port because the port was in use on its side), or its own "
            "outbound rules, a firewall or NAT between the hosts, or the inbound rules of "
            f"{seen.listener} itself dropped its SYNs (a capture of {seen.listener}'s packets "
            f"does not show SYNs arriving at it), or {seen.listener}'s own outbound rules (a "
            "stateless drop of its SYN-ACKs) or a firewall between the hosts dropped its "
            "answers.",
            f"Allow TCP from {seen.connector} to {where} inbound on {seen.listener} and on "
            f"every firewall between the hosts (its rule: {ctx.ranges(side)}), and its "
            f"answers back out (ct state established,related accept in {seen.listener}'s "
            "output chain and on those firewalls); through a NAT make the announced "
            "address reachable from the connecting side (NDMP-aware translation, or no NAT); "
            f"a capture of both directions (on {seen.connector}, or a SPAN session of both "
            "received and sent traffic) shows whether its SYNs left it. If none did, its own "
            f"outbound rules drop them (they act before its packet tap): allow TCP to {where} "
            f"outbound on {seen.connector}; or it never sent them: check that the ports of "
            f"{ctx.ranges('media')} and {ctx.ranges('agent')} are free on both hosts.",
            session=session, frames=[a.frame for a in group], ts=first.ts, cause="data",
            allows=Allows(tuple(dict.fromkeys(
                (seen.connector, seen.listener,
                 *(stood_in_host(ctx, session, a) for a in group))))))


def _connector(ctx: Context, session: Session, ann: Announcement) -> tuple[str, str]:
    """(words for the side told to connect, the range of the listener's side): the agent
    connects to the mover ("mover"), the media server to the data service ("data"); in a
    three-way job (three_way_hosts) the other agent, to the listener's range by its
    host's role."""
    found = three_way_hosts(ctx, session, ann)
    if found is not None and found[0] != found[1]:
        connector, listener = found[0], found[1]
        default = "media" if ann.listener == "mover" else "agent"
        return f"the agent {connector}", ctx.host_role(listener) or default
    listener = ann.listener
    # The rule is the announced host's range when flowcheck knows its role (a three-way
    # job whose other half the capture lacks: the tape agent's mover, trial 20 D5).
    role = ctx.host_role(ann.ip)
    if listener == "mover":
        return f"the agent {session.remote_agent}", role or "media"
    return f"the media server {session.media_server}", role or "agent"


def _late_after(ctx: Context, session: Session, group: list[Announcement]) -> str:
    """" Its SYN (C34) 28.1 s after the media server ... closed the control connection
    ...: a consequence, not a refusal the job met." for a connection to the
    announcement that came only after the job ended (after_close), else ""."""
    endpoints = {(a.ip, a.port) for a in group}
    late = [c for c in late_conns(ctx, session) if (c.resp_h, c.resp_p) in endpoints]
    if not late:
        return ""
    return (f" {late[0].orig_h} did try, but only after the job ended: "
            f"{late_words(ctx, late[0])}.{_answered_after(ctx, session, group[0])}")


def _answered_after(ctx: Context, session: Session, ann: Announcement) -> str:
    """" The agent answered DATA_CONNECT only after that close (frame 6741, ...)" when
    the announcing message is a CONNECT request whose reply came after the control
    connection closed: the connect was still pending while the job waited (NDMP v4:
    DATA_CONNECT and MOVER_CONNECT reply once the connection is made or has failed)."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    closed = control_close(stream)
    messages = stream.messages if stream else []
    index = next((i for i, m in enumerate(messages) if m.frame == ann.frame
                  and m.type == "request"), None)
    if closed is None or index is None:
        return ""
    request = messages[index]
    reply = reply_to(request, messages[index + 1:])
    if reply is None or reply.frame < closed.frame:
        return ""
    who = "the agent" if reply.direction == "resp" else "the media server"
    error = f", {reply.error_name}" if reply.error else ""
    return (f" {capitalised(who)} answered {message_op(request)} only after that close "
            f"({frame_text(reply.frame)}{error}): its connect was still pending while the job "
            "waited, so its SYNs were most likely dropped before they reached the capture "
            "point.")


def _between_fix(ctx: Context, connector: str, where: str, side: str) -> str:
    """The fix for SYNs dropped on the way (_dropped_before)."""
    return (f"If a capture on {connector} shows its SYNs to {where}, a firewall or NAT "
            f"between the hosts drops them: allow TCP to {where} on every firewall on the "
            f"way (its rule: {ctx.ranges(side)}), and through a NAT make the announced address "
            "reachable from the connecting side (NDMP-aware translation, or no NAT).")


