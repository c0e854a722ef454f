"""The session matching as it was before issue 7, kept as the oracle of the fast one.

Every session is compared with every connection between its hosts (callbacks, cut
announcements, captures started mid-job): quadratic, and obviously right. Tests build
sessions both ways on random traffic and require the same answer. Only the matching is
kept here; opening the sessions, settling their kinds and `claim`, which issue 7 did
not change, are flowcheck's own. What a connection or stream says on its own is
flowcheck.sessions.classify.

Rules added since, each written here the plain way (scans, no index), not by calling
the production helpers it checks:
- callbackmatch and review56j: a connection whose opening the capture holds (a SYN or
  SYN-ACK) wins an announced endpoint before the endpoint's next announcement over one
  open before the capture; the callback in the media range from the media server's
  first vendor message, then from the control connection's opening, then to any port,
  and last a callback without its opening traded for an opened one (_attach_callbacks);
- review58a: a connection open before the capture that carries payload one way only
  (more than a byte a packet) is a data stream, never a callback (_attach_callbacks);
  and a CONNECT error reply answers its connector's last refusal to that peer before it,
  not an earlier one (_attach_started_before_capture);
- mergedsets: another session's host blocks a connection only while that session
  lives (_span: its control connection's opening less START_SLACK_SECONDS, or all time
  before when the capture lacks it, to its end plus port_hold_seconds, or all time after
  when the capture does not show it closing), in data matching, by ports and the spare
  configured addresses;
- older rules the reference had missed: a session whose announcements the capture
  cannot show blocks no connector (matching.blind), and a job that started before the
  capture does not take a lone SYN given up at once (capture_start.lone_syn_given_up);
  one open before the capture it takes by its two hosts either way (latecut,
  _fits_profile);
- latejobs: a connection several jobs begun before the capture fit goes to the one
  whose GET_STATE reply names an end of it (or, refused, whose CONNECT error reply came
  within 1 s of the RST), else to the only one it fits, else is tied between them
  (_attach_started_before_capture: every late session scanned for every connection,
  where flowcheck bisects over their windows);
- newuser59: an announced endpoint's data connection (and each retry) opened while its
  session ran, from its control connection's opening less START_SLACK_SECONDS to its
  close and CALLBACK_SLACK_SECONDS after (_span with that slack); the fallback to a
  connection open before the capture only before the endpoint's next announcement too
  (_attach_data: a failed job's retry chain took a job's data connection 5 days later).
  The end of a piece of a capture set (flowcheck.sources.pieces) is not modelled here:
  the oracle's traffic is one capture.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from flowcheck.config import Config
from flowcheck.model import Announcement, Connection, NdmpStream, RingGap, Session
from flowcheck.ndmp.protocol import is_vendor_code
from flowcheck.profiles import Profile
from flowcheck.sessions import open_sessions, settle_kinds
from flowcheck.sessions.asked_first import asked_from
from flowcheck.sessions.classify import (
    asked_nothing,
    connection_outcome,
    end_of,
    is_failed,
    listener_host,
    one_sided,
    seen_closing,
)
from flowcheck.sessions.data_ends import note_callback_hosts
from flowcheck.sessions.local import find_local_data
from flowcheck.sessions.matching import ANNOUNCEMENT_JITTER_SECONDS, claim
from flowcheck.sessions.named import named_endpoints, share_out
from flowcheck.sessions.snap_cut import cut_announcements, cut_listener
from flowcheck.sessions.threeway import share_announced

CALLBACK_SLACK_SECONDS = 1.0
# How long before its control connection's first packet a session's host may open a
# connection of its own (two clocks apart): the lifetimes' slack, mergedsets.
START_SLACK_SECONDS = 1.0
INF = float("inf")


def _span(control: Connection, hold: float) -> tuple[float, float]:
    """When a session lives, (start, end) in seconds, both ends included."""
    start = -INF if connection_outcome(control) == "midstream" else \
        control.ts - START_SLACK_SECONDS
    return start, end_of(control) + hold if seen_closing(control) else INF


def _alive(host: str, ts: float, lives: list[tuple[str, tuple[float, float]]]) -> bool:
    """Is one of `lives` (host, span) that host's, alive at ts?"""
    return any(h == host and lo <= ts <= hi for h, (lo, hi) in lives)


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

    def first_after(self, ip: str, port: int, ts: float,
                    fits: Callable[[Connection], bool] = lambda c: True) -> Connection | None:
        conns = self.by_endpoint.get((ip, port), [])
        start = bisect_left(conns, ts, key=lambda c: c.ts)
        return next((c for c in conns[start:] if c.uid not in self.claimed and fits(c)), None)


