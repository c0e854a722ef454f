"""Sessions: one per NDMP control connection, with the connections it explains.

A session owns its control connection, the callback to the job engine (profiles with a
callback) and the data connections that reached an endpoint announced on its control
connection (Zeek's FTP expectations: the next connection to the announced ip:port
from the session's own host on the side told to connect belongs to the session). Step
statuses are left to flowcheck.verify.

When the capture's snap length cut the address out of an announcing message (or left
the whole control stream unreadable), the announcement's connection is matched by
direction (the message's listener, else the profile's) and port sets instead
(`by_ports`); full captures never take that path.

`classify` reads what a connection or control stream says on its own, `snap_cut` which
of its announcing messages the snap length cut; `pools` keeps the
connections each session may claim; `matching` ties announced connections and callbacks
to sessions, `callback_elsewhere` a callback under another address than the control
connection's, `by_ports` the connections of announcements the capture cannot show
(`named` shares them out among jobs at once by the endpoints their replies name;
`callback_ties` gives a connection tied between them to the one whose callback came
from its agent's address); `capture_start` those of jobs begun before the capture
(`late_owners` shares them out among such jobs at once);
`threeway` shares a data connection between the two sessions of a three-way job (the
LISTEN reply on one control connection, the CONNECT request on the other); `local` finds
the data connections that stay inside one host (never on the wire); `other_protocol` a
connection to the NDMP port that speaks another protocol both ways (no session at all);
`stray` a lone SYN between two other hosts that a switch flooded to the capture (no
session either); `unseen` tells a session that shows no sign of a job whose deciding messages the
capture lacks (kind unknown, not browse), `before_job` one that ended before asking
anything (refused at its opening, or closed right after authenticating: kind unknown
too); this module builds the sessions in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import attrgetter

from flowcheck.config import Config
from flowcheck.model import Connection, NdmpStream, RingGap, Session
from flowcheck.profiles import Profile
from flowcheck.sessions.before_job import ended_before_job, ended_words
from flowcheck.sessions.by_ports import attach_by_ports
from flowcheck.sessions.callback_elsewhere import attach_callbacks_elsewhere, vendor_anchor
from flowcheck.sessions.callback_from_ack import attach_callbacks_seen_from_ack
from flowcheck.sessions.callback_sweep import CALLBACK_SLACK_SECONDS, attach_callbacks
from flowcheck.sessions.callback_ties import untie_by_callbacks
from flowcheck.sessions.capture_start import attach_started_before_capture
from flowcheck.sessions.classify import (
    DATA_INTENT,
    Outcome,
    announcement_groups,
    asked_version,
    closed_before_data,
    closing,
    connection_outcome,
    is_failed,
    kind_from_bytes,
    listener_host,
    message_op,
    one_sided,
    quoted_syn_refused,
    rst_only,
    said_kind,
    session_kind,
    unseen_syn_refused,
)
from flowcheck.sessions.clock_apart import LagProof, lag_proofs
from flowcheck.sessions.closing_unheld import name_callbacks_control_close_unheld
from flowcheck.sessions.data_ends import note_callback_hosts
from flowcheck.sessions.file_order import TIME_ORDER, FileOrder
from flowcheck.sessions.kept import kept_packets
from flowcheck.sessions.late_closes import attach_late_closes
from flowcheck.sessions.local import find_local_data, is_local_group
from flowcheck.sessions.matching import Endpoints, attach_data
from flowcheck.sessions.only_closing import name_closing_callbacks
from flowcheck.sessions.other_protocol import other_protocol
from flowcheck.sessions.snap_cut import addressless_replies, cut_announcements, known_version
from flowcheck.sessions.stray import StraySyn, stray_syns
from flowcheck.sessions.threeway import share_announced
from flowcheck.sessions.tls_start import proven_tls_starts, tls_from_start
from flowcheck.sessions.unseen import job_unseen, one_way_unseen, snap_lost_words

__all__ = [
    "CALLBACK_SLACK_SECONDS", "DATA_INTENT", "Outcome", "addressless_replies",
    "announcement_groups",
    "closed_before_data", "closing", "build_sessions", "build_sessions_and_strays",
    "connection_outcome", "cut_announcements", "is_failed", "is_local_group", "listener_host",
    "message_op",
    "one_sided", "quoted_syn_refused", "rst_only", "session_kind", "unseen_syn_refused",
]


def build_sessions(connections: list[Connection], streams: list[NdmpStream], config: Config,
                   profile: Profile, *, ring_gaps: Sequence[RingGap] = (),
                   order: FileOrder = TIME_ORDER,
                   clock_lags: Mapping[tuple[str, str], LagProof] | None = None
                   ) -> list[Session]:
    """One session per control connection; sets Connection.role/.session and used_by.
    ring_gaps: the holes of a ring buffer, in time order (a session whose control
    connection opened in one takes no connection the capture holds from before it);
    order: how the capture orders its events (flowcheck.sessions.file_order);
    clock_lags: the lag proofs of `connections`, (host behind, host ahead) -> LagProof
    (sessions.clock_apart.lag_proofs of these very connections: the pipeline's,
    pipeline.Traffic.clock_lags; None: found here, once, when there is a session)."""
    return build_sessions_and_strays(connections, streams, config, profile,
                                     ring_gaps=ring_gaps, order=order,
                                     clock_lags=clock_lags)[0]


def build_sessions_and_strays(connections: list[Connection], streams: list[NdmpStream],
                              config: Config, profile: Profile, *,
                              ring_gaps: Sequence[RingGap] = (),
                              order: FileOrder = TIME_ORDER,
                              clock_lags: Mapping[tuple[str, str], LagProof] | None = None
                              ) -> tuple[list[Session], dict[str, StraySyn]]:
    """build_sessions, and the stray control SYNs it opened no session for
    (flowcheck.sessions.stray), by uid: verify reports them (flowcheck.verify.stray).
    clock_lags: as build_sessions.

    A connection in TLS from its first byte between a configured media server and agent
    (sessions.tls_start) is a session only when, the sessions built without it, a
    connection none of them explains fits its job: then they are built again with it."""
    stream_by_uid = {s.uid: s for s in streams}
    in_tls = {s.uid for s in streams if s.tls_from and not s.messages}  # few, mostly none
    candidates = [c for c in connections if c.uid in in_tls
                  and tls_from_start(c, stream_by_uid[c.uid], config)] if in_tls else []
    lags = _Lags(connections, clock_lags)
    sessions, strays = _build(connections, stream_by_uid, config, profile, ring_gaps, order,
                              lags)
    if candidates:
        proven = proven_tls_starts(candidates, connections, config, profile, order)
        if proven:
            sessions, strays = _build(connections, stream_by_uid, config, profile, ring_gaps,
                                      order, lags, frozenset(proven))
    return sessions, strays


def _build(connections: list[Connection], stream_by_uid: dict[str, NdmpStream],
           config: Config, profile: Profile, ring_gaps: Sequence[RingGap],
           order: FileOrder, lags: _Lags, tls_starts: frozenset[str] = frozenset()
           ) -> tuple[list[Session], dict[str, StraySyn]]:
    """The sessions, their connections attached, and the stray control SYNs;
    tls_starts: the uids of connections in TLS from their first byte proven the job's
    (sessions.tls_start)."""
    ordered, sessions, control_of, strays = open_sessions(connections, stream_by_uid, config,
                                                          tls_starts, order)
    if not sessions:
        return sessions, strays  # no session to attach to: every connection stays "other"

    endpoints = Endpoints(order)
    for conn in ordered:
        if conn.role != "control":
            endpoints.add(conn)
    by_uid = {c.uid: c for c in connections}
    clock_lags = lags.proofs()
    attach_data(sessions, endpoints, control_of, order, clock_lags=clock_lags,
                hold=config.port_hold_seconds)
    share_announced(sessions, control_of, by_uid, order)
    # A callback held only closing beside its control connection's close, by its time
    # among the job's last messages (sessions.only_closing), before the sweep by order.
    closing_pairs, unsure = name_closing_callbacks(sessions, control_of, stream_by_uid,
                                                   endpoints, config, profile)
    # ... and one beside a control connection whose close the capture does not hold.
    name_callbacks_control_close_unheld(sessions, control_of, stream_by_uid, endpoints,
                                        config, profile)
    if profile.callback == "connection":
        attach_callbacks(sessions, control_of, ordered, by_uid, endpoints, config, order,
                         {s.id: vendor_anchor(stream_by_uid.get(s.control_uid),
                                              control_of[s.id]) for s in sessions},
                         closing_pairs, unsure)
        attach_callbacks_seen_from_ack(sessions, control_of, stream_by_uid, ordered,
                                       endpoints, config, profile, unsure)
    attach_by_ports(sessions, control_of, stream_by_uid, ordered, endpoints, config, profile,
                    kept_packets(connections), clock_lags=clock_lags, order=order)
    attach_started_before_capture(sessions, control_of, stream_by_uid, ordered, endpoints, config,
                                  profile, ring_gaps)
    attach_late_closes(sessions, control_of, stream_by_uid, ordered, endpoints, config, profile,
                       unsure)
    if profile.callback == "connection":
        attach_callbacks_elsewhere(sessions, control_of, stream_by_uid, ordered, by_uid,
                                   endpoints, config, order, clock_lags=clock_lags)
        untie_by_callbacks(sessions, by_uid, order)
    find_local_data(sessions, stream_by_uid, control_of)
    note_callback_hosts(sessions, by_uid)
    settle_kinds(sessions, stream_by_uid, by_uid)
    return sessions, strays


class _Lags:
    """The lag proofs of one build's connections (sessions.clock_apart.lag_proofs): the
    caller's when given, else found on first use and kept (a build with no session, the
    most common without NDMP, never needs them; a TLS start proven builds twice)."""

    def __init__(self, connections: list[Connection],
                 given: Mapping[tuple[str, str], LagProof] | None) -> None:
        self._connections = connections
        self._proofs = given

    def proofs(self) -> Mapping[tuple[str, str], LagProof]:
        """(host behind, host ahead) -> LagProof over every connection."""
        if self._proofs is None:
            self._proofs = lag_proofs(self._connections)
        return self._proofs


def open_sessions(connections: list[Connection], stream_by_uid: dict[str, NdmpStream],
                  config: Config, tls_starts: frozenset[str] = frozenset(),
                  order: FileOrder = TIME_ORDER
                  ) -> tuple[list[Connection], list[Session], dict[str, Connection],
                             dict[str, StraySyn]]:
    """Roles, sessions and used_by reset, then one session (S1, S2, ...) per control
    connection (to the NDMP port, or decoded as NDMP; not one that speaks another
    protocol both ways: sessions.other_protocol, unless its uid is in tls_starts: in
    TLS from its first byte, proven the job's by sessions.tls_start), in the capture's
    `order` (FileOrder.key): by frame where the frames are the sniffer's write order,
    else by time, (clock epoch, ts) where every stream stepped back at once (a later
    job's control connection stamped before an earlier one's by a clock set back between
    them is numbered after it; clockpools). Returns the
    connections in that order ((epoch, ts), first_frame), the sessions, each session's control
    connection by session id, and the stray control SYNs left out (sessions.stray), by
    uid."""
    # Start afresh, so building again over grown traffic (live) gives the same answer.
    for conn in connections:
        conn.role, conn.session = "other", None
    for stream in stream_by_uid.values():
        for announcement in stream.announcements:
            announcement.used_by = None
    ordered = sorted(connections, key=attrgetter("ts", "first_frame")) \
        if order.epochs is None else sorted(connections, key=order.time_key)
    # Another protocol on the NDMP port (both sides, from their start) is no session:
    # it stays "other" traffic (sessions.other_protocol; trial 23 D1: Webmin on 10000).
    # A stray copy of another host pair's control SYN (a switch's flood) is no session
    # either (sessions.stray; trial 27 D2): flowcheck.verify.stray reports it.
    strays = stray_syns(ordered, stream_by_uid, config.ndmp_port, order)
    controls = [c for c in ordered if (c.resp_p == config.ndmp_port or c.uid in stream_by_uid)
                and (other_protocol(c, stream_by_uid.get(c.uid)) is None or c.uid in tls_starts)
                and c.uid not in strays]
    if order.frames:  # numbered in the file's write order (FileOrder.key)
        controls.sort(key=lambda c: order.key(c.first_frame, c.ts))
    sessions: list[Session] = []
    control_of: dict[str, Connection] = {}
    for number, conn in enumerate(controls, start=1):
        stream = stream_by_uid.get(conn.uid)
        session = Session(id=f"S{number}", control_uid=conn.uid, media_server=conn.orig_h,
                          remote_agent=conn.resp_h,
                          version=known_version(stream),
                          kind=session_kind(stream),
                          announced=list(stream.announcements) if stream else [])
        session.kind_guessed = session.kind == "backup" and said_kind(stream) is None
        if session.version is None and stream is not None:
            session.asked_version = asked_version(stream)
        session.kind_unknown = stream is None or not stream.messages
        if session.kind_unknown and stream is not None and stream.snap_lost:
            # Its records are in the capture, their headers cut: not "none of it".
            session.kind_unknown_why = snap_lost_words(stream)
        elif session.kind_unknown and stream is not None and stream.tls_from:
            # TLS from its first byte: the conversation is in the capture, encrypted, not
            # absent; a failure the capture shows says why no job came (verify.kind_shown).
            session.job_unseen = session.kind_unknown_why = job_unseen(conn, stream)
        if session.kind == "browse" and not session.kind_unknown \
                and connection_outcome(conn) == "midstream":
            # No sign of a job in what the capture holds of a session whose start it
            # lacks: a DATA_START_* may have come before (the capture's start, a ring hole).
            session.kind_unknown, session.kind_unknown_why = True, MIDSTREAM_KIND
        if session.kind == "browse" and not session.kind_unknown:
            # No sign of a job, but is that because none was started? (sessions.unseen)
            session.job_unseen = job_unseen(conn, stream)
            session.job_unseen_one_way = bool(session.job_unseen) and \
                one_way_unseen(conn, stream)
            if session.job_unseen:
                session.kind_unknown, session.kind_unknown_why = True, session.job_unseen
        if session.kind == "browse" and not session.kind_unknown:
            # It asked nothing, refused or closed after authenticating (sessions.before_job).
            session.ended_before_job = ended_before_job(conn, stream)
            if session.ended_before_job is not None:
                session.kind_unknown = True
                session.kind_unknown_why = ended_words(session.ended_before_job)
        conn.role, conn.session = "control", session.id
        sessions.append(session)
        control_of[session.id] = conn
    return ordered, sessions, control_of, strays


# Why a session whose start the capture lacks has no kind (Session.kind_unknown_why).
MIDSTREAM_KIND = ("its start is not in the capture, and nothing after it tells a backup, "
                  "a restore or a browse")


def settle_kinds(sessions: list[Session], stream_by_uid: dict[str, NdmpStream],
                 by_uid: dict[str, Connection]) -> None:
    """A session with data connections whose control stream does not say which way the
    job went (cut, or mid-job: said_kind) gets its kind from the bytes each way; with as
    many bytes each way (none), the kind stays a guess (Session.kind_guessed)."""
    for session in sessions:
        stream = stream_by_uid.get(session.control_uid)
        if session.data_connections and said_kind(stream) is None:
            session.kind, told = kind_from_bytes(session, by_uid)
            session.kind_guessed, session.kind_unknown = not told, False
            session.job_unseen = ""  # its data connections show a job
            session.job_unseen_one_way = False
            session.ended_before_job = None
