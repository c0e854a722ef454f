"""A job's callback held only closing when the capture holds no close of its control
connection (cutcb64a).

A capture that begins between a Backup Exec job's control connection's FINs and its
callback's holds of the control connection only a bare ACK (the agent's of the media
server's FIN) and of the callback only the media server's FIN and the agent's ACK of it:
close_ts(control) is None, so sessions.only_closing.name_closing_callbacks, which reads
a callback's close against the control connection's, left it out, and step 2 said "no
callback in the capture" though its close was there, the callback an
unannounced_connection (lab/clean-3-resources.pcap from frame 642,
lab/restore-2-resources.pcap from 447, lab/concurrent-jobs.pcap from 905; from 897 the
first job's callback 10.77.0.2:6087 -> 10.77.0.1:5051 was read as the second job's data
connection).

Here the control connection's last captured packet stands for its close: a connection
held only closing (only_closing.close_only), between the session's agent and media
server (whichever end's packet the capture holds first), its media server's end a port
in the media range, first seen within CLOSING_SECONDS of that last packet, the job
silent on its control stream from its first packet on (a connection closed while the job
still spoke is its data connection closing), is the callback's shape
(`unheld_close_fits`). One such connection that fits one such session alone, first sent
by the agent after the job's CONNECT_CLOSE, is named that session's callback
(`name_callbacks_control_close_unheld`; step 2 "taken for the callback by ..."); one first
seen at the media server's packet (its direction unseen, as review63h read one beside a
captured close), or several, or with no CONNECT_CLOSE read before it, are the session's
closing, which verify.closing_candidates names, status unknown.

review64e: a capture that stops right after a data connection's close (the common field
case) holds no control close either, and no job message after that close because it
ended: lab/restore-2-resources.pcap frames 436-438 and lab/clean-3-resources.pcap
629-632 took the last data connection for the callback, "ok", lab/concurrent-jobs.pcap
879-881 the other job's data connection 10.77.0.2:6004 -> 10.77.0.1:5003. A connection
that began closing before the control connection's last captured packet closed while
the job's control connection was still up (`unheld_close_fits`), and only a
CONNECT_CLOSE read before it shows the job ended there (`job_closed_frame`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Container, Iterable, Mapping
from math import inf
from typing import NamedTuple

from flowcheck.config import Config
from flowcheck.model import Connection, NdmpStream, Session
from flowcheck.profiles import Profile
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.only_closing import (
    CLOSING_SECONDS,
    _spoke_between,
    _spoken,
    _unread_after,
    close_only,
    close_ts,
    closes_with,
    from_media_near,
)
from flowcheck.sessions.pools import Endpoints, claim


class JobReading(NamedTuple):
    """What unheld_close_fits reads of a control stream, once per session (review64e: it
    was read again for each connection, the stream's messages walked each time): the
    times (s, sorted) the job spoke (only_closing._spoken) and the frames (sorted) of its
    NDMP_CONNECT_CLOSE messages."""

    spoken: list[float]
    closes: list[int]


def job_reading(stream: NdmpStream | None) -> JobReading:
    """The JobReading of a control stream (None: no stream, nothing read)."""
    messages = stream.messages if stream is not None else []
    return JobReading(_spoken(stream), sorted(m.frame for m in messages
                                              if m.name == "NDMP_CONNECT_CLOSE"))


def control_close_unheld(control: Connection) -> bool:
    """Was the control connection open before the capture (outcome midstream), with no
    FIN or RST of it captured (close_ts None)? Its last captured packet
    (Connection.last_ts) is then the nearest the capture comes to the job's end."""
    return connection_outcome(control) == "midstream" and close_ts(control) is None


def unheld_close_fits(conn: Connection, session: Session, control: Connection,
                      stream: NdmpStream | None, announced: Container[tuple[str, int]],
                      config: Config, reading: JobReading | None = None) -> bool:
    """Could `conn` be the callback of `session`, whose control connection `control`'s
    close the capture does not hold (control_close_unheld)? Held only closing
    (only_closing.close_only: no opening, payload or RST, a FIN acknowledged), between
    the session's agent and media server whichever end's packet comes first, no control
    connection, the NDMP port at neither end, the media server's end a port in the media
    range, neither end in `announced` (endpoints (ip, port) a control connection
    announced: a data connection's), its first packet within CLOSING_SECONDS of the
    control connection's last captured packet (seconds), and no NDMP message but
    CONNECT_CLOSE on the control stream (`stream`) after that first packet
    (only_closing.job_spoke, to the end of the capture), nor data the stream did not
    read after it (only_closing._unread_after: TLS, a snap length cut): a connection
    closed while the job still spoke is its data connection closing. Nor one whose first
    packet comes before the control connection's last captured packet (time, then frame)
    with no CONNECT_CLOSE read before it (job_closed_frame): it closed while the control
    connection was still up, not at the job's end (review64e: lab/restore-2-resources.pcap
    frames 436-438, a data connection closing, then the media server's ACK on the
    control connection, the capture stopped; after CONNECT_CLOSE the control
    connection's last packets are its own closing, which the agent begins after the
    callback's: lab/concurrent-jobs.pcap 902-905). reading: job_reading(stream), when
    the caller holds it (read once per session)."""
    if abs(conn.ts - control.last_ts) > CLOSING_SECONDS \
            or {conn.orig_h, conn.resp_h} != {session.remote_agent, session.media_server} \
            or conn.role == "control" or config.ndmp_port in (conn.orig_p, conn.resp_p):
        return False
    media_port = conn.orig_p if conn.orig_h == session.media_server else conn.resp_p
    ends = ((conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p))
    if not config.in_media_range(media_port) or not close_only(conn) \
            or any(end in announced for end in ends):
        return False
    reading = reading or job_reading(stream)
    if (conn.ts, conn.first_frame) < (control.last_ts, control.last_frame) \
            and job_closed_frame(stream, conn, reading) is None:
        return False
    return not _spoke_between(reading.spoken, conn.ts, inf) \
        and not _unread_after(stream, control, conn.first_frame)


def job_closed_frame(stream: NdmpStream | None, conn: Connection,
                     reading: JobReading | None = None) -> int | None:
    """The frame of the last NDMP_CONNECT_CLOSE the control stream (`stream`) read before
    `conn`'s first packet: the job's end held in the capture, after which a connection
    held only closing is its callback's shape as beside a captured close
    (only_closing.name_closing_callbacks). None: none read there (not read, TLS, or the
    capture stopped before the job's end: review64e). reading: job_reading(stream), when
    the caller holds it."""
    closes = (reading or job_reading(stream)).closes
    before = bisect_left(closes, conn.first_frame)
    return closes[before - 1] if before else None


def name_callbacks_control_close_unheld(sessions: Iterable[Session],
                                        control_of: Mapping[str, Connection],
                                        streams: Mapping[str, NdmpStream],
                                        endpoints: Endpoints, config: Config,
                                        profile: Profile) -> None:
    """Name the callback of each session without one whose control connection's close
    the capture does not hold (control_close_unheld) when exactly one unclaimed
    connection fits it (unheld_close_fits), its first sender the session's agent (its
    direction seen), the job's CONNECT_CLOSE read before it (job_closed_frame: without
    it nothing held says the job ended, the capture may have stopped first), and that
    connection fits no other such session, nor closes beside
    the captured close of another session of the same host pair that has no callback
    named (only_closing.closes_with: it may be that one's). A named one sets
    Session.callback_closing and is claimed as the callback (so it is no data connection,
    no unannounced_connection); step 2 says it was taken for the callback by its host
    pair, ports and close (verify.callback_step). Those that fit the session alone
    otherwise (first seen at the media server's packet, or one of several) are claimed
    as its closing (Session.closing_only: none of its data connections, no other
    session's), and step 2 names them, status unknown (verify.closing_candidates). Run
    after only_closing.name_closing_callbacks, which reads closes the capture holds: the
    connections it named are claimed; one it named beside another session's captured
    close that this session would name is this one's when that one has a connection of
    its own held from the media server's packet (_own_from_media; else it stays that
    one's) and it is strictly nearer this one's last captured packet than that close. streams:
    control uid -> its NDMP stream."""
    if profile.callback != "connection":
        return
    sessions = list(sessions)
    unheld = [s for s in sessions if s.callback_uid is None
              and control_close_unheld(control_of[s.id])]
    if not unheld:
        return
    announced = {(a.ip, a.port) for s in sessions for a in s.announced}
    pairs = {frozenset((s.remote_agent, s.media_server)) for s in unheld}
    # Connections held only closing by host pair, in time order: each session looks only
    # at those within CLOSING_SECONDS of its control connection's last packet
    # (bisection: no sessions x connections).
    # A callback only_closing named beside another job's captured close may be this one's
    # (review64e: below).
    taken = {s.callback_uid: s for s in sessions if s.callback_closing
             and s.callback_uid is not None and close_ts(control_of[s.id]) is not None}
    by_uid: dict[frozenset[str], dict[str, Connection]] = {}
    for conns in endpoints.by_endpoint.values():
        for conn in conns:
            pair = frozenset((conn.orig_h, conn.resp_h))
            if pair in pairs and (conn.uid not in endpoints.claimed or conn.uid in taken) \
                    and close_only(conn):
                by_uid.setdefault(pair, {})[conn.uid] = conn
    shaped = {pair: sorted(conns.values(), key=lambda c: (c.ts, c.first_frame))
              for pair, conns in by_uid.items()}
    times = {pair: [c.ts for c in conns] for pair, conns in shaped.items()}
    # Captured closes of the pair's other sessions left without a callback.
    held: dict[frozenset[str], list[float]] = {}
    for s in sessions:
        control = control_of[s.id]
        closed = close_ts(control)
        if s.callback_uid is None and closed is not None \
                and connection_outcome(control) == "midstream":
            held.setdefault(frozenset((s.remote_agent, s.media_server)), []).append(closed)
    found: dict[str, list[Connection]] = {}
    fitting: dict[str, int] = {}
    readings: dict[str, JobReading] = {}
    for s in unheld:
        pair = frozenset((s.remote_agent, s.media_server))
        control = control_of[s.id]
        stream = streams.get(s.control_uid)
        reading = readings[s.id] = job_reading(stream)
        at = times.get(pair, [])
        near = shaped.get(pair, [])[bisect_left(at, control.last_ts - CLOSING_SECONDS):
                                    bisect_right(at, control.last_ts + CLOSING_SECONDS)]
        fits = [c for c in near
                if (c.uid not in taken or _yields(taken[c.uid], c, control, control_of,
                                                  shaped, times, config))
                and unheld_close_fits(c, s, control, stream, announced, config, reading)]
        found[s.id] = fits
        for conn in fits:
            fitting[conn.uid] = fitting.get(conn.uid, 0) + 1
    for closes in held.values():
        closes.sort()
    for s in unheld:
        closes = held.get(frozenset((s.remote_agent, s.media_server)), [])
        own = [c for c in found[s.id] if fitting[c.uid] == 1
               and not any(closes_with(c, closed) for closed in
                           closes[bisect_left(closes, c.ts - CLOSING_SECONDS):
                                  bisect_right(closes, c.ts + CLOSING_SECONDS)])]
        if len(found[s.id]) == 1 and own and own[0].orig_h == s.remote_agent \
                and job_closed_frame(None, own[0], readings[s.id]) is not None:
            if (other := taken.get(own[0].uid)) is not None:
                other.callback_uid, other.callback_closing = None, False  # _yields
            s.callback_uid = own[0].uid
            s.callback_closing = True
            claim(endpoints, own[0], s, "callback")
            continue
        for conn in own:
            if conn.uid in taken:
                continue
            # Its direction unseen (first seen at the media server's packet: review63h's
            # reading of one beside a captured close), or one of several, or the job's
            # end not held (no CONNECT_CLOSE read before it: review64e): the session's
            # closing, which step 2 names (verify.closing_candidates), no other
            # session's data connection (lab/concurrent-jobs.pcap from frame 897).
            endpoints.claimed.add(conn.uid)
            conn.session = s.id
            s.closing_only.append(conn.uid)


def _yields(other: Session, conn: Connection, control: Connection,
            control_of: Mapping[str, Connection],
            shaped: Mapping[frozenset[str], list[Connection]],
            times: Mapping[frozenset[str], list[float]], config: Config) -> bool:
    """May `conn`, which only_closing named `other`'s callback beside its captured close,
    be read against a session whose control connection `control`'s close the capture
    does not hold? When strictly nearer that connection's last captured packet than
    `other`'s close, and `other` has a connection of its own held from the media
    server's packet (_own_from_media): only_closing's review63a reading, nearest tells
    apart jobs that each have a callback (review64e: lab/concurrent-jobs.pcap frames
    885-892, 894-902, 906-907, the 5035 job's callback 6093 -> 5001, 0.1 ms after its
    CONNECT_CLOSE and 4.7 ms after the 5021 job's close, was named the 5021 job's, whose
    own 6087 -> 5051 is held from the media server's ACK)."""
    closed = close_ts(control_of[other.id])
    return closed is not None and abs(conn.ts - control.last_ts) < abs(conn.ts - closed) \
        and _own_from_media(other, closed, shaped, times, config)


def _own_from_media(session: Session, closed: float,
                    shaped: Mapping[frozenset[str], list[Connection]],
                    times: Mapping[frozenset[str], list[float]], config: Config) -> bool:
    """Does `session` (its control connection's close captured at `closed`, seconds) have
    a connection of its own held only closing first seen at the media server's packet,
    from a port of the media range to its agent, within CLOSING_SECONDS of that close
    (only_closing.from_media_near, _seen_from_media's reading; shaped, times: unclaimed
    connections held only closing by host pair, in time order)?"""
    return from_media_near(session, closed, shaped, times,
                           frozenset((session.remote_agent, session.media_server)), config)