def build_sessions(connections: list[Connection], streams: list[NdmpStream], config: Config,
                   profile: Profile, *, ring_gaps: Sequence[RingGap] = ()) -> list[Session]:
    """One session per control connection; sets Connection.role/.session and used_by."""
    stream_by_uid = {s.uid: s for s in streams}
    ordered, sessions, control_of, _strays = open_sessions(connections, stream_by_uid, config)
    endpoints = _Endpoints()
    for conn in ordered:
        if conn.role != "control":
            endpoints.add(conn)
    by_uid = {c.uid: c for c in connections}
    _attach_data(sessions, endpoints, control_of, config.port_hold_seconds)
    # Derived from the data matching: shared, as find_local_data below.
    share_announced(sessions, control_of, by_uid)
    if profile.callback == "connection":
        _attach_callbacks(sessions, control_of, ordered, by_uid, endpoints, config,
                          stream_by_uid)
    _attach_by_ports(sessions, control_of, stream_by_uid, ordered, endpoints, config, profile)
    _attach_started_before_capture(sessions, control_of, stream_by_uid, ordered, endpoints, config,
                                   profile, ring_gaps)
    # Derived from the matching above, which is what this oracle checks: shared.
    find_local_data(sessions, stream_by_uid, control_of)
    note_callback_hosts(sessions, by_uid)
    settle_kinds(sessions, stream_by_uid, by_uid)
    return sessions


