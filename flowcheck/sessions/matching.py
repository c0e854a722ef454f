"""Which connections each session explains: its announced data connections and its
callback.

Announced connections are taken from flowcheck.sessions.pools (the first unclaimed
connection to an endpoint at or after some time); callbacks are handed out by a sweep
over time with a heap of open sessions, so the cost grows as n log n with the sessions
and connections between one pair of hosts (issue 7). Connections of announcements the
capture cannot show are matched by direction and ports in flowcheck.sessions.by_ports.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Hashable, Mapping

from flowcheck.config import Config
from flowcheck.model import Announcement, Connection, Session
from flowcheck.sessions.callback_opened import prefer_opened, streamed_one_way
from flowcheck.sessions.classify import (
    announcement_groups,
    asked_nothing,
    connection_outcome,
    connector_host,
    end_of,
    is_failed,
    listener_host,
)
from flowcheck.sessions.clock_apart import LagProof, lag_allowed
from flowcheck.sessions.file_order import BEGINNING, END, TIME_ORDER, FileOrder, Moment
from flowcheck.sessions.lifetimes import Lifetimes, lifetimes, session_span
from flowcheck.sessions.local import other_version, wire_forms
from flowcheck.sessions.pools import Endpoints, Pool, Work, claim

__all__ = ["ANNOUNCEMENT_JITTER_SECONDS", "CALLBACK_SLACK_SECONDS", "Endpoints", "Pool",
           "Work", "attach_callbacks", "attach_data", "claim"]

# A callback opened this long after the control connection ended is not its callback.
CALLBACK_SLACK_SECONDS = 1.0
# Where an event is in the order the callbacks' sweep goes: (its frame) in the file's
# order (FileOrder.frames), else its moment ((clock epoch, s): FileOrder.moment).
Place = tuple[float, ...]
# A connection to exactly an announced endpoint may be timestamped up to this long before
# the announcement and still follow it: a capture merged from two interfaces (mergecap,
# tcpdump -i any) stamps each side on its own NIC queue and interrupt (coalescing holds
# packets up to about 1 ms), and a SPAN port queues its copies behind the mirrored
# traffic; both reorder packets by microseconds to a millisecond or two. 5 ms covers that
# and stays far below the 1 s a connector waits before retrying a SYN (RFC 6298).
ANNOUNCEMENT_JITTER_SECONDS = 0.005


def attach_data(sessions: list[Session], endpoints: Endpoints,
                control_of: dict[str, Connection], order: FileOrder = TIME_ORDER, *,
                clock_lags: Mapping[tuple[str, str], LagProof], hold: float = 60.0) -> None:
    """Each expectation claims the next connection to one of its endpoints, from
    ANNOUNCEMENT_JITTER_SECONDS before it on or (order.by_frame) written after it, whatever
    its time (a clock set back: flowcheck.sessions.file_order); else, under NAT, the next
    to its port at the listener's control address; opened by the session's own host on
    the side told to connect (connector_host) or by an address no session uses on that
    side.

    Another session's host never takes the announcement: with two jobs at once, one
    agent may announce the very endpoint (ip:port) that the other job's agent announced
    too (NAT, or both listening on one address), and each job's connection belongs to
    the job whose media server (or agent) opened it. Except a session whose
    announcements the capture cannot show (its control connection open before the
    capture, no announcement read: `blind`): its host counts as one no session uses, so
    a connection it opened to exactly another session's announced endpoint after that
    announcement is the announcing session's, not taken by direction and ports for the
    blind one later (flowcheck.sessions.by_ports; trial 31 D2: the post-NAT copy of the
    job's control connection, its start not captured, took the job's data connection).

    Another session's host is one only while that session lives (sessions.lifetimes:
    its control connection, to its end and `hold` seconds after, the configured
    port_hold_seconds): a capture set of two jobs apart in time (a night's capture, two
    files merged) lets neither hide the other's connections (mergedsets).

    clock_lags: the capture's lag proofs over every connection, (host behind, host
    ahead) -> LagProof (sessions.clock_apart.lag_proofs; the pipeline's,
    pipeline.Traffic.clock_lags), read for how far a connector's stamps may be behind."""
    pending = [(group[0].ts, session, group) for session in sessions
               for group in announcement_groups(session.announced)]
    pending.sort(key=lambda item: order.key(item[2][0].frame, item[0]))
    # When each endpoint was announced: moments of the capture's time order (its clock
    # epoch, s: FileOrder.moment), sorted.
    announced_at: dict[tuple[str, int], list[Moment]] = defaultdict(list)
    for ts, _, group in pending:
        for endpoint in {(a.ip, a.port) for a in group}:
            announced_at[endpoint].append(order.moment(group[0].frame, ts))
    for times in announced_at.values():
        times.sort()
    # By the side that connects: DATA_LISTEN's connector is a media server, MOVER_LISTEN's
    # an agent.
    sighted = [s for s in sessions if not blind(s, control_of[s.id])]
    alive = {"data": lifetimes(sighted, control_of, hold, "media_server", order),
             "mover": lifetimes(sighted, control_of, hold, "remote_agent", order)}
    by_connector = {kind: endpoints.by_connector(hosts) for kind, hosts in alive.items()}
    # Connections whose handshake the sniffer lost, by their first captured packet's
    # sender (ip, port) and its peer, the connector as in by_connector (None: an
    # address no session uses on that side, the IPv4 address of a media server whose
    # control connection runs over IPv6: newuser58): the listener's first packet makes
    # the listener their originator (trial 25 D1).
    midstream = [c for c in endpoints.connections() if connection_outcome(c) == "midstream"]
    unseen_opening = {kind: endpoints.pools(midstream, lambda c, hosts=hosts: (
        c.orig_h, c.orig_p,
        c.resp_h if hosts.alive_at(c.resp_h, c.ts, c.first_frame) else None))
        for kind, hosts in alive.items()}
    # When each session may have such a connection: a data connection opens while its
    # job runs, so one first seen after the session's control connection ended (plus
    # CALLBACK_SLACK_SECONDS) is not the job's, whatever port it shares (review58e: the
    # agent's outgoing HTTPS connection from the announced port 2 min after the job,
    # its handshake lost, took a failed job's DATA_LISTEN and read PASS).
    running = Lifetimes(((s.id, session_span(control_of[s.id], CALLBACK_SLACK_SECONDS,
                                             order)) for s in sessions), order)

    # The same, but only connections whose opening the capture holds: one open before
    # the capture (no SYN or SYN-ACK in it; a keepalive of an earlier job's connection to
    # the endpoint) after the announcement does not take it from one whose SYN follows.
    opened_by_connector = {kind: Pool.opened_only(pools) for kind, pools
                           in by_connector.items()}

    def first_from(ann: Announcement, control: Connection, ip: str, after: Moment,
                   frame: int, until: Moment = END) -> Connection | None:
        """The first unclaimed connection to ip:ann.port from the moment `after` on (or
        written after `frame`) whose connector may be the session's: one whose opening
        the capture holds, opened before `until` (the endpoint's next announcement), else
        the first of any."""
        for pools in (opened_by_connector[ann.listener], by_connector[ann.listener]):
            found = [conn for connector in (connector_host(ann, control), None)
                     for form in wire_forms(ip)
                     if (pool := pools.get((form, ann.port, connector))) is not None
                     and (conn := pool.first_following(after, frame)) is not None
                     and (pools is by_connector[ann.listener]
                          or order.began(conn) < until)]
            if found:
                return min(found, key=order.opened)
        return None

    # Hosts whose packets the capture stamps behind their peer's (two hosts' own
    # captures merged, their clocks apart: flowcheck.sessions.clock_apart): a connector's
    # SYN on its clock may be stamped up to the lag's upper bound before the announcement
    # on the sender's (the lag proven is its least: a proof by the connector's data before
    # the SYN-ACK falls short of it by the time from that SYN-ACK to the data, 5.5 ms in
    # ndmjob's v4 backup; its least when nothing bounds it from above). The proofs over
    # every connection: the controls and the endpoints together are every one
    # (build_sessions), found once per analysis.
    def lag(ann: Announcement, control: Connection) -> float:
        """How far the connector's stamps may be behind the announcing message's
        sender's (listener_host: the LISTEN reply's server, the CONNECT request's DMA):
        the upper bound of the lag the capture proves, 0 when it proves none."""
        return lag_allowed(clock_lags, (connector_host(ann, control),),
                           (listener_host(ann, control),))

    def next_announced(ann: Announcement, moment: Moment) -> Moment:
        """When ann's endpoint is announced next after the moment (END: never)."""
        times = announced_at[(ann.ip, ann.port)]
        following = bisect_right(times, moment)
        return times[following] if following < len(times) else END

    for ts, session, group in pending:
        control = control_of[session.id]
        frame = group[0].frame
        now = order.moment(frame, ts)
        candidates = [(conn, ann) for ann in group
                      if (conn := first_from(ann, control, ann.ip,
                                             order.moment(frame, ts
                                                          - ANNOUNCEMENT_JITTER_SECONDS
                                                          - lag(ann, control)), frame,
                                             next_announced(ann, now)))
                      is not None]
        if not candidates:
            # Nobody reached the announced address, but the announced port was reached
            # at the address the control connection used for that host: a NAT rewrote
            # it (the announcement inside the NDMP message was not translated), or the
            # connector took the unspecified address 0.0.0.0 for that one, or an IPv4
            # address beside a control connection over IPv6 (NDMP v4 announces IPv4
            # only: the connector reached the port over the control connection's IPv6).
            # (Two clocks apart: from the lag's upper bound before it, as above, without
            # the jitter the address-matched window keeps; lab/announced-address-nat
            # merged with the agent's clock 0.5 s ahead read capture_filtered.)
            candidates = [
                (conn, ann) for ann in group
                if (host := listener_host(ann, control)) != ann.ip and
                (conn := first_from(ann, control, host,
                                    order.moment(frame, ts - lag(ann, control)), frame,
                                    next_announced(ann, now)))
                is not None]
            for conn, ann in candidates[:1]:
                # No NAT rewrites 0.0.0.0, nor IPv4 into IPv6: the connector's own choice.
                if ann.ip != "0.0.0.0" and not other_version(ann.ip, conn.resp_h):
                    session.address_matched.append((conn.uid, ann.ip))
        if not candidates:
            # The sniffer lost the handshake and the listener sent the first packet the
            # capture holds (the agent's backup data): its originator is the announced
            # endpoint, its peer the session's connector (trial 25 D1); else, as above,
            # the listener's control address (NAT, 0.0.0.0, or the IPv4 announcement of
            # a job whose control connection runs over IPv6: newuser58's allv6-wire with
            # its data handshake lost read capture_filtered, "no connection to it").
            candidates = [
                (conn, ann) for ann in group
                for host in dict.fromkeys((ann.ip, listener_host(ann, control)))
                for connector in (connector_host(ann, control), None)
                if (pool := unseen_opening[ann.listener].get(
                    (host, ann.port, connector))) is not None
                and (conn := pool.first_following(now, frame)) is not None
                and running.alive_at(session.id, conn.ts, conn.first_frame)]
            for conn, ann in candidates[:1]:
                if conn.orig_h != ann.ip and ann.ip != "0.0.0.0" \
                        and not other_version(ann.ip, conn.orig_h):
                    session.address_matched.append((conn.uid, ann.ip))
        if not candidates:
            continue
        conn, ann = min(candidates, key=lambda item: order.opened(item[0]))
        ann.used_by = conn.uid
        claim(endpoints, conn, session, "data")
        # A connector whose SYNs fail retries from a new source port: same expectation,
        # until a later announcement of the same endpoint takes over.
        until = next_announced(ann, now)
        while is_failed(conn):
            retry = endpoints.first_after(conn.resp_h, ann.port, order.began(conn))
            if retry is None or order.began(retry) >= until or retry.orig_h != conn.orig_h:
                break
            claim(endpoints, retry, session, "data")
            conn = retry


