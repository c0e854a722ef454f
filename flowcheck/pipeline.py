"""The pipeline: sources -> decode -> connections -> ndmp -> sessions -> graph -> verify.

Pure glue: each stage is a function of the previous stage's output. Only the sources
read (inside track_connections) and only flowcheck.report writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, BinaryIO

from flowcheck.config import Config
from flowcheck.errors import InputError
from flowcheck.findings import kept_as_now
from flowcheck.model import (
    CaptureInfo,
    Connection,
    Finding,
    Session,
)
from flowcheck.traffic import Analysis, Traffic

if TYPE_CHECKING:
    from flowcheck.connections import TrackResult
    from flowcheck.decode.tunnels import TunnelPorts
    from flowcheck.ndmp import NdmpCollector
    from flowcheck.profiles import Profile
    from flowcheck.sessions.file_order import FileOrder


def read_traffic(inputs: Sequence[str | BinaryIO], config: Config, *,
                 progress: bool = False) -> Traffic:
    """Read a capture set into connections and the decoded NDMP control streams."""
    from flowcheck.connections import track_connections
    from flowcheck.ndmp import NdmpCollector, looks_like_ndmp

    result = track_connections(inputs, ndmp_port=config.ndmp_port, sink_factory=NdmpCollector,
                               tap=looks_like_ndmp, progress=progress,
                               rto=config.retransmission_timeout,
                               arp_watch=config.remote_agents,
                               tunnel_ports=tunnel_ports(config))
    check_packets_read(result.captures)
    assert isinstance(result.sink, NdmpCollector)
    from flowcheck.frame_names import frame_names, naming

    with naming(frame_names([info.path for info in result.captures], result.frame_files)):
        return traffic_from(result, result.sink)


def tunnel_ports(config: Config) -> TunnelPorts:
    """The UDP ports the decoder reads as VXLAN and Geneve: the standard ones and
    --vxlan-port, --geneve-port."""
    from flowcheck.decode.tunnels import TunnelPorts

    return TunnelPorts.adding(config.vxlan_ports, config.geneve_ports)


def check_packets_read(captures: Sequence[CaptureInfo]) -> None:
    """Raise InputError (exit 3) when the whole capture set gave no packet: nothing to
    judge or list. "no packet could be read: REASON" when a file is corrupt or cut
    before its first record (a capture read only in part, with packets, is not an input
    error: contract, exit codes); "... holds no packets" for well-formed files with
    nothing after their header (an empty capture, like an empty file). Not for `live`,
    whose sniffer may simply have seen nothing (inconclusive)."""
    if any(info.packets for info in captures):
        return
    from flowcheck.sources import read_failures

    damaged = [info for info in captures if info.error or info.truncated]
    if damaged:
        raise InputError(f"no packet could be read: {read_failures(damaged)}")
    # A sniffer on the agent while the media server's own rules dropped its SYNs saw
    # nothing (field check 35's matrix): that is what the empty file says, if it ran then.
    hint = ("if the job ran while it captured, none of its packets reached this capture "
            "point (the sniffer's interface or filter, or they were dropped before it)")
    if len(captures) == 1:
        raise InputError(f"{captures[0].path}: the capture holds no packets (nothing after "
                         f"its file header): {hint}")
    raise InputError(f"none of the {len(captures)} capture files holds a packet (nothing "
                     f"after their file headers): {hint}")


def check_links_read(traffic: Traffic) -> None:
    """Raise InputError (exit 3) when every packet of the capture set is on a link type
    flowcheck does not read (802.15.4, Frame Relay, a switch's DSA tags, ...): nothing
    could be read, as of a file in an unknown format (contract, exit codes). The
    commands that read a capture set call it (cli.commands.read): `connections` listed
    no connection and exited 0 on such a file where `analyze` gave an inconclusive
    verdict (new-user trial of session 53). A set with one packet on a link type it
    reads is read in part: not an input error."""
    skipped = traffic.skipped
    packets = sum(info.packets for info in traffic.captures)
    if skipped is None or not packets or sum(skipped.unknown_links.values()) < packets:
        return
    from flowcheck.verify.capture_contents import links_unread_words

    links = [link for link, _ in skipped.unknown_links.most_common()]
    one = len(traffic.captures) == 1
    where = traffic.captures[0].path if one else f"the {len(traffic.captures)} capture files"
    raise InputError(f"no packet could be read: {where}: "
                     f"{links_unread_words(packets, links, 'its' if one else 'their')}")


def traffic_from(result: TrackResult, collector: NdmpCollector) -> Traffic:
    """Traffic from a finished tracking run and the NDMP collector that rode along; a
    connection captured twice, in a tunnel and out of it, is kept once
    (flowcheck.connections.tunnel_copies), and so is one captured on both sides of a NAT
    (flowcheck.connections.nat_views)."""
    from flowcheck.connections.nat_views import (
        address_aliases,
        fold_nat_views,
        nat_views_finding,
    )
    from flowcheck.connections.tunnel_copies import fold_tunnel_copies, tunnel_copies_finding
    from flowcheck.sentence_end import ended
    from flowcheck.sessions.clock_apart import mark_clocks_apart
    from flowcheck.sessions.held_elsewhere import mark_held_elsewhere
    from flowcheck.sources.pieces import set_pieces

    # Every record is read from here on (sessions, checks, JSON): all made now, in bulk
    # (the tracker's short connections are made when read: connections.block_records).
    connections, copies = fold_tunnel_copies(list(result.connections))
    all_streams = collector.streams()
    left_out = {copy.uid for _, copy in copies}
    streams = [s for s in all_streams if s.uid not in left_out]
    # One connection seen on both sides of a NAT (two capture points): kept once.
    connections, views = fold_nat_views(connections, streams)
    far = {view.uid for _, view in views}
    # A side's few packets lost: not one direction (each file apart in time alone).
    pieces = set_pieces(result.captures, result.file_gaps, connections)
    mark_held_elsewhere(connections, pieces)
    # Two hosts' own captures merged, their clocks apart: the proofs, kept for the checks.
    clock_lags = mark_clocks_apart(connections)
    streams = [s for s in streams if s.uid not in far]
    folded = [copy for _, copy in copies] + [view for _, view in views]
    findings = list(result.findings)
    points = ([c.path for c in result.captures], result.shifts) if result.linked_files \
        else None
    for found in (tunnel_copies_finding(copies, points), nat_views_finding(views)):
        if found is not None:
            findings.append(found)
    for stream in streams:
        findings.extend(stream.findings)
    # Each decode finding's words end as a sentence here, not only as analyze's findings
    # leave it (pipeline.analyze): `connections` and `ndmp` print these alone (review64k:
    # ndmp_vendor_message's "... shown, not decoded" without its full stop there).
    findings = ended(findings)
    # A pcapng file's statistics say when its capture stopped: the silence after its last
    # packet is capture time too (evidence that a SYN went unanswered).
    ends = [t for t in [result.last_packet_ts, *(c.stopped_at for c in result.captures)]
            if t is not None]
    return Traffic(result.captures, connections, streams, findings,
                   ended_at=max(ends) if ends else None, ring_gaps=list(result.ring_gaps),
                   file_gaps=list(result.file_gaps), pieces=pieces,
                   arp=result.arp, skipped=result.skipped,
                   host_copies=result.host_copies, folded=folded,
                   interface_copies=result.interface_copies,
                   routed_points=result.routed_points, linked_files=result.linked_files,
                   nat_aliases=address_aliases(views), copy_legs=result.copy_legs,
                   host_marks=result.host_marks,
                   folded_streams=[s for s in all_streams if s.uid in left_out | far],
                   one_stream=result.one_stream, time_ordered=result.time_ordered,
                   clock_epochs=result.clock_epochs, clock_step=result.clock_step,
                   frame_files=result.frame_files,
                   clock_lags=clock_lags)


def label_connections(traffic: Traffic, config: Config) -> list[Session]:
    """The sessions stage alone, for `connections` and `ndmp`: sets each connection's
    `role` and `session`, each announcement's `used_by` and the decode findings'
    `session` (with_sessions) exactly as `analyze` does (same profile and settings; the
    ndmp profile for a capture read as plain NDMP with none given:
    flowcheck.verify.plain_reading), without the checks. Raises UsageError for a profile
    that cannot be loaded."""
    from flowcheck.mixed_reading import mixed_labels
    from flowcheck.profiles import load_profile
    from flowcheck.sessions import build_sessions
    from flowcheck.verify.other_protocol import fold_other_protocols
    from flowcheck.verify.plain_reading import (
        PLAIN_PROFILE,
        plain_announcements,
        plain_sessions,
    )

    def build(name: str) -> list[Session]:
        return build_sessions(traffic.connections, traffic.streams,
                              replace(config, profile=name), load_profile(name),
                              ring_gaps=traffic.ring_gaps, order=file_order(traffic),
                              clock_lags=traffic.clock_lags)

    profile = load_profile(config.profile)
    sessions = build(config.profile)
    found = (sessions, traffic.findings, traffic.connections, traffic.streams, config,
             profile)
    if plain_announcements(*found, ring_gaps=traffic.ring_gaps):
        # Read as plain NDMP, as analyze reads it (its steps not judged here: a callback
        # step `unknown` is not known to keep the default profile).
        config = replace(config, profile=PLAIN_PROFILE)
        sessions = build(PLAIN_PROFILE)
    elif some := {sid for sid, movers in plain_sessions(
            *found, ring_gaps=traffic.ring_gaps).items() if movers}:
        # Only some sessions read so: theirs labelled as analyze does (mixed_reading).
        sessions = mixed_labels(sessions, some, traffic.connections, build, config.profile)
    traffic.findings = with_sessions(
        fold_other_protocols(traffic.findings, traffic.connections, traffic.streams, config,
                             sessions, traffic.host_marks),
        traffic.connections)
    return sessions


def analyze(traffic: Traffic, config: Config) -> Analysis:
    """Sessions, checks against the profile, findings and verdict. With no profile
    given, a capture that reads as plain NDMP (no Backup Exec sign, the mover listening:
    flowcheck.verify.plain_reading) is judged by the ndmp profile, a profile_inferred
    finding (info) saying so (new-user trial 54); a session that would read so but for
    what the capture may lack has its data connection opened the other way `unknown`
    (flowcheck.verify.profile_doubt). The findings' words name a set's frames by file
    and frame in it (flowcheck.frame_names; newuser62); each finding's message and fix
    ends as a sentence (flowcheck.sentence_end; field check 78)."""
    from flowcheck.frame_names import naming, traffic_names
    from flowcheck.sentence_end import ended

    with naming(traffic_names(traffic)):
        analysis = _analyze(traffic, config)
    analysis.findings = ended(analysis.findings)  # each message and fix a sentence's end
    return analysis


def _analyze(traffic: Traffic, config: Config) -> Analysis:
    """analyze's work, its frames named as the caller set (frame_names.naming)."""
    from flowcheck.mixed_reading import keep_pass, mixed_analysis, same_sessions
    from flowcheck.profiles import load_profile
    from flowcheck.verify.plain_reading import (
        PLAIN_PROFILE,
        may_infer,
        plain_sessions,
        profile_inferred,
        whole_plain,
    )
    from flowcheck.verify.profile_doubt import doubtful_sessions

    profile = load_profile(config.profile)
    if not may_infer(config, profile):  # a profile given: one pass, nothing kept
        return analyze_with_profile(traffic, config, profile)
    restore = kept_as_now([*traffic.findings, *(f for s in traffic.streams for f in (
        *s.findings, s.snap_finding) if f is not None)])
    analysis = analyze_with_profile(traffic, config, profile)
    plain = plain_sessions(analysis.sessions, analysis.findings, traffic.connections,
                           traffic.streams, config, profile, ring_gaps=traffic.ring_gaps)
    shown = whole_plain(analysis.sessions, analysis.findings, plain)
    some = {sid: movers for sid, movers in plain.items() if movers}
    # Sessions refused the plain reading only for what the capture may lack: their data
    # connection opened the other way is `unknown`, not step_out_of_order (profile_doubt).
    # Not looked for when the whole capture reads plain: that reading is returned as is.
    doubt = {} if shown else doubtful_sessions(
        analysis.sessions, analysis.findings, traffic.connections, traffic.streams, config,
        profile, ring_gaps=traffic.ring_gaps, plain=plain)
    if not shown and not some:
        return _in_doubt(analysis, doubt)
    first = None if shown else keep_pass(analysis)
    restore()  # the traffic's findings as read: no note of the default profile's pass
    plain_config = replace(config, profile=PLAIN_PROFILE)  # `explicit` without "profile"
    plain_analysis = analyze_with_profile(traffic, plain_config, load_profile(PLAIN_PROFILE))
    if first is None:
        plain_analysis.findings.append(profile_inferred(shown, profile, traffic.streams))
        plain_analysis.findings.sort(key=finding_order)
        return plain_analysis
    if not same_sessions(first.analysis.sessions, plain_analysis.sessions):
        restore()  # the passes cannot be put together: the default's reading, made again
        return _in_doubt(analyze_with_profile(traffic, config, profile), doubt)
    mixed = mixed_analysis(first, plain_analysis, some, profile,
                           neither={sid for sid, movers in plain.items() if not movers})
    mixed.findings.sort(key=finding_order)
    return _in_doubt(mixed, doubt)


def _in_doubt(analysis: Analysis, doubt: dict[str, str]) -> Analysis:
    """`analysis` with the sessions of `doubt` judged so (verify.profile_doubt
    .judge_in_doubt: id -> why the capture cannot show the job's product), its findings
    in finding_order again when one changed."""
    from flowcheck.verify.profile_doubt import judge_in_doubt

    if analysis.profile is not None and (findings := judge_in_doubt(
            analysis.sessions, analysis.findings, analysis.profile, doubt)) is not None:
        analysis.findings = sorted(findings, key=finding_order)
    return analysis


def analyze_with_profile(traffic: Traffic, config: Config, profile: Profile) -> Analysis:
    """analyze's work with one profile, `profile` (config.profile loaded), never another:
    sessions, checks, findings and verdict."""
    from flowcheck.sessions import build_sessions_and_strays
    from flowcheck.verify import check_all
    from flowcheck.verify.absent_agents import check_absent_agents
    from flowcheck.verify.capture_contents import explain_unreadable
    from flowcheck.verify.capture_filter import (
        explain_missing_control,
        name_own_filter,
        port_only_capture,
    )
    from flowcheck.verify.census import take_census
    from flowcheck.verify.cut_frames import explain_cut_frames
    from flowcheck.verify.damaged_end import explain_damaged_end
    from flowcheck.verify.left_out_failed import add_left_out_failures
    from flowcheck.verify.loss import check_capture_loss
    from flowcheck.verify.other_protocol import fold_other_protocols
    from flowcheck.verify.ring_holes import explain_ring_holes
    from flowcheck.verify.stall_passed import placed_uids
    from flowcheck.verify.tool_fixes import explain_for_tool
    from flowcheck.verify.unjudged_files import unjudged_files
    from flowcheck.verify.unjudged_tls import unjudged_tls
    from flowcheck.verify.unknown_steps import explain_unknown_steps

    order = file_order(traffic)
    sessions, strays = build_sessions_and_strays(traffic.connections, traffic.streams, config,
                                                 profile, ring_gaps=traffic.ring_gaps,
                                                 order=order, clock_lags=traffic.clock_lags)
    # Read once by the checks and capture_loss; the packets that are not TCP by pair too.
    census = take_census(traffic.connections,
                         traffic.skipped.ways if traffic.skipped else None,
                         traffic.pieces)
    findings = list(traffic.findings)
    findings.extend(check_all(traffic.connections, traffic.streams, sessions, config, profile,
                              ended_at=traffic.ended_at, ring_gaps=traffic.ring_gaps,
                              file_gaps=traffic.file_gaps,
                              kernel_dropped=max((c.kernel_dropped or 0
                                                  for c in traffic.captures), default=0),
                              host_copies=traffic.host_copies,
                              interface_copies=traffic.interface_copies,
                              routed_points=traffic.routed_points,
                              linked_files=traffic.linked_files,
                              nat_aliases=traffic.nat_aliases,
                              copy_legs=traffic.copy_legs,
                              host_marks=traffic.host_marks,
                              other_arriving=bool(traffic.skipped
                                                  and traffic.skipped.arriving()),
                              cut_recorded=sum(c.cut_recorded for c in traffic.captures),
                              strays=strays, order=order,
                              unread=traffic.skipped.unread_frames()
                              if traffic.skipped else None,
                              unread_spans=traffic.skipped.unread_spans
                              if traffic.skipped else None, census=census,
                              port_only_capture=port_only_capture(
                                  traffic.captures, config, traffic.connections),
                              link_claims=traffic.arp.claims,
                              clock_lags=traffic.clock_lags,
                              capture_paths=[c.path for c in traffic.captures]))
    # A file read as pieces joined out of time order is read in time order: no clock
    # step for capture_loss to hedge on, but a cut end lies mid-capture (joined_cut).
    step = traffic.clock_step
    joined = step is not None and step.joined
    findings.extend(check_capture_loss(traffic.connections, traffic.captures,
                                       traffic.ring_gaps,
                                       clock_stepped=step is not None and not joined,
                                       joined_cut=joined and any(c.truncated
                                                                 for c in traffic.captures),
                                       file_gaps=traffic.file_gaps, marks=traffic.host_marks,
                                       sessions=sessions, census=census,
                                       # a passed stall is a one-sided connection's
                                       placed=placed_uids(sessions, census.one_sided,
                                                          config.retransmission_timeout)))
    findings = check_absent_agents(findings, sessions, traffic.connections, traffic.arp,
                                   config, traffic.ended_at, census)
    findings = explain_ring_holes(findings, traffic.connections, traffic.ring_gaps)
    findings = explain_cut_frames(findings, traffic.connections, traffic.captures)
    findings = explain_damaged_end(findings, traffic.captures)
    findings = explain_unreadable(findings, traffic.captures, traffic.connections,
                                  traffic.skipped, config)
    findings = explain_missing_control(findings, traffic.captures, traffic.connections, config,
                                       profile, census)
    findings = add_left_out_failures(findings, traffic.connections, config, profile, census)
    findings = fold_other_protocols(findings, traffic.connections, traffic.streams, config,
                                    sessions, traffic.host_marks)
    findings = unjudged_tls(findings, traffic.connections, traffic.streams, config, sessions)
    findings = unjudged_files(findings, traffic.captures, sessions, traffic.connections)
    findings = explain_for_tool(findings, traffic.captures)
    findings = name_own_filter(findings, traffic.captures)
    findings = with_sessions(findings, traffic.connections)
    findings = explain_unknown_steps(findings, sessions, traffic.connections)
    findings.sort(key=finding_order)
    for session in sessions:
        # As chosen (config.profile: a built-in's name, or a profile file's path as
        # given), not the file's own `name`: the reports compare it with the run's.
        session.profile = config.profile
    return Analysis(traffic=traffic, config=config, sessions=sessions, findings=findings,
                    profile=profile)


def file_order(traffic: Traffic) -> FileOrder:
    """How the traffic's capture orders its events: sessions.file_order.capture_order
    (the ladders read it there: report comes before the pipeline)."""
    from flowcheck.sessions.file_order import capture_order

    return capture_order(traffic)


def with_sessions(findings: list[Finding], connections: list[Connection]) -> list[Finding]:
    """The findings, each one that names no session but a connection of one (`uid`: a
    decode finding made before sessions exist, such as ndmp_partial or
    ndmp_vendor_message, capture_loss, a check's finding about a connection) given that
    connection's session (docs/json.md, `findings[].session`). Copies: the findings
    given stay as they were made."""
    session_of = {c.uid: c.session for c in connections if c.session}
    return [replace(f, session=session_of[f.uid])
            if f.session is None and f.uid in session_of else f for f in findings]


def finding_order(finding: Finding) -> tuple[int, bool, bool, float, str]:
    """The findings' order (docs/json.md, `findings[]`): errors, warnings, infos; within
    each, the job's own findings before those that hold only under a setting the user did
    not give (Finding.under_default: a step the default profile expects, its fix asking
    for another profile first; new-user trial: with no configuration the headline named
    the missing Backup Exec callback of an ndmjob capture, not its NOT_SUPPORTED_ERR
    reply or its stalled transfer); then a file read only in part (capture_truncated:
    the others of its severity rest on the packets read before the cut; newuser63: a file
    cut by `head -c` listed capture_ended_early first, its cause second); then by time
    (no time last), then by code."""
    rank = {"error": 0, "warning": 1, "info": 2}[str(finding.severity)]
    return (rank, finding.under_default, finding.code != "capture_truncated",
            finding.ts if finding.ts is not None else float("inf"), finding.code)