def _attach_data(sessions: list[Session], endpoints: _Endpoints,
                 control_of: dict[str, Connection], hold: float) -> None:
    """Each expectation claims the next connection to one of its endpoints (else, under
    NAT, to its port at the listener's control address)."""
    # matching.attach_data line for line, but grouping with this module's
    # announcement_groups: the oracle must not share the fast grouping it checks.
    pending = [(group[0].ts, session, group) for session in sessions
               for group in announcement_groups(session.announced)]
    pending.sort(key=lambda item: item[0])
    announced_at: dict[tuple[str, int], list[float]] = defaultdict(list)
    for ts, _, group in pending:
        for endpoint in {(a.ip, a.port) for a in group}:
            announced_at[endpoint].append(ts)
    fits = _connector_fits(sessions, control_of, hold)

    def next_announced(ann: Announcement, ts: float) -> float:
        return min((t for t in announced_at[(ann.ip, ann.port)] if t > ts), default=INF)

    def ran(control: Connection, conn: Connection) -> bool:
        """Did conn open while the session of `control` ran: from its control
        connection's opening (less START_SLACK_SECONDS) to its close and
        CALLBACK_SLACK_SECONDS after (newuser59)?"""
        lo, hi = _span(control, CALLBACK_SLACK_SECONDS)
        return lo <= conn.ts <= hi

    controls = {control.uid: control for control in control_of.values()}

    def connector(ann: Announcement) -> str:
        """The announcing session's host on the side told to connect."""
        control = controls[ann.control_uid]
        return control.orig_h if ann.listener == "data" else control.resp_h

    def others_before(ip: str, port: int, after: float, session: Session, own: str,
                      reached: str | None = None) -> Callable[[Connection], bool]:
        """Was the connection opened before ip:port's next announcement after `after`
        by another session it could be: any other's when its originator is not the
        session's own connector (own), else one whose connector is that host too
        (note56 Left 3); one reaching it at `reached` (a NAT's address), only another
        whose listener's control address is that one (review58m: two NATs)."""
        later = [(a.ts, connector(a)) for s in sessions if s.id != session.id
                 for a in s.announced if (a.ip, a.port) == (ip, port) and a.ts > after
                 and reached in (None, listener_host(a, control_of[s.id]))]
        return lambda c: all(c.ts < t for t, host in later
                             if c.orig_h != own or host == c.orig_h)

    def first_after(ip: str, port: int, after: float, fits: Callable[[Connection], bool],
                    until: float, others: Callable[[Connection], bool]
                    ) -> Connection | None:
        """An opened connection (its SYN or SYN-ACK captured) before `until` (the
        endpoint's next announcement) first (callbackmatch, review56e), else any before
        the next announcement of ip:port by another session it could be (others)."""
        opened = endpoints.first_after(ip, port, after, lambda c: fits(c) and c.ts < until
                                       and connection_outcome(c) != "midstream")
        return opened or endpoints.first_after(ip, port, after,
                                               lambda c: fits(c) and others(c))

    for ts, session, group in pending:
        control = control_of[session.id]

        def fits_running(ann: Announcement, control: Connection = control
                         ) -> Callable[[Connection], bool]:
            """The connector fits (fits) and the connection opened while the job ran."""
            connector = fits(control, ann)
            return lambda c: connector(c) and ran(control, c)

        candidates = [(conn, ann) for ann in group
                      if (conn := first_after(
                          ann.ip, ann.port, ts - ANNOUNCEMENT_JITTER_SECONDS,
                          fits_running(ann), next_announced(ann, ts),
                          others_before(ann.ip, ann.port, ts - ANNOUNCEMENT_JITTER_SECONDS,
                                        session, connector(ann))))
                      is not None]
        if not candidates:
            # Nobody reached the announced address, but the announced port was reached
            # at the address the control connection used for that host: a NAT rewrote
            # it (the announcement inside the NDMP message was not translated). Bounded
            # by the next announcement of the announced endpoint, which is what other
            # sessions announce, not of the control address (boundfix).
            candidates = [
                (conn, ann) for ann in group
                if (host := listener_host(ann, control)) != ann.ip and
                (conn := first_after(host, ann.port, ts, fits_running(ann),
                                     next_announced(ann, ts),
                                     others_before(ann.ip, ann.port, ts, session,
                                                   connector(ann), host)))
                is not None]
            # The one claimed below: the earliest opened (review58e).
            for conn, ann in sorted(candidates, key=lambda item: (item[0].ts,
                                                                  item[0].first_frame))[:1]:
                session.address_matched.append((conn.uid, ann.ip))
        if not candidates:
            continue
        conn, ann = min(candidates, key=lambda item: (item[0].ts, item[0].first_frame))
        ann.used_by = conn.uid
        claim(endpoints, conn, session, "data")
        # A connector whose SYNs fail retries from a new source port: same expectation,
        # until a later announcement of the same endpoint takes over.
        until = next_announced(ann, ts)
        while is_failed(conn):
            retry = endpoints.first_after(conn.resp_h, ann.port, conn.ts)
            if retry is None or retry.ts >= until or retry.orig_h != conn.orig_h \
                    or not ran(control, retry):
                break
            claim(endpoints, retry, session, "data")
            conn = retry


def _connector_fits(sessions: list[Session], control_of: dict[str, Connection], hold: float
                    ) -> Callable[[Connection, Announcement], Callable[[Connection], bool]]:
    """Per session and announcement: may this connection's originator be the session's
    connector, the session's own host on the side told to connect or an address no
    other session uses on that side when the connection opened? A session whose
    announcements the capture cannot show (its control connection open before the
    capture, none read) blocks nobody."""
    sighted = [s for s in sessions
               if s.announced or connection_outcome(control_of[s.id]) != "midstream"]
    media = [(s.media_server, _span(control_of[s.id], hold)) for s in sighted]
    agents = [(s.remote_agent, _span(control_of[s.id], hold)) for s in sighted]

    def fits(control: Connection, ann: Announcement) -> Callable[[Connection], bool]:
        own = control.orig_h if ann.listener == "data" else control.resp_h
        lives = media if ann.listener == "data" else agents
        return lambda c: c.orig_h == own or not _alive(c.orig_h, c.ts, lives)
    return fits


