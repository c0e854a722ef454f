"""Evidence that the capture left out a session's callback and data connections.

A capture filter or mirror that keeps only the NDMP port (tcpdump 'port 10000', a SPAN
or ACL that copies that port only) holds the control connection and nothing else: the
callback and the data connections ran on the wire but not into the capture. Their
absence then proves nothing (contract: packets the capture did not see are not packets
the network dropped). Two signs that the capture, not the network, lacks them:

- the session's own NDMP messages report that data moved after an endpoint was
  announced that no captured connection reached: NOTIFY_DATA_HALTED with reason
  SUCCESSFUL, NOTIFY_MOVER_HALTED with CONNECT_CLOSED (the mover's normal end: its data
  connection closed), or a DATA_GET_STATE / MOVER_GET_STATE reply counting
  bytes_processed / bytes_moved above 0 (NDMP v4 spec, DATA and MOVER interfaces);
- every TCP connection in the capture has the NDMP port on one side, and a session that
  announced an endpoint has no callback connection (Backup Exec's callback comes before
  any announcement, so the capture left it out).

The steps that need those connections are then `unknown` and one `capture_filtered`
warning says why. What the NDMP messages themselves show (an error reply, an abnormal
halt) is still reported as before (flowcheck.verify.replies).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from flowcheck.frame_names import frame_text
from flowcheck.model import Announcement, NdmpMessage, Session, endpoint
from flowcheck.sessions import announcement_groups, is_local_group, message_op
from flowcheck.sessions.classify import JOB_STARTS
from flowcheck.sessions.local import other_version
from flowcheck.verify.announced_kind import other_interface
from flowcheck.verify.connect_outcome import ConnectSaid
from flowcheck.verify.connect_said import (
    connect_said,
    ndmp_port_only,
    only_ndmp_port,
    why_port_only,
)
from flowcheck.verify.context import Context
from flowcheck.verify.control_window import accepted, window
from flowcheck.verify.filtered_fixes import between_agents, elsewhere_fix, job_hosts
from flowcheck.verify.filtered_lead import LeftOutKind, filtered_lead, port_only_kind
from flowcheck.verify.kept import kept_detail
from flowcheck.verify.replies import HALTS, posted_halt
from flowcheck.verify.shared import three_way_hosts

# State replies and the body field counting the bytes the transfer carried.
_BYTE_COUNTS = {"DATA_GET_STATE": "bytes_processed", "MOVER_GET_STATE": "bytes_moved"}


def data_moved(ctx: Context, session: Session, start: float = float("-inf"),
               end: float = float("inf"), frames: tuple[float, float] | None = None,
               *, started: bool = False) -> NdmpMessage | None:
    """The session's first control message with start <= ts < end (seconds, capture
    clock) that says its data moved: a normal halt or a state reply counting bytes; with
    `started` and none of those, the first DATA_START_* reply whose error the capture
    holds and is NDMP_NO_ERR (NDMP v4 accepts DATA_START_* only from a data server whose
    data connection is made, CONNECTED; v2 and v3 connect before they answer). None when
    there is none. frames: the same window as frame numbers of the control connection
    (first, past the last), which decide instead where the frames are the sniffer's
    write order (Context.order: a clock set back)."""
    first_accepted = None
    for op, message in window(ctx, session, start, end, frames):
        if op in HALTS and posted_halt(message) == HALTS[op][1]:  # not NA, not unreadable
            return message
        if started and first_accepted is None and op in JOB_STARTS and accepted(message):
            first_accepted = message
        elif op in _BYTE_COUNTS and message.type == "reply" and message.error_free:
            count = message.body.get(_BYTE_COUNTS[op])
            if isinstance(count, int) and count > 0:
                return message
    return first_accepted


def moved_words(message: NdmpMessage) -> str:
    """"NOTIFY_DATA_HALTED SUCCESSFUL, frame 22" / "DATA_GET_STATE reply counting 2,048
    B, frame 40": what a data_moved message says, its count (bytes_processed,
    bytes_moved) an amount of data in the report's byte style (review 61c: the stored
    trial27-three-way/3w-full-m read "counting 724992 bytes")."""
    op = message_op(message)
    if op in HALTS:
        return f"{op} {HALTS[op][1]}, {frame_text(message.frame)}"
    if op in JOB_STARTS:
        return f"{op} accepted, {frame_text(message.frame)}"
    count = message.body.get(_BYTE_COUNTS[op])
    amount = f"{count:,} B" if isinstance(count, int) else f"{count} bytes"
    return f"{op} reply counting {amount}, {frame_text(message.frame)}"


def _port_only_words(ctx: Context, what: str) -> str:
    port = ctx.config.ndmp_port
    return (f"every TCP connection in the capture has the NDMP port {port} on one side: a "
            f"capture filter or mirror that keeps only that port (tcpdump 'port {port}') "
            f"leaves out the callback and data connections, so whether {what} cannot be seen")


def _note(ctx: Context, session: Session, words: str,
          evidence: list[tuple[int, float]], kind: LeftOutKind = "said") -> None:
    """Remember the first reason per session for the one capture_filtered warning, with
    its evidence packets: (frame, ts) pairs, and what it rests on (kind: filtered_lead's
    LeftOutKind)."""
    ctx.left_out.setdefault(session.id, (words, evidence, kind))


def _next_announcement(session: Session, ts: float, ctx: Context, frame: int | None = None
                       ) -> tuple[float, float]:
    """(frame, seconds) of the session's next announcement after the one at ts: by time,
    and by frame when frame is given and the frames are the write order (Context.order);
    (inf, inf) for none."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    cut = {number for number, _, _ in session.cut_announcements}
    events = [(a.frame, a.ts) for a in session.announced] + [
        (m.frame, m.ts) for m in (stream.messages if stream else []) if m.frame in cut]
    inf = float("inf")
    if frame is not None and ctx.order.by_frame(frame, *(f for f, _ in events)):
        return min(((f, t) for f, t in events if f > frame), default=(inf, inf))
    return min(((f, t) for f, t in events if t > ts), key=lambda e: e[1], default=(inf, inf))


