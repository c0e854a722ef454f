"""Every check, in order: check_all (flowcheck.verify gives it, loading this module on
first use).

check_all fills each Session.steps and returns the findings (decode findings excluded:
the pipeline adds those). Order matters: connection and NDMP checks record root causes
first, so the step checks add only a status where a cause is already reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flowcheck.config import Config
from flowcheck.model import Connection, Finding, NdmpStream, RingGap, Session
from flowcheck.model.arp_claims import NeighbourClaims
from flowcheck.profiles import Profile
from flowcheck.sessions.clock_apart import LagProof
from flowcheck.sessions.file_order import TIME_ORDER, FileOrder
from flowcheck.sessions.stray import StraySyn, stray_syns
from flowcheck.sources.pieces import ONE_PIECE, Pieces
from flowcheck.verify.before_job import check_closed_after_auth
from flowcheck.verify.capacity import check_capacity
from flowcheck.verify.capture_filter import PortOnlyCapture
from flowcheck.verify.census import Census
from flowcheck.verify.context import Context
from flowcheck.verify.cut_transfer import check_cut_transfers
from flowcheck.verify.evidence import check_evidence
from flowcheck.verify.filtered import report_left_out
from flowcheck.verify.fix_notes import note_fixes
from flowcheck.verify.hosts import check_hosts, mark_side_traffic
from flowcheck.verify.links import check_links
from flowcheck.verify.listen_unanswered import note_closed_listens
from flowcheck.verify.nat_unread import note_nat_unread
from flowcheck.verify.no_reply import check_no_reply
from flowcheck.verify.probes_only import note_probes_only
from flowcheck.verify.profile_followed import note_profile_followed
from flowcheck.verify.proof_cache import ProofCache
from flowcheck.verify.range_stops import note_range_stops
from flowcheck.verify.ranges import note_too_small
from flowcheck.verify.receiver_stalled import check_receiver_stalls
from flowcheck.verify.replies import check_replies
from flowcheck.verify.running import check_gave_up, check_running
from flowcheck.verify.server_roles import mark_server_roles
from flowcheck.verify.short_callbacks import report_short_callbacks
from flowcheck.verify.stalled_transfer import check_stalled_transfers
from flowcheck.verify.steps import check_steps
from flowcheck.verify.stray import note_stray_syns
from flowcheck.verify.tls_close import check_tls_close
from flowcheck.verify.unexplained import check_unexplained


def check_all(connections: list[Connection], streams: list[NdmpStream],
              sessions: list[Session], config: Config, profile: Profile, *,
              ended_at: float | None = None, ring_gaps: Sequence[RingGap] = (),
              file_gaps: Sequence[RingGap] = (),
              kernel_dropped: int = 0, host_copies: bool = False,
              interface_copies: bool = False, routed_points: bool = False,
              linked_files: bool = False, cut_recorded: int = 0,
              nat_aliases: frozenset[tuple[str, str]] = frozenset(),
              copy_legs: Mapping[tuple[str, int, str, int], bool] | None = None,
              host_marks: Mapping[tuple[str, str], int] | None = None,
              other_arriving: bool = False,
              strays: Mapping[str, StraySyn] | None = None,
              order: FileOrder = TIME_ORDER,
              unread: Mapping[str, tuple[int, int]] | None = None,
              unread_spans: Mapping[tuple[str, str], tuple[float, float]] | None = None,
              census: Census | None = None,
              port_only_capture: PortOnlyCapture | None = None,
              link_claims: NeighbourClaims | None = None,
              clock_lags: Mapping[tuple[str, str], LagProof] | None = None,
              pieces: Pieces = ONE_PIECE,
              capture_paths: Sequence[str] = ()) -> list[Finding]:
    """ended_at: when the capture stopped, if later than its last packet (live);
    file_gaps: the time between files given in sequence that no file covers
    (sources.file_gaps; step 4 says a handshake went then).
    ring_gaps: the holes of a ring buffer, in time order (capture_ring_gap);
    kernel_dropped: the packets the sniffer said it dropped (CaptureInfo); host_copies:
    the capture copies are all one host's Windows tool's (TrackResult.host_copies);
    interface_copies: they are one capture host's several interfaces'
    (TrackResult.interface_copies); routed_points: copies between two capture points
    came with another TTL (TrackResult.routed_points); linked_files: two files are two
    capture points' (TrackResult.linked_files); nat_aliases: (address, the same host's
    address across a NAT) pairs the set shows (Traffic.nat_aliases); copy_legs: per
    direction with copies whose legs are known, whether one crossed (TrackResult.copy_legs);
    host_marks: each host pair's Linux cooked packet types and TTLs (TrackResult.host_marks);
    other_arriving: a packet that is not TCP is marked arriving at a capture host
    (decode.skipped.Skipped.arriving);
    cut_recorded: frames the capture tool cut and recorded as whole (CaptureInfo);
    strays: the stray control SYNs build_sessions_and_strays left out (None: found here);
    order: how the capture orders its events (flowcheck.sessions.file_order); unread:
    the frames in an encapsulation flowcheck does not read, by its name: (frames, first
    frame) (decode.skipped.Skipped.unread_frames); unread_spans: which hosts' packets
    they could carry, when: (name, address or "" any) -> (first, last) s
    (decode.unread_hosts; None: any host's, at any time); census: the connections'
    capture-wide figures (verify.census; None: taken here); port_only_capture: why the
    set could hold only the NDMP port's packets (verify.capture_filter.port_only_capture;
    None: it could hold others, or not known); link_claims: who claimed the configured
    agents' addresses by ARP or neighbour discovery, with which MAC and when
    (model.arp.ArpLog.claims; None: none); clock_lags: the proofs of hosts stamped
    behind their peers over `connections` (sessions.clock_apart.mark_clocks_apart:
    pipeline.Traffic.clock_lags; None: found here when a check asks); pieces: the set's
    parts apart in time (sources.pieces.set_pieces; the census's, when it is given);
    capture_paths: the set's files, read again only where a check asks
    (verify.return_way)."""
    ctx = Context(connections, streams, sessions, config, profile, ring_gaps=list(ring_gaps),
                  file_gaps=list(file_gaps), pieces=census.pieces if census else pieces,
                  kernel_dropped=kernel_dropped, host_copies=host_copies,
                  interface_copies=interface_copies, routed_points=routed_points,
                  linked_files=linked_files, cut_recorded=cut_recorded, order=order,
                  nat_aliases=nat_aliases, copy_legs=dict(copy_legs or {}),
                  host_marks=dict(host_marks or {}), other_arriving=other_arriving,
                  capture_paths=tuple(capture_paths),
                  unread=dict(unread or {}),
                  unread_spans=None if unread_spans is None else dict(unread_spans),
                  census=census,
                  port_only_capture=port_only_capture,
                  link_claims=link_claims or NeighbourClaims(),
                  proofs=ProofCache(clock_lags=None if clock_lags is None
                                    else dict(clock_lags)))
    ctx.strays = dict(strays) if strays is not None else \
        stray_syns(connections, ctx.stream_by_uid, config.ndmp_port)
    mark_side_traffic(ctx)  # first: the checks withhold a side session's errors
    mark_server_roles(ctx)  # the words of every check name a three-way job's agents
    check_evidence(ctx, ended_at)
    note_nat_unread(ctx)  # before the checks that judge ports
    check_links(ctx)
    check_cut_transfers(ctx)
    check_stalled_transfers(ctx)
    check_receiver_stalls(ctx)
    check_gave_up(ctx)  # before the halts: a halt after a give-up is its consequence
    check_replies(ctx)
    check_no_reply(ctx)
    check_running(ctx)
    check_tls_close(ctx)  # the same, read from TCP where TLS hides the messages
    check_closed_after_auth(ctx)
    check_steps(ctx)
    note_probes_only(ctx)  # a capture of probes only: no job judged
    report_short_callbacks(ctx)  # after every session's step 2
    note_profile_followed(ctx)  # after every session's steps
    report_left_out(ctx)
    check_capacity(ctx)
    note_too_small(ctx)  # on the fixes that bind in a range check_capacity found too small
    note_range_stops(ctx)  # the steps that stopped on a full range: widen it first
    note_closed_listens(ctx)  # listens closed on unanswered, their range too small
    check_hosts(ctx)
    note_stray_syns(ctx)
    check_unexplained(ctx)
    note_fixes(ctx)  # last: on the fixes every check wrote
    return ctx.findings