def _attach_callbacks(sessions: list[Session], control_of: dict[str, Connection],
                      ordered: list[Connection], by_uid: dict[str, Connection],
                      endpoints: _Endpoints, config: Config,
                      streams: dict[str, NdmpStream]) -> None:
    """Each session's callback: an agent -> media server connection (not to the NDMP
    port) opened while its control connection was open.

    In the media range from the media server's first vendor message (the job engine's
    address: Backup Exec's callback follows it), then from the control connection's
    opening, then to any port; last, a callback whose opening the capture lacks gives
    way to an unclaimed one whose opening it holds, into the media range (any port when
    the one held is outside it), after that message and before the deadline
    (callbackmatch, review56j).

    Sessions can overlap (two jobs to one agent), so callbacks are handed out earliest
    deadline first: in time order, each goes to the open session whose data connection
    (or end) comes soonest. A greedy choice per session would cross two callbacks when
    the first job's comes late. A destination in the media range is preferred; failing
    that, a connection to another port is still the callback (verify reports
    port_outside_media_range). A callback found only after the session's data
    connection is still attached, so verify reports it out of order.
    """
    # A session whose media server asked nothing (a port check) is due no callback.
    sessions = [s for s in sessions if not asked_nothing(control_of[s.id])]
    candidates: dict[str, list[Connection]] = {}
    deadline: dict[str, float] = {}
    by_pair: dict[tuple[str, str], list[Connection]] = defaultdict(list)
    for conn in ordered:
        # One open before the capture carrying payload one way only, more than a byte a
        # packet (not keepalives), is a data stream, never a callback (review58a).
        sides = ((conn.orig_bytes, conn.orig_pkts, conn.resp_bytes),
                 (conn.resp_bytes, conn.resp_pkts, conn.orig_bytes))
        stream = connection_outcome(conn) == "midstream" and any(
            size > packets and other == 0 for size, packets, other in sides)
        if conn.role != "control" and conn.resp_p != config.ndmp_port and not stream:
            by_pair[(conn.orig_h, conn.resp_h)].append(conn)
    for session in sessions:
        control = control_of[session.id]
        end = end_of(control) + CALLBACK_SLACK_SECONDS
        candidates[session.id] = [
            conn for conn in by_pair.get((session.remote_agent, session.media_server), [])
            if control.ts <= conn.ts <= end and conn.uid not in endpoints.claimed]
        data_starts = [by_uid[uid].ts for uid in session.data_connections]
        deadline[session.id] = min(data_starts, default=end)

    def assign(session: Session, conn: Connection) -> None:
        session.callback_uid = conn.uid
        claim(endpoints, conn, session, "callback")

    def usable(session: Session, in_range_only: bool) -> list[Connection]:
        return [c for c in candidates[session.id] if c.uid not in endpoints.claimed and
                (config.in_media_range(c.resp_p) or not in_range_only)]

    def anchor(session: Session) -> float:
        """The media server's first vendor message on the control connection, else its
        opening (seconds)."""
        control = control_of[session.id]
        stream = streams.get(session.control_uid)
        vendor = next((m.ts for m in (stream.messages if stream else [])
                       if m.direction == "orig" and is_vendor_code(m.code)), None)
        return control.ts if vendor is None else max(control.ts, vendor)

    candidate_uids = {sid: {c.uid for c in conns} for sid, conns in candidates.items()}
    for in_range_only, anchored in ((True, True), (True, False), (False, False)):
        waiting = [s for s in sessions if s.callback_uid is None]
        offered = sorted({c.uid: c for s in waiting for c in usable(s, in_range_only)}
                         .values(), key=lambda c: (c.ts, c.first_frame))
        for conn in offered:
            takers = [s for s in waiting if s.callback_uid is None and
                      conn.uid in candidate_uids[s.id] and conn.ts <= deadline[s.id]
                      and (not anchored or conn.ts >= anchor(s))]
            if takers:
                assign(min(takers, key=lambda s: deadline[s.id]), conn)
    for session in sessions:  # before a control connection open before the capture
        control = control_of[session.id]
        if session.callback_uid is not None or connection_outcome(control) != "midstream":
            continue
        pair = by_pair.get((session.remote_agent, session.media_server), [])
        for in_range_only in (True, False):
            early = [c for c in pair if c.ts <= control.ts and c.uid not in endpoints.claimed
                     and connection_outcome(c) != "midstream"
                     and (config.in_media_range(c.resp_p) or not in_range_only)]
            if early:
                assign(session, early[0])
                break
    def opened(conns: list[Connection]) -> list[Connection]:
        return [c for c in conns if connection_outcome(c) != "midstream"]

    for session in sessions:  # late callbacks: attached, and judged out of order
        if session.callback_uid is None:
            late = (opened(usable(session, True)) or opened(usable(session, False))
                    or usable(session, True) or usable(session, False))
            if late:
                assign(session, late[0])
    for session in sorted(sessions, key=lambda s: deadline[s.id]):
        held = by_uid.get(session.callback_uid or "")
        if held is None or connection_outcome(held) != "midstream":
            continue
        control = control_of[session.id]
        end = end_of(control) + CALLBACK_SLACK_SECONDS
        pair = by_pair.get((session.remote_agent, session.media_server), [])
        for in_range_only in (True,) if config.in_media_range(held.resp_p) else (True, False):
            better = next((c for c in opened(pair) if c.uid not in endpoints.claimed
                           and (config.in_media_range(c.resp_p) or not in_range_only)
                           and c.ts >= anchor(session)), None)
            if better is not None and better.ts <= min(deadline[session.id], end):
                endpoints.claimed.discard(held.uid)
                held.role, held.session = "other", None
                assign(session, better)
                break