def moved_unseen(ctx: Context, session: Session, ts: float, frame: int | None = None) -> str:
    """Why no connection to an endpoint announced at ts (in frame, when known) can be
    seen although one was made ("" when the NDMP messages do not show one): the data
    moved after it, before the next announcement, yet the capture holds no connection
    to it."""
    next_frame, next_ts = _next_announcement(session, ts, ctx, frame)
    elsewhere = _elsewhere_words(ctx, session, [a for a in session.announced if a.ts == ts])
    # An accepted DATA_START_* shows the connection made, not where: evidence only for
    # an endpoint off the control connection's path (another interface of the host).
    moved = data_moved(ctx, session, ts, next_ts,
                       None if frame is None else (frame, next_frame), started=bool(elsewhere))
    if moved is None:
        return ""
    said = ("its data connection made" if message_op(moved) in JOB_STARTS
            else "the data moved")
    its = said.replace("the data", "its data")
    if elsewhere:
        _note(ctx, session, f"session {session.id}'s NDMP messages report {its} "
              f"({moved_words(moved)}) after {elsewhere}, and no captured connection "
              "reached it", [(moved.frame, moved.ts)])
        ann, host = _elsewhere(ctx, session, [a for a in session.announced if a.ts == ts])[0]
        who = "the agent" if ann.listener == "data" else "the media server"
        if other_version(ann.ip, host):
            return (f"the session's NDMP messages report {said} "
                    f"({moved_words(moved)}) and the capture holds no connection to it: "
                    f"{ann.ip} is {who}'s IPv4 address beside a control connection over IPv6 "
                    f"({host}; NDMP v4 TCP addresses are IPv4 only), so the data went over "
                    "IPv4, which the capture does not hold (an IPv6-only filter, or another "
                    "path)")
        return (f"the session's NDMP messages report {said} ({moved_words(moved)}) "
                f"and the capture holds no connection to it: {ann.ip} is not the address "
                f"the control connection reached {who} at ({host}), so the data took another "
                f"interface of {who}, one the capture point does not see")
    _note(ctx, session, f"session {session.id}'s NDMP messages report {its} "
          f"({moved_words(moved)}) after an endpoint was announced that no captured "
          "connection reached", [(moved.frame, moved.ts)])
    return (f"the session's NDMP messages report {said} ({moved_words(moved)}) and "
            "the capture holds no connection to it: a capture filter or mirror that keeps "
            f"only some ports (tcpdump 'port {ctx.config.ndmp_port}') left it out, or the "
            "data took a path the capture point does not see")


