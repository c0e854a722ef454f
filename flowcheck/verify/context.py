"""What every check reads: lookups over the analysis and the wording of fixes."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from flowcheck.config import Config, PortRange, format_ranges
from flowcheck.findings import make_finding
from flowcheck.model import (
    Announcement,
    Connection,
    Finding,
    NdmpMessage,
    NdmpStream,
    RingGap,
    Session,
    Severity,
)
from flowcheck.model import endpoint as endpoint  # re-exported: the checks import it here
from flowcheck.profiles import Profile
from flowcheck.sessions.kept import KeptPackets


@dataclass(slots=True)
class Context:
    connections: list[Connection]
    streams: list[NdmpStream]
    sessions: list[Session]
    config: Config
    profile: Profile
    by_uid: dict[str, Connection] = field(default_factory=dict)
    stream_by_uid: dict[str, NdmpStream] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    # Root causes already reported per session ("control", "callback", "data",
    # "ndmp"), so later checks do not report their consequences again.
    causes: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # What the capture could show (flowcheck.verify.evidence): the time of its last
    # packet, the host-to-host directions it holds a packet of and those it evidently
    # lacks (capture_one_direction), the capture_ended_early events.
    capture_end: float = 0.0
    capture_start: float = 0.0  # the capture's first TCP packet (seconds, capture clock)
    captured: set[tuple[str, str]] = field(default_factory=set)
    missing: dict[tuple[str, str], list[Connection]] = field(default_factory=dict)
    early_events: set[tuple[str, float]] = field(default_factory=set)
    # Sessions whose callback or data connections the capture left out
    # (flowcheck.verify.filtered): session id -> (why, its evidence as (frame, ts)
    # pairs), for one capture_filtered; whether every connection has the NDMP port on one
    # side (None: not computed yet).
    left_out: dict[str, tuple[str, list[tuple[int, float]]]] = field(default_factory=dict)
    port_only: bool | None = None
    # The packet kinds the capture holds and the filter they show (verify.kept.kept;
    # None: not computed yet).
    kept: KeptPackets | None = None
    # Sessions whose NDMP peer stopped answering, or had not answered when the capture
    # ended (flowcheck.verify.no_reply): session id -> why, for the steps it left unknown.
    silent_peer: dict[str, str] = field(default_factory=dict)
    session_by_id: dict[str, Session] = field(default_factory=dict)
    # Holes in a ring buffer's numbering, in time order (capture_ring_gap).
    ring_gaps: list[RingGap] = field(default_factory=list)
    # Packets the sniffer said the kernel dropped (live, pcapng statistics): 0 unknown.
    kernel_dropped: int = 0
    # By host pair, for session_around (built on first use).
    _around: dict[frozenset[str], tuple[list[float], list[float] | None, list[Session]]] | None \
        = None
    # Every session's announcements by endpoint (ip, port), in session order, for
    # verify.shared.partner (built on first use, after the sessions set used_by).
    halves: dict[tuple[str, int], list[tuple[Session, Announcement]]] | None = None
    # Side-traffic sessions (flowcheck.verify.hosts.mark_side_traffic) by id, and the
    # errors found on them, withheld from the findings (host_not_configured tells them).
    side: set[str] = field(default_factory=set)
    # Data connections closed before any data by the host that closed the control
    # connection with them (aborted.closed_with_control), by session id: data_aborted
    # waits for verify.running, whose control_closed names them as its consequence.
    exit_closed: dict[str, list[list[Connection]]] = field(
        default_factory=lambda: defaultdict(list))
    withheld: dict[str, list[Finding]] = field(default_factory=lambda: defaultdict(list))
    # Connections per four-tuple (orig_h, orig_p, resp_h, resp_p), for
    # four_tuple_count (built on first use).
    four_tuples: Counter[tuple[str, int, str, int]] | None = None
    # Per session id, its data connections reset mid-transfer (verify.cut_transfer):
    # (connection, the abnormal halt after it or None, whether the capture shows the
    # halt could have come), found once for the check and the steps.
    resets: dict[str, list[tuple[Connection, NdmpMessage | None, bool]]] = field(
        default_factory=dict)
    # The TTLs each host's packets reached the capture with, per (sender, receiver)
    # (verify.ttl.capture_host; built on first use).
    host_ttls: dict[tuple[str, str], set[int]] | None = None
    # (sender, receiver) whose packets the capture set holds twice: two capture points'
    # captures given together (flowcheck.verify.capture_points; None: not computed yet).
    copied: set[tuple[str, str]] | None = None
    # The set's copies are all one host's Windows tool's, one capture point's
    # (TrackResult.host_copies): none is a second capture point's.
    host_copies: bool = False
    # Frames the capture tool cut and recorded as whole (CaptureInfo.cut_recorded, over
    # the set: flowcheck.verify.cut_frames).
    cut_recorded: int = 0
    # Per host pair, the last packet of a connection the set holds all of twice
    # (flowcheck.verify.capture_points.both_points_until; None: not built yet).
    copied_until: dict[frozenset[str], float] | None = None
    # Hosts by the role the sessions saw them in: (media servers, agents) (host_role;
    # built on first use).
    seen_roles: tuple[set[str], set[str]] | None = None

    def __post_init__(self) -> None:
        self.by_uid = {c.uid: c for c in self.connections}
        self.stream_by_uid = {s.uid: s for s in self.streams}
        self.session_by_id = {s.id: s for s in self.sessions}
        self.capture_start = min((c.ts for c in self.connections), default=0.0)

    def session_of(self, conn: Connection) -> Session | None:
        """The session the connection belongs to (its `session`), if any."""
        return self.session_by_id.get(conn.session) if conn.session else None

    def session_around(self, conn: Connection) -> Session | None:
        """The first session (in session order) between the connection's two hosts whose
        control connection was open, [ts, last_ts], when this connection started.

        By bisection: with control connections in time order, the first one still open
        at t is the first whose running maximum of ends reaches t, so a check over many
        connections does not scan every session for each."""
        if self._around is None:
            self._around = _sessions_by_pair(self.sessions, self.by_uid)
        starts, reach, members = self._around.get(frozenset((conn.orig_h, conn.resp_h)),
                                                  ([], [], []))
        if reach is None:  # not in time order (build_sessions never makes that): scan
            return next((session for start, session in zip(starts, members, strict=True)
                         if start <= conn.ts <= self.by_uid[session.control_uid].last_ts),
                        None)
        first = bisect_left(reach, conn.ts)
        return members[first] if first < len(members) and starts[first] <= conn.ts else None

    def four_tuple_count(self, conn: Connection) -> int:
        """How many connections of the capture have conn's four-tuple (orig_h, orig_p,
        resp_h, resp_p): more than one when a port was reused or a connect resent its
        SYN after a RST."""
        if self.four_tuples is None:
            self.four_tuples = Counter((c.orig_h, c.orig_p, c.resp_h, c.resp_p)
                                       for c in self.connections)
        return self.four_tuples[(conn.orig_h, conn.orig_p, conn.resp_h, conn.resp_p)]

    @property
    def media_hosts(self) -> set[str]:
        return set(self.config.media_servers) | {s.media_server for s in self.sessions}

    @property
    def agent_hosts(self) -> set[str]:
        return set(self.config.remote_agents) | {s.remote_agent for s in self.sessions}

    def host_role(self, host: str) -> str | None:
        """"media" or "agent": the role of the host whose dynamic ports an end of a data
        connection binds, so the range they are judged by. The configuration's
        (media_servers, remote_agents) when it names the host in one of them, else the
        sessions' (the DMA's control connections come from a media server and reach
        agents: NDMP servers, the tape server of a three-way job among them); None when
        neither tells (named or seen in both, or in neither)."""
        config = self.config
        media, agent = host in config.media_servers, host in config.remote_agents
        if media != agent:
            return "media" if media else "agent"
        if media:
            return None
        if self.seen_roles is None:
            self.seen_roles = ({s.media_server for s in self.sessions},
                               {s.remote_agent for s in self.sessions})
        media, agent = host in self.seen_roles[0], host in self.seen_roles[1]
        return None if media == agent else "media" if media else "agent"

    def add(self, code: str, message: str, fix: str = "", *, session: Session | None = None,
            conn: Connection | None = None, frames: list[int] | None = None,
            ts: float | None = None, severity: Severity | None = None,
            cause: str | None = None) -> Finding:
        finding = make_finding(
            code, message, fix, severity=severity,
            session=session.id if session else None,
            uid=conn.uid if conn else None,
            ts=ts if ts is not None else (conn.ts if conn else None),
            frames=frames if frames is not None else (opening_frames(conn) if conn else []))
        side = session.id if session else (conn.session if conn else None)
        if finding.severity == Severity.ERROR and side in self.side:
            self.withheld[side].append(finding)  # side traffic: not the job's error
        else:
            self.findings.append(finding)
        if session is not None and cause is not None:
            self.causes[session.id].add(cause)
        return finding

    def ranges(self, which: str) -> str:
        """ "5001-5100 (media range)", saying so when the range is the default."""
        ranges: tuple[PortRange, ...] = getattr(self.config, f"{which}_range")
        note = "" if f"{which}_range" in self.config.explicit else ", the default"
        return f"{format_ranges(ranges)} ({which} range{note})"


def _sessions_by_pair(sessions: list[Session], by_uid: dict[str, Connection]
                      ) -> dict[frozenset[str], tuple[list[float], list[float] | None,
                                                      list[Session]]]:
    """Per host pair: control starts, running maximum of control ends (None when the
    sessions are not in time order), sessions."""
    pairs: dict[frozenset[str], tuple[list[float], list[float] | None, list[Session]]] = {}
    for session in sessions:
        control = by_uid[session.control_uid]
        key = frozenset((session.media_server, session.remote_agent))
        starts, reach, members = pairs.get(key, ([], [], []))
        if reach is not None and starts and control.ts < starts[-1]:
            reach = None
        if reach is not None:
            reach.append(max(control.last_ts, reach[-1]) if reach else control.last_ts)
        starts.append(control.ts)
        members.append(session)
        pairs[key] = (starts, reach, members)
    return pairs


def opening_frames(conn: Connection) -> list[int]:
    """The frames that show how the connection opened (or failed to)."""
    frames = conn.syn_frames + conn.synack_frames + conn.icmp_frames
    if conn.resp_rst and not conn.established:  # a refusal, or a reset after the SYN-ACK
        frames += conn.rst_frames
    return frames or [conn.first_frame]


def conn_sides(conn: Connection, session: Session
               ) -> tuple[tuple[str, int] | None, tuple[str, int] | None]:
    """(media server end, agent end) of one of the session's connections, by its role.

    Roles, not addresses: a multi-homed pair may run control and data on different
    networks (the "Backup To Network Card" case), so the data connection's addresses
    need not be the control connection's. A data connection's ends follow the
    announcement it reached (or, matched by direction and ports, its cut message or the
    profile): the mover (tape side) listens on the media server.
    """
    orig, resp = (conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p)
    if conn.uid == session.control_uid:
        return orig, resp
    if conn.uid == session.callback_uid:
        return resp, orig
    listener = next((a.listener for a in session.announced
                     if (a.ip, a.port) == (conn.resp_h, conn.resp_p)),
                    session.port_listener.get(conn.uid))
    if listener == "mover":
        return resp, orig
    if listener == "data":
        return orig, resp
    if conn.resp_h == session.media_server or conn.orig_h == session.remote_agent:
        return resp, orig
    if conn.orig_h == session.media_server or conn.resp_h == session.remote_agent:
        return orig, resp
    return None, None


def role_ends(ctx: Context, conn: Connection, session: Session
              ) -> list[tuple[str, tuple[str, int]]]:
    """Each end of one of the session's connections with the role ("media", "agent")
    whose port range it is judged by, media first (two of one role: the originator's
    first). conn_sides' reading, except that an end of a data connection at a host whose
    role is known takes that role: the session's own media server or agent, else
    Context.host_role. A three-way job's data connection runs between the data server
    and the tape server, two NDMP servers: two agent ends when both are agents (the
    mover listens on the tape server, which is the media server only when it is the
    DMA's own)."""
    media, agent = conn_sides(conn, session)
    ends = [(which, side) for which, side in (("media", media), ("agent", agent))
            if side is not None]
    if conn.uid in (session.control_uid, session.callback_uid):
        return ends
    own = ({} if session.media_server == session.remote_agent else
           {session.media_server: "media", session.remote_agent: "agent"})
    ends = [(own.get(side[0]) or ctx.host_role(side[0]) or which, side)
            for which, side in ends]
    orig = (conn.orig_h, conn.orig_p)
    return sorted(ends, key=lambda item: (item[0] != "media", item[1] != orig))


# Where the rule for the answer goes, from where the connection's rule goes.
_BACK = {"outbound on the media server and inbound on the agent":
         "outbound on the agent and inbound on the media server",
         "inbound on the media server": "outbound on the media server"}


def return_ports(ctx: Context, conn: Connection) -> tuple[str, str]:
    """The ports of `conn`'s return traffic, by range, never its one-off source port: the
    originator draws that anew for every connection (its dynamic range, RFC 6335 6), so
    a rule naming it lets through this connection only (trial 17, D8). (the responder's
    side: "port 10000" / "ports 5001-5100"; the originator's: "ports 6001-6100 (the agent
    range: ...)" or "its dynamic (ephemeral) ports (...)")."""
    config = ctx.config
    source = conn.orig_p
    configured = [name for name in ("agent", "media")
                  if f"{name}_range" in config.explicit
                  and getattr(config, f"in_{name}_range")(source)]
    if configured:  # a default range (1025-65535) is no rule to give (trial 20 D6)
        name = configured[0]
        ranges = config.agent_range if name == "agent" else config.media_range
        back_to = (f"ports {format_ranges(ranges)} (the {name} range: this connection's "
                   f"source port {source} is drawn from it anew each time)")
    else:
        back_to = (f"its dynamic (ephemeral) ports (this connection's source port {source} "
                   "is drawn anew each time)")
    if conn.resp_p == config.ndmp_port:
        answer = f"port {conn.resp_p}"
    elif config.in_media_range(conn.resp_p) and "media_range" in config.explicit:
        answer = f"ports {format_ranges(config.media_range)}"
    elif config.in_agent_range(conn.resp_p) and "agent_range" in config.explicit:
        answer = f"ports {format_ranges(config.agent_range)}"
    else:
        answer = f"port {conn.resp_p}"
    return answer, back_to


def listened_ports(ctx: Context, session: Session, which: str, port: int | None
                   ) -> list[int]:
    """The ports the session's `which` side ("media", "agent") was reached on (its
    connections' responder ends of that role, the NDMP port aside), with `port`, in
    order: the ports a rule names when the range is flowcheck's default (trial 20 D6)."""
    ports = set() if port is None else {port}
    for uid in session_uids(session):
        conn = ctx.by_uid.get(uid)
        if conn is None:
            continue
        for role, side in role_ends(ctx, conn, session):
            if role == which and side == (conn.resp_h, conn.resp_p) and \
                    side[1] != ctx.config.ndmp_port:
                ports.add(side[1])
    return sorted(ports)


def port_list(ports: list[int]) -> str:
    """Ports as "5001, 6001-6002": runs of consecutive ports joined."""
    runs: list[list[int]] = []
    for port in ports:
        if runs and port == runs[-1][1] + 1:
            runs[-1][1] = port
        else:
            runs.append([port, port])
    return ", ".join(f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in runs)


def seen_or_range(ctx: Context, session: Session | None, which: str, port: int) -> str:
    """What a rule names for a `which` side port: its range (Context.ranges) when
    configured; else, the range being flowcheck's default 1025-65535 (no rule to give),
    the ports this job was reached on there, saying so."""
    if f"{which}_range" in ctx.config.explicit:
        return ctx.ranges(which)
    ports = listened_ports(ctx, session, which, port) if session else [port]
    many = "s" if len(ports) > 1 else ""
    return f"{port_list(ports)} (the {which} port{many} {DEFAULT_RANGE_WORDS})"


# How a fix names the ports of a range the user did not set (verify.fix_notes finds it).
DEFAULT_RANGE_WORDS = "this job used"


def capitalised(text: str) -> str:
    """The first letter upper case, the rest as it is (str.capitalize lowers "TCP")."""
    return text[:1].upper() + text[1:]


def allow_rule(ctx: Context, conn: Connection, session: Session | None, *,
               answer: bool = False, between: bool = False, device: str | None = None) -> str:
    """The firewall rule that lets this connection through, named from the media server,
    "and its return traffic"; answer: that second rule spelt out, ports and all (when the
    capture cannot tell which way was lost); between: both rules also on any firewall
    between the hosts (a drop the capture cannot place). A responder port outside its
    side's range is named alone: the rule for the range would not let it through. The
    ends by role_ends: a three-way job's data connection between two agents is named by
    their addresses ("outbound on 10.77.1.2 and inbound on 10.77.1.3"). device: the
    router or firewall between the hosts that rejected or dropped it, named
    (rejecting_device's address and what it is): the rule goes in that device's forward
    chain instead."""
    ends = role_ends(ctx, conn, session) if session else []
    media = next((side for which, side in ends if which == "media"), None)
    agent = next((side for which, side in ends if which == "agent"
                  and side == (conn.resp_h, conn.resp_p)),
                 next((side for which, side in ends if which == "agent"), None))
    responder = (conn.resp_h, conn.resp_p)
    ports: str | None
    back_where = ""
    if conn.resp_p != ctx.config.ndmp_port and len(ends) == 2 and \
            all(which == "agent" for which, _ in ends):
        ports = seen_or_range(ctx, session, "agent", conn.resp_p) \
            if ctx.config.in_agent_range(conn.resp_p) else None
        where = f"outbound on {conn.orig_h} and inbound on {conn.resp_h}"
        back_where = f"outbound on {conn.resp_h} and inbound on {conn.orig_h}"
    elif conn.resp_p != ctx.config.ndmp_port and responder == media:
        ports = seen_or_range(ctx, session, "media", conn.resp_p)
        where = "inbound on the media server"
        if not ctx.config.in_media_range(conn.resp_p):
            ports = None
    elif conn.resp_p != ctx.config.ndmp_port and responder == agent:
        ports = seen_or_range(ctx, session, "agent", conn.resp_p)
        where = "outbound on the media server and inbound on the agent"
        if not ctx.config.in_agent_range(conn.resp_p):
            ports = None
    elif conn.resp_p == ctx.config.ndmp_port:
        ports = f"{conn.resp_p} (NDMP port)"
        where = "outbound on the media server and inbound on the agent"
    else:
        ports, where = str(conn.resp_p), "on both hosts and any firewall between them"
    back_where = back_where or _BACK.get(where, where)
    if device is not None:
        where = f"in the forward chain of {device}"
        back_where = "in the same chain"
    if between and not where.endswith("between them"):
        where += " and on any firewall between the hosts"
        back_where += " and on any firewall between the hosts"
    answer_ports, back_to = return_ports(ctx, conn)
    back = (f"TCP from {conn.resp_h} {answer_ports} back to {conn.orig_h} {back_to} "
            f"{back_where} (the SYN-ACK's way: established connections)" if answer
            else "its return traffic")
    target = f"port {conn.resp_p}" if ports is None else \
        f"port{'' if f' port {DEFAULT_RANGE_WORDS}' in ports else 's'} {ports}"
    return f"allow TCP from {conn.orig_h} to {conn.resp_h} {target} {where}, and {back}"


def session_uids(session: Session) -> list[str]:
    """The session's connections: control, callback (if any), then data."""
    return [session.control_uid, *([session.callback_uid] if session.callback_uid else []),
            *session.data_connections]


def opened_unseen_words(session: Session) -> str:
    """Where the capture lost the opening of a session's control connection (no SYN):
    "before the capture started", "in the gap between ring files A and B
    (capture_ring_gap) or before it" when its first captured packet follows a ring
    buffer's hole, or "in the ring's files older than A ..." (Session.start_gap)."""
    gap = session.start_gap
    if gap is None:
        return "before the capture started"
    return f"in {gap.words()}" + ("" if gap.head else " or before it")


def cut_announcement_words(session: Session) -> str:
    """Plain words for announcements whose address the capture does not hold."""
    if session.match_reason == "capture_start":
        return (f"announced {opened_unseen_words(session)}; data connections matched by "
                "direction and ports")
    if session.match_reason == "packet_filter":
        return ("the capture holds no packet of the control connection that carries data (a "
                "filter left them out: capture_filtered), the announcement neither; data "
                "connections matched by direction and ports instead")
    if session.match_reason == "capture_loss":
        return ("the sniffer missed part of the control connection, and the announcement "
                "may be in it; data connections matched by direction and ports instead")
    if session.match_reason == "one_direction":
        return ("the capture holds only one direction of the control connection, so the "
                "announcement may be in the other; data connections matched by direction "
                "and ports instead")
    messages = [f"{name.removeprefix('NDMP_')} (frame {frame})"
                for frame, name, _ in session.cut_announcements]
    where = (f"the address in {', '.join(messages)} was cut by the capture's snap length"
             if messages else "the control stream was cut by the capture's snap length and "
             "no NDMP message could be read")
    return f"{where}; data connections matched by direction and ports instead"