def _attach_by_ports(sessions: list[Session], control_of: dict[str, Connection],
                     streams: dict[str, NdmpStream], ordered: list[Connection],
                     endpoints: _Endpoints, config: Config, profile: Profile) -> None:
    """Data connections of announcements the capture cannot show, by direction and ports.

    A cut message's connection runs from the other side to its listener (a port in the
    listener's range unless the profile leaves the connector to the listener); each side
    is the session's host or a configured address of that side no session living while
    this one lives uses. With no message read, the profile says who connects.
    Candidates open after the message and while the control connection lasts (to the
    capture's end if not seen closing). When none fits: from the session's own
    connector to an address no session uses on the listener's side when the connection
    opened, to a port in the listener's range. What fits the sessions no message of
    which could be read is shared out among them first, by flowcheck.sessions.named's
    rule (shared: it decides owners, not the matching).
    """
    # Each side's hosts (by who listens there) while their sessions live (mergedsets).
    span = {s.id: _span(control_of[s.id], config.port_hold_seconds) for s in sessions}
    used = {"mover": [(s.media_server, span[s.id]) for s in sessions],
            "data": [(s.remote_agent, span[s.id]) for s in sessions]}
    configured = {"mover": set(config.media_servers), "data": set(config.remote_agents)}

    def spare(session: Session, side: str) -> set[str]:
        """Configured addresses of a side no session living while this one uses there."""
        lo, hi = span[session.id]
        return {host for host in configured[side]
                if not any(h == host and start <= hi and lo <= end
                           for h, (start, end) in used[side])}
    profile_listeners = {"media_server": ["data"], "remote_agent": ["mover"]}.get(
        profile.connector, ["data", "mover"])

    def in_range(port: int, listener: str) -> bool:
        return config.in_agent_range(port) if listener == "data" else \
            config.in_media_range(port)

    def fits(conn: Connection, session: Session, listener: str, ranged: bool) -> bool:
        if conn.role == "control" or config.ndmp_port in (conn.resp_p, conn.orig_p):
            return False
        media = {session.media_server} | spare(session, "mover")
        agents = {session.remote_agent} | spare(session, "data")
        connectors, listeners = (media, agents) if listener == "data" else (agents, media)
        if conn.orig_h in connectors and conn.resp_h in listeners and \
                (not ranged or in_range(conn.resp_p, listener)):
            return True
        # Open before the capture (or its handshake lost): either way round.
        return connection_outcome(conn) == "midstream" and conn.resp_h in connectors and \
            conn.orig_h in listeners and (not ranged or in_range(conn.orig_p, listener))

    def elsewhere(conn: Connection, session: Session, listener: str) -> bool:
        own = session.media_server if listener == "data" else session.remote_agent
        return conn.role != "control" and config.ndmp_port not in (conn.resp_p, conn.orig_p) \
            and conn.orig_h == own and not _alive(conn.resp_h, conn.ts, used[listener]) \
            and in_range(conn.resp_p, listener)

    plans = []
    for session in sessions:
        stream = streams.get(session.control_uid)
        control = control_of[session.id]
        cut = cut_announcements(stream)
        lossy = bool(control.missed_bytes) and session.kind != "browse"
        if session.announced and not lossy:
            continue
        reason = "snap_length"
        if session.announced:
            cut, reason = None, "capture_loss"
        elif cut == [] and one_sided(control) is not None:
            cut, reason = None, "one_direction"
        elif cut == [] and control.missed_bytes:  # a browse by its rule too (by_ports)
            cut, reason = None, "capture_loss"
        if cut == []:
            continue
        plans.append((session, cut, reason,
                      end_of(control) if seen_closing(control) else float("inf")))

    # CONNECT error replies: (time, session id, the host told to connect).
    replies = [(m.ts, s.id, s.remote_agent if m.name == "NDMP_DATA_CONNECT"
                else s.media_server)
               for s in sessions for stream in [streams.get(s.control_uid)]
               for m in (stream.messages if stream else ())
               if m.type == "reply" and m.error and m.error not in (1, 4, 9, 18, 19, 24)
               and m.name in ("NDMP_DATA_CONNECT", "NDMP_MOVER_CONNECT")]

    def answered_elsewhere(c: Connection, session: Session) -> bool:
        """A failed connect whose connector's first CONNECT error reply after it (within
        1 s) is another session's (newuser61), not answering a later failed connect of
        the connector's to the same peer."""
        if connection_outcome(c) not in ("refused", "unanswered"):
            return False
        after = sorted((ts, sid) for ts, sid, host in replies
                       if host == c.orig_h and ts >= c.last_ts - ANNOUNCEMENT_JITTER_SECONDS)
        # Nor one whose reply answers the connector's later failed connect to the same
        # peer (review61e).
        return bool(after) and after[0][0] <= c.last_ts + 1.0 and after[0][1] != session.id \
            and not any(connection_outcome(o) in ("refused", "unanswered")
                        and (o.orig_h, o.resp_h) == (c.orig_h, c.resp_h)
                        and c.last_ts < o.last_ts <= after[0][0] + ANNOUNCEMENT_JITTER_SECONDS
                        for o in ordered)

    def every(session: Session, end: float, reason: str) -> list[tuple[Connection, str]]:
        """What fits a session no message of which could be read (before any is taken);
        with one direction captured, from its first data setup request (asked_first:
        derived from the capture, not from the matching, so shared)."""
        control = control_of[session.id]
        start = asked_from(control, streams.get(session.control_uid))[1] \
            if reason == "one_direction" else control.ts
        ranged = profile.connector == "media_server"
        found = [(c, lst) for c in ordered for lst in profile_listeners
                 if c.uid not in endpoints.claimed and start <= c.ts <= end
                 and fits(c, session, lst, ranged)]
        found = found or [(c, lst) for c in ordered for lst in profile_listeners
                          if c.uid not in endpoints.claimed and start <= c.ts <= end
                          and elsewhere(c, session, lst)]
        found = [(c, lst) for c, lst in found if not answered_elsewhere(c, session)]
        # Each connection once; one fitting both listeners (its handshake not captured)
        # goes to the one its first captured packet's sender connects to (trial 30 D1).
        kept: dict[str, tuple[Connection, str, bool]] = {}
        for c, lst in found:
            connectors = {session.media_server} | spare(session, "mover") \
                if lst == "data" else {session.remote_agent} | spare(session, "data")
            direct = c.orig_h in connectors
            if c.uid not in kept or (direct and not kept[c.uid][2]):
                kept[c.uid] = (c, lst, direct)
        return [(c, lst) for c, lst, _ in kept.values()]

    fitting = {session.id: every(session, end, reason) for session, cut, reason, end in plans
               if cut is None}
    shares = share_out([(s, [c for c, _ in fitting[s.id]]) for s, cut, _, _ in plans
                        if cut is None], streams)
    for session, cut, reason, end in plans:

        def open_after(conn: Connection, after: float, end: float = end) -> bool:
            return conn.uid not in endpoints.claimed and after <= conn.ts <= end

        def take(conn: Connection, listener: str, session: Session = session) -> None:
            claim(endpoints, conn, session, "data")
            session.port_matched.append(conn.uid)
            session.port_listener[conn.uid] = listener  # type: ignore[assignment]

        session.match_reason = reason
        if cut is None:
            for conn, lst in fitting[session.id]:
                tied = shares.tied.get(conn.uid)
                if tied is not None and session in tied:
                    if conn.uid not in endpoints.claimed:
                        endpoints.claimed.add(conn.uid)
                        conn.role, conn.session = "data", None
                    session.port_tied.append(conn.uid)
                    session.tied_with.extend(s.id for s in tied if s is not session
                                             and s.id not in session.tied_with)
                elif shares.owner.get(conn.uid) is session and \
                        conn.uid not in endpoints.claimed:
                    take(conn, lst)
                    if conn.uid in shares.named_by:
                        session.port_named[conn.uid] = shares.named_by[conn.uid]
            continue
        for message in cut:
            listeners = [lst] if (lst := cut_listener(message)) else profile_listeners
            ranged = profile.connector != "listener"
            found = [(c, lst) for c in ordered for lst in listeners
                     if open_after(c, message.ts) and fits(c, session, lst, ranged)] or \
                [(c, lst) for c in ordered for lst in listeners
                 if open_after(c, message.ts) and elsewhere(c, session, lst)]
            conn, listener = found[0] if found else (None, "data")
            session.cut_announcements.append((message.frame, message.name,
                                              conn.uid if conn else ""))
            while conn is not None:
                take(conn, listener)
                if not is_failed(conn):
                    break
                # A connector whose SYNs fail retries from a new source port.
                conn = next((c for c in ordered if open_after(c, conn.ts)
                             and c.role != "control"
                             and (c.orig_h, c.resp_h, c.resp_p) ==
                             (conn.orig_h, conn.resp_h, conn.resp_p)), None)