def _elsewhere(ctx: Context, session: Session, announced: Sequence[Announcement]
               ) -> list[tuple[Announcement, str]]:
    """(announcement, the listener's control address) of those no captured connection
    reached that name another address of the listener (another interface:
    flowcheck.verify.announced_kind.other_interface)."""
    return [(a, host) for a in announced if not a.used_by
            and (host := other_interface(ctx, session, a)) is not None]


def _elsewhere_words(ctx: Context, session: Session, announced: Sequence[Announcement]
                     ) -> str:
    """"DATA_LISTEN (frame 21) announced 10.78.0.2:6001, not the address the control
    connection reached the agent at (10.77.0.2): another interface of the agent" ("" when
    no announcement names another address)."""
    found = _elsewhere(ctx, session, announced)
    if not found:
        return ""
    ann, host = found[0]
    who = "the agent" if ann.listener == "data" else "the media server"
    if other_version(ann.ip, host):
        return (f"{ann.message.removeprefix('NDMP_')} ({frame_text(ann.frame)}) announced "
                f"{endpoint(ann.ip, ann.port)}, {who}'s IPv4 address beside a control "
                f"connection over IPv6 ({host}; NDMP v4 TCP addresses are IPv4 only)")
    return (f"{ann.message.removeprefix('NDMP_')} ({frame_text(ann.frame)}) announced "
            f"{endpoint(ann.ip, ann.port)}, not the address the control connection reached "
            f"{who} at ({host}): another interface of {who}")


def off_path(ctx: Context, session: Session, group: Sequence[Announcement]) -> str:
    """Why no connection to a three-way job's endpoint can be seen ("" when it could):
    the data connection runs between the two NDMP servers the DMA's two control
    connections reached (flowcheck.verify.shared.three_way_hosts), and the capture holds
    no packet between them either way (taken on the DMA, it sees only the control
    connections), so whether the one connected to the other is not on this link."""
    for ann in group:
        found = three_way_hosts(ctx, session, ann)
        if found is None:
            continue
        connector, listener, other, other_ann = found
        ends = {listener, ann.ip}
        ts = ctx.by_uid[session.control_uid].ts  # its piece of the set (sources.pieces)
        if connector in ends or any(ctx.holds((connector, h), ts) or ctx.holds((h, connector), ts)
                                    for h in ends):
            continue
        where = endpoint(ann.ip, ann.port)
        ids = " and ".join(sorted((session.id, other.id)))
        # The same words from both sessions of the job: one reason in capture_filtered.
        _note(ctx, session, f"the data connection {connector} -> {where} of the three-way "
              f"job of sessions {ids} runs between two hosts the capture holds no packet "
              "between", sorted(((ann.frame, ann.ts), (other_ann.frame, other_ann.ts))),
              "path")
        return (f"a three-way job: {ann.message.removeprefix('NDMP_')} ({frame_text(ann.frame)}) "
                f"here and {other_ann.message.removeprefix('NDMP_')} ("
                f"{frame_text(other_ann.frame)}) in session {other.id} named {where}, so the data "
                f"connection runs from {connector} to {listener}, and the capture holds no "
                "packet between those two: it was not taken on their path (on the DMA it "
                "sees the control connections only)")
    return ""


class PortOnly(NamedTuple):
    """unseen: why an attempt the capture does not hold cannot be seen (port_only_unseen;
    "" when it could); failed: when unseen is "" and the capture evidently holds only the
    NDMP port, what the control connection says of the failed connect (connect_said,
    outcome "failed" or "pending"), on which announced_not_used then rests
    (connect_said.port_only_words); None otherwise."""

    unseen: str
    failed: ConnectSaid | None = None


