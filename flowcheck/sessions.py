"""Sessions: one per NDMP control connection, with the connections it explains.

A session owns its control connection, the callback to the job engine (profiles with a
callback) and the data connections that reached an endpoint announced on its control
connection (Zeek's FTP expectations: the next connection to the announced ip:port
belongs to the session). Step statuses are left to flowcheck.verify.

When the capture's snap length cut the address out of an announcing message (or left
the whole control stream unreadable), the announcement's connection is matched by the
profile's direction and port sets instead (`_attach_by_ports`); full captures never
take that path.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from flowcheck.config import Config
from flowcheck.model import (
    Announcement,
    Connection,
    Direction,
    NdmpMessage,
    NdmpStream,
    Session,
)
from flowcheck.ndmp.collector import ANNOUNCERS
from flowcheck.ndmp.protocol import ANY_VERSION_NAMES
from flowcheck.profiles import Profile

Outcome = Literal["established", "unanswered", "refused", "handshake_incomplete", "midstream"]

_RECOVERS = {"DATA_START_RECOVER", "DATA_START_RECOVER_FILEHIST"}
_STARTS = {"DATA_START_BACKUP", *_RECOVERS}
# Requests that set up or start a data transfer: a session with one is not a browse.
DATA_INTENT = {"DATA_LISTEN", "DATA_CONNECT", "MOVER_LISTEN", "MOVER_CONNECT", *_STARTS}
# A callback opened this long after the control connection ended is not its callback.
CALLBACK_SLACK_SECONDS = 1.0


def message_op(message: NdmpMessage) -> str:
    """The message's name without the NDMP_ prefix ("DATA_LISTEN"), whatever the decoder."""
    name = (message.name or "").upper().removeprefix("NDMP_")
    if not name or name.startswith(("UNKNOWN", "0X")):
        # A decoder that left the name out: the protocol's table names the code.
        return ANY_VERSION_NAMES.get(message.code, name)
    return name


def connection_outcome(conn: Connection) -> Outcome:
    """How the connection's opening went, from the handshake evidence the engine kept."""
    if conn.established or (conn.synack_seen and conn.orig_bytes > 0):
        return "established"
    # The capture may have lost the SYN-ACK (a busy sniffer drops packets, or the capture
    # holds one direction only) while the responder went on to ACK, send data or close:
    # Zeek's lower-case history letters. That connection was answered; a refused one
    # shows only "r". Likewise an originator ACKs, sends data or closes only after a
    # SYN-ACK reached it, seen or not (upper-case letters).
    if (conn.syn_seen or conn.synack_seen) and any(letter in conn.history for letter in "adf"):
        return "established"
    if conn.syn_seen and any(letter in conn.history for letter in "ADF"):
        return "established"
    if conn.synack_seen:
        return "handshake_incomplete"
    if conn.syn_seen:
        if conn.resp_rst or conn.icmp_frames or conn.conn_state == "REJ":
            return "refused"
        return "unanswered"
    return "midstream"  # the capture started after the handshake: nothing to judge


def one_sided(conn: Connection) -> Direction | None:
    """The direction the capture lacks on this connection, when its packets prove the
    other side talked: "resp" when the originator ACKs, sends data or closes but no
    responder packet was captured; "orig" the other way round (a SPAN port or
    `tcpdump -Q in|out` that sees one direction)."""
    if conn.resp_pkts == 0 and conn.orig_pkts and any(c in conn.history for c in "ADF"):
        return "resp"
    if conn.orig_pkts == 0 and conn.resp_pkts and any(c in conn.history for c in "hadf"):
        return "orig"
    return None


def is_failed(conn: Connection) -> bool:
    return connection_outcome(conn) in ("unanswered", "refused", "handshake_incomplete")


