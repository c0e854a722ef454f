"""Callbacks under another address than the control connection's (trial 19, D1, D5).

The agent calls the job engine back at the address the job engine names (in a vendor
message), from whichever address its own stack picks: that need not be the control
connection's pair of addresses. A NAT in front of the agent rewrites its source (the
callback comes from the NAT's address), a NAT in front of the media server leaves the
job engine naming its private address, a multi-homed media server's job engine may name
its other interface, and dual-stack hosts run the control connection over IPv6 beside an
IPv4 callback. flowcheck.sessions.matching looks only between the control connection's
two addresses (and configured media server addresses no session uses), so such a
callback stayed "other" and step 2 read as missing.

Here a session still without a callback takes a connection from a port in the agent
range into the media range, opened after its job engine's vendor message (else after
its control connection opened) and before its first data connection (else before its
callback window ends), whose two ends are each the session's own address on that side
(its control connection's, or an end of its data connections or of those of another
session with the same control address on that side: the same host) or an address no
session uses: the evidence data connections reached "under another address" are matched on
(docs/findings.md, "Whose connection"). Only when it is unambiguous: the session's
candidates are one connection (with its retries from new source ports: one originator,
responder and port) and no other waiting session could take them. With several jobs at
once calling back from one NAT address in overlapping windows, none is tied.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Mapping

from flowcheck.config import Config
from flowcheck.model import Connection, NdmpMessage, NdmpStream, Session
from flowcheck.ndmp.protocol import is_vendor_code
from flowcheck.sessions.callback_opened import streamed_one_way
from flowcheck.sessions.callback_sweep import CALLBACK_SLACK_SECONDS
from flowcheck.sessions.classify import (
    asked_nothing,
    connection_outcome,
    end_of,
    rst_only,
)
from flowcheck.sessions.clock_apart import LagProof, lag_allowed
from flowcheck.sessions.data_ends import conn_sides
from flowcheck.sessions.file_order import TIME_ORDER, FileOrder
from flowcheck.sessions.lifetimes import Lifetimes, session_span
from flowcheck.sessions.matching import ANNOUNCEMENT_JITTER_SECONDS, Endpoints, claim
from flowcheck.sessions.stack_addresses import config_pair

__all__ = ["attach_callbacks_elsewhere", "job_engine_message", "vendor_anchor"]


def attach_callbacks_elsewhere(sessions: list[Session], control_of: dict[str, Connection],
                               streams: dict[str, NdmpStream], ordered: list[Connection],
                               by_uid: dict[str, Connection], endpoints: Endpoints,
                               config: Config, order: FileOrder = TIME_ORDER, *,
                               clock_lags: Mapping[tuple[str, str], LagProof]) -> None:
    """Tie each session still without a callback to the one connection that can only be
    its callback under another address (see the module's words); sets
    Session.callback_elsewhere. Where order.by_frame, "after" and "before" are the file's
    order (flowcheck.sessions.file_order: a clock set back). clock_lags: the capture's lag
    proofs over every connection (sessions.clock_apart.lag_proofs, the pipeline's)."""
    waiting = [s for s in sessions if s.callback_uid is None
               and connection_outcome(control_of[s.id]) == "established"
               and not asked_nothing(control_of[s.id])]  # a port check is due none
    if not waiting:
        return
    candidates = [c for c in ordered if _candidate(c, config, endpoints)]
    if not candidates:
        return
    sides = _paired_sides(sessions, {s.id: _sides(s, by_uid) for s in sessions}, config)
    # Every address a session uses, while that session lives (sessions.lifetimes: two
    # jobs days apart in one capture set leave each other's addresses free, mergedsets).
    used = Lifetimes(((host, session_span(control_of[s.id], config.port_hold_seconds, order))
                      for s in sessions for host in sides[s.id][0] | sides[s.id][1]), order)
    # A host's addresses by its control connection address, over every session of it: two
    # jobs from one media server share its other address (field check 46: a dual-stack
    # job engine's IPv4 address, which the other job's data connections came from).
    hosts: dict[str, set[str]] = defaultdict(set)
    for s in sessions:
        hosts[f"m {s.media_server}"] |= sides[s.id][0]
        hosts[f"a {s.remote_agent}"] |= sides[s.id][1]
    # In the capture's time order: (clock epoch, s) where every stream stepped back at
    # once (FileOrder.moment; clockpools), as the pools and lifetimes compare them.
    candidates.sort(key=order.time_key)
    times = [order.began(c) for c in candidates]
    written = sorted(candidates, key=lambda c: c.first_frame) if order.frames else []
    frames = [c.first_frame for c in written]
    fits: dict[str, list[Connection]] = {}
    for session in waiting:
        control = control_of[session.id]
        media = hosts[f"m {session.media_server}"]
        agent = hosts[f"a {session.remote_agent}"]
        frame, ts = vendor_anchor(streams.get(session.control_uid), control)
        # The callback is stamped on the agent's clock, the anchor and the data
        # connections (the media server's) on the media server's: with the agent's proven
        # behind, its callback may be stamped that much before the anchor (field46's
        # dual-stack callbacks merged with the agent 0.5 s behind read step_missing).
        behind = lag_allowed(clock_lags, agent | {session.remote_agent},
                             media | {session.media_server})
        ahead = lag_allowed(clock_lags, media | {session.media_server},
                            agent | {session.remote_agent})
        start = ts - ANNOUNCEMENT_JITTER_SECONDS - behind
        data = [by_uid[uid] for uid in session.data_connections]
        end = ahead + min((c.ts for c in data),
                          default=end_of(control) + CALLBACK_SLACK_SECONDS)
        until = min((order.moment(c.first_frame, ahead + c.ts) for c in data), default=(
            order.moment(control.last_frame, end_of(control) + CALLBACK_SLACK_SECONDS)))
        if order.by_frame(control.first_frame, frame, *(c.first_frame for c in data)):
            # written after the control connection opened, before its data
            last = min((c.first_frame for c in data), default=None)
            span = written[bisect_right(frames, control.first_frame):
                           len(written) if last is None else bisect_right(frames, last)]
            span = [c for c in span
                    if order.follows(c.first_frame, c.ts, frame, ts,
                                     ANNOUNCEMENT_JITTER_SECONDS + behind)
                    and (last is not None or order.open_at(c, control, end))]
        else:
            span = candidates[bisect_left(times, order.moment(frame, start)):
                              bisect_right(times, until)]
        found = [c for c in span
                 if (c.orig_h in agent or not used.alive_at(c.orig_h, c.ts, c.first_frame))
                 and (c.resp_h in media or not used.alive_at(c.resp_h, c.ts, c.first_frame))
                 and (c.orig_h, c.resp_h) != (session.remote_agent, session.media_server)]
        fits[session.id] = found
    while (tied := _tie_one(waiting, fits, endpoints)) is not None:
        waiting.remove(tied)
    fitting = {s.id: {c.uid for c in fits[s.id]} for s in waiting}
    for session in waiting:  # left untied: what fits another session as well
        session.callback_ambiguous = [
            c.uid for c in fits[session.id] if c.uid not in endpoints.claimed
            and any(c.uid in fitting[o.id] for o in waiting if o is not session)]
    _mark_short(waiting, fits, endpoints)


def _mark_short(waiting: list[Session], fits: dict[str, list[Connection]],
                endpoints: Endpoints) -> None:
    """Session.callback_short: waiting sessions linked by the candidates they share
    (each to the next: a connected set), more of them than the connections any of them
    could take (their unclaimed candidates, each shared: callback_ambiguous). Each job
    calls back, so at least one of them had no callback in the capture, which one the
    capture cannot tell (the shape of field check 46's seed 93 run 11: two jobs, `-Q
    out` on the media server, the one callback captured fitting both). Every connection
    counts, retries from a new source port too, so the count never says fewer callbacks
    than there could be."""
    left = {s.id: {c.uid for c in fits[s.id] if c.uid not in endpoints.claimed}
            for s in waiting}
    linked: dict[str, str] = {s.id: s.id for s in waiting}

    def root(sid: str) -> str:
        while linked[sid] != sid:
            sid = linked[sid]
        return sid

    taker: dict[str, str] = {}
    for session in waiting:
        for uid in sorted(left[session.id]):
            if uid in taker:
                linked[root(session.id)] = root(taker[uid])
            else:
                taker[uid] = session.id
    groups: dict[str, list[Session]] = defaultdict(list)
    for session in waiting:
        groups[root(session.id)].append(session)
    for members in groups.values():
        conns = set().union(*(left[s.id] for s in members))
        # Every candidate of each shared (callback_ambiguous): the words name them all.
        if len(members) > 1 and len(members) > len(conns) and \
                all(left[s.id] == set(s.callback_ambiguous) for s in members):
            for session in members:
                session.callback_short = [s.id for s in members]


def _group(conn: Connection) -> tuple[str, str, int]:
    """A callback with its retries from new source ports: one originator, responder and
    port."""
    return conn.orig_h, conn.resp_h, conn.resp_p


def _tie_one(waiting: list[Session], fits: dict[str, list[Connection]],
             endpoints: Endpoints) -> Session | None:
    """Tie the first waiting session whose candidates (fits, less those tied meanwhile)
    are one group that no other waiting session could take; returns it, None when no
    session is so tied. A group that is another waiting session's only one is left out
    of a session's candidates first: each job calls back once, so of two jobs from one
    media server (field check 46: the first job's callback fits it alone, the second
    job's fits both) each takes its own, the first, then the second once the first
    waits no more."""
    left = {s.id: [c for c in fits[s.id] if c.uid not in endpoints.claimed] for s in waiting}
    takers: dict[str, int] = defaultdict(int)
    for found in left.values():
        for conn in found:
            takers[conn.uid] += 1
    only = {s.id: groups.pop() for s in waiting
            if len(groups := {_group(c) for c in left[s.id]}) == 1}
    for session in waiting:
        found = left[session.id]
        if len({_group(c) for c in found}) > 1:
            others = {group for sid, group in only.items() if sid != session.id}
            found = [c for c in found if _group(c) not in others]
        if not found or len({_group(c) for c in found}) != 1 \
                or any(takers[c.uid] > 1 for c in found):
            continue  # none, or not unambiguous: left as it was (step 2 says so)
        session.callback_uid = found[0].uid
        session.callback_elsewhere = True
        claim(endpoints, found[0], session, "callback")
        return session
    return None


def vendor_anchor(stream: NdmpStream | None, control: Connection) -> tuple[int, float]:
    """When the agent can first call back, as (frame, seconds): the media server's first
    vendor message on the control connection (the job engine names its address there),
    else the control connection's opening."""
    message = job_engine_message(stream)
    return (control.first_frame, control.ts) if message is None else (message.frame,
                                                                      message.ts)


def job_engine_message(stream: NdmpStream | None) -> NdmpMessage | None:
    """The media server's first vendor message on the control connection (undecoded: the
    job engine's address travels in one), None when the stream holds none."""
    if stream is None:
        return None
    return next((m for m in stream.messages
                 if m.direction == "orig" and is_vendor_code(m.code)), None)


def _candidate(conn: Connection, config: Config, endpoints: Endpoints) -> bool:
    """An unclaimed connection whose direction is known (_direction_known), from a port
    in the agent range into the media range, not the NDMP port, and no data stream open
    before the capture (callback_opened.streamed_one_way)."""
    return (conn.role == "other" and conn.uid not in endpoints.claimed
            and config.ndmp_port not in (conn.orig_p, conn.resp_p)
            and not streamed_one_way(conn)
            and config.in_agent_range(conn.orig_p) and config.in_media_range(conn.resp_p)
            and _direction_known(conn, config))


def _direction_known(conn: Connection, config: Config) -> bool:
    """Does the capture show who opened `conn`? Its SYN, or the SYN-ACK or refusing RST
    that answers a SYN the sniffer lost (the connection table makes their receiver the
    originator); with no opening packet at all (mid-stream, not a lone RST, which may
    answer either side), ports that read one way only: the originator's in the agent
    range and the responder's in the media range, and not the reverse. A sniffer that
    drops the callback's SYN (field check D1 after trial 26) leaves it the callback."""
    if conn.syn_seen or conn.synack_seen or conn.refusal_first:
        return True
    return not rst_only(conn) and not (config.in_agent_range(conn.resp_p)
                                       and config.in_media_range(conn.orig_p))


def _paired_sides(sessions: list[Session], sides: dict[str, tuple[set[str], set[str]]],
                  config: Config) -> dict[str, tuple[set[str], set[str]]]:
    """Each session's sides (_sides) with the address of the other IP version the
    configuration pairs with its host on each side (flowcheck.sessions.stack_addresses
    .config_pair: a dual-stack host named by both its addresses). The other sessions of
    the same host add theirs where the caller gathers a host's addresses (field check
    46: another job's data connections from the media server's IPv4 address left a
    callback to that address, between a dual-stack session's IPv4 addresses, to no
    session)."""
    paired: dict[str, tuple[set[str], set[str]]] = {}
    for session in sessions:
        mine, theirs = set(sides[session.id][0]), set(sides[session.id][1])
        for found, configured, host in ((mine, config.media_servers, session.media_server),
                                        (theirs, config.remote_agents, session.remote_agent)):
            pair = config_pair(configured, host)
            if pair is not None:
                found.add(pair)
        paired[session.id] = (mine, theirs)
    return paired


def _sides(session: Session, by_uid: dict[str, Connection]) -> tuple[set[str], set[str]]:
    """(media server side, agent side) addresses of a session: its control connection's
    and its data connections' ends on each side (by who listens: the agent for
    DATA_LISTEN, the media server's mover for MOVER_LISTEN)."""
    media, agent = {session.media_server}, {session.remote_agent}
    listened = {a.used_by for a in session.announced if a.used_by}
    for uid in session.data_connections:
        if uid not in listened and uid not in session.port_listener:
            continue
        # Its ends by sessions.data_ends: a port match whose opening the capture lacks
        # may have the agent for originator (newuser57), its listener at that end.
        media_end, agent_end = conn_sides(by_uid[uid], session)
        if media_end is not None and agent_end is not None:
            media.add(media_end[0])
            agent.add(agent_end[0])
    return media, agent
