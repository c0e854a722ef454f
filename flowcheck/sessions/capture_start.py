"""Data connections of a job that started before the capture, by direction and ports.

A capture that starts in the middle of a job (or a ring buffer whose hole holds the
job's start) misses the announcements made before it: a session whose control
connection was already open takes the connections between its two hosts that fit the
profile's direction and the configured port ranges (Session.match_reason
"capture_start"). The matching of announcements the capture holds but cannot read is
flowcheck.sessions.by_ports.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from flowcheck.config import Config
from flowcheck.model import Connection, NdmpStream, RingGap, Session
from flowcheck.profiles import Profile
from flowcheck.sessions.classify import connection_outcome, end_of, is_failed
from flowcheck.sessions.file_order import BEGINNING, END
from flowcheck.sessions.late_owners import (
    Evidence,
    LateJob,
    Windows,
    decide,
    failed_by_pair,
    named_ends,
    tie,
)
from flowcheck.sessions.named import connect_failures, named_endpoints
from flowcheck.sessions.only_closing import claim_closing_only
from flowcheck.sessions.pools import Endpoints, Pool, claim
from flowcheck.sessions.tie_groups import Ties


def attach_started_before_capture(sessions: list[Session], control_of: dict[str, Connection],
                                  streams: dict[str, NdmpStream], ordered: list[Connection],
                                  endpoints: Endpoints, config: Config, profile: Profile,
                                  ring_gaps: Sequence[RingGap] = ()) -> None:
    """A capture that starts in the middle of a job misses the announcements made before
    it: a session whose control connection was already open takes the unexplained
    connections between its two hosts, by the profile's direction and ports, that were
    open too (no SYN seen) while its control connection was, or opened before the
    capture shows its control stream (the first decoded NDMP message; without one, the
    control connection's first captured packet), with their retries from new source
    ports. A connection that opens later is announced in the capture, so it is not
    taken here.

    When the control connection's first captured packet follows a hole in a ring buffer
    (ring_gaps, in time order), it opened in that hole (Session.start_gap), not before
    the capture: a connection whose SYN the capture holds from before the hole is not
    its own (its announcement would be in the capture too). Either way a connection is
    taken only if each end's port is in its side's range (the agent range on the agent,
    the media range on the media server): matched by ports, a connection with another
    port is other traffic between the two hosts (unannounced_connection). Nor is a lone
    SYN its connector gave up at once (lone_syn_given_up): nothing ties it to this job
    rather than an earlier one. Nor, under a profile whose media server connects, is one
    open before the capture whose direction neither its first sender nor its ports tell
    (opener_unknown) unless a GET_STATE reply of the session names one of its ends.

    Several such sessions between the same hosts at once (jobs begun before the
    capture): a connection that fits more than one goes to the one whose message names
    it, else is tied between them (sessions.late_owners; review56p: the first session
    took them all). One pass over each pool of connections, each connection's sessions
    found by bisection over their windows (issue 7)."""
    midstream = [s for s in sessions
                 if connection_outcome(control_of[s.id]) == "midstream"]
    if not midstream:
        return
    # Pools by (opened in the capture, host pair).
    pools = endpoints.pools(ordered, lambda c: None if (key := _profile_key(
        c, config, profile)) is None else (connection_outcome(c) != "midstream", key))
    capture_end = max((c.last_ts for c in ordered), default=0.0)
    order = endpoints.order  # its pools' time order: moments (FileOrder.moment)
    jobs = [_late_job(index, session, control_of[session.id],
                      streams.get(session.control_uid), ring_gaps)
            for index, session in enumerate(midstream)]
    # The windows in frames where they are the sniffer's write order, none moved and no
    # session's start in a ring's hole (a time): a clock set back after a connection was
    # first seen does not move it into or out of a window (review58d:
    # lab/concurrent-jobs cut from frame 50, stepped back 2 s after its first packet,
    # left the connection tied between the two jobs unannounced).
    frames = order.frames and not order.moved and not any(j.session.start_gap for j in jobs)
    if frames:
        jobs = [_in_frames(job, control_of[job.session.id], streams.get(job.session.control_uid))
                for job in jobs]
    # By pool key, then by the hosts' roles (media server, agent): each group's ranges
    # and opener rule are the same for all its sessions.
    groups: dict[Hashable, dict[tuple[str, str], list[LateJob]]] = {}
    named_by: dict[tuple[str, int], list[LateJob]] = {}
    refusals: list[tuple[float, int, str, LateJob]] = []
    for job in jobs:
        session = job.session
        roles = (session.media_server, session.remote_agent)
        for key in ((False, tuple(sorted(roles))), (True, _session_key(session, profile))):
            groups.setdefault(key, {}).setdefault(roles, []).append(job)
        for end in job.named:
            named_by.setdefault(end, []).append(job)
        refusals += [(ts, job.index, host, job) for ts, host in job.refused]
    refusals.sort(key=lambda item: item[:2])
    evidence = Evidence(named_by, refusals, failed_by_pair(ordered) if refusals else {})
    # Each session's ties in session order, kept after those it had (sessions.by_ports).
    ties = Ties({s.id: i for i, s in enumerate(sessions)})
    retries: dict[Hashable, Pool] | None = None
    for key, by_roles in sorted(groups.items(), key=lambda item: item[0][0]):
        pool = pools.get(key)
        if pool is None:
            continue
        opened = key[0]
        windows = [(roles, window) for roles, group in by_roles.items()
                   if (window := Windows(group, running=not opened)).jobs]
        if not windows:
            continue
        group_jobs = [job for group in by_roles.values() for job in group]
        lo = min(j.opened_from for j in group_jobs) if opened else float("-inf")
        hi = max(j.seen_from if opened else j.end for j in group_jobs)
        # The windows are in seconds (sessions.late_owners), or frames: after a clock
        # step back on every stream (FileOrder.epochs) the pool's moments have no bound
        # in them, so every connection is offered and the windows decide (clockpools).
        for conn in (pool.each_written(0 if lo == float("-inf") else int(lo), hi) if frames
                     else pool.each(*((0, lo), (0, hi)) if order.epochs is None
                                    else (BEGINNING, END))):
            owner, tied = _owner(conn, windows, opened, evidence, capture_end, config,
                                 profile, conn.first_frame if frames else conn.ts)
            if tied:
                tie(conn, tied, endpoints.claimed, ties)
                continue
            if owner is None:
                continue
            session = owner.session
            # Its retries open by its control connection's end (classify.end_of: its last
            # packet's time, never infinite), on that packet's clock.
            control = control_of[session.id]
            until = order.moment(control.last_frame, end_of(control))
            if claim_closing_only(endpoints, conn, session, control,
                                  streams.get(session.control_uid), config, profile):
                continue  # its job closing: no data connection (only_closing)
            while conn is not None:
                claim(endpoints, conn, session, "data")
                session.port_matched.append(conn.uid)
                if (said := _named(conn, owner.named)) is not None:
                    session.port_named[conn.uid] = said
                if not is_failed(conn):
                    break
                # A connector whose SYNs fail retries from a new source port.
                if retries is None:
                    retries = endpoints.pools(
                        ordered, lambda c: None if _profile_key(c, config, profile) is None
                        else (c.orig_h, c.resp_h, c.resp_p))
                same = retries.get((conn.orig_h, conn.resp_h, conn.resp_p))
                conn = same.first(order.began(conn), until) if same else None
    ties.finish(midstream)
    for job in jobs:
        session = job.session
        if (session.port_matched or session.port_tied) and not session.match_reason:
            session.match_reason = "capture_start"


def _owner(conn: Connection, windows: list[tuple[tuple[str, str], Windows]], opened: bool,
           evidence: Evidence, capture_end: float, config: Config, profile: Profile,
           at: float) -> tuple[LateJob | None, list[LateJob]]:
    """(owner, tied) of one connection of a pool among the late sessions of its hosts
    (windows: per (media server, agent) roles, their Windows; opened: the pool holds
    connections opened in the capture; at: where it was first seen, in the windows'
    unit: s, or its first frame): sessions.late_owners.decide over those whose
    window holds it and whose ranges (and opener rule) it fits, and those naming it."""
    live, fitting, naming = 0, [], []
    said: list[LateJob] | None = None  # every late session naming conn, found once
    for roles, window in windows:
        first = window.jobs[0].session  # the roles' ranges and opener rule: any one's
        if not ports_in_ranges(conn, first, config):
            continue  # another service
        if said is None:
            said = evidence.naming(conn)
        naming += [j for j in said
                   if (j.session.media_server, j.session.remote_agent) == roles
                   and window.fits(j, at)]
        if opened and lone_syn_given_up(conn, capture_end, config.retransmission_timeout):
            # An earlier connect's last try: only a session whose CONNECT error reply
            # answers it takes it (newuser61: a leftover's retry, the agent's packets
            # only).
            continue
        if opener_unknown(conn, first, config, profile):
            continue  # a callback or other traffic as likely: only if named
        if (count := window.count(at)) and not naming:
            live += count
            fitting.append(window)
    return decide(live, [j for w in fitting for j in w.each(at)]
                  if live and not naming else [], naming)


def _late_job(index: int, session: Session, control: Connection, stream: NdmpStream | None,
              ring_gaps: Sequence[RingGap]) -> LateJob:
    """The session's window and what its messages name (sessions.late_owners.LateJob);
    sets Session.start_gap."""
    session.start_gap = gap_before(ring_gaps, control.ts)
    return LateJob(session, index, end_of(control),
                   session.start_gap.start if session.start_gap else float("-inf"),
                   stream.messages[0].ts if stream and stream.messages else control.ts,
                   named_endpoints(stream), connect_failures(stream, session))


def _in_frames(job: LateJob, control: Connection, stream: NdmpStream | None) -> LateJob:
    """The job's window in frames (LateJob: its control connection's last frame, the
    frame of its first decoded message, else of its control connection's first packet)."""
    job.end = control.last_frame
    job.seen_from = stream.messages[0].frame if stream and stream.messages \
        else control.first_frame
    return job


def _named(conn: Connection, named: dict[tuple[str, int], tuple[int, str]]
           ) -> tuple[int, str] | None:
    """The (frame, message name) of the session's first GET_STATE reply naming the
    connection's responder, or either end of one open before the capture (its first
    sender is no opener): Session.port_named, so step 3 says the reply names it (latecut:
    v4-backup.pcap from frame 30 said no reply names 10.77.0.1:5014, its DATA_GET_STATE
    reply of frame 2117 does). None when none names it."""
    return next((named[end] for end in named_ends(conn) if end in named), None)


def opener_unknown(conn: Connection, session: Session, config: Config,
                    profile: Profile) -> bool:
    """Is this connection, open before the capture, one whose first captured packet the
    agent sent while the media server's port fits the agent range too (the ranges
    overlap, as by default), under a profile whose media server connects? Neither the
    sender nor the ports then tell who opened it: the agent's callback to the job engine
    and any other agent-to-media-server traffic look the same as the data connection
    that carries the agent's backup, so attach_started_before_capture takes it only when
    one of the session's GET_STATE replies names one of its ends (_named). review56p:
    with the default ranges, callbackmatch/ssh-beside-lost-callback.pcap from frame 20
    took the callback 10.77.0.2:6093 -> 10.77.0.1:5001 as a data connection,
    keepalive-beside-job.pcap from frame 10 the keepalive 10.77.0.2:7000 ->
    10.77.0.1:5050, and lab/concurrent-jobs.pcap from frame 200 gave S1 the other job's
    data connection 10.77.0.2:6002 -> 10.77.0.1:5002 (each unannounced_connection before
    latecut). A connection whose media port is outside the agent range is told by its
    ports, as before (trial 20 D3)."""
    return (profile.connector == "media_server" and connection_outcome(conn) == "midstream"
            and conn.orig_h == session.remote_agent and config.in_agent_range(conn.resp_p))


def lone_syn_given_up(conn: Connection, capture_end: float, rto: float) -> bool:
    """One SYN, no answer, never resent although the capture went on for the
    retransmission timeout `rto` (seconds) after it: its connector gave up at once. A
    connect ends so after its last SYN retry (Linux: 6 retries over about two minutes,
    Windows: 2 to 4 over 21 to 31 s, verify.syn_give_up; RFC 6298 5.7), so when its
    announcement came before the capture it may be an earlier job's attempt as well as
    this job's (trial 15: a previous run's last retry)."""
    return (connection_outcome(conn) == "unanswered" and len(conn.syn_frames) == 1
            and conn.syn_retries == 0 and capture_end - conn.last_ts >= rto)


def gap_before(ring_gaps: Sequence[RingGap], ts: float) -> RingGap | None:
    """The last hole of a ring buffer that ends at or before `ts` (seconds), None when
    none does (ring_gaps: in time order)."""
    return next((gap for gap in reversed(ring_gaps) if gap.end <= ts), None)


def ports_in_ranges(conn: Connection, session: Session, config: Config) -> bool:
    """Is each end's port in its side's range: the agent range on the session's agent,
    the media range on its media server (what port_outside_*_range checks)? Both ends,
    since the direction of a connection whose SYN the capture lacks is a guess."""
    return all(config.in_agent_range(port) if host == session.remote_agent else
               config.in_media_range(port) if host == session.media_server else True
               for host, port in ((conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p)))


def _profile_key(conn: Connection, config: Config, profile: Profile) -> Hashable:
    """The host pair under which a connection could be a session's data connection, by
    the profile's direction and ports (None: no session's); see _session_key."""
    if conn.role == "control" or config.ndmp_port in (conn.resp_p, conn.orig_p):
        return None
    if profile.connector == "media_server":
        if connection_outcome(conn) == "midstream":
            # Open before the capture: its originator is only its first captured
            # packet's sender (the agent's backup data), not who opened it (trial 20 D3),
            # so either end may be the agent's: ports_in_ranges tells by host (and,
            # when the ranges cannot, a GET_STATE reply: _opener_unknown). Keyed by
            # the first sender alone, a connection whose media port is in the agent
            # range too (the default ranges overlap) went to no session (latecut:
            # v4-backup.pcap cut from frame 20, unannounced_connection).
            if config.in_agent_range(conn.resp_p) or config.in_agent_range(conn.orig_p):
                return tuple(sorted((conn.orig_h, conn.resp_h)))
            return None
        # The media server connects, to a port in the agent range.
        if config.in_agent_range(conn.resp_p):
            return (conn.orig_h, conn.resp_h)
        return None
    return tuple(sorted((conn.orig_h, conn.resp_h)))  # either host may connect


def _session_key(session: Session, profile: Profile) -> Hashable:
    if profile.connector == "media_server":
        return (session.media_server, session.remote_agent)
    return tuple(sorted((session.media_server, session.remote_agent)))