def session_kind(stream: NdmpStream | None) -> Literal["backup", "restore", "browse"]:
    """restore for DATA_START_RECOVER*, backup for any other data request or announcement."""
    if stream is None:
        return "browse"
    # Replies count too: a capture of one direction may hold only the agent's side.
    ops = {message_op(m) for m in stream.messages if m.type in ("request", "reply")}
    if ops & _RECOVERS:
        return "restore"
    if ops & DATA_INTENT or stream.announcements:
        return "backup"
    return "browse"


def _starts_data(stream: NdmpStream | None) -> bool:
    return stream is not None and any(
        message_op(m) in _STARTS for m in stream.messages if m.type == "request")


def announcement_groups(announcements: Iterable[Announcement]) -> list[list[Announcement]]:
    """Alternatives of one expectation: same frame (v4 multi-address) or same endpoint."""
    groups: list[list[Announcement]] = []
    for ann in sorted(announcements, key=lambda a: (a.ts, a.frame)):
        for group in groups:
            if any(a.frame == ann.frame or (a.ip, a.port) == (ann.ip, ann.port) for a in group):
                group.append(ann)
                break
        else:
            groups.append([ann])
    return groups


@dataclass(slots=True)
class _Endpoints:
    """Connections by their responder endpoint, in time order, each claimable once."""

    by_endpoint: dict[tuple[str, int], list[Connection]] = field(
        default_factory=lambda: defaultdict(list))
    claimed: set[str] = field(default_factory=set)

    def add(self, conn: Connection) -> None:
        """Add connections in time order (ts, first_frame)."""
        self.by_endpoint[(conn.resp_h, conn.resp_p)].append(conn)

    def first_after(self, ip: str, port: int, ts: float) -> Connection | None:
        conns = self.by_endpoint.get((ip, port), [])
        start = bisect_left(conns, ts, key=lambda c: c.ts)
        return next((c for c in conns[start:] if c.uid not in self.claimed), None)


def _end(conn: Connection) -> float:
    """When the connection's last packet was seen (its start, for a single packet)."""
    return max(conn.last_ts, conn.ts)


def build_sessions(connections: list[Connection], streams: list[NdmpStream], config: Config,
                   profile: Profile) -> list[Session]:
    """One session per control connection; sets Connection.role/.session and used_by."""
    stream_by_uid = {s.uid: s for s in streams}
    # Start afresh, so building again over grown traffic (live) gives the same answer.
    for conn in connections:
        conn.role, conn.session = "other", None
    for stream in streams:
        for announcement in stream.announcements:
            announcement.used_by = None
    ordered = sorted(connections, key=lambda c: (c.ts, c.first_frame))
    controls = [c for c in ordered if c.resp_p == config.ndmp_port or c.uid in stream_by_uid]
    sessions: list[Session] = []
    control_of: dict[str, Connection] = {}
    for number, conn in enumerate(controls, start=1):
        stream = stream_by_uid.get(conn.uid)
        session = Session(id=f"S{number}", control_uid=conn.uid, media_server=conn.orig_h,
                          remote_agent=conn.resp_h,
                          version=stream.version if stream else None,
                          kind=session_kind(stream),
                          announced=list(stream.announcements) if stream else [])
        conn.role, conn.session = "control", session.id
        sessions.append(session)
        control_of[session.id] = conn

    endpoints = _Endpoints()
    for conn in ordered:
        if conn.role != "control":
            endpoints.add(conn)
    by_uid = {c.uid: c for c in connections}
    _attach_data(sessions, endpoints, control_of)
    if profile.callback == "connection":
        _attach_callbacks(sessions, control_of, ordered, by_uid, endpoints, config)
    _attach_by_ports(sessions, control_of, stream_by_uid, ordered, endpoints, config, profile)
    _attach_started_before_capture(sessions, control_of, ordered, endpoints, config, profile)
    for session in sessions:
        stream = stream_by_uid.get(session.control_uid)
        if session.data_connections and not _starts_data(stream):
            session.kind = _kind_from_bytes(session, by_uid)
    return sessions