def _attach_started_before_capture(sessions: list[Session], control_of: dict[str, Connection],
                                   streams: dict[str, NdmpStream], ordered: list[Connection],
                                   endpoints: _Endpoints, config: Config,
                                   profile: Profile, ring_gaps: Sequence[RingGap]) -> None:
    """A capture that starts in the middle of a job misses the announcements made before
    it: a session whose control connection was already open fits the unexplained
    connections between its two hosts, by the profile's direction and ports, that were
    open too (no SYN seen) or opened before the capture shows its control stream, with
    their retries from new source ports; after the last ring hole before its first
    packet, when there is one; each end's port in its side's range (one open before the
    capture either way round: its originator is only its first packet's sender); not a
    lone SYN given up at once. Each connection (those open before the capture first,
    then the opened ones, in time order) goes to the one session that fits it and whose
    GET_STATE reply names one of its ends, or (refused) whose CONNECT error reply came
    within 1 s of the refusal from its connector; else to the one session it fits;
    else it is tied between those naming it, or every one it fits (latejobs)."""
    capture_end = max((c.last_ts for c in ordered), default=0.0)
    FAILED = ("refused", "unanswered")  # noqa: N806

    def given_up(conn: Connection) -> bool:
        """One SYN, unanswered, never resent though the capture went on for the
        retransmission timeout: as likely an earlier job's last try as this job's."""
        return connection_outcome(conn) == "unanswered" and len(conn.syn_frames) == 1 \
            and conn.syn_retries == 0 \
            and capture_end - conn.last_ts >= config.retransmission_timeout

    late = [s for s in sessions if connection_outcome(control_of[s.id]) == "midstream"]
    window: dict[str, tuple[float, float, float]] = {}
    named: dict[str, dict[tuple[str, int], tuple[int, str]]] = {}
    refused: dict[str, list[tuple[float, str]]] = {}
    for session in late:
        control = control_of[session.id]
        stream = streams.get(session.control_uid)
        holes = [gap for gap in ring_gaps if gap.end <= control.ts]
        session.start_gap = max(holes, key=lambda gap: (gap.start, gap.end), default=None)
        window[session.id] = (session.start_gap.start if session.start_gap else -INF,
                              stream.messages[0].ts if stream and stream.messages
                              else control.ts, end_of(control))
        named[session.id] = named_endpoints(stream)
        refused[session.id] = [
            (m.ts, session.remote_agent if m.name == "NDMP_DATA_CONNECT"
             else session.media_server)
            for m in (stream.messages if stream else ())
            if m.type == "reply" and m.error and m.error not in (1, 4, 9, 18, 19, 24)
            and m.name in ("NDMP_DATA_CONNECT", "NDMP_MOVER_CONNECT")]

    def eligible(conn: Connection, session: Session) -> bool:
        opened_from, seen_from, end = window[session.id]
        if conn.uid in endpoints.claimed or not _fits_profile(
                conn, session, config, profile, set(named[session.id])):
            return False
        if connection_outcome(conn) == "midstream":
            return conn.ts <= end
        # A lone SYN given up: only a session whose CONNECT error reply answers it
        # (newuser61).
        return opened_from <= conn.ts <= seen_from and (
            not given_up(conn) or bool(names(session, conn)))

    def names(session: Session, conn: Connection) -> tuple[int, str] | None | bool:
        ends = [(conn.resp_h, conn.resp_p)]
        if connection_outcome(conn) == "midstream":
            ends.append((conn.orig_h, conn.orig_p))
        said = next((named[session.id][e] for e in ends if e in named[session.id]), None)
        if said is not None:
            return said
        # A reply answers the connector's last refusal to that peer before it (review58a);
        # a SYN unanswered in the capture too (newuser61).
        return connection_outcome(conn) in FAILED and any(
            conn.last_ts - ANNOUNCEMENT_JITTER_SECONDS <= ts <= conn.last_ts + 1.0
            and host == conn.orig_h and not any(
                connection_outcome(c) in FAILED and (c.orig_h, c.resp_h) ==
                (conn.orig_h, conn.resp_h) and conn.last_ts < c.last_ts
                <= ts + ANNOUNCEMENT_JITTER_SECONDS for c in ordered)
            for ts, host in refused[session.id])

    tied_with: dict[str, set[str]] = defaultdict(set)
    for conn in [*(c for c in ordered if connection_outcome(c) == "midstream"),
                 *(c for c in ordered if connection_outcome(c) != "midstream")]:
        fitting = [s for s in late if eligible(conn, s)]
        naming = [s for s in fitting if names(s, conn)]
        owner = naming[0] if len(naming) == 1 else fitting[0] \
            if len(fitting) == 1 and not naming else None
        if owner is None and fitting:
            tied = naming or fitting
            endpoints.claimed.add(conn.uid)
            conn.role, conn.session = "data", None
            for session in tied:
                session.port_tied.append(conn.uid)
                tied_with[session.id] |= {s.id for s in tied if s is not session}
        elif owner is not None:
            end = window[owner.id][2]
            while conn is not None and conn.uid not in endpoints.claimed:
                claim(endpoints, conn, owner, "data")
                owner.port_matched.append(conn.uid)
                said = names(owner, conn)
                if isinstance(said, tuple):
                    owner.port_named[conn.uid] = said
                if not is_failed(conn):
                    break
                conn = next((c for c in ordered if c.role != "control"
                             and c.uid not in endpoints.claimed and c.ts >= conn.ts
                             and c.ts <= end and (c.orig_h, c.resp_h, c.resp_p) ==
                             (conn.orig_h, conn.resp_h, conn.resp_p)), None)
    order = {s.id: i for i, s in enumerate(sessions)}
    for session in late:
        if session.id in tied_with:
            session.tied_with = sorted(tied_with[session.id] | set(session.tied_with),
                                       key=order.__getitem__)
        if (session.port_matched or session.port_tied) and not session.match_reason:
            session.match_reason = "capture_start"


