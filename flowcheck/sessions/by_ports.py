"""Data connections of announcements the capture cannot show, by direction and ports.

When the snap length cut the address out of an announcing message, the sniffer lost
it, or the capture holds one direction of the control connection, a session's data
connections are matched by who connects and to which port range instead of by the
announced endpoint. Full captures never take this path. A job that started before the
capture (its announcements not in it at all) is matched so by
flowcheck.sessions.capture_start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from flowcheck.config import Config
from flowcheck.model import Connection, NdmpMessage, NdmpStream, Session
from flowcheck.profiles import Profile
from flowcheck.sessions.address_types import unknown_type_announcements
from flowcheck.sessions.asked_first import asked_from, asked_from_frame
from flowcheck.sessions.classify import (
    connection_outcome,
    end_of,
    is_failed,
    one_sided,
    seen_closing,
)
from flowcheck.sessions.clock_apart import LagProof, lead_allowed
from flowcheck.sessions.connect_answers import ConnectAnswers
from flowcheck.sessions.file_order import END, TIME_ORDER, FileOrder, Moment
from flowcheck.sessions.kept import KeptPackets
from flowcheck.sessions.lifetimes import lifetimes, session_span
from flowcheck.sessions.named import Shares, named_endpoints, share_out
from flowcheck.sessions.only_closing import claim_closing_only
from flowcheck.sessions.pools import Endpoints, Pool, claim
from flowcheck.sessions.snap_cut import cut_announcements, cut_listener
from flowcheck.sessions.tie_groups import Ties

# Who listens at an endpoint: "data" the agent's data service, "mover" the media server's.
Listener = Literal["data", "mover"]


def attach_by_ports(sessions: list[Session], control_of: dict[str, Connection],
                    streams: dict[str, NdmpStream], ordered: list[Connection],
                    endpoints: Endpoints, config: Config, profile: Profile,
                    kept: KeptPackets | None = None, *,
                    clock_lags: Mapping[tuple[str, str], LagProof],
                    order: FileOrder = TIME_ORDER) -> None:
    """Data connections of announcements the capture cannot show, by direction and ports.

    A cut announcing message still says who listens (its name: DATA_LISTEN the agent,
    DATA_CONNECT / MOVER_LISTEN the media server's mover; ANNOUNCERS), so its connection
    runs from the other side to the listener, to a port in the listener's range (any port
    for a profile that leaves the connector to the listener: plain NDMP). Each side is the
    session's host or a configured address of that side no session uses (another
    interface of the same host). When no message could be read at all (cut, lost by the
    sniffer, one direction captured), the profile says who connects. Candidates open
    after the message (the control connection's start) and while the control connection
    lasts (to the capture's end if it was not seen closing), avoid the NDMP port and
    anything already explained. One connection (and its retries) per cut message; every
    candidate when no message could be read, except that the candidates of several such
    sessions at once are shared out first (sessions.named: by the endpoint each
    session's GET_STATE replies name; a connection several sessions may equally own is
    given to none, Session.port_tied), and one held only closing beside the control
    connection's close is the job's closing, none of its data connections
    (only_closing.claim_closing_only; oneway64: the media server's packets of
    lab/clean-3-resources from frame 10, the callback first seen at its ACK of the
    agent's FIN, was a fourth data connection). When none fits, a connection from the
    session's own connector to an address no session uses on the listener side, to a
    port in the listener's range, is taken instead (an announced address that is not
    the listener's control address: flowcheck.verify.addresses words it).
    clock_lags: the capture's lag proofs over every connection (two hosts' own captures
    merged, their clocks apart: sessions.clock_apart.lag_proofs, the pipeline's): a cut
    message's connection opened by its other end may be stamped before it (lead_allowed).
    order: how the capture orders its events (sessions.file_order), in which another
    session's hosts are its own while it lives (sessions.lifetimes).

    A control stream of which the capture holds no byte at all although bytes were sent
    (its kind unknown: Session.kind_unknown) is matched so too ("packet_filter") when
    the capture's packet kinds show a filter that kept no data packet (kept:
    sessions.kept).
    """
    # Per session: its cut announcing messages (None: no message readable), why, and
    # until when its connections may open (a moment: FileOrder.moment).
    plans: list[tuple[Session, list[NdmpMessage] | None, str, Moment]] = []
    for session in sessions:
        control = control_of[session.id]
        cut, reason = _unreadable(session, control, streams.get(session.control_uid), kept)
        if cut == []:
            continue
        # While the control connection lasts, no slack: the next job's session may open
        # its data connection right after this one closed.
        end = order.moment(control.last_frame, end_of(control)) \
            if seen_closing(control) else END
        plans.append((session, cut, reason, end))
    if not plans:
        return
    finder = _Finder(sessions, ordered, endpoints, config, profile, control_of, order)
    # Sessions no message of which could be read: what fits each of them, before any is
    # taken, so that jobs at once share their connections out (sessions.named). Not a
    # connection whose endpoint another session's GET_STATE replies name and this one's
    # do not: that session's, though its announcement is not in the capture either (it
    # started in a ring buffer's hole: sessions.capture_start gives it; third new-user
    # trial, where the first job took the second's data connection).
    named_by = _naming_sessions(sessions, streams)
    # Nor a failed connect another session's CONNECT error reply answers (newuser61).
    answers = ConnectAnswers(sessions, streams, ordered)
    # One direction captured, the media server's whole: its requests say from when
    # (sessions.asked_first).
    every = [(session, [(conn, listener) for conn, listener
                        in finder.every(session, *_since(control_of[session.id],
                                                         streams.get(session.control_uid),
                                                         reason, end, order))
                        if not _named_elsewhere(conn, session, named_by)
                        and not answers.answered_elsewhere(conn, session)])
             for session, cut, reason, end in plans if cut is None]
    shares = share_out([(s, [conn for conn, _ in found]) for s, found in every], streams)
    every_of = dict((s.id, found) for s, found in every)
    ties = Ties()  # tied_with in the order first met, as each session takes its ties
    for session, cut, reason, end in plans:
        session.match_reason = reason
        if cut is None:
            # One held only closing beside the control connection's close is the job's
            # closing, no data connection (only_closing.claim_closing_only, as
            # sessions.capture_start reads it: oneway64).
            closing = [conn for conn, _ in every_of[session.id]
                       if conn.uid not in endpoints.claimed and conn.uid not in shares.tied
                       and shares.owner.get(conn.uid) is session
                       and claim_closing_only(endpoints, conn, session, control_of[session.id],
                                              streams.get(session.control_uid), config,
                                              profile)]
            _take_shared(session, [(conn, listener) for conn, listener
                                   in every_of[session.id] if conn not in closing],
                         shares, endpoints, ties)
            continue
        for message in cut:
            found = finder.first(session, cut_listener(message), order.moment(
                message.frame, message.ts - lead_allowed(clock_lags, control_of[session.id],
                                                         message.direction)), end)
            conn, listener = found if found else (None, "data")
            session.cut_announcements.append((message.frame, message.name,
                                              conn.uid if conn else ""))
            while conn is not None:
                claim(endpoints, conn, session, "data")
                session.port_matched.append(conn.uid)
                session.port_listener[conn.uid] = listener
                if not is_failed(conn):
                    break
                # A connector whose SYNs fail retries from a new source port.
                conn = finder.retry(conn, end)
    ties.finish(session for session, _, _, _ in plans)


def _naming_sessions(sessions: list[Session], streams: dict[str, NdmpStream]
                     ) -> dict[tuple[str, int], set[str]]:
    """Per endpoint (ip, port), the sessions whose DATA_GET_STATE / MOVER_GET_STATE
    replies name it (sessions.named.named_endpoints)."""
    named_by: dict[tuple[str, int], set[str]] = {}
    for session in sessions:
        for where in named_endpoints(streams.get(session.control_uid)):
            named_by.setdefault(where, set()).add(session.id)
    return named_by


def _named_elsewhere(conn: Connection, session: Session,
                     named_by: dict[tuple[str, int], set[str]]) -> bool:
    """Whether other sessions' replies name conn's responder endpoint and session's do
    not."""
    naming = named_by.get((conn.resp_h, conn.resp_p))
    return bool(naming) and session.id not in naming


def _since(control: Connection, stream: NdmpStream | None, reason: str, end: Moment,
           order: FileOrder) -> tuple[Moment, Moment, tuple[int, float] | None]:
    """When a session's data connections may open, as _Finder.every takes it: (from, to:
    moments; the frames they may be written in: _written_while). From its control
    connection's opening, or, one direction captured ("one_direction"), from when its
    media server's requests say (asked_from, asked_from_frame)."""
    if reason == "one_direction":
        return (asked_from(control, stream, order), end,
                _written_while(control, asked_from_frame(control, stream)))
    return order.began(control), end, _written_while(control, control.first_frame)


def _written_while(control: Connection, first: int | None) -> tuple[int, float] | None:
    """The frames (first, last) a session's connections may be written in: from `first`
    (its control connection's first frame, or its first data setup request's:
    asked_from_frame; None: none) to the control connection's last frame, or to the
    capture's end when the capture did not see it close."""
    if first is None:
        return None
    return first, control.last_frame if seen_closing(control) else float("inf")


def _unreadable(session: Session, control: Connection, stream: NdmpStream | None,
                kept: KeptPackets | None) -> tuple[list[NdmpMessage] | None, str]:
    """Why a session's data connections are matched by ports, and how: (the announcing
    messages whose address was cut, "snap_length"), (None, reason) when no announcing
    message could be read at all (or, "encrypted" and "capture_loss", not every one), or
    ([], "") when the announcements explain them."""
    if stream is not None and stream.tls_from:
        # The session went on in TLS (flowcheck.ndmp.stream): the announcements after its
        # start are in it, and what those read before it do not explain is matched so.
        return None, "encrypted"
    lossy = bool(control.missed_bytes) and session.kind != "browse"
    if session.announced and not lossy:
        return [], ""
    if session.announced:
        # Some announcements were read, others may be among the bytes the sniffer
        # lost (a ring file missing from the set): what they did not explain is
        # matched by direction and ports.
        return None, "capture_loss"
    cut = cut_announcements(stream)
    unknown_type = unknown_type_announcements(stream) if cut == [] else []
    if unknown_type:
        # Whole messages that announced an endpoint of an address type flowcheck cannot
        # read (sessions.address_types): matched as if their address were cut.
        return unknown_type, "address_type"
    if cut == [] and one_sided(control) is not None:
        # The capture lacks a direction of the control connection: the announcing
        # message may be in it, so the data connections are matched as if it were cut.
        return None, "one_direction"
    if cut == [] and control.missed_bytes and session.kind_unknown and \
            kept is not None and kept.no_data:
        # A filter kept no packet that carries data: the announcement is among them.
        # (Its data connections carry none either: matched, they prove nothing.)
        return None, "packet_filter"
    if cut == [] and control.missed_bytes:
        # The sniffer lost part of the control stream: the announcing message may be
        # among the lost bytes, of a backup or restore, or of a session that reads as a
        # browse only because its DATA_* request is among them (a DATA_CONNECT lost, the
        # agent's SYNs to the mover unanswered: second new-user trial).
        return None, "capture_loss"
    return cut, "snap_length"


def _take_shared(session: Session, found: list[tuple[Connection, Listener]], shares: Shares,
                 endpoints: Endpoints, ties: Ties) -> None:
    """Claim what share_out gave a session; a tie is claimed for no session (role
    "data", no session) and listed on each session it may belong to (port_tied; its
    group, one per connection, in ties: sessions.tie_groups, not copied into each
    session's tied_with, which grew with the square of the tie)."""
    for conn, listener in found:
        if conn.uid in shares.tied:
            group = ties.shared(conn.uid, shares.tied[conn.uid])
            if group.has(session.id):
                if conn.uid not in endpoints.claimed:  # the first of them to come
                    endpoints.claimed.add(conn.uid)
                    conn.role, conn.session = "data", None
                session.port_tied.append(conn.uid)
                ties.add_for(session, group)
            continue
        if shares.owner.get(conn.uid) is not session or conn.uid in endpoints.claimed:
            continue
        claim(endpoints, conn, session, "data")
        session.port_matched.append(conn.uid)
        session.port_listener[conn.uid] = listener
        if conn.uid in shares.named_by:
            session.port_named[conn.uid] = shares.named_by[conn.uid]


class _Finder:
    """Candidate data connections by originator, responder and port ranges, in pools.

    Keys: (originator, responder, in the media range, in the agent range) for the
    session's hosts; (originator, listener) for a responder no session uses on the
    listener's side with a port in the listener's range; (originator, responder, port)
    for retries. Each lookup takes the first unclaimed one in a time window."""

    def __init__(self, sessions: list[Session], ordered: list[Connection],
                 endpoints: Endpoints, config: Config, profile: Profile,
                 control_of: dict[str, Connection], order: FileOrder = TIME_ORDER) -> None:
        self.config, self.profile, self.order = config, profile, order
        # Hosts of each side (by who listens: "data" the agents, "mover" the media
        # servers), each while its sessions live (sessions.lifetimes: a job days apart
        # in the same capture set leaves its hosts spare for this one, mergedsets).
        hold = config.port_hold_seconds
        self.span = {s.id: session_span(control_of[s.id], hold, order) for s in sessions}
        self.used = {"mover": lifetimes(sessions, control_of, hold, "media_server", order),
                     "data": lifetimes(sessions, control_of, hold, "remote_agent", order)}
        self.configured = {"mover": set(config.media_servers),
                           "data": set(config.remote_agents)}
        conns = [c for c in ordered if c.role != "control"
                 and config.ndmp_port not in (c.resp_p, c.orig_p)]
        self.pools = endpoints.pools(conns, lambda c: (
            c.orig_h, c.resp_h, config.in_media_range(c.resp_p),
            config.in_agent_range(c.resp_p)))
        # Open before the capture or its handshake lost by the sniffer: its originator
        # is only its first captured packet's sender (the agent's backup data), so it is
        # a candidate the other way round too (trial 20 D3: ok steps, a fail verdict).
        self.turned = endpoints.pools(
            [c for c in conns if connection_outcome(c) == "midstream"], lambda c: (
                c.resp_h, c.orig_h, config.in_media_range(c.orig_p),
                config.in_agent_range(c.orig_p)))
        self.others = {
            **{("data", k): p for k, p in endpoints.pools(conns, lambda c: c.orig_h if (
                not self.used["data"].alive_at(c.resp_h, c.ts, c.first_frame)
                and config.in_agent_range(c.resp_p)) else None).items()},
            **{("mover", k): p for k, p in endpoints.pools(conns, lambda c: c.orig_h if (
                not self.used["mover"].alive_at(c.resp_h, c.ts, c.first_frame)
                and config.in_media_range(c.resp_p))
                else None).items()}}
        self.retries = endpoints.pools(conns, lambda c: (c.orig_h, c.resp_h, c.resp_p))

    def _spare(self, session: Session, side: Listener) -> set[str]:
        """The configured addresses of a side (by who listens there) that no session
        alive while `session` lives uses on that side."""
        return {host for host in self.configured[side]
                if not self.used[side].overlaps(host, self.span[session.id])}

    def _hosts(self, session: Session, listener: Listener) -> tuple[set[str], set[str]]:
        """(connectors, listeners): the session's host or a spare address of each side."""
        media = {session.media_server} | self._spare(session, "mover")
        agents = {session.remote_agent} | self._spare(session, "data")
        return (media, agents) if listener == "data" else (agents, media)

    def _ranges(self, listener: Listener, ranged: bool) -> list[tuple[bool, bool]]:
        """The (in media range, in agent range) keys a port of the listener may have."""
        if not ranged:
            return [(m, a) for m in (False, True) for a in (False, True)]
        return [(True, a) for a in (False, True)] if listener == "mover" else \
            [(m, True) for m in (False, True)]

    def _pools(self, session: Session, listener: Listener, ranged: bool) -> list[Pool]:
        connectors, listeners = self._hosts(session, listener)
        return [pool for orig in connectors for resp in listeners
                for ranges in self._ranges(listener, ranged)
                for pools in (self.pools, self.turned)
                if (pool := pools.get((orig, resp, *ranges))) is not None]

    def _other(self, session: Session, listener: Listener) -> Pool | None:
        """Connections from the session's own connector to an address no session uses
        on the listener's side, to a port in the listener's range."""
        own = session.media_server if listener == "data" else session.remote_agent
        return self.others.get((listener, own))

    def first(self, session: Session, listener: Listener | None, after: Moment,
              end: Moment) -> tuple[Connection, Listener] | None:
        """The first candidate for one announcement and who listens at it: by the
        message's listener (None: the profile's), else the first to another address."""
        listeners = [listener] if listener else self._listeners()
        ranged = self.profile.connector != "listener"
        found = [(conn, lst) for lst in listeners for pool in self._pools(session, lst, ranged)
                 if (conn := pool.first(after, end)) is not None]
        if not found:
            found = [(conn, lst) for lst in listeners if (pool := self._other(session, lst))
                     and (conn := pool.first(after, end)) is not None]
        return min(found, key=lambda item: self.order.time_key(item[0]), default=None)

    def every(self, session: Session, after: Moment, end: Moment,
              written: tuple[int, float] | None = None
              ) -> list[tuple[Connection, Listener]]:
        """Every candidate of a session no message of which could be read, in time
        order, by the profile's direction and ports, with who listens at it; else every
        one to another address. Opened from the moment `after` to `end`; where the
        frames are the sniffer's write order, written in the frames `written` (first,
        last: its control connection's) instead (_opened_in)."""
        ranged = self.profile.connector == "media_server"
        found = [(conn, lst) for lst in self._listeners()
                 for pool in self._pools(session, lst, ranged)
                 for conn in self._opened_in(pool, after, end, written)]
        if not found:
            found = [(conn, lst) for lst in self._listeners()
                     if (pool := self._other(session, lst))
                     for conn in self._opened_in(pool, after, end, written)]
        # Each connection once (trial 30 D1: else the session was tied with itself): one
        # whose handshake the capture lacks fits either listener (self.turned); it goes
        # to the one its first captured packet's sender connects to.
        once: dict[str, tuple[Connection, Listener, bool]] = {}
        for conn, lst in found:
            direct = conn.orig_h in self._hosts(session, lst)[0]
            if conn.uid not in once or (direct and not once[conn.uid][2]):
                once[conn.uid] = (conn, lst, direct)
        return sorted(((conn, lst) for conn, lst, _ in once.values()),
                      key=lambda item: self.order.time_key(item[0]))

    def _opened_in(self, pool: Pool, after: Moment, end: Moment,
                   written: tuple[int, float] | None) -> list[Connection]:
        """The pool's unclaimed connections opened from `after` to `end` (moments); where
        the frames are the sniffer's write order (order.by_frame: the first of `written`
        and the connection's first packet), those written in the frames `written`
        instead, whatever their time: a clock set back after the control connection
        opened stamps its job's connections before it (review58d)."""
        order = self.order
        if written is None or not order.by_frame(written[0]):
            return list(pool.each(after, end))
        return [c for c in pool.each_written(*written) if order.by_frame(c.first_frame)] + [
            c for c in pool.each(after, end) if not order.by_frame(c.first_frame)]

    def retry(self, conn: Connection, end: Moment) -> Connection | None:
        """The next attempt from the same host to the same endpoint (a new source port),
        opened by the moment `end`."""
        pool = self.retries.get((conn.orig_h, conn.resp_h, conn.resp_p))
        return pool.first(self.order.began(conn), end) if pool else None

    def _listeners(self) -> list[Listener]:
        """Who listens, by the profile's connector."""
        return {"media_server": ["data"], "remote_agent": ["mover"]}.get(
            self.profile.connector, ["data", "mover"])  # type: ignore[return-value]