def listener_host(ann: Announcement, control: Connection) -> str:
    """The address the control connection used for the announcement's listener: the
    agent (DATA_LISTEN: its control address is the responder's) or the media server."""
    return control.resp_h if ann.listener == "data" else control.orig_h


def _attach_data(sessions: list[Session], endpoints: _Endpoints,
                 control_of: dict[str, Connection] | None = None) -> None:
    """Each expectation claims the next connection to one of its endpoints (else, under
    NAT, to its port at the listener's control address)."""
    pending = [(group[0].ts, session, group) for session in sessions
               for group in announcement_groups(session.announced)]
    pending.sort(key=lambda item: item[0])
    announced_at: dict[tuple[str, int], list[float]] = defaultdict(list)
    for ts, _, group in pending:
        for endpoint in {(a.ip, a.port) for a in group}:
            announced_at[endpoint].append(ts)
    for ts, session, group in pending:
        candidates = [(conn, ann) for ann in group
                      if (conn := endpoints.first_after(ann.ip, ann.port, ts)) is not None]
        if not candidates and control_of is not None:
            # Nobody reached the announced address, but the announced port was reached
            # at the address the control connection used for that host: a NAT rewrote
            # it (the announcement inside the NDMP message was not translated).
            control = control_of[session.id]
            candidates = [
                (conn, ann) for ann in group
                if (host := listener_host(ann, control)) != ann.ip and
                (conn := endpoints.first_after(host, ann.port, ts)) is not None]
            for conn, ann in candidates[:1]:
                session.address_matched.append((conn.uid, ann.ip))
        if not candidates:
            continue
        conn, ann = min(candidates, key=lambda item: (item[0].ts, item[0].first_frame))
        ann.used_by = conn.uid
        _claim(endpoints, conn, session, "data")
        # A connector whose SYNs fail retries from a new source port: same expectation,
        # until a later announcement of the same endpoint takes over.
        times = announced_at[(ann.ip, ann.port)]
        following = bisect_right(times, ts)
        until = times[following] if following < len(times) else float("inf")
        while is_failed(conn):
            retry = endpoints.first_after(conn.resp_h, ann.port, conn.ts)
            if retry is None or retry.ts >= until or retry.orig_h != conn.orig_h:
                break
            _claim(endpoints, retry, session, "data")
            conn = retry


def _attach_callbacks(sessions: list[Session], control_of: dict[str, Connection],
                      ordered: list[Connection], by_uid: dict[str, Connection],
                      endpoints: _Endpoints, config: Config) -> None:
    """Each session's callback: an agent -> media server connection (not to the NDMP
    port) opened while its control connection was open.

    Sessions can overlap (two jobs to one agent), so callbacks are handed out earliest
    deadline first: in time order, each goes to the open session whose data connection
    (or end) comes soonest. A greedy choice per session would cross two callbacks when
    the first job's comes late. A destination in the media range is preferred; failing
    that, a connection to another port is still the callback (verify reports
    port_outside_media_range). A callback found only after the session's data
    connection is still attached, so verify reports it out of order.
    """
    candidates: dict[str, list[Connection]] = {}
    deadline: dict[str, float] = {}
    by_pair: dict[tuple[str, str], list[Connection]] = defaultdict(list)
    for conn in ordered:
        if conn.role != "control" and conn.resp_p != config.ndmp_port:
            by_pair[(conn.orig_h, conn.resp_h)].append(conn)
    for session in sessions:
        control = control_of[session.id]
        end = _end(control) + CALLBACK_SLACK_SECONDS
        candidates[session.id] = [
            conn for conn in by_pair.get((session.remote_agent, session.media_server), [])
            if control.ts <= conn.ts <= end and conn.uid not in endpoints.claimed]
        data_starts = [by_uid[uid].ts for uid in session.data_connections]
        deadline[session.id] = min(data_starts, default=end)

    def assign(session: Session, conn: Connection) -> None:
        session.callback_uid = conn.uid
        _claim(endpoints, conn, session, "callback")

    def usable(session: Session, in_range_only: bool) -> list[Connection]:
        return [c for c in candidates[session.id] if c.uid not in endpoints.claimed and
                (config.in_media_range(c.resp_p) or not in_range_only)]

    candidate_uids = {sid: {c.uid for c in conns} for sid, conns in candidates.items()}
    for in_range_only in (True, False):
        waiting = [s for s in sessions if s.callback_uid is None]
        offered = sorted({c.uid: c for s in waiting for c in usable(s, in_range_only)}
                         .values(), key=lambda c: (c.ts, c.first_frame))
        for conn in offered:
            takers = [s for s in waiting if s.callback_uid is None and
                      conn.uid in candidate_uids[s.id] and conn.ts <= deadline[s.id]]
            if takers:
                assign(min(takers, key=lambda s: deadline[s.id]), conn)
    for session in sessions:  # late callbacks: attached, and judged out of order
        if session.callback_uid is None:
            late = usable(session, True) or usable(session, False)
            if late:
                assign(session, late[0])


