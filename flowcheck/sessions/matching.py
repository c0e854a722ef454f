"""Which connections each session explains: its announced data connections, its callback,
and (when the announcements could not be read) its data connections by ports.

Every match is "the first unclaimed connection of some kind at or after some time", so
connections are kept in time-ordered pools that skip claimed ones, and callbacks are handed
out by a sweep over time with a heap of open sessions: the cost grows as n log n with the
sessions and connections between one pair of hosts, not as their product (issue 7: two
thousand concurrent jobs between one media server and one agent).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from flowcheck.config import Config
from flowcheck.model import Announcement, Connection, NdmpStream, Session
from flowcheck.profiles import Profile
from flowcheck.sessions.classify import (
    announcement_groups,
    connection_outcome,
    connector_host,
    cut_announcements,
    end_of,
    is_failed,
    listener_host,
    one_sided,
)

# A callback opened this long after the control connection ended is not its callback.
CALLBACK_SLACK_SECONDS = 1.0
# A connection to exactly an announced endpoint may be timestamped up to this long before
# the announcement and still follow it: a capture merged from two interfaces (mergecap,
# tcpdump -i any) stamps each side on its own NIC queue and interrupt (coalescing holds
# packets up to about 1 ms), and a SPAN port queues its copies behind the mirrored
# traffic; both reorder packets by microseconds to a millisecond or two. 5 ms covers that
# and stays far below the 1 s a connector waits before retrying a SYN (RFC 6298).
ANNOUNCEMENT_JITTER_SECONDS = 0.005


class Work:
    """Connections and sessions looked at while matching, summed over every build.

    Tests read it to prove matching stays near-linear in the connections (issue 7)
    without timing anything; it costs one addition per look."""

    steps = 0


class Pool:
    """Connections in time order (ts, first_frame) that skips claimed ones.

    `claimed` only grows while sessions are built, so a claimed connection is stepped over
    once and then jumped (a path-compressed next pointer, as in union-find)."""

    __slots__ = ("conns", "times", "_next", "_claimed")

    def __init__(self, conns: list[Connection], claimed: set[str]) -> None:
        self.conns = conns
        self.times = [c.ts for c in conns]
        self._next = list(range(len(conns) + 1))
        self._claimed = claimed

    def _unclaimed_from(self, start: int) -> int:
        """The first position at or after `start` whose connection is unclaimed."""
        nxt, conns, claimed = self._next, self.conns, self._claimed
        end = len(conns)
        here = start
        while here < end and (nxt[here] != here or conns[here].uid in claimed):
            Work.steps += 1
            if nxt[here] == here:
                nxt[here] = here + 1
            here = nxt[here]
        while start != here:  # compress the path walked
            nxt[start], start = here, nxt[start]
        return here

    def first(self, after: float, until: float = float("inf")) -> Connection | None:
        """The first unclaimed connection opened in [after, until] seconds."""
        at = self._unclaimed_from(bisect_left(self.times, after))
        Work.steps += 1
        return self.conns[at] if at < len(self.conns) and self.times[at] <= until else None

    def each(self, after: float, until: float) -> Iterator[Connection]:
        """Every unclaimed connection opened in [after, until], in time order; the caller
        may claim each one as it comes."""
        at = self._unclaimed_from(bisect_left(self.times, after))
        while at < len(self.conns) and self.times[at] <= until:
            Work.steps += 1
            yield self.conns[at]
            at = self._unclaimed_from(at + 1)


@dataclass(slots=True)
class Endpoints:
    """Connections by their responder endpoint, in time order, each claimable once."""

    by_endpoint: dict[tuple[str, int], list[Connection]] = field(
        default_factory=lambda: defaultdict(list))
    claimed: set[str] = field(default_factory=set)
    _pools: dict[tuple[str, int], Pool] = field(default_factory=dict)

    def add(self, conn: Connection) -> None:
        """Add connections in time order (ts, first_frame)."""
        key = (conn.resp_h, conn.resp_p)
        self.by_endpoint[key].append(conn)
        self._pools.pop(key, None)

    def first_after(self, ip: str, port: int, ts: float) -> Connection | None:
        key = (ip, port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = Pool(self.by_endpoint.get(key, []), self.claimed)
        return pool.first(ts)

    def by_connector(self, hosts: set[str]) -> dict[Hashable, Pool]:
        """Unclaimed connections by (responder ip, port, connector): the originator's
        address when it is one of `hosts` (the sessions' own hosts on the connecting
        side), else None (an address no session uses there: another interface of a
        multi-homed host, or a configured one). One Pool each, in time order."""
        return self.pools([c for conns in self.by_endpoint.values() for c in conns],
                          lambda c: (c.resp_h, c.resp_p, c.orig_h if c.orig_h in hosts
                                     else None))

    def pools(self, conns: list[Connection], key: Callable[[Connection], Hashable]
              ) -> dict[Hashable, Pool]:
        """Unclaimed connections grouped by key (None: left out), one Pool each."""
        groups: dict[Hashable, list[Connection]] = defaultdict(list)
        for conn in conns:
            if conn.uid not in self.claimed and (k := key(conn)) is not None:
                groups[k].append(conn)
        return {k: Pool(group, self.claimed) for k, group in groups.items()}


def claim(endpoints: Endpoints, conn: Connection, session: Session,
          role: Literal["data", "callback"]) -> None:
    endpoints.claimed.add(conn.uid)
    conn.role, conn.session = role, session.id
    if role == "data":
        session.data_connections.append(conn.uid)


def attach_data(sessions: list[Session], endpoints: Endpoints,
                control_of: dict[str, Connection]) -> None:
    """Each expectation claims the next connection to one of its endpoints, from
    ANNOUNCEMENT_JITTER_SECONDS before it on (else, under NAT, the next to its port at the
    listener's control address), opened by the session's own host on the side told to
    connect (connector_host) or by an address no session uses on that side.

    Another session's host never takes the announcement: with two jobs at once, one
    agent may announce the very endpoint (ip:port) that the other job's agent announced
    too (NAT, or both listening on one address), and each job's connection belongs to
    the job whose media server (or agent) opened it."""
    pending = [(group[0].ts, session, group) for session in sessions
               for group in announcement_groups(session.announced)]
    pending.sort(key=lambda item: item[0])
    announced_at: dict[tuple[str, int], list[float]] = defaultdict(list)
    for ts, _, group in pending:
        for endpoint in {(a.ip, a.port) for a in group}:
            announced_at[endpoint].append(ts)
    # By the side that connects: DATA_LISTEN's connector is a media server, MOVER_LISTEN's
    # an agent.
    by_connector = {"data": endpoints.by_connector({s.media_server for s in sessions}),
                    "mover": endpoints.by_connector({s.remote_agent for s in sessions})}

    def first_from(ann: Announcement, control: Connection, ip: str, after: float
                   ) -> Connection | None:
        """The first unclaimed connection to ip:ann.port from `after` on whose
        connector may be the session's."""
        pools = by_connector[ann.listener]
        found = [conn for connector in (connector_host(ann, control), None)
                 if (pool := pools.get((ip, ann.port, connector))) is not None
                 and (conn := pool.first(after)) is not None]
        return min(found, key=lambda c: (c.ts, c.first_frame), default=None)

    for ts, session, group in pending:
        control = control_of[session.id]
        candidates = [(conn, ann) for ann in group
                      if (conn := first_from(ann, control, ann.ip,
                                             ts - ANNOUNCEMENT_JITTER_SECONDS)) is not None]
        if not candidates:
            # Nobody reached the announced address, but the announced port was reached
            # at the address the control connection used for that host: a NAT rewrote
            # it (the announcement inside the NDMP message was not translated).
            candidates = [
                (conn, ann) for ann in group
                if (host := listener_host(ann, control)) != ann.ip and
                (conn := first_from(ann, control, host, ts)) is not None]
            for conn, ann in candidates[:1]:
                session.address_matched.append((conn.uid, ann.ip))
        if not candidates:
            continue
        conn, ann = min(candidates, key=lambda item: (item[0].ts, item[0].first_frame))
        ann.used_by = conn.uid
        claim(endpoints, conn, session, "data")
        # A connector whose SYNs fail retries from a new source port: same expectation,
        # until a later announcement of the same endpoint takes over.
        times = announced_at[(ann.ip, ann.port)]
        following = bisect_right(times, ts)
        until = times[following] if following < len(times) else float("inf")
        while is_failed(conn):
            retry = endpoints.first_after(conn.resp_h, ann.port, conn.ts)
            if retry is None or retry.ts >= until or retry.orig_h != conn.orig_h:
                break
            claim(endpoints, retry, session, "data")
            conn = retry


def attach_callbacks(sessions: list[Session], control_of: dict[str, Connection],
                     ordered: list[Connection], by_uid: dict[str, Connection],
                     endpoints: Endpoints, config: Config) -> None:
    """Each session's callback: an agent -> media server connection (not to the NDMP
    port) opened while its control connection was open.

    Sessions can overlap (two jobs to one agent), so callbacks are handed out earliest
    deadline first: in time order, each goes to the open session whose data connection
    (or end) comes soonest, the earlier session on a tie. A greedy choice per session
    would cross two callbacks when the first job's comes late. A destination in the media
    range is preferred; failing that, a connection to another port is still the callback
    (verify reports port_outside_media_range). A callback found only after the session's
    data connection is still attached, so verify reports it out of order.
    """
    pools = endpoints.pools(ordered, lambda c: None if c.role == "control" or
                            c.resp_p == config.ndmp_port else (c.orig_h, c.resp_h))
    in_range = {pair: Pool([c for c in pool.conns if config.in_media_range(c.resp_p)],
                           endpoints.claimed) for pair, pool in pools.items()}
    # Per session: (opened, callback window end, deadline); sessions by host pair.
    window: dict[str, tuple[float, float, float]] = {}
    members: dict[Hashable, list[int]] = defaultdict(list)
    for index, session in enumerate(sessions):
        control = control_of[session.id]
        end = end_of(control) + CALLBACK_SLACK_SECONDS
        deadline = min((by_uid[uid].ts for uid in session.data_connections), default=end)
        window[session.id] = (control.ts, end, deadline)
        members[(session.remote_agent, session.media_server)].append(index)

    def assign(session: Session, conn: Connection) -> None:
        session.callback_uid = conn.uid
        claim(endpoints, conn, session, "callback")

    for in_range_only in (True, False):
        for pair, indexes in members.items():
            if pair not in pools:
                continue
            offered = in_range[pair] if in_range_only else pools[pair]
            waiting = sorted((i for i in indexes if sessions[i].callback_uid is None),
                             key=lambda i: window[sessions[i].id][0])
            # Open sessions by (deadline, order); one that has its callback, or whose
            # window or deadline passed, never takes another: dropped when met on top.
            heap: list[tuple[float, int]] = []
            added = 0
            for conn in offered.each(float("-inf"), float("inf")):
                while added < len(waiting) and window[sessions[waiting[added]].id][0] <= conn.ts:
                    index = waiting[added]
                    heapq.heappush(heap, (window[sessions[index].id][2], index))
                    added += 1
                while heap:
                    Work.steps += 1
                    deadline, index = heap[0]
                    session = sessions[index]
                    if session.callback_uid is None and conn.ts <= min(deadline,
                                                                       window[session.id][1]):
                        assign(session, conn)
                        break
                    heapq.heappop(heap)
    for session in sessions:
        # A control connection open before the capture may have been called back before
        # its first captured packet: a callback seen with its SYN (so its direction is
        # known) from the capture's start on.
        pair = (session.remote_agent, session.media_server)
        control = control_of[session.id]
        if session.callback_uid is None and pair in pools and \
                connection_outcome(control) == "midstream":
            early = next((c for pool in (in_range[pair], pools[pair])
                          for c in pool.each(float("-inf"), control.ts)
                          if connection_outcome(c) != "midstream"), None)
            if early is not None:
                assign(session, early)
    for session in sessions:  # late callbacks: attached, and judged out of order
        pair = (session.remote_agent, session.media_server)
        if session.callback_uid is None and pair in pools:
            opened, end, _ = window[session.id]
            late = in_range[pair].first(opened, end) or pools[pair].first(opened, end)
            if late is not None:
                assign(session, late)


def attach_by_ports(sessions: list[Session], control_of: dict[str, Connection],
                    streams: dict[str, NdmpStream], ordered: list[Connection],
                    endpoints: Endpoints, config: Config, profile: Profile) -> None:
    """Data connections of announcements the snap length cut, by direction and ports.

    Candidates run between the session's media server and agent, start after the cut
    message and before the control connection ended, avoid the NDMP port and anything
    already explained; backup-exec-9 (the media server connects) also needs the media
    server as originator and a destination in the agent range. One connection (and its
    retries) per cut message; every candidate when no message could be read at all.
    """
    fits: dict[Hashable, Pool] | None = None
    retries: dict[Hashable, Pool] = {}
    for session in sessions:
        control = control_of[session.id]
        lossy = bool(control.missed_bytes) and session.kind != "browse"
        if session.announced and not lossy:
            continue
        cut = cut_announcements(streams.get(session.control_uid))
        reason = "snap_length"
        if session.announced:
            # Some announcements were read, others may be among the bytes the sniffer
            # lost (a ring file missing from the set): what they did not explain is
            # matched by direction and ports.
            cut, reason = None, "capture_loss"
        elif cut == [] and one_sided(control) is not None:
            # The capture lacks a direction of the control connection: the announcing
            # message may be in it, so the data connections are matched as if it were cut.
            cut, reason = None, "one_direction"
        elif cut == [] and control.missed_bytes and session.kind != "browse":
            # The sniffer lost part of the control stream of a backup or restore: the
            # announcing message may be among the lost bytes.
            cut, reason = None, "capture_loss"
        if cut == []:
            continue
        if fits is None:  # built once, for the first session that needs it
            fits = endpoints.pools(ordered, lambda c: _profile_key(c, config, profile))
            retries = endpoints.pools(
                ordered, lambda c: None if _profile_key(c, config, profile) is None
                else (c.orig_h, c.resp_h, c.resp_p))
        pool = fits.get(_session_key(session, profile))
        # While the control connection lasts, no slack: the next job's session may open
        # its data connection right after this one closed.
        end = end_of(control)
        session.match_reason = reason
        if cut is None:
            for conn in pool.each(control.ts, end) if pool else ():
                claim(endpoints, conn, session, "data")
                session.port_matched.append(conn.uid)
            continue
        for message in cut:
            conn = pool.first(message.ts, end) if pool else None
            session.cut_announcements.append((message.frame, message.name,
                                              conn.uid if conn else ""))
            while conn is not None:
                claim(endpoints, conn, session, "data")
                session.port_matched.append(conn.uid)
                if not is_failed(conn):
                    break
                # A connector whose SYNs fail retries from a new source port.
                conn = retries[(conn.orig_h, conn.resp_h, conn.resp_p)].first(conn.ts, end)


def attach_started_before_capture(sessions: list[Session], control_of: dict[str, Connection],
                                  streams: dict[str, NdmpStream], ordered: list[Connection],
                                  endpoints: Endpoints, config: Config, profile: Profile) -> None:
    """A capture that starts in the middle of a job misses the announcements made before
    it: a session whose control connection was already open takes the unexplained
    connections between its two hosts, by the profile's direction and ports, that were
    open too (no SYN seen) or opened before the capture shows its control stream (the
    first decoded NDMP message; without one, the control connection's first captured
    packet), with their retries from new source ports. A connection that opens later is
    announced in the capture, so it is not taken here."""
    midstream = [s for s in sessions
                 if connection_outcome(control_of[s.id]) == "midstream"]
    if not midstream:
        return
    # Pools by (opened in the capture, host pair): each session walks only what it takes.
    pools = endpoints.pools(ordered, lambda c: None if (key := _profile_key(
        c, config, profile)) is None else (connection_outcome(c) != "midstream", key))
    retries: dict[Hashable, Pool] | None = None
    for session in midstream:
        control = control_of[session.id]
        stream = streams.get(session.control_uid)
        seen_from = stream.messages[0].ts if stream and stream.messages else control.ts
        pair = _session_key(session, profile)
        running, opened = pools.get((False, pair)), pools.get((True, pair))
        for conn in [*(running.each(float("-inf"), end_of(control)) if running else ()),
                     *(opened.each(float("-inf"), seen_from) if opened else ())]:
            if conn.uid in endpoints.claimed:
                continue  # a retry taken with an earlier attempt
            while conn is not None:
                claim(endpoints, conn, session, "data")
                session.port_matched.append(conn.uid)
                if not is_failed(conn):
                    break
                # A connector whose SYNs fail retries from a new source port.
                if retries is None:
                    retries = endpoints.pools(
                        ordered, lambda c: None if _profile_key(c, config, profile) is None
                        else (c.orig_h, c.resp_h, c.resp_p))
                same = retries.get((conn.orig_h, conn.resp_h, conn.resp_p))
                conn = same.first(conn.ts, end_of(control)) if same else None
        if session.port_matched and not session.match_reason:
            session.match_reason = "capture_start"


def _profile_key(conn: Connection, config: Config, profile: Profile) -> Hashable:
    """The host pair under which a connection could be a session's data connection, by
    the profile's direction and ports (None: no session's); see _session_key."""
    if conn.role == "control" or config.ndmp_port in (conn.resp_p, conn.orig_p):
        return None
    if profile.connector == "media_server":
        # The media server connects, to a port in the agent range.
        return (conn.orig_h, conn.resp_h) if config.in_agent_range(conn.resp_p) else None
    return tuple(sorted((conn.orig_h, conn.resp_h)))  # either host may connect


def _session_key(session: Session, profile: Profile) -> Hashable:
    if profile.connector == "media_server":
        return (session.media_server, session.remote_agent)
    return tuple(sorted((session.media_server, session.remote_agent)))
