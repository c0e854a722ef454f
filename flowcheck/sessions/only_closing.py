"""Connections of which the capture holds only their closing (leftover62).

A job that ends as the capture begins leaves in it only the closes of its connections,
in whichever order its hosts sent them (a Backup Exec agent closes its callback just
before the control connection). Such a connection shows the job closing, not a resource
running (verify.after_close.job_ended), and is the job's whose control connection
closes beside it (sessions.late_closes).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

from flowcheck.config import Config
from flowcheck.model import Connection, NdmpStream, Session
from flowcheck.profiles import Profile
from flowcheck.sessions.classify import connection_outcome, one_sided
from flowcheck.sessions.pools import Endpoints, claim
from flowcheck.sessions.reset_answered import logs_after_close

_Pair = TypeVar("_Pair", bound=Hashable)  # a host pair key: ordered tuple or frozenset

# A connection whose first FIN comes within this long of its first captured packet, with
# nothing but bare ACKs before it, is seen only closing (close_only): a job's engine
# closes its connections together (the lab's Backup Exec: within 0.2 ms).
CLOSING_SECONDS = 1.0


def close_only(conn: Connection) -> bool:
    """Does the capture hold only the connection's closing: no SYN or SYN-ACK, no payload
    either way, nor more than a FIN of a side the capture lacks acknowledged (Connection.
    orig/resp_acked_unseen: one direction's ACKs that moved over the other's data show
    it carried some, oneway64: lab/clean-3-resources, the media server's packets from
    frame 171, the last data connection first seen at its ACKs of 8,113 B more), no RST,
    and a FIN that is its first captured packet or comes within
    CLOSING_SECONDS of it (the bare ACKs before it answer a FIN or the last data before
    the capture), a FIN acknowledged (Connection.orig_fin_acked, resp_fin_acked: a close
    that went through; FINs resent unanswered are a stall, trial37b
    state-flushed-capture-started-late-media's data_stalled), or answered by the peer's
    own FIN, which the capture lacks but the FIN's sender acknowledged, in a capture of
    one direction (Connection.orig_fin_unseen, resp_fin_unseen, the peer's packets none;
    not a capture with loss of both: field38-matrix/agent-killed-loss-before-start from
    frame 764, the data connection first seen at the media server's ACK of its last
    data, stays a data connection; the agent's packets only: cutcb64b,
    field51-matrix/clean-restore-routed-captured-in-on-media from frame 294 read the
    callback 10.77.1.2:6041 -> 10.77.0.1:5001, its FIN and its ACK of the media
    server's, as a data connection), or, one direction captured, its one side's FIN
    sent once or resent once (_lone_fin_one_way)? Such a connection was open
    before the capture and ends as it begins: it shows its job closing, not a resource
    running (leftover62: a Backup Exec agent closes its callback just before the control
    connection, so a capture starting at the callback's FIN, or at the media server's
    ACK of it, took it for a running data connection of a job that was ending)."""
    if conn.syn_seen or conn.synack_seen or conn.orig_bytes or conn.resp_bytes \
            or conn.orig_acked_unseen > 1 or conn.resp_acked_unseen > 1 \
            or conn.rst_frames or not conn.fin_frames \
            or not (conn.orig_fin_acked or conn.resp_fin_acked
                    or (conn.orig_fin_unseen and not conn.orig_pkts)
                    or (conn.resp_fin_unseen and not conn.resp_pkts)
                    or _lone_fin_one_way(conn)):
        return False
    return conn.fin_frames[0] == conn.first_frame or (
        conn.fin_ts is not None and conn.fin_ts - conn.ts <= CLOSING_SECONDS)


# The most FINs a capture of one direction may hold of a close: the first and a resend.
# verify.stalled reads a FIN resent RESENDS_FOR_STALL (2) times or more, unanswered, as a
# stall; fewer is no stall, and the ACK that ended the resends such a capture cannot
# hold (as a capture of both directions holds the ACK of a FIN resent once: a close).
FINS_OF_A_CLOSE = 2


def _lone_fin_one_way(conn: Connection) -> bool:
    """Does the capture hold one side of the connection only (one_sided: its peer's
    packets none, though that side's ACKs show the peer), that side's FIN sent once or
    resent once (FINS_OF_A_CLOSE)? Its peer's ACK of it cannot be in such a capture, so
    that FIN is as far as its close can show; one resent fewer times than a stall's is
    no stall (oneway64: lab/clean-3-resources, the media server's packets only, from
    frame 10 to 184: the callback 10.77.0.2:6077 -> 10.77.0.1:5001 first seen at the
    media server's ACK of the agent's FIN, which the capture lacks, then its own FIN,
    was matched by ports as a data connection; review64l: so again with that FIN resent
    once, "over 4 data connections")."""
    return one_sided(conn) is not None and len(conn.fin_frames) <= FINS_OF_A_CLOSE


def closes_with(conn: Connection, ts: float) -> bool:
    """Is the connection seen only closing (close_only), its first packet within
    CLOSING_SECONDS of `ts` (seconds: its job's control connection's close)? A job's
    engine closes its connections together; one closed long before the control
    connection was a resource the job ran while the capture did (ndmjob-filtered-packets/
    fin-rst-media: a capture of FINs only, the data connection's 3 s before the control
    connection's)."""
    return close_only(conn) and abs(conn.ts - ts) <= CLOSING_SECONDS


def close_ts(control: Connection) -> float | None:
    """The time (s) of the connection's first FIN or RST, either side; None: neither
    captured."""
    closes = [ts for ts in (control.fin_ts, control.rst_ts) if ts is not None]
    return min(closes) if closes else None


def name_closing_callbacks(sessions: Iterable[Session], control_of: dict[str, Connection],
                           streams: Mapping[str, NdmpStream], endpoints: Endpoints,
                           config: Config, profile: Profile
                           ) -> tuple[set[tuple[str, str]], set[str]]:
    """Name each session's callback held only closing (close_only) beside its control
    connection's close, when the capture lets it tell; returns the (agent, media server)
    host pairs whose every session's control connection opened before the capture and
    shows its close: close-only connections between them are no callback but by this
    rule (sessions.callback_sweep leaves them out: the first captured packet of a
    connection open before the capture says nothing of which job opened it), and the
    uids of the connections that may have been a session's callback by that rule
    (_rival, as below) but were named none's, beside another connection that may be it
    too (another such, or one first seen at the media server's packet: _seen_from_media):
    which was the callback the capture cannot tell, so neither the sweep nor
    sessions.callback_from_ack names them either (cutcb64b:
    lab-trial28-ndp/routed-ptb-blackhole-agent from frame 68, the data connection
    10.77.1.2:6001 <-> 10.77.0.1:5002 first seen at the agent's ACK after the control
    connection's close, the callback first seen at the media server's FIN, was named
    the callback by the sweep, step 2 `ok`; lab-trial17/mtu-blackhole-media from 40).

    A connection may be the callback of a session whose control connection opened before
    the capture (its outcome midstream) and was seen closing (close_ts) when the profile's
    callback is a connection, the session has none yet, the connection is unclaimed, its
    first sender is the session's agent and its other end the media server on a port in
    the media range, no opening or payload captured, its first packet within
    CLOSING_SECONDS of that close (_rival); neither end is an endpoint a control
    connection announced (a DATA_LISTEN or MOVER_LISTEN reply, a DATA_CONNECT or
    MOVER_CONNECT request: that endpoint is a data connection's, whether or not
    sessions.matching tied it to the announcement); and the session's control stream
    carries no NDMP message but CONNECT_CLOSE between the connection's first packet and
    the close (a callback lives until the job ends: a connection closed while the job
    still spoke, its data halted, stopped, logged after it, is the job's data connection
    closing). A connection that may be the callback of several such sessions belongs only
    to the one whose close it is strictly nearest in time (the other's fits it better),
    else to none, and to none when another session it fits names no callback of its own
    (it may be that one's: review63a). A session names the callback only when it has
    exactly one such connection and that one is held only closing (close_only); with two
    or more none is named (review62h: a data connection and the callback closing
    together when the agent is killed).

    review62h / cbmix63: lab/concurrent-jobs.pcap cut to its last 33 frames gave the job
    of media port 5021 the other job's data connection 10.77.0.2:6004 -> 10.77.0.1:5003
    (closed before that job's NOTIFY_DATA_HALTED) as its callback, by its first packet
    following the control connection's, and read the 5035 job's callback 6093 -> 5001
    as a data connection. A data connection held only closing, the callback not in the
    capture at all, was named the callback by its direction and ports alone. A named
    one sets Session.callback_closing (step 2 says "seen only closing") and is claimed as
    the callback, so it is no data connection (docs/json.md `status`)."""
    closing: dict[str, float] = {}
    by_pair: dict[tuple[str, str], list[Session]] = {}
    for session in sessions:
        control = control_of[session.id]
        pair = (session.remote_agent, session.media_server)
        closed = close_ts(control) if connection_outcome(control) == "midstream" else None
        by_pair.setdefault(pair, []).append(session)
        if closed is not None:
            closing[session.id] = closed
    if profile.callback != "connection" or not closing:
        return set(), set()
    announced = {(a.ip, a.port) for session in sessions for a in session.announced}
    # Connections of a callback's shape (no opening or payload captured, to the media
    # range), by (first sender, other end), in time order: each session looks only at
    # those within CLOSING_SECONDS of its close (bisection: no sessions x connections).
    shaped: dict[tuple[str, str], list[Connection]] = {}
    for conns in endpoints.by_endpoint.values():
        for conn in conns:
            # (from the media range too: a callback first seen at the media server's
            # packet, which tells a job has its own: _seen_from_media)
            if conn.uid not in endpoints.claimed \
                    and (config.in_media_range(conn.resp_p)
                         or config.in_media_range(conn.orig_p)) \
                    and not (conn.syn_seen or conn.synack_seen or conn.orig_bytes
                             or conn.resp_bytes):
                shaped.setdefault((conn.orig_h, conn.resp_h), []).append(conn)
    times: dict[tuple[str, str], list[float]] = {}
    for pair, conns in shaped.items():
        conns.sort(key=lambda c: (c.ts, c.first_frame))
        times[pair] = [c.ts for c in conns]
    # Per session its candidates; per connection the sessions it may be the callback of.
    candidates: dict[str, list[Connection]] = {}
    fitting: dict[str, list[str]] = {}
    for session in sessions:
        closed = closing.get(session.id)
        pair = (session.remote_agent, session.media_server)
        if closed is None or session.callback_uid is not None or pair not in shaped:
            continue
        spoken = _spoken(streams.get(session.control_uid))
        at = times[pair]
        found = [conn for conn in shaped[pair][bisect_left(at, closed - CLOSING_SECONDS):
                                               bisect_right(at, closed + CLOSING_SECONDS)]
                 if _rival(conn, session, closed, config)
                 and not {(conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p)} & announced
                 and not _spoke_between(spoken, conn.ts, closed)]
        candidates[session.id] = found
        for conn in found:
            fitting.setdefault(conn.uid, []).append(session.id)
    by_id = {session.id: session for session in sessions}
    named: dict[str, Connection] = {}
    for session_id, found in candidates.items():
        # A connection nearer another session's close fits that one's callback better.
        kept = [conn for conn in found if _nearest(conn, fitting[conn.uid], closing)
                in (session_id, None)]
        if len(kept) == 1 and closes_with(kept[0], closing[session_id]) \
                and _nearest(kept[0], fitting[kept[0].uid], closing) is not None:
            named[session_id] = kept[0]
    # Nearest only tells apart jobs that each have a callback: one that another job fits
    # as well, that job left with none in the capture, may be that job's (review63a: the
    # 5035 job's callback 14 us after the 5021 job's close, 50 us before its own, the
    # 5021 job's callback not captured, was named the 5021 job's). Neither names it
    # then. A job whose callback the capture holds from the media server's packet on
    # has one (lab/concurrent-jobs.pcap from frame 894: 6087 -> 5051 first seen at the
    # media server's ACK; 6093 -> 5001 stays the 5035 job's).
    homeless = {session_id for session_id, closed in closing.items()
                if not _seen_from_media(by_id[session_id], closed, shaped, times, config)}
    while orphaned := [i for i, conn in named.items()
                       if any(other not in named and other in homeless
                              for other in fitting[conn.uid])]:
        for session_id in orphaned:
            del named[session_id]
    for session_id, conn in named.items():
        session = by_id[session_id]
        session.callback_uid = conn.uid
        session.callback_closing = True
        claim(endpoints, conn, session, "callback")
    # Unnamed, each may yet be the callback of a session with another connection that
    # may be it too (two found, or one first seen at the media server's packet): which,
    # the capture cannot tell. A lone one is left to the sweep, as before.
    chosen = {conn.uid for conn in named.values()}
    return ({pair for pair, members in by_pair.items()
             if all(s.id in closing for s in members)},
            {uid for uid, ids in fitting.items() if uid not in chosen and any(
                len(candidates[i]) > 1 or i not in homeless for i in ids)})


def _seen_from_media(session: Session, closed: float,
                     shaped: Mapping[tuple[str, str], list[Connection]],
                     times: Mapping[tuple[str, str], list[float]], config: Config) -> bool:
    """Does the capture hold a connection held only closing (close_only) first seen at
    the media server's packet, from a port in the media range to the session's agent,
    its first packet within CLOSING_SECONDS of `closed` (seconds: the control
    connection's close)? Such a connection may be the session's callback, its direction
    untold (shaped, times: name_closing_callbacks' connections by (first sender, other
    end), in time order)."""
    return from_media_near(session, closed, shaped, times,
                           (session.media_server, session.remote_agent), config)


def from_media_near(session: Session, closed: float, shaped: Mapping[_Pair, list[Connection]],
                    times: Mapping[_Pair, list[float]], pair: _Pair, config: Config) -> bool:
    """Is one of `shaped[pair]` (connections in time order, `times[pair]` their first
    packets' times, seconds) within CLOSING_SECONDS of `closed` held only closing
    (close_only) and first seen at the session's media server's packet, from a port in
    the media range, no control connection, the NDMP port at neither end? The one
    reading of _seen_from_media (pairs ordered: first sender, other end) and
    sessions.closing_unheld's _own_from_media (pairs unordered)."""
    if pair not in shaped:
        return False
    at = times[pair]
    return any(conn.orig_h == session.media_server and config.in_media_range(conn.orig_p)
               and conn.role != "control"
               and config.ndmp_port not in (conn.orig_p, conn.resp_p) and close_only(conn)
               for conn in shaped[pair][bisect_left(at, closed - CLOSING_SECONDS):
                                        bisect_right(at, closed + CLOSING_SECONDS)])


def _nearest(conn: Connection, session_ids: list[str], closing: Mapping[str, float]
             ) -> str | None:
    """The session (of `session_ids`) whose control connection's close (closing: id ->
    seconds) is strictly nearest the connection's first packet; None on a tie."""
    ranked = sorted((abs(conn.ts - closing[i]), i) for i in session_ids)
    if len(ranked) > 1 and ranked[0][0] == ranked[1][0]:
        return None
    return ranked[0][1]


def _spoken(stream: NdmpStream | None) -> list[float]:
    """The times (seconds, sorted) of the control stream's NDMP messages other than
    CONNECT_CLOSE and a log message its receiver answered with a bare RST (after its
    close: reset_answered.logs_after_close), and of each side's last payload packet
    before the first FIN (NdmpStream.payload_before_fin) when it holds no message read
    and that side's records were not all read (none read, TLS: tls_from, or
    unread_last): a record not read may be any message (review63a: lab/tls-clean.pcap
    from frame 706 without the callback's frames named its data connection the
    callback, "no job message between", with the agent's TLS records between).
    [] without a stream (nothing says the job spoke)."""
    if stream is None:
        return []
    # A log message answered by a bare RST came after its receiver's close (cutcb64b).
    late = logs_after_close(stream)
    spoken = [m.ts for m in stream.messages
              if m.name != "NDMP_CONNECT_CLOSE" and m.frame not in late]
    for side, packet in stream.payload_before_fin.items():
        read = {m.frame for m in stream.messages if m.direction == side}
        if packet.frame not in read and (not read or side in stream.tls_from
                                         or side in stream.unread_last):
            spoken.append(packet.ts)
    return sorted(spoken)


def _unread_after(stream: NdmpStream | None, control: Connection, frame: int) -> bool:
    """Did the control connection carry data after `frame` that its stream did not read:
    a record the decoder could not read there (NdmpStream.unread_last, the last such
    frame per direction: the snap length cut it), or data (Connection.orig_last_data,
    resp_last_data) after it with no message read from there on (TLS, or bytes the
    decoder passed over)?"""
    if stream is not None and any(last > frame for last in stream.unread_last.values()):
        return True
    data_after = any(last is not None and last[0] > frame
                     for last in (control.orig_last_data, control.resp_last_data))
    return data_after and not (stream is not None
                               and any(m.frame > frame for m in stream.messages))


def _spoke_between(spoken: list[float], first: float, closed: float) -> bool:
    """Is one of `spoken` (sorted message times, _spoken) strictly between `first` (a
    connection's first packet) and `closed` (the control connection's close), either
    order (seconds)?"""
    lo, hi = min(first, closed), max(first, closed)
    return bisect_right(spoken, lo) < bisect_left(spoken, hi)


def claim_closing_only(endpoints: Endpoints, conn: Connection, session: Session,
                       control: Connection, stream: NdmpStream | None, config: Config,
                       profile: Profile) -> bool:
    """Claim `conn` for `session` as neither data nor callback when the capture holds
    only its closing beside the session's control connection's close (closes_with) and
    it does not fit the session's callback (its direction and ports are not the
    callback's: _fits, a callback first seen at the media server's packet): docs/json.md
    `status`, such a connection is the job's closing and counts as none of its data
    connections. It
    was claimed as a data connection that carried nothing (nu65a's left: newuser65
    late-killed-tail.pcap without the callback's FIN, the callback first seen at the
    media server's FIN, read "C1, C3 carried 16,304 B", "over 2 data connections").
    Its `session` is the session's (no unannounced_connection), its role stays other,
    Session.closing_only lists it. Not when the session's control stream (`stream`)
    carries an NDMP message other than CONNECT_CLOSE between its first packet and the
    close (_spoke_between, as name_closing_callbacks reads it): a connection closed while
    the job still spoke (its data halted, stopped after it) is its data connection
    closing, whichever end's packet the capture holds first (review63b:
    lab/clean-3-resources from frame 630, the last data connection 10.77.0.2:6003 ->
    10.77.0.1:5004 first seen at the media server's FIN before NOTIFY_DATA_HALTED and
    DATA_STOP, read as "the job's closing, counted as none of its data connections",
    from frame 629, the agent's FIN, as a data connection; lab/restore-2-resources from
    frame 435 so for a restore's data connection 10.77.0.1:5003 -> 10.77.0.2:6002).
    Nor when the control connection carried data after its first packet that the
    stream did not read (_unread_after: the snap length cut it, or TLS): what was said
    there is unknown (lab/snaplen-54 from frame 469 and lab/tls-clean from 705, the last
    data connection first seen at the media server's ACK or FIN, the job's last records
    after it cut to 54 B or in TLS, read "the job's closing"). Under a profile without a
    callback connection (plain NDMP) a job holds no connection but its control and data
    connections, so one held only closing there stays a data connection (review63b:
    ndmjob-kill/agent-crash-restore-names-media from frame 62, the restore's data
    connection closed by the agent's crash 10 ms before the control connection, read
    "the job's closing"). True when claimed; False (nothing done) otherwise."""
    closed = close_ts(control)
    if closed is None or profile.callback != "connection" or not closes_with(conn, closed) \
            or _fits(conn, session, closed, config) \
            or _spoke_between(_spoken(stream), conn.ts, closed) \
            or _unread_after(stream, control, conn.first_frame):
        return False
    endpoints.claimed.add(conn.uid)
    conn.session = session.id
    session.closing_only.append(conn.uid)
    return True


def _fits(conn: Connection, session: Session, closed: float, config: Config) -> bool:
    """Could `conn` be `session`'s callback seen only closing: held only closing beside
    the control connection's close at `closed` (seconds; closes_with), its first sender
    the session's agent, its other end the media server on a port in the media range?"""
    return _rival(conn, session, closed, config) and closes_with(conn, closed)


def _rival(conn: Connection, session: Session, closed: float, config: Config) -> bool:
    """Could `conn` be that callback as well as a connection held only closing: its
    direction and ports the callback's, no opening or payload captured, its
    first packet within CLOSING_SECONDS of `closed` (seconds), whatever its close shows
    (its FIN unanswered or not captured: review62h)?"""
    return ((conn.orig_h, conn.resp_h) == (session.remote_agent, session.media_server)
            and conn.role != "control" and config.ndmp_port not in (conn.orig_p, conn.resp_p)
            and config.in_media_range(conn.resp_p)
            and not (conn.syn_seen or conn.synack_seen or conn.orig_bytes or conn.resp_bytes)
            and abs(conn.ts - closed) <= CLOSING_SECONDS)


def job_spoke(stream: NdmpStream | None, first: float, closed: float) -> bool:
    """Did the job speak on its control stream (`stream`) strictly between `first` (a
    connection's first packet) and `closed` (the control connection's close), either
    order (seconds): an NDMP message other than CONNECT_CLOSE, or a last payload before
    the FIN that no message read covers (_spoken, _spoke_between)? Such a connection
    closed while the job still spoke, as a data connection does."""
    return _spoke_between(_spoken(stream), first, closed)