def port_only_reading(ctx: Context, session: Session, what: str,
                      group: Sequence[Announcement] = (),
                      cut: tuple[int, float] | None = None) -> PortOnly:
    """Why `what` (an attempt the capture does not hold) cannot be seen when the capture
    holds only NDMP-port connections ("" otherwise) and either lacks a connection the job
    must have made (the profile's separate callback, which comes before any
    announcement), or evidently holds nothing else (connect_said.only_ndmp_port) while
    the control connection does not say the connect to the group's endpoint failed
    (connect_said; cut: the frame and time of an announcement whose address the snap
    length cut, for a group): a plain NDMP job (no callback) whose connector never connected
    leaves only the control connection in a complete capture too, so the absence is
    evidence only where the capture could have held other packets; a connect error, a
    CONNECT_ERROR halt or a CONNECT request left unanswered is evidence in any capture
    (announced_not_used reports it: PortOnly.failed). connect_said is read once."""
    if not ndmp_port_only(ctx):
        return PortOnly("")
    port = ctx.config.ndmp_port
    control = ctx.by_uid[session.control_uid]
    reached = (f"each of the capture's {len(ctx.connections)} TCP connection(s) has the NDMP "
               f"port {port} on one side")
    if ctx.profile.callback == "connection" and session.callback_uid is None:
        _note(ctx, session, f"{reached}, and session {session.id} announced a data endpoint "
              "that none of them reached", [(control.first_frame, control.ts)],
              port_only_kind(ctx))
        return PortOnly(_port_only_words(ctx, what))
    if not (bool(group) or cut is not None) or not only_ndmp_port(ctx):
        return PortOnly("")
    said = connect_said(ctx, session, group, cut)
    if said and said.outcome != "made":
        return PortOnly("", said)
    if said is None:
        _note(ctx, session, f"{reached}, {why_port_only(ctx)}, and session {session.id} "
              "announced a data endpoint that none of them reached",
              [(control.first_frame, control.ts)], port_only_kind(ctx))
        return PortOnly(f"{_port_only_words(ctx, what)}; {why_port_only(ctx)}, and the "
                        "control connection does not say whether the connect was made or "
                        "failed")
    _note(ctx, session, f"in session {session.id}, {said.words}, and no captured "
          "connection reached it", [(said.message.frame, said.message.ts)])
    return PortOnly(f"{said.words}, but {_port_only_words(ctx, 'it carried data')}")


def port_only_unseen(ctx: Context, session: Session, what: str,
                     group: Sequence[Announcement] = (),
                     cut: tuple[int, float] | None = None) -> str:
    """port_only_reading's words alone ("" when the attempt could be seen)."""
    return port_only_reading(ctx, session, what, group, cut).unseen


def callback_unseen(ctx: Context, session: Session) -> str:
    """Why the callback the capture does not hold cannot be seen ("" when it could): the
    session announced a data endpoint that no captured connection reached, and either
    its data moved yet the capture holds none of its data connections, or the capture
    holds only NDMP-port connections. Backup Exec announces only after the callback (a
    job stopped by a blocked callback ends before: captures/lab/callback-blocked.pcap),
    so a session that announced nothing still gives step_missing: a capture on the
    media server behind the firewall that drops the callback holds only the control
    connection too."""
    unused = any(not a.used_by for group in announcement_groups(session.announced)
                 if not is_local_group(session, group) for a in group) or \
        any(not uid for _, _, uid in session.cut_announcements)
    if not unused:
        return ""
    moved = data_moved(ctx, session) if not session.data_connections else None
    if moved is not None:
        _note(ctx, session, f"session {session.id}'s NDMP messages report its data moved "
              f"({moved_words(moved)}) but the capture holds none of its callback and data "
              "connections", [(moved.frame, moved.ts)])
        return (f"the session's NDMP messages report its data moved ({moved_words(moved)}) "
                "and the capture holds none of its data connections either: a capture filter "
                "or mirror that keeps only some ports left them out, so whether the agent "
                "called back cannot be seen")
    return port_only_unseen(ctx, session, "the agent called back")


def data_unseen(ctx: Context, session: Session) -> str:
    """Why the data of a session with no data connection in the capture cannot be seen,
    when a capture_filtered reason was already noted for it ("" otherwise)."""
    if session.id not in ctx.left_out or session.data_connections:
        return ""
    moved = data_moved(ctx, session)
    if moved is not None:
        return (f"no data connection in the capture, but the session's NDMP messages report "
                f"its data moved ({moved_words(moved)}): the capture left its data "
                "connections out")
    for group in announcement_groups(session.announced):
        path = off_path(ctx, session, group)
        if path:
            return f"no data connection in the capture, but {path}"
    return f"no data connection in the capture, but {_port_only_words(ctx, 'data moved')}"