def _fits_profile(conn: Connection, session: Session, config: Config,
                  profile: Profile, named: set[tuple[str, int]]) -> bool:
    """Could this be one of the session's data connections, by direction and ports?
    `named`: the endpoints the session's GET_STATE replies name."""
    if conn.role == "control" or config.ndmp_port in (conn.resp_p, conn.orig_p):
        return False
    pair = (conn.orig_h, conn.resp_h)
    for host, port in ((conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p)):
        if host == session.remote_agent and not config.in_agent_range(port) or \
                host == session.media_server and not config.in_media_range(port):
            return False  # another service between the hosts
    if profile.connector == "media_server" and connection_outcome(conn) == "midstream":
        # Open before the capture: its first sender is no opener, either end may be the
        # agent's (latecut: the agent's data first, ranges overlapping by default);
        # the agent's first, its media port in the agent range too, only when a reply
        # names one of its ends (review56p: else a callback fits as well).
        if conn.orig_h == session.remote_agent and config.in_agent_range(conn.resp_p) \
                and not {(conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p)} & named:
            return False
        return set(pair) == {session.media_server, session.remote_agent} and \
            (config.in_agent_range(conn.resp_p) or config.in_agent_range(conn.orig_p))
    if profile.connector == "media_server":
        return pair == (session.media_server, session.remote_agent) and \
            config.in_agent_range(conn.resp_p)
    return pair in ((session.media_server, session.remote_agent),
                    (session.remote_agent, session.media_server))