# Messages that carry a data endpoint, by name and whether a reply; v2's DATA_START_*
# (which also carry one there) are judged apart, by version.
_ANNOUNCING = {(name.removeprefix("NDMP_"), is_reply) for name, is_reply in ANNOUNCERS
               if name.removeprefix("NDMP_") not in _STARTS}


def cut_announcements(stream: NdmpStream | None) -> list[NdmpMessage] | None:
    """Announcing messages whose address the snap length cut, one per resource.

    A resource's messages run from its LISTEN to its DATA_START_*, or to the same
    announcing message again (a LISTEN retried after a port in use): an announcement of
    the same resource decoded elsewhere (the MOVER_LISTEN reply when DATA_CONNECT was
    cut) settles it. v2 carries the address in DATA_START_* itself. None when the snap
    length left the whole control stream unreadable (no message at all).
    """
    if stream is None or not stream.snap_cut:
        return []
    if not stream.messages:
        return None
    found: list[NdmpMessage] = []
    cut: NdmpMessage | None = None
    decoded = False
    seen: set[tuple[str, bool]] = set()
    for message in stream.messages:
        op, is_reply = message_op(message), message.type == "reply"
        start = op in _STARTS and not is_reply
        announcing = (op, is_reply) in _ANNOUNCING or (start and stream.version in (2, None))
        if announcing and (op, is_reply) in seen:  # the same step again: a new resource
            if cut is not None and not decoded:
                found.append(cut)
            cut, decoded, seen = None, False, set()
        if announcing and not (is_reply and message.error):
            seen.add((op, is_reply))
            if message.addresses:
                decoded = True
            elif message.partial and cut is None:
                cut = message
        if start:
            if cut is not None and not decoded:
                found.append(cut)
            cut, decoded, seen = None, False, set()
    if cut is not None and not decoded:
        found.append(cut)
    return found


