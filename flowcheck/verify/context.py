"""What every check reads: lookups over the analysis and the wording of fixes.

Over 400 lines for one reason: Context is one dataclass whose ~75 fields, each with the
comment that says what fills and reads it, are most of the file; its methods read those
fields. What stands alone was moved out (verify.opening_frames, re-exported here)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import field
from operator import attrgetter

from flowcheck.config import Config, PortRange, format_ranges
from flowcheck.fields_dataclass import fields_dataclass
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
from flowcheck.model.arp_claims import NeighbourClaims
from flowcheck.model.finding import Allows, OtherProfile, Reading
from flowcheck.profiles import Profile
from flowcheck.sessions.fallback import Fallback
from flowcheck.sessions.file_order import TIME_ORDER, FileOrder
from flowcheck.sessions.kept import KeptPackets
from flowcheck.sessions.stack_addresses import Side, host_addresses
from flowcheck.sessions.stray import StraySyn
from flowcheck.sources.pieces import ONE_PIECE, Pieces
from flowcheck.verify.capture_filter import PortOnlyCapture
from flowcheck.verify.capture_time import CaptureTime
from flowcheck.verify.census import Census
from flowcheck.verify.connect_outcome import ConnectSaid, SaidKey
from flowcheck.verify.opening_frames import opening_frames as opening_frames  # re-exported
from flowcheck.verify.proof_cache import ProofCache
from flowcheck.verify.range_stop import RangeStop
from flowcheck.verify.sessions_around import SessionsAround


@fields_dataclass(slots=True)
class Context:
    """What every verification check reads and adds to: the traffic, sessions, config
    and profile, lookups by uid, the findings so far and the causes already reported."""

    connections: list[Connection]
    streams: list[NdmpStream]
    sessions: list[Session]
    config: Config
    profile: Profile
    # The connections' capture-wide figures (verify.census; None: check_evidence takes it).
    census: Census | None = field(default=None, repr=False, compare=False)
    stream_by_uid: dict[str, NdmpStream] = field(default_factory=dict)
    # The findings added so far. A check that rewrites one edits it in place, never
    # swaps in a copy: RangeStop.finding, by_session, one_direction and
    # NdmpStream.snap_finding hold them by identity (newuser66 item 1).
    findings: list[Finding] = field(default_factory=list)
    # Root causes already reported per session ("control", "callback", "data",
    # "ndmp"), so later checks do not report their consequences again.
    causes: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # What the capture could show (flowcheck.verify.evidence): the time of its last
    # packet, the host-to-host directions it holds a packet of and those it evidently
    # lacks (capture_one_direction), the capture_ended_early events.
    capture_end: float = 0.0
    capture_start: float = 0.0  # the capture's first TCP packet (seconds, capture clock)
    # Over the whole set; per piece of a set whose files are apart in time (sources.pieces:
    # captured_in, missing_in, read by holds and lacks), each piece's own.
    captured: set[tuple[str, str]] = field(default_factory=set)
    missing: dict[tuple[str, str], list[Connection]] = field(default_factory=dict)
    captured_in: list[set[tuple[str, str]]] = field(default_factory=list)
    missing_in: list[dict[tuple[str, str], list[Connection]]] = field(default_factory=list)
    # The capture_one_direction findings by the direction (sender, receiver) each says
    # the capture (or a piece of the set) lacks (verify.evidence): what a later check
    # adds words to, found by data, not by "from A to B" in their words.
    one_direction: dict[tuple[str, str], list[Finding]] = field(default_factory=dict)
    early_events: set[tuple[str, float]] = field(default_factory=set)
    # Sessions whose callback or data connections the capture left out
    # (flowcheck.verify.filtered): session id -> (why, its evidence as (frame, ts)
    # pairs, what it rests on: verify.filtered_lead.LeftOutKind), for one
    # capture_filtered; whether every connection has the NDMP port on one side (None: not
    # computed yet).
    left_out: dict[str, tuple[str, list[tuple[int, float]], str]] = field(
        default_factory=dict)
    port_only: bool | None = None
    # Why the capture set could hold only the NDMP port's packets (it holds no other
    # packet, or its recorded filter: verify.capture_filter.port_only_capture); None when
    # it could hold others or it is not known (flowcheck.verify.connect_said).
    port_only_capture: PortOnlyCapture | None = None
    # Who claimed the configured agents' addresses by ARP or neighbour discovery, with
    # which MAC and when (model.arp.ArpLog.claims): verify.link_proof, verify.silent_host.
    link_claims: NeighbourClaims = field(default_factory=NeighbourClaims)
    # The packet kinds the capture holds and the filter they show (verify.kept.kept;
    # None: not computed yet).
    kept: KeptPackets | None = None
    # Sessions whose NDMP peer stopped answering, or had not answered when the capture
    # ended (flowcheck.verify.no_reply): session id -> why, for the steps it left unknown.
    silent_peer: dict[str, str] = field(default_factory=dict)
    # Sessions of silent_peer whose later steps were not due: the control connection
    # stalled at its first bytes, no NDMP session opened (verify.opening_stall); their
    # steps 2-5 read `not_applicable` (not reached), not `unknown`.
    not_due: set[str] = field(default_factory=set)
    # Sessions of silent_peer whose silence the capture's end cut, not a stop of the
    # session (no_reply's capture_ended_early, an opening stall still open at the end):
    # their later steps say whether anything came after the capture's end cannot be seen.
    silence_cut: set[str] = field(default_factory=set)
    # Sessions whose last request had no answer yet when the capture ended, its
    # capture_ended_early added (flowcheck.verify.no_reply): session id -> (that finding,
    # how long after the request the capture ended, "DATA_GET_STATE (frame 2142)"), for
    # the job's own warning to say (no_reply.take_awaiting: verify.still_running, and
    # open_transfer.report_open_transfer): one end of the capture, one finding
    # (newuser60: two for one end of the 1 GB capture).
    awaiting: dict[str, tuple[Finding, str, str]] = field(default_factory=dict)
    # Sessions a reading across two clocks was not made for (flowcheck.verify.two_clocks:
    # capture_clocks_apart): session id -> why, for the data step it leaves unknown.
    clocks_apart: dict[str, str] = field(default_factory=dict)
    # What the checks prove once and read again: where the capture was taken, the clocks
    # apart, the host pairs held twice (flowcheck.verify.proof_cache).
    proofs: ProofCache = field(default_factory=ProofCache, repr=False, compare=False)
    session_by_id: dict[str, Session] = field(default_factory=dict)
    # Sessions whose media ports the capture cannot tell from a NAT's, by id
    # (flowcheck.verify.nat_unread, filled after check_evidence).
    nat_unread: dict[str, bool] = field(default_factory=dict)
    # Holes in a ring buffer's numbering, in time order (capture_ring_gap).
    ring_gaps: list[RingGap] = field(default_factory=list)
    # Time between files given in sequence that no file covers (sources.file_gaps).
    file_gaps: list[RingGap] = field(default_factory=list)
    # The set's parts apart in time, split at those gaps (sources.pieces).
    pieces: Pieces = ONE_PIECE
    # Packets the sniffer said the kernel dropped (live, pcapng statistics): 0 unknown.
    kernel_dropped: int = 0
    # Control connections given up for the other IP version, and the connections they
    # fell back to, by uid (flowcheck.verify.fallback; None: not built yet).
    fallbacks: dict[str, Fallback] | None = None
    # The stray copies of other host pairs' control SYNs, no session's (sessions.stray),
    # by uid (verify.stray reports them).
    strays: dict[str, StraySyn] = field(default_factory=dict)
    # By host pair, for session_around (built on first use).
    _around: SessionsAround | None = None
    # Every session's announcements by endpoint (ip, port), in session order, for
    # verify.shared.partner and verify.closing_candidates (shared.announced_endpoints:
    # built on first use, after the sessions set used_by).
    halves: dict[tuple[str, int], list[tuple[Session, Announcement]]] | None = None
    # Side-traffic sessions (flowcheck.verify.hosts.mark_side_traffic) by id, and the
    # errors found on them, withheld from the findings (host_not_configured tells them).
    side: set[str] = field(default_factory=set)
    # Data connections closed before any data by the host that closed the control
    # connection with them (one_exit.closed_with_control), by session id: data_aborted
    # waits for verify.running, whose control_closed names them as its consequence.
    exit_closed: dict[str, list[list[Connection]]] = field(
        default_factory=lambda: defaultdict(list))
    withheld: dict[str, list[Finding]] = field(default_factory=lambda: defaultdict(list))
    # The findings (not the withheld) by session id as added (session_findings): a check
    # run once a session asks its own, not every session's (2,000 jobs in one capture).
    by_session: dict[str, list[Finding]] = field(
        default_factory=lambda: defaultdict(list), repr=False, compare=False)
    # Connections per four-tuple (orig_h, orig_p, resp_h, resp_p), for
    # four_tuple_count (built on first use).
    four_tuples: Counter[tuple[str, int, str, int]] | None = None
    # Per session id, its data connections reset mid-transfer (verify.mid_transfer_resets):
    # (connection, the abnormal halt after it or None, whether the capture shows the
    # halt could have come), found once for the check and the steps.
    resets: dict[str, list[tuple[Connection, NdmpMessage | None, bool]]] = field(
        default_factory=dict)
    # Session ids whose control connection a RST ended while the job ran (control_reset
    # with no halt after the running DATA_START_*: verify.control_reset.report_reset):
    # their data step fails on it as on control_closed (verify.closed_flow).
    reset_mid_job: set[str] = field(default_factory=set)
    # The connections between each pair of hosts, in capture order (between; built on
    # first use).
    connections_between: dict[frozenset[str], list[Connection]] | None = None
    # The connections to each responder address, in capture order, and the agents whose
    # sessions claim each agent address (verify.answer_seen: built on first use).
    connections_to: dict[str, list[Connection]] | None = None
    agent_claims: dict[str, set[str]] | None = None
    # The set's copies are all one host's Windows tool's, one capture point's
    # (TrackResult.host_copies): none is a second capture point's.
    host_copies: bool = False
    # The set's copies are one capture host's several interfaces' (a bridge's or
    # router's, tcpdump -i any on it: TrackResult.interface_copies): a packet in the set
    # twice passed that host, not two capture points.
    interface_copies: bool = False
    # Copies between two capture points came with another TTL: a router between the
    # points (TrackResult.routed_points).
    routed_points: bool = False
    # Two files of the set are two capture points' (TrackResult.linked_files).
    linked_files: bool = False
    # (address, the same host's address on the other side of a NAT) pairs the set shows
    # (Traffic.nat_aliases: a control connection captured on both sides of the NAT).
    nat_aliases: frozenset[tuple[str, str]] = frozenset()
    # Per (source, port, destination, port) with capture copies whose legs are known,
    # whether one crossed to another leg (TrackResult.copy_legs: verify.copy_counts).
    copy_legs: dict[tuple[str, int, str, int], bool] = field(default_factory=dict)
    # Per (sender, receiver) address, the Linux cooked packet types and TTLs of its SYNs,
    # FINs and RSTs (TrackResult.host_marks; verify.cooked_host): {} but in a cooked set.
    host_marks: dict[tuple[str, str], int] = field(default_factory=dict)
    # The capture set's file paths, read again only where a check asks (the Linux cooked
    # interface indexes: verify.return_way); () when not given.
    capture_paths: tuple[str, ...] = ()
    # A packet that is not TCP marked arriving at a capture host (Skipped.arriving): the
    # set is not of leaving packets alone (verify.opening.leaving_only).
    other_arriving: bool = False
    # Frames the capture tool cut and recorded as whole (CaptureInfo.cut_recorded, over
    # the set: flowcheck.verify.cut_frames).
    cut_recorded: int = 0
    # Per side ("media", "agent"), the ports its range must have at least, when
    # range_too_small found it smaller (verify.capacity; verify.ranges.note_too_small).
    too_small: dict[str, int] = field(default_factory=dict)
    # The failed steps at which a host's range was full (verify.range_stops), in the
    # order the steps found them; range_too_small ties itself to them.
    range_stops: list[RangeStop] = field(default_factory=list)
    # step_missing findings of a listen request whose receiver closed the control
    # connection instead of answering, with no full range read at it (no RangeStop), and
    # the receiver's side ("media", "agent"): range_too_small's count ties itself to them
    # (verify.listen_unanswered.note_closed_listens).
    closed_listens: list[tuple[Finding, str]] = field(default_factory=list)
    # The ports the sessions' connections used, by side, without and with refused
    # listeners' ports, and the key they were read under (verify.range_stops.port_usage:
    # (usage_key, usage, with refused); None: not read yet). Read again, not reused, once
    # the key differs: a later stage changed the sessions' connections.
    port_uses: tuple[tuple, dict, dict] | None = field(default=None, repr=False,
                                                       compare=False)
    # Hosts by the role the sessions saw them in: (media servers, agents) (host_role;
    # built on first use).
    seen_roles: tuple[set[str], set[str]] | None = None
    # How the capture orders its events: by frame within one file of one interface, else
    # by time (flowcheck.sessions.file_order).
    order: FileOrder = TIME_ORDER
    # The capture's clock in frame order, with order.frames (flowcheck.verify.evidence
    # .after; None: by time).
    timeline: CaptureTime | None = None
    # Per session id, its job's last halt (frame, ts) or None (verify.open_transfer
    # .last_halt; found on first use).
    last_halts: dict[str, tuple[int, float] | None] = field(default_factory=dict)
    # Per session id, its data connections that carried data, by first frame
    # (verify.one_way_data.data_carried; found on first use).
    data_carried: dict[str, tuple[Connection, ...]] = field(default_factory=dict)
    # Per SaidKey, what verify.connect_said.connect_said found (found on first use).
    connects_said: dict[SaidKey, ConnectSaid | None] = field(default_factory=dict)
    # Sessions whose step 2 would be missing but for callbacks that fit other sessions
    # too (Session.callback_short), by id: verify.short_callbacks reports their set once.
    short_callbacks: set[str] = field(default_factory=set)
    # Connections reported as the failure of one of several sessions they fit alike
    # (verify.tied_failures), by uid: no unannounced_connection for them.
    tied_reported: set[str] = field(default_factory=set)
    # Tied data connections' failure words by uid, None when not failed (verify.tied_words;
    # found on first use: a connection tied between k sessions is in k sessions' words).
    tied_failed: dict[str, str | None] = field(default_factory=dict, repr=False,
                                               compare=False)
    # Whether each session's own callback would be an `ok` step 2 (open, its ports in
    # range), by session id (verify.callback_tie; found on first use: a callback tied
    # between k sessions is asked about in k sessions' notes).
    callback_worked: dict[str, bool] = field(default_factory=dict, repr=False,
                                             compare=False)
    # Frames in an encapsulation flowcheck knows and does not read (decode.unread), by
    # its name: (frames, the first one's number). A direction the capture seems to lack
    # may be among them (flowcheck.verify.unread_frames).
    unread: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Which hosts' packets they could carry and when: (name, address, "" any) -> (first,
    # last) s (decode.unread_hosts); None: any host's at any time.
    unread_spans: dict[tuple[str, str], tuple[float, float]] | None = None

    # The connections by uid (by_uid; None: not built yet).
    _by_uid: dict[str, Connection] | None = field(default=None, repr=False, compare=False)
    # The sessions by (side, control address on that side), in order (host_sessions;
    # empty: not built yet).
    _by_host: dict[tuple[str, str], list[Session]] = field(default_factory=dict, repr=False,
                                                           compare=False)
    # host_addresses' answers by (side, control address).
    _host_addresses: dict[tuple[str, str], set[str]] = field(default_factory=dict,
                                                             repr=False, compare=False)
    # media_hosts and agent_hosts (None: not found yet).
    _media_hosts: frozenset[str] | None = field(default=None, repr=False, compare=False)
    _agent_hosts: frozenset[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.stream_by_uid = {s.uid: s for s in self.streams}
        self.session_by_id = {s.id: s for s in self.sessions}
        self.capture_start = self.census.first_ts if self.census is not None else \
            min(map(attrgetter("ts"), self.connections), default=0.0)

    @property
    def by_uid(self) -> dict[str, Connection]:
        """The connections by uid, built on first use (a capture without sessions may
        never look one up)."""
        if self._by_uid is None:
            self._by_uid = {c.uid: c for c in self.connections}
        return self._by_uid

    def holds(self, way: tuple[str, str], ts: float) -> bool:
        """Does the capture hold a packet of direction `way` (sender, receiver) where time
        `ts` (seconds) is: in the piece of the set that holds `ts` (sources.pieces; one
        piece: the whole capture, ctx.captured)?"""
        return way in self.held_at(ts)

    def end_at(self, ts: float) -> float:
        """When the capture holding time `ts` (seconds) ended: the last packet of its piece
        of the set (sources.pieces: files apart in time; mergedone: a capture stopped
        after a SYN read it unanswered beside a file days later), else capture_end."""
        end = self.pieces.end(self.pieces.of(ts)) if self.pieces.starts else None
        return self.capture_end if end is None else end

    def held_at(self, ts: float) -> set[tuple[str, str]]:
        """The directions the capture holds a packet of in the piece of the set that holds
        time `ts` (seconds; one piece: ctx.captured)."""
        return self.captured if len(self.captured_in) < 2 else \
            self.captured_in[self.pieces.of(ts)]

    def lacks(self, way: tuple[str, str], ts: float) -> bool:
        """Does the capture evidently lack direction `way` (capture_one_direction,
        ctx.missing) in the piece of the set that holds time `ts` (seconds)?"""
        if len(self.missing_in) < 2:
            return way in self.missing
        return way in self.missing_in[self.pieces.of(ts)]

    def host_sessions(self, session: Session, side: Side) -> list[Session]:
        """The sessions whose control address on `side` ("agent" or "media") is the
        session's, itself included, in order: all that sessions.stack_addresses.address_proofs
        reads of the others, so that a proof per session walks its host's sessions, not
        every session (a flood of lone SYNs to the NDMP port: one session each)."""
        if not self._by_host:
            for each in self.sessions:
                self._by_host.setdefault(("agent", each.remote_agent), []).append(each)
                self._by_host.setdefault(("media", each.media_server), []).append(each)
        host = session.remote_agent if side == "agent" else session.media_server
        return self._by_host.get((side, host), [])

    def host_addresses(self, session: Session, side: Side) -> set[str]:
        """sessions.stack_addresses.host_addresses of the session's host on `side`, found
        once per host (the same for every session of it)."""
        host = session.remote_agent if side == "agent" else session.media_server
        found = self._host_addresses.get((side, host))
        if found is None:
            found = self._host_addresses[(side, host)] = host_addresses(
                session, self.host_sessions(session, side), self.by_uid, self.config, side)
        return found

    def session_of(self, conn: Connection) -> Session | None:
        """The session the connection belongs to (its `session`), if any."""
        return self.session_by_id.get(conn.session) if conn.session else None

    def session_around(self, conn: Connection) -> Session | None:
        """The first session (in session order) between the connection's two hosts whose
        control connection was open, [ts, last_ts], when this connection started
        (verify.sessions_around: by bisection, not a scan of every session)."""
        if self._around is None:
            self._around = SessionsAround(self.sessions, self.by_uid)
        return self._around.session_around(conn)

    def four_tuple_count(self, conn: Connection) -> int:
        """How many connections of the capture have conn's four-tuple (orig_h, orig_p,
        resp_h, resp_p): more than one when a port was reused or a connect resent its
        SYN after a RST."""
        if self.four_tuples is None:
            self.four_tuples = Counter((c.orig_h, c.orig_p, c.resp_h, c.resp_p)
                                       for c in self.connections)
        return self.four_tuples[(conn.orig_h, conn.orig_p, conn.resp_h, conn.resp_p)]

    def between(self, host: str, peer: str) -> list[Connection]:
        """The connections between the two hosts (either way), in capture order: one
        walk over the connections per Context, not one per question."""
        if self.connections_between is None:
            table: dict[frozenset[str], list[Connection]] = defaultdict(list)
            for c in self.connections:
                table[frozenset((c.orig_h, c.resp_h))].append(c)
            self.connections_between = dict(table)
        return self.connections_between.get(frozenset((host, peer)), [])

    @property
    def media_hosts(self) -> frozenset[str]:
        """The configured media servers and the sessions' (found once)."""
        if self._media_hosts is None:
            self._media_hosts = frozenset(self.config.media_servers) | {
                s.media_server for s in self.sessions}
        return self._media_hosts

    @property
    def agent_hosts(self) -> frozenset[str]:
        """The configured agents and the sessions' (found once)."""
        if self._agent_hosts is None:
            self._agent_hosts = frozenset(self.config.remote_agents) | {
                s.remote_agent for s in self.sessions}
        return self._agent_hosts

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
            cause: str | None = None, reading: Reading = "",
            allows: Allows | None = None, subject: int = 0,
            other_profile: OtherProfile = "", hedges: tuple[str, ...] = ()) -> Finding:
        finding = make_finding(
            code, message, fix, severity=severity,
            session=session.id if session else None,
            uid=conn.uid if conn else None,
            ts=ts if ts is not None else (conn.ts if conn else None),
            frames=frames if frames is not None else (opening_frames(conn) if conn else []),
            reading=reading, allows=allows, subject=subject, other_profile=other_profile,
            drawn_ports=(conn.orig_p, conn.resp_p) if conn else (), hedges=hedges)
        side = session.id if session else (conn.session if conn else None)
        if finding.severity == Severity.ERROR and side in self.side:
            self.withheld[side].append(finding)  # side traffic: not the job's error
        else:
            self.findings.append(finding)
            if finding.session is not None:
                self.by_session[finding.session].append(finding)
        if session is not None and cause is not None:
            self.causes[session.id].add(cause)
        return finding

    def withdraw(self, finding: Finding) -> None:
        """Take back `finding`, added (not withheld) by add: a later finding says it."""
        self.findings.remove(finding)
        if finding.session is not None:
            self.by_session[finding.session].remove(finding)

    def session_findings(self, session_id: str) -> list[Finding]:
        """The findings added for session `session_id` (not those withheld) that are still
        its own, in order: one whose session was taken away since (verify.tied_failures:
        None, the candidates' together) is not; code, severity and frames as added
        (verify.profile_followed rewrites only words)."""
        return [f for f in self.by_session.get(session_id, ()) if f.session == session_id]

    def has_error(self, session_id: str, code: str | None = None) -> bool:
        """Whether session `session_id` has an error finding (of `code`, if given; a
        warning of that code does not count)."""
        return any(f.severity == Severity.ERROR and (code is None or f.code == code)
                   for f in self.session_findings(session_id))

    def ranges(self, which: str) -> str:
        """ "5001-5100 (media range)", saying so when the range is the default."""
        ranges: tuple[PortRange, ...] = getattr(self.config, f"{which}_range")
        note = ", the default" if which in self.config.default_ranges() else ""
        return f"{format_ranges(ranges)} ({which} range{note})"


# How a fix names the ports of a range the user did not set (verify.fix_notes finds it).
DEFAULT_RANGE_WORDS = "this job used"


def session_uids(session: Session) -> list[str]:
    """The session's connections: control, callback (if any), data, then those held only
    closing (Session.closing_only: none of its data connections, but their ports were
    the job's, as ranges and port reuse read them)."""
    return [session.control_uid, *([session.callback_uid] if session.callback_uid else []),
            *session.data_connections, *session.closing_only]