def report_left_out(ctx: Context) -> None:
    """One capture_filtered warning for the capture, when a step or check found the
    capture left out connections the job made, or the packet kinds it holds show a
    filter that kept only some packets of every connection (flowcheck.verify.kept). A
    three-way job's data connection runs between its two agents (_between_agents): the
    fix for it is a capture on one of them or on the path between them, which a filter
    on the DMA never gives."""
    packets = kept_detail(ctx)
    if not ctx.left_out and not packets:
        return
    sessions = [ctx.session_by_id[sid] for sid in ctx.left_out]
    reasons = "; ".join(dict.fromkeys(words for words, _, _ in ctx.left_out.values()))
    evidence = sorted({pair for _, pairs, _ in ctx.left_out.values() for pair in pairs})
    lead = filtered_lead(ctx, [kind for _, _, kind in ctx.left_out.values()])
    # Its time is its first frame's: the first note's, or the first connection's.
    evidence = evidence or [(c.first_frame, c.ts) for c in ctx.connections[:3]]
    frames = [frame for frame, _ in evidence]
    ts = evidence[0][1] if evidence else None
    if packets:
        ctx.add("capture_filtered",
                f"The capture holds only some packets of each connection: {packets}."
                + (f" {lead.also}: {reasons}." if reasons else "")
                + " What the packets left out would show is unknown, not failed: payload "
                "the capture lacks is the filter's, not lost by the sniffer or the network; "
                "what the packets kept show (a refusal, an error reply) is still reported. "
                "A packet missing from the capture is not a packet the network dropped.",
                "Capture without a filter on the TCP flags or the packet size, and keep the "
                "whole capture rather than a display filter's result (tshark -Y ... -w "
                f"saves only the packets shown): tcpdump -w job.pcap "
                f"'{job_hosts(ctx, sessions)}'.",
                session=sessions[0] if len(sessions) == 1 else None, frames=frames, ts=ts)
        return
    three_way = between_agents(ctx, sessions)
    others = [s for s in sessions if s.id not in three_way]
    pairs = list(dict.fromkeys(three_way.values()))
    between = ", ".join(f"{a} -> {b}" for a, b in pairs)
    fixes = []
    # Data announced on another interface of the listener, with no port-only capture to
    # explain it: the capture point does not see that interface (trial 19 D11).
    elsewhere = {} if ndmp_port_only(ctx) else {
        s.id: found for s in others if (found := _elsewhere(ctx, s, s.announced))}
    if others and len(elsewhere) == len(others):
        fixes.append(elsewhere_fix([item for found in elsewhere.values() for item in found]))
    elif others:
        fixes.append("Capture without a port filter, or with one that keeps both hosts' whole "
                     f"conversation (tcpdump -w job.pcap '{job_hosts(ctx, others)}'); mirror "
                     "all traffic between the media server and the agent, not only the NDMP "
                     "port.")
    if pairs:
        a, b = pairs[0]
        whose = "jobs' data connections" if len(pairs) > 1 else "job's data connection"
        fixes.append(f"For the three-way {whose} ({between}): capture on one of the two "
                     "agents, or on the path between them, without a port filter (tcpdump -w "
                     f"job.pcap 'host {a} and host {b}'); a capture on the DMA holds only its "
                     "control connections.")
    how = lead.how
    if others and len(elsewhere) == len(others):
        how = ("The data most likely went over a network interface or path the capture "
               "point does not see (a capture on one NIC of a multi-homed host holds that "
               "NIC's traffic only); the capture holds more than the NDMP port, so a port "
               "filter is the less likely reason")
    ctx.add("capture_filtered",
            f"{lead.first}: {reasons}. {how}"
            + (f"; a three-way job's data connection ({between}) runs between its two agents, "
               "not through the DMA: a capture on the DMA never holds it" if pairs else "")
            + ". The steps that need them are unknown, not failed; what the NDMP messages "
            "themselves show (an error reply, an abnormal halt) is still reported. A packet "
            "missing from the capture is not a packet the network dropped.",
            " ".join(fixes),
            session=sessions[0] if len(sessions) == 1 else None, frames=frames, ts=ts)
