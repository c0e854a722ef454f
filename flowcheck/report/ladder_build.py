"""How a session's ladder is made from an analysis: its lanes, arrows and findings.

Built from an Analysis: connection openings (SYN, SYN-ACK, RST, ICMP unreachable;
retransmitted SYNs and SYN-ACKs as repeats), the NDMP messages that matter on the control
connection (CONNECT_OPEN, CONNECT_CLIENT_AUTH, announcing messages with the announced
ip:port, DATA_START_*, NOTIFY_DATA_HALTED / NOTIFY_MOVER_HALTED with their reason, error
replies: flowcheck.report.ladder_ndmp), and each data connection's bytes and how long
its data flowed (its sender's first data packet to its last); each arrow gets its
profile step and that step's status, and the findings about it.

Apart from the model (report/ladder.py), which the drawings read without knowing how it
was made. Pure. Secrets never reach a label: only whitelisted NDMP body fields are read
(protocol version, auth type, user name, halt reason); the decoder keeps no password or
digest anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcheck.durations import later_words
from flowcheck.model import (
    Connection,
    Finding,
    Session,
    Step,
)
from flowcheck.report.ladder import Arrow, ArrowStatus, FindingMark, Ladder, Lane
from flowcheck.report.ladder_ndmp import ndmp_arrows
from flowcheck.report.ladder_order import in_event_order
from flowcheck.report.overview import first_packet
from flowcheck.report.since import Since
from flowcheck.sessions import (
    closed_before_data,
    closing,
    connection_outcome,
    quoted_syn_refused,
    unseen_syn_refused,
)
from flowcheck.sessions.classify import one_sided, synack_reset_unseen_syn
from flowcheck.sessions.file_order import capture_order
from flowcheck.sessions.host_roles import lane_role
from flowcheck.sessions.local import icmp_word

if TYPE_CHECKING:
    from flowcheck.pipeline import Analysis
    from flowcheck.sessions.file_order import FileOrder

RIGHT, BOTH = "\u2192", "\u2194"  # a port to a port; either way (opener not captured)
MAX_ARROWS = 400  # per session; beyond, only arrows with findings or bad steps are kept


def build_ladders(analysis: Analysis) -> list[Ladder]:
    """One Ladder per session of the analysis, in session order. Cost: linear in the
    connections, NDMP messages and findings (each looked at once per session it names)."""
    connections = analysis.traffic.connections
    by_uid = {c.uid: c for c in connections}
    base = first_packet(analysis) or Since(0.0)
    streams = {s.uid: s for s in analysis.traffic.streams}
    config = analysis.config
    order = capture_order(analysis.traffic)
    members: dict[str, list[Connection]] = {}
    for conn in connections:
        if conn.session is not None:
            members.setdefault(conn.session, []).append(conn)
    for session, conn in _unexplained(analysis, members):
        members.setdefault(session, []).append(conn)
    # The findings' positions by the session they name and the connection they are
    # about: each session looks up its own (a walk of all findings per session was
    # quadratic: 10,000 SYNs to the NDMP port, 38 s).
    named: dict[str, list[int]] = {}
    about: dict[str, list[int]] = {}
    for position, finding in enumerate(analysis.findings):
        if finding.session is not None:
            named.setdefault(finding.session, []).append(position)
        if finding.uid is not None:
            about.setdefault(finding.uid, []).append(position)
    ladders = []
    for session in analysis.sessions:
        conns = members.get(session.id, [])
        stream = streams.get(session.control_uid)
        sides = _Sides(session)
        arrows: list[Arrow] = []
        for conn in conns:
            arrows += _connection_arrows(conn, session, sides(conn))
        if stream is not None and session.control_uid in by_uid:
            control = by_uid[session.control_uid]
            arrows += ndmp_arrows(stream.messages, sides(control), session)
        _after_data_start(arrows, order)
        arrows = in_event_order(arrows, order)
        uids = {c.uid for c in conns}
        positions = set(named.get(session.id, ())).union(
            *(about.get(uid, ()) for uid in uids))
        _mark_findings(arrows, [(n, analysis.findings[n]) for n in sorted(positions)])
        arrows, omitted = _cap(arrows)
        lanes = _lanes(session, conns, sides, config.media_servers, config.remote_agents)
        version = session.version_words(short=True)
        title = f"Session {session.id}: {session.kind_words(short=True)}, {version}"
        ladders.append(Ladder(session.id, title, lanes, arrows, base, omitted))
    return ladders


def _cap(arrows: list[Arrow]) -> tuple[list[Arrow], int]:
    """At most MAX_ARROWS arrows: the first ones, and every arrow that shows a finding or
    a step that did not go well (a job with hundreds of resources stays drawable)."""
    if len(arrows) <= MAX_ARROWS:
        return arrows, 0
    kept = [a for i, a in enumerate(arrows) if i < MAX_ARROWS or a.findings
            or a.status not in ("ok", "neutral")]
    return kept, len(arrows) - len(kept)


def human_bytes(count: int) -> str:
    """1234567 -> '1.2 MB' (SI units, as Wireshark's conversation table shows them)."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def human_seconds(seconds: float) -> str:
    """0.25 -> '250 ms', 42 -> '42.0 s', 600 -> '10.0 min' (a data arrow's duration);
    below a millisecond durations.later_words' span, "0.4 ms", and "less than a
    microsecond" for none (the data's packets share one timestamp), not "0 ms"
    (words64)."""
    if seconds < 0.001:
        return later_words(seconds, "").rstrip()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _unexplained(analysis: Analysis,
                 members: dict[str, list[Connection]]) -> list[tuple[str, Connection]]:
    """Connections of no session that a warning or error names, each put in the session
    of its hosts that started last before it (an `unannounced_connection` belongs in the
    picture), else the first session of its hosts."""
    named = {f.uid for f in analysis.findings if f.uid and str(f.severity) != "info"}
    starts: dict[str, float] = {}
    hosts: dict[str, set[str]] = {}
    for session in analysis.sessions:
        own = members.get(session.id, [])
        starts[session.id] = min((c.ts for c in own), default=0.0)
        hosts[session.id] = {session.media_server, session.remote_agent}
        hosts[session.id].update(h for c in own for h in (c.orig_h, c.resp_h))
    sessions = sorted(analysis.sessions, key=lambda s: starts[s.id])
    out = []
    for conn in analysis.traffic.connections:
        if conn.session is not None or conn.uid not in named:
            continue
        fitting = [s for s in sessions if {conn.orig_h, conn.resp_h} <= hosts[s.id]]
        before = [s for s in fitting if starts[s.id] <= conn.ts]
        if fitting:
            out.append(((before[-1] if before else fitting[0]).id, conn))
    return out


class _Sides:
    """The lane of each end of a connection: its host, or, when the media server and the
    agent share an address (a job on one machine, a loopback test), the role that end
    plays: control and callback by their direction, a data connection by the announcement
    it reached (who listens there), anything else originated by the media server."""

    def __init__(self, session: Session) -> None:
        self.shared = session.media_server == session.remote_agent
        self.host = session.media_server
        self.session = session
        self.listeners = {(a.ip, a.port): a.listener for a in session.announced}

    def media(self) -> str:
        return f"{self.host} media server"

    def agent(self) -> str:
        return f"{self.host} remote agent"

    def __call__(self, conn: Connection) -> tuple[str, str]:
        return self.ends(conn.orig_h, conn.resp_h, conn.resp_p,
                         conn.uid == self.session.callback_uid)

    def ends(self, orig_h: str, resp_h: str, resp_p: int, callback: bool) -> tuple[str, str]:
        """The lanes of an originator and a responder (callback: the session's callback)."""
        if not (self.shared and orig_h == resp_h == self.host):
            return orig_h, resp_h
        if callback or self.listeners.get((resp_h, resp_p)) == "mover":
            return self.agent(), self.media()
        return self.media(), self.agent()


def _lanes(session: Session, conns: list[Connection], sides: _Sides, media: tuple[str, ...],
           agents: tuple[str, ...]) -> list[Lane]:
    """Media server lanes on the left, remote agent lanes on the right (TechNote Figure 1)."""
    seen = [session.media_server, session.remote_agent]
    if sides.shared:
        seen = [sides.media(), sides.agent()]
    for conn in sorted(conns, key=lambda c: c.first_frame):
        seen += sides(conn)
    keys = list(dict.fromkeys(seen))
    host_of = {sides.media(): sides.host, sides.agent(): sides.host} if sides.shared else {}
    # A callback under another address (a NAT's, another interface's): its ends are the
    # agent's and the media server's all the same.
    callback = next((c for c in conns if c.uid == session.callback_uid), None)

    def role(key: str) -> str:
        if key == sides.media() and sides.shared:
            return "media server"
        if key == sides.agent() and sides.shared:
            return "remote agent"
        return lane_role(key, session, callback, media, agents)  # as the graphs say it

    rank = {"media server": 0, "host": 1, "remote agent": 2}
    keys.sort(key=lambda k: rank[role(k)])  # stable: first seen first within a role
    return [Lane(key, host_of.get(key, key), role(key)) for key in keys]


def _steps_of(session: Session, uid: str) -> list[Step]:
    return [step for step in session.steps if uid in step.uids]


def _status(step: Step | None, conn: Connection) -> ArrowStatus:
    if step is None:
        return "neutral"
    # A failed step names every connection it judged; one that opened fine is not the
    # failure (data-port-in-use: the second data connection worked).
    if (step.status in ("failed", "missing") and len(step.uids) > 1
            and connection_outcome(conn) == "established"):
        return "ok"
    return step.status


def _connection_arrows(conn: Connection, session: Session,
                       ends: tuple[str, str]) -> list[Arrow]:
    orig, resp = ends
    steps = _steps_of(session, conn.uid)
    first = steps[0] if steps else None
    status = _status(first, conn)
    number = first.step if first else None
    ports = f":{conn.orig_p} \u2192 :{conn.resp_p}"
    arrows = []
    if conn.syn_frames:
        repeats = 1 + conn.syn_retries
        label = f"SYN {ports}" + (f" \u00d7{repeats}" if repeats > 1 else "")
        arrows.append(Arrow(orig, resp, "syn", label, conn.uid,
                            list(conn.syn_frames), conn.syn_ts if conn.syn_ts else conn.ts,
                            0, number, status, repeats))
    if conn.synack_frames:
        repeats = len(conn.synack_frames)
        outcome = connection_outcome(conn)
        label = "SYN-ACK" + (f" \u00d7{repeats}" if repeats > 1 else "")
        if synack_reset_unseen_syn(conn):  # a connect given up before the capture
            label += " (its SYN not in the capture)"
        elif outcome == "handshake_incomplete":
            label += " (handshake never completes)"
        arrows.append(Arrow(resp, orig, "synack", label, conn.uid,
                            list(conn.synack_frames), None, 1, number, status, repeats,
                            reply=True, at=conn.synack_ts))
    quoted = quoted_syn_refused(conn)
    if conn.icmp_frames:
        icmp = icmp_word(conn)
        label = f"{icmp} unreachable (SYN {ports} not captured)" if quoted else \
            f"{icmp} unreachable"
        arrows.append(Arrow(resp, orig, "icmp", label, conn.uid, list(conn.icmp_frames),
                            conn.ts if quoted else None, 2, number, status, reply=True))
    unseen_syn = unseen_syn_refused(conn)
    if not conn.syn_frames and conn.role != "control" and not unseen_syn and not quoted:
        label = f"{_unseen_opening(conn)} {ports}"
        if connection_outcome(conn) == "midstream":  # drawn the way its first packet went
            label = f"(open before the capture, opener not in it) {ports.replace(RIGHT, BOTH)}"
        arrows.append(Arrow(orig, resp, "syn", label, conn.uid, [conn.first_frame], conn.ts,
                            0, number, status))
    if conn.role == "data" and (conn.orig_bytes or conn.resp_bytes):
        last = steps[-1] if steps else None
        sender_is_orig = conn.sender_is_orig
        moved = conn.orig_bytes if sender_is_orig else conn.resp_bytes
        frames, ts, seconds = _data_span(conn, sender_is_orig)
        label = f"data {human_bytes(moved)} in {human_seconds(seconds)}"
        if conn.retransmits:
            label += f", {conn.retransmits} retransmitted"
        src, dst = (orig, resp) if sender_is_orig else (resp, orig)
        arrows.append(Arrow(src, dst, "data", label, conn.uid, frames, ts, 3,
                            last.step if last else None, _status(last, conn),
                            until=ts + seconds))
    if conn.rst_frames:
        src, dst = (resp, orig) if conn.resp_rst else (orig, resp)
        outcome = connection_outcome(conn)
        refused = outcome == "refused"
        ts = conn.last_ts if refused or conn.rst_frames[-1] == conn.last_frame else None
        if conn.role == "data" and (outcome == "aborted" or closed_before_data(conn)):
            # Given up (before or after the handshake completed): the evidence that no
            # data flowed.
            last = steps[-1] if steps else None
            arrows.append(Arrow(src, dst, "rst", "RST (aborted)", conn.uid,
                                list(conn.rst_frames), ts, 4, last.step if last else None,
                                _status(last, conn), at=conn.rst_ts))
        else:
            label = "RST" + (" (refused)" if refused else "")
            if unseen_syn:  # as a quoted ICMP reject's arrow
                label = f"RST (refused; SYN {ports} not captured)"
            arrows.append(Arrow(src, dst, "rst", label,
                                conn.uid, list(conn.rst_frames), ts, 4, number,
                                status if refused else "neutral", reply=refused,
                                at=conn.rst_ts))
    elif conn.role == "data" and closed_before_data(conn):  # closed by FIN, no data
        last = steps[-1] if steps else None
        src, dst = (orig, resp) if closing(conn)[0] == "originator" else (resp, orig)
        arrows.append(Arrow(src, dst, "fin", "FIN (closed before any data)", conn.uid,
                            list(conn.fin_frames), None, 4, last.step if last else None,
                            _status(last, conn), at=conn.fin_ts))
    return arrows


def _data_span(conn: Connection, sender_is_orig: bool) -> tuple[list[int], float, float]:
    """A data arrow's evidence frames, time and duration in seconds: the data sender's
    first and last data packets (Connection.orig_first_data, orig_last_data), the time
    of the first and the seconds between them: how long the data flowed, not the
    connection's life (it opens at the announcement, before DATA_START_*, and ends with
    the FIN exchange). Without the sender's data packets (its bytes only capture copies)
    the connection's own: its SYN-ACK (else first packet) and last packet, its `ts` and
    `duration`."""
    first = conn.orig_first_data if sender_is_orig else conn.resp_first_data
    last = conn.orig_last_data if sender_is_orig else conn.resp_last_data
    if first is None or last is None:
        start = (conn.synack_frames or [conn.first_frame])[0]
        return [start, conn.last_frame], conn.ts, conn.duration
    frames = [first[0], last[0]] if last[0] != first[0] else [first[0]]
    return frames, first[1], max(0.0, last[1] - first[1])


def _unseen_opening(conn: Connection) -> str:
    """Why a connection has no SYN arrow: its SYN-ACK is in the capture, so it opened
    inside it and only the SYN is missing (the direction a one-direction capture lacks:
    trial 20 D7), else it was open before the capture."""
    if not conn.synack_frames or synack_reset_unseen_syn(conn):
        return "(open before the capture)"
    return ("(SYN not captured: one direction)" if one_sided(conn) == "orig"
            else "(SYN not captured)")


def _after_data_start(arrows: list[Arrow], order: FileOrder) -> None:
    """Data flows after DATA_START_*: a data arrow whose frames begin before its start
    request (data sent before it, or no data packet of the sender to begin at: the
    connection's opening) is drawn at it: placed there (`place`, its time), its evidence
    frames left as they are, all its own connection's (a start request is on the control
    connection: citing it as the data connection's frame misread as one of its packets).
    Before and after as the capture orders its events (order: by frame in one sniffer's
    write order, else by time: a pcapng of two interfaces written in blocks holds the
    data connections' packets apart from the control connection's)."""
    starts = sorted(((a.frame, a.ts) for a in arrows
                     if a.kind == "ndmp" and a.label.startswith("DATA_START")
                     and a.ts is not None),
                    key=lambda start: order.key(*start))
    for arrow in arrows:
        if arrow.kind != "data" or arrow.ts is None or arrow.until is None:
            continue
        first, last = arrow.frames[0], arrow.frames[-1]
        later = [(f, ts) for f, ts in starts
                 if order.before(first, arrow.ts, f, ts) and f != first
                 and order.before(f, ts, last, arrow.until) and f != last]
        if later:
            arrow.place, arrow.ts = later[0][0], later[0][1]
            arrow.order = 6


def _mark_findings(arrows: list[Arrow], findings: list[tuple[int, Finding]]) -> None:
    """Put each of the session's findings (its position in all findings, the finding:
    those that name the session or are about one of its connections) on the arrow it is
    about: among the arrows of its connection whose frames it cites, the answer that
    shows the failure (the RST or ICMP of a refusal, the SYN-ACK of a handshake that
    never completes), else the first (the SYN of a dropped or misdirected connection);
    uncited errors and warnings go on the connection's first arrow."""
    for index, finding in findings:
        mark = FindingMark(finding.code, str(finding.severity), f"finding-{index + 1}")
        own = [a for a in arrows if finding.uid is None or a.uid == finding.uid]
        cited = [a for a in own if set(a.frames) & set(finding.frames)]
        answers = [a for a in cited
                   if a.kind in ("rst", "icmp", "fin") or "never completes" in a.label]
        if cited:
            target = answers[-1] if answers else cited[0]
        elif own and finding.uid is not None and mark.severity != "info":
            target = own[0]
        else:
            continue
        target.findings.append(mark)
        if mark.severity == "error" and target.status in ("ok", "neutral"):
            target.status = "failed"