def _attach_by_ports(sessions: list[Session], control_of: dict[str, Connection],
                     streams: dict[str, NdmpStream], ordered: list[Connection],
                     endpoints: _Endpoints, config: Config, profile: Profile) -> None:
    """Data connections of announcements the snap length cut, by direction and ports.

    Candidates run between the session's media server and agent, start after the cut
    message and before the control connection ended, avoid the NDMP port and anything
    already explained; backup-exec-9 (the media server connects) also needs the media
    server as originator and a destination in the agent range. One connection (and its
    retries) per cut message; every candidate when no message could be read at all.
    """
    for session in sessions:
        stream = streams.get(session.control_uid)
        control = control_of[session.id]
        cut = cut_announcements(stream)
        if session.announced:
            continue
        reason = "snap_length"
        if cut == [] and one_sided(control) is not None:
            # The capture lacks a direction of the control connection: the announcing
            # message may be in it, so the data connections are matched as if it were cut.
            cut, reason = None, "one_direction"
        elif cut == [] and control.missed_bytes and session.kind != "browse":
            # The sniffer lost part of the control stream of a backup or restore: the
            # announcing message may be among the lost bytes.
            cut, reason = None, "capture_loss"
        if cut == []:
            continue
        # While the control connection lasts, no slack: the next job's session may open
        # its data connection right after this one closed.
        end = _end(control)

        def eligible(conn: Connection, after: float, session: Session = session,
                     end: float = end) -> bool:
            return conn.uid not in endpoints.claimed and after <= conn.ts <= end and \
                _fits_profile(conn, session, config, profile)

        session.match_reason = reason
        if cut is None:
            for conn in ordered:
                if eligible(conn, control.ts):
                    _claim(endpoints, conn, session, "data")
                    session.port_matched.append(conn.uid)
            continue
        for message in cut:
            conn = next((c for c in ordered if eligible(c, message.ts)), None)
            session.cut_announcements.append((message.frame, message.name,
                                              conn.uid if conn else ""))
            while conn is not None:
                _claim(endpoints, conn, session, "data")
                session.port_matched.append(conn.uid)
                if not is_failed(conn):
                    break
                # A connector whose SYNs fail retries from a new source port.
                conn = next((c for c in ordered if eligible(c, conn.ts)
                             and (c.orig_h, c.resp_h, c.resp_p) ==
                             (conn.orig_h, conn.resp_h, conn.resp_p)), None)


def _attach_started_before_capture(sessions: list[Session], control_of: dict[str, Connection],
                                   ordered: list[Connection], endpoints: _Endpoints,
                                   config: Config, profile: Profile) -> None:
    """A capture that starts in the middle of a job misses the announcements of the data
    connections already running: a session whose control connection was already open
    takes the unexplained connections between its two hosts that were open too (no SYN
    seen), by the profile's direction and ports. A connection that opens during the
    capture is announced in it, so it is not taken here."""
    for session in sessions:
        control = control_of[session.id]
        if connection_outcome(control) != "midstream":
            continue
        for conn in ordered:
            if conn.uid in endpoints.claimed or connection_outcome(conn) != "midstream":
                continue
            if conn.ts <= _end(control) and \
                    _fits_profile(conn, session, config, profile):
                _claim(endpoints, conn, session, "data")
                session.port_matched.append(conn.uid)
        if session.port_matched and not session.match_reason:
            session.match_reason = "capture_start"


def _fits_profile(conn: Connection, session: Session, config: Config,
                  profile: Profile) -> bool:
    """Could this be one of the session's data connections, by direction and ports?"""
    if conn.role == "control" or config.ndmp_port in (conn.resp_p, conn.orig_p):
        return False
    pair = (conn.orig_h, conn.resp_h)
    if profile.connector == "media_server":
        return pair == (session.media_server, session.remote_agent) and \
            config.in_agent_range(conn.resp_p)
    return pair in ((session.media_server, session.remote_agent),
                    (session.remote_agent, session.media_server))


def _claim(endpoints: _Endpoints, conn: Connection, session: Session,
           role: Literal["data", "callback"]) -> None:
    endpoints.claimed.add(conn.uid)
    conn.role, conn.session = role, session.id
    if role == "data":
        session.data_connections.append(conn.uid)


def _kind_from_bytes(session: Session, by_uid: dict[str, Connection]
                     ) -> Literal["backup", "restore", "browse"]:
    """Without DATA_START_RECOVER, a restore shows as bytes flowing to the agent."""
    to_media = to_agent = 0
    for uid in session.data_connections:
        conn = by_uid[uid]
        agent_sent = conn.orig_bytes if conn.orig_h == session.remote_agent else conn.resp_bytes
        media_sent = conn.resp_bytes if conn.orig_h == session.remote_agent else conn.orig_bytes
        to_media += agent_sent
        to_agent += media_sent
    return "restore" if to_agent > to_media else "backup"
