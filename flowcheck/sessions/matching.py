"""Which connections each session explains: its announced data connections and its
callback.

Announced connections are taken from flowcheck.sessions.pools (the first unclaimed
connection to an endpoint at or after some time); callbacks are handed out by a sweep
over time with a heap of open sessions (flowcheck.sessions.callback_sweep, re-exported
here), so the cost grows as n log n with the sessions and connections between one pair
of hosts (issue 7). Connections of announcements the capture cannot show are matched by
direction and ports in flowcheck.sessions.by_ports.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping

from flowcheck.model import Announcement, Connection, Session
from flowcheck.sessions.callback_sweep import CALLBACK_SLACK_SECONDS, attach_callbacks
from flowcheck.sessions.classify import (
    announcement_groups,
    connection_outcome,
    connector_host,
    is_failed,
    listener_host,
)
from flowcheck.sessions.clock_apart import LagProof, lag_allowed
from flowcheck.sessions.file_order import END, TIME_ORDER, FileOrder, Moment
from flowcheck.sessions.lifetimes import Lifetimes, lifetimes, session_span
from flowcheck.sessions.local import other_version, wire_forms
from flowcheck.sessions.pools import Endpoints, Pool, Work, claim

__all__ = ["ANNOUNCEMENT_JITTER_SECONDS", "CALLBACK_SLACK_SECONDS", "Endpoints", "Pool",
           "Work", "attach_callbacks", "attach_data", "claim"]

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
    side; else one whose handshake the sniffer lost, first seen by the listener's packet
    from the announced port (trial 25 D1). Each, and each retry of a failed one, only
    while the session runs: opened by its control connection's end (seen closing) and
    CALLBACK_SLACK_SECONDS after (review58e for the lost handshake, newuser59 for every
    path: a failed job's retries took a job's data connection five days on). A
    connection whose opening the capture lacks is taken only before the endpoint's next
    announcement by another session that may own it (note56 Left 3).

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
    # The same with the announcing session's id, its connector there (connector_host)
    # and the address its listener is reached at behind a NAT (listener_host), for the
    # next announcement by another session (next_by_other).
    announcers: dict[tuple[str, int], list[tuple[Moment, str, str, str]]] = defaultdict(list)
    for ts, session, group in pending:
        for endpoint in {(a.ip, a.port) for a in group}:
            announced_at[endpoint].append(order.moment(group[0].frame, ts))
        for a in group:
            announcers[(a.ip, a.port)].append((order.moment(a.frame, a.ts), session.id,
                                               connector_host(a, control_of[session.id]),
                                               listener_host(a, control_of[session.id])))
    for times in announced_at.values():
        times.sort()
    for named in announcers.values():
        named.sort()
    # By the side that connects: DATA_LISTEN's connector is a media server, MOVER_LISTEN's
    # an agent.
    sighted = [s for s in sessions if not blind(s, control_of[s.id])]
    alive = {"data": lifetimes(sighted, control_of, hold, "media_server", order),
             "mover": lifetimes(sighted, control_of, hold, "remote_agent", order)}
    by_connector = {kind: endpoints.by_connector(hosts) for kind, hosts in alive.items()}
    # When each session may have a data connection: one opens while its job runs, so one
    # opened (its first packet) after the session's control connection ended (plus
    # CALLBACK_SLACK_SECONDS) is not the job's, whatever endpoint or port it shares, on
    # every path below (review58e: the agent's own connection from the announced port to
    # a third host 2 min after the job, its handshake lost, took a failed job's
    # DATA_LISTEN and read PASS; newuser59: a failed job's retry chain took a job's data
    # connection five days later, its announcement in the direction the capture lacked).
    running = Lifetimes(((s.id, session_span(control_of[s.id], CALLBACK_SLACK_SECONDS,
                                             order)) for s in sessions), order)

    def runs(session: Session, conn: Connection) -> bool:
        """Did `conn` open while `session` ran (its control connection's life, to its end
        and CALLBACK_SLACK_SECONDS after)?"""
        return running.alive_at(session.id, conn.ts, conn.first_frame)

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
    # The same, but only connections whose opening the capture holds: one open before
    # the capture (no SYN or SYN-ACK in it; a keepalive of an earlier job's connection to
    # the endpoint) after the announcement does not take it from one whose SYN follows.
    opened_by_connector = {kind: Pool.opened_only(pools) for kind, pools
                           in by_connector.items()}

    def first_from(session: Session, ann: Announcement, ip: str, after: Moment,
                   frame: int, until: Moment = END) -> Connection | None:
        """The first unclaimed connection to ip:ann.port from the moment `after` on (or
        written after `frame`) whose connector may be the session's, opened while the
        session runs (runs): one whose opening the capture holds, opened before `until`
        (the endpoint's next announcement), else the first of any opened before the
        announced endpoint's (ann.ip:ann.port, whatever address ip it is reached at)
        next announcement by another session that connection could be (next_by_other;
        note56 Left 3: a fallback with no limit there let an earlier announcement take a
        later job's connection; boundfix: looked up under ip, the NAT's address or the
        IPv4-mapped form no session announces, it had none)."""
        control = control_of[session.id]
        for pools in (opened_by_connector[ann.listener], by_connector[ann.listener]):
            found = [conn for connector in (connector_host(ann, control), None)
                     for form in wire_forms(ip)
                     if (pool := pools.get((form, ann.port, connector))) is not None
                     and (conn := pool.first_following(after, frame)) is not None
                     and order.began(conn) < (
                         next_by_other((ann.ip, ann.port), after, session.id, connector,
                                       ip)
                         if pools is by_connector[ann.listener] else until)
                     and runs(session, conn)]
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

    def next_by_other(endpoint: tuple[str, int], moment: Moment, session_id: str,
                      connector: str | None, reached: str) -> Moment:
        """When another session than `session_id` next announces `endpoint` after the
        moment (END: never) whose connection could be the one sought: any other's for
        a connector no session uses there (None), else only one whose own connector is
        that host too (a connection of the session's own connector host is its own
        whatever other host's job announces the endpoint: two agents behind one NAT).
        `reached`: the address the connection reached the endpoint at; another's
        announcement counts only when its listener is reached there too (the announced
        address, or its control address: review58m, two agents behind two NATs both
        announcing 192.168.9.5:6001, the second's bound the first's connection to the
        first NAT's address and that job lost its data connection)."""
        named = announcers.get(endpoint, [])
        at = bisect_right(named, (moment, "\uffff", "\uffff", "\uffff"))
        return next((when for when, by, host, listener in named[at:] if by != session_id
                     and connector in (None, host) and reached in (endpoint[0], listener)),
                    END)

    def earliest(candidates: list[tuple[Connection, Announcement]]
                 ) -> list[tuple[Connection, Announcement]]:
        """The candidate (connection, announcement) whose connection opened first, the
        one claimed, in a list ([] for none): the one whose address a NAT rewrote
        (Session.address_matched; review58e: a later connection from the announced
        address, its handshake lost too, was noted instead and the mismatch went
        unreported, PASS)."""
        return [min(candidates, key=lambda item: order.opened(item[0]))] if candidates \
            else []

    for ts, session, group in pending:
        control = control_of[session.id]
        frame = group[0].frame
        now = order.moment(frame, ts)
        candidates = [(conn, ann) for ann in group
                      if (conn := first_from(session, ann, ann.ip,
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
                (conn := first_from(session, ann, host,
                                    order.moment(frame, ts - lag(ann, control)), frame,
                                    next_announced(ann, now)))
                is not None]
            for conn, ann in earliest(candidates):
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
            # Its opening not captured, only before the announced endpoint's next
            # announcement by another session it could be, as first_from's fallback
            # (boundfix: bounded by `runs` alone, a job whose close the capture lacks
            # took a later job's).
            candidates = [
                (conn, ann) for ann in group
                for host in dict.fromkeys((ann.ip, listener_host(ann, control)))
                for connector in (connector_host(ann, control), None)
                if (pool := unseen_opening[ann.listener].get(
                    (host, ann.port, connector))) is not None
                and (conn := pool.first_following(now, frame)) is not None
                and order.began(conn) < next_by_other((ann.ip, ann.port), now, session.id,
                                                      connector, host)
                and runs(session, conn)]
            for conn, ann in earliest(candidates):
                if conn.orig_h != ann.ip and ann.ip != "0.0.0.0" \
                        and not other_version(ann.ip, conn.orig_h):
                    session.address_matched.append((conn.uid, ann.ip))
        if not candidates:
            continue
        [(conn, ann)] = earliest(candidates)
        ann.used_by = conn.uid
        claim(endpoints, conn, session, "data")
        # A connector whose SYNs fail retries from a new source port: same expectation,
        # until a later announcement of the same endpoint takes over.
        until = next_announced(ann, now)
        while is_failed(conn):
            retry = endpoints.first_after(conn.resp_h, ann.port, order.began(conn))
            if retry is None or order.began(retry) >= until or retry.orig_h != conn.orig_h \
                    or not runs(session, retry):
                break
            claim(endpoints, retry, session, "data")
            conn = retry


def blind(session: Session, control: Connection) -> bool:
    """Can the capture show none of the session's announcements: its control connection
    was open before the capture (no opening in it) and no announcement was read?"""
    return not session.announced and connection_outcome(control) == "midstream"