def blind(session: Session, control: Connection) -> bool:
    """Can the capture show none of the session's announcements: its control connection
    was open before the capture (no opening in it) and no announcement was read?"""
    return not session.announced and connection_outcome(control) == "midstream"


def attach_callbacks(sessions: list[Session], control_of: dict[str, Connection],
                     ordered: list[Connection], by_uid: dict[str, Connection],
                     endpoints: Endpoints, config: Config, order: FileOrder = TIME_ORDER,
                     anchors: Mapping[str, tuple[int, float]] | None = None) -> None:
    """Each session's callback: an agent -> media server connection (not to the NDMP
    port) opened while its control connection was open.

    Sessions can overlap (two jobs to one agent), so callbacks are handed out earliest
    deadline first: in time order, each goes to the open session whose data connection
    (or end) comes soonest, the earlier session on a tie. A greedy choice per session
    would cross two callbacks when the first job's comes late. A destination in the media
    range is preferred; failing that, a connection to another port is still the callback
    (verify reports port_outside_media_range). A callback found only after the session's
    data connection is still attached, so verify reports it out of order. A session that
    asked nothing (asked_nothing: a port check) takes none, and a connection open before
    the capture that carries a stream one way (callback_opened.streamed_one_way: a data
    connection joined late, review58a) is no callback. Last, a
    session still without one takes a connection from its agent to a configured media
    server address no session's control connection came from (another interface of its
    media server, or a control connection that left through source NAT). With
    order.frames the file's order says what opened after what (a clock set back:
    flowcheck.sessions.file_order): a callback written after its control connection
    opened and before its data connection is in its window, whatever its time.

    The sweep first starts each session at its anchor (anchors: session id -> (frame,
    seconds) of the media server's vendor message naming the job engine, which Backup
    Exec's callback follows: flow-model.md; sessions.callback_elsewhere.vendor_anchor),
    in the media range; then at its control connection's opening, in the media range;
    then to any port. Last, a callback whose opening the capture lacks (a keepalive or an
    ACK of a connection open before the capture, or the callback whose handshake the
    sniffer lost) gives way to an unclaimed connection whose opening the capture holds,
    opened in the session's window after its anchor, into the media range (to any port
    when the one it holds is outside it): sessions.callback_opened (review56e's keepalive).
    """
    # A session whose media server asked nothing is due no callback (trial 25: in a
    # capture of the media server's packets alone a port check before the job took the
    # job's callback, its data connection matched by ports only later).
    sessions = [s for s in sessions if not asked_nothing(control_of[s.id])]
    # A data stream open before the capture is no callback (streamed_one_way: review58a).
    pools = endpoints.pools(ordered, lambda c: None if c.role == "control" or
                            c.resp_p == config.ndmp_port or streamed_one_way(c)
                            else (c.orig_h, c.resp_h))
    in_range = {pair: pool.only(lambda c: config.in_media_range(c.resp_p))
                for pair, pool in pools.items()}
    # The same, but connections whose opening the capture holds (a SYN or SYN-ACK):
    # one open before the capture (no opening in it, its first packet a keepalive or an
    # ACK during the job) is a callback only when no opened one fits (review56e: a
    # 10.77.0.2:7000 -> 10.77.0.1:5050 keepalive took the job's callback from the
    # connection whose SYN followed the vendor message, read port_outside_agent_range).
    opened_pools = {kind: Pool.opened_only(by_pair)
                    for kind, by_pair in (("in_range", in_range), ("any", pools))}
    # Per session: (opened, callback window end, deadline), moments of the capture's time
    # order ((clock epoch, s): FileOrder.moment), and where it opened and its deadline in
    # the order the sweep goes (`at`); sessions by host pair.
    window: dict[str, tuple[Moment, Moment, Moment]] = {}
    sweep: dict[str, tuple[Place, Place]] = {}
    # Per session: its control and data connections are in the file's order
    # (FileOrder.by_frame: none written out of time order).
    by_frame: dict[str, bool] = {}
    members: dict[Hashable, list[int]] = defaultdict(list)

    def at(conn: Connection) -> Place:
        """Where a connection opened: (its first frame) (order.frames), else its moment."""
        return (conn.first_frame,) if order.frames else order.began(conn)

    for index, session in enumerate(sessions):
        control = control_of[session.id]
        end = order.moment(control.last_frame, end_of(control) + CALLBACK_SLACK_SECONDS)
        data = [by_uid[uid] for uid in session.data_connections]
        deadline = min((order.began(c) for c in data), default=end)
        window[session.id] = (order.began(control), end, deadline)
        by_frame[session.id] = order.by_frame(control.first_frame, control.last_frame,
                                              *(c.first_frame for c in data))
        sweep[session.id] = (((control.first_frame,), (min((c.first_frame for c in data),
                                                            default=control.last_frame),))
                             if order.frames else (order.began(control), deadline))
        members[(session.remote_agent, session.media_server)].append(index)

    def fits(session: Session, conn: Connection) -> bool:
        """Did conn open in the session's window, before its first data connection?"""
        _, end, deadline = window[session.id]
        if not (by_frame[session.id] and order.by_frame(conn.first_frame)):
            return order.began(conn) <= min(deadline, end)
        return conn.first_frame <= sweep[session.id][1][0] and \
            order.open_at(conn, control_of[session.id], end[1])

    def first_in(pool: Pool, session: Session) -> Connection | None:
        """The pool's first unclaimed connection opened in the session's window."""
        opened, end, _ = window[session.id]
        control = control_of[session.id]
        found = [c for c in (pool.first(opened, end), pool.first_written(control.first_frame)
                             if order.by_frame(control.first_frame) else None)
                 if c is not None and order.open_at(c, control, end[1])]
        return min(found, key=order.opened, default=None)

    def assign(session: Session, conn: Connection) -> None:
        session.callback_uid = conn.uid
        claim(endpoints, conn, session, "callback")

    # Where each session's sweep starts in the first pass: its anchor (the vendor
    # message), in the order the sweep goes; its control connection's opening in others.
    anchored = {session.id: max(sweep[session.id][0], (anchor[0],) if order.frames
                                else order.moment(*anchor))
                for session in sessions
                if (anchor := (anchors or {}).get(session.id)) is not None}

    def start(index: int, first: bool) -> Place:
        """Where session `index`'s sweep starts in this pass (`first`: the anchored)."""
        session_id = sessions[index].id
        return anchored.get(session_id, sweep[session_id][0]) if first \
            else sweep[session_id][0]

    # After the anchor in the media range, from the control connection's opening in the
    # media range, to any port. Not opened connections first over every session: one
    # whose callback's handshake the sniffer lost then took an opened connection to
    # another port (an SSH session: port_outside_media_range), or another job's callback
    # opened in its window (review56j); callback_opened.prefer_opened trades a connection
    # without its opening for an opened one once every session has had its turn.
    passes = (in_range, pools)
    # Per host pair, the pool its last pass from the openings walked: in time order one
    # again over that very pool (Pool.only: all in the media range) gives nothing new, a
    # connection left fitting no open session and windows only closing (issue 7).
    walked: dict[Hashable, Pool] = {}
    for number, offering in enumerate((in_range, *passes)):
        first = number == 0 and bool(anchored)
        if number == 0 and not first:
            continue
        for pair, indexes in members.items():
            offered = offering.get(pair)
            if offered is None:
                continue
            waiting = sorted((i for i in indexes if sessions[i].callback_uid is None),
                             key=lambda i: start(i, first))
            if not waiting:
                continue  # every session of the pair has its callback: nothing to walk
            # An anchored pass whose starts are all the openings (no vendor message
            # after them) is a pass from the openings too.
            shifted = first and any(start(i, True) != start(i, False) for i in waiting)
            if not order.frames and not shifted and walked.get(pair) is offered:
                continue
            if not shifted:
                walked[pair] = offered
            # Open sessions by (deadline, order); one that has its callback, or whose
            # window or deadline passed, never takes another: dropped when met on top.
            heap: list[tuple[float, int]] = []
            added = 0
            # From the first waiting session's start (by frames every connection, sorted),
            # no further once every session has left the heap (issue 7).
            offers = offered.each(BEGINNING if order.frames
                                  else start(waiting[0], first), END)
            for conn in sorted(offers, key=order.opened) if order.frames else offers:
                if added == len(waiting) and not heap:
                    break
                while added < len(waiting) and start(waiting[added], first) <= at(conn):
                    index = waiting[added]
                    heapq.heappush(heap, (sweep[sessions[index].id][1], index))
                    added += 1
                while heap:
                    Work.steps += 1
                    _, index = heap[0]
                    session = sessions[index]
                    if session.callback_uid is None and fits(session, conn):
                        assign(session, conn)
                        heapq.heappop(heap)  # it has its callback: never another
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
                          for c in pool.each(BEGINNING, order.began(control))
                          if connection_outcome(c) != "midstream"), None)
            if early is not None:
                assign(session, early)
    for session in sessions:  # late callbacks: attached, and judged out of order
        pair = (session.remote_agent, session.media_server)
        if session.callback_uid is None and pair in pools:
            late = next((c for offering in (*opened_pools.values(), *passes)
                         if pair in offering
                         and (c := first_in(offering[pair], session)) is not None), None)
            if late is not None:
                assign(session, late)
    # A callback to another address of the media server (a second interface, or a
    # control connection that left through source NAT): the job engine names its own
    # address. Taken only to a configured media server address no session's control
    # connection came from (the agent talks to other hosts too).
    spare = set(config.media_servers) - {s.media_server for s in sessions}
    for session in sessions:
        if session.callback_uid is not None or not spare:
            continue
        found = [c for (agent, media), pool in pools.items()
                 if agent == session.remote_agent and media in spare
                 and (c := first_in(pool, session)) is not None]
        if found:
            assign(session, min(found, key=lambda c: (not config.in_media_range(c.resp_p),
                                                      order.began(c), c.first_frame)))

    def opened_after_anchor(index: int, pool: Pool) -> Connection | None:
        """The pool's first unclaimed connection opened after session `index`'s anchor
        that fits its window (pools hold connections in time order; fits() ends there)."""
        session, begin = sessions[index], start(index, True)
        conn = pool.first_written(int(begin[0])) if order.frames else pool.first(begin)
        return conn if conn is not None and fits(session, conn) else None

    prefer_opened(sessions, by_uid, endpoints, config, opened_pools,
                   sorted(range(len(sessions)), key=lambda i: sweep[sessions[i].id][1]),
                   opened_after_anchor)

