"""capture_loss: how much of the TCP payload the capture itself never saw.

Zeek's capture-loss report, per capture set: the bytes in sequence gaps never filled and
the bytes receivers ACKed beyond the last byte captured (Connection.missed_bytes, counted
by flowcheck.connections), as a share of the payload, with the connections that lost
most; but for gaps the receiver's own ACKs, captured after them, never covered
(SideEvidence.lost): the receiver never got those bytes either, so the
network lost them before the capture point (Zeek counts only an "ACKed segment that
wasn't captured"); a stalled transfer's findings (data_stalled) tell of them; and but for
gaps the capture cannot place (SideEvidence.untold: the connection ended less than a
retransmission timeout after them, with no ACK after them: nobody could resend or
acknowledge them). Live
captures and pcapng files add the sniffer's own drop count (CaptureInfo.kernel_dropped).
A packet missing from the capture is not a packet the network dropped: the receiver ACKed
it, so the finding is about the capture, never about the firewall (gaps of a connection
whose receiver the capture holds no packet of have no such ACK: named apart, whoever lost
them, flowcheck.verify.one_way_loss). Nor, when the capture
tool cut frames and recorded them as whole (CaptureInfo.cut_recorded: netsh trace's
truncation converted by etl2pcapng) at least as often as there are gaps, is it the
sniffer's: the gaps are the bytes it cut (trial 24 D5). When an ERSPAN mirror's stream
skips at least as many frames as there are gaps (CaptureInfo.mirror_skipped: its
sequence numbers), the message and fix name the mirror's stream (trial 22 D4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from flowcheck.connections.cooked_hosts import HostMarks
from flowcheck.findings import make_finding
from flowcheck.model import CaptureInfo, Connection, Finding, RingGap, Session, Severity
from flowcheck.verify.census import Census, take_census
from flowcheck.verify.cut_frames import cut_count, cut_fix
from flowcheck.verify.file_start_gaps import file_start_gaps, file_start_words
from flowcheck.verify.loss_fix import MIRROR_FIX, TUNNEL_FIX, job_hosts, loss_fix
from flowcheck.verify.loss_words import (
    MOST_AFFECTED,
    between_words,
    describe,
    first_time,
    gap_frames,
    hole_kind,
    mirror_words,
    missed_openings_words,
    missed_words,
    percent,
    plural,
    share_words,
    truncation_words,
    tunnel_words,
    unsure_words,
    what_words,
    who_lost,
)
from flowcheck.verify.one_way_loss import (
    named_gaps,
    named_missed,
    one_way,
    one_way_lossy,
    one_way_missed,
)
from flowcheck.verify.one_way_point import ONE_WAY_FIX, both_ways_fix
from flowcheck.verify.openings import (
    MissedOpening,
    announced_openings,
    missed_openings,
    session_openings,
)

WARNING_SHARE = 0.001  # above 0.1% of the payload (or of the packets) missed: a warning


def check_capture_loss(connections: list[Connection], captures: list[CaptureInfo],
                       ring_gaps: Sequence[RingGap] = (), *,
                       clock_stepped: bool = False, joined_cut: bool = False,
                       sessions: Iterable[Session] = (),
                       census: Census | None = None,
                       placed: frozenset[str] = frozenset(),
                       file_gaps: Sequence[RingGap] = (),
                       marks: HostMarks | None = None) -> list[Finding]:
    """One `capture_loss` finding for the capture set when it missed anything, else none.

    Severity: warning when the missed share of the payload, or the sniffer's dropped
    share of the packets, is above WARNING_SHARE; info below. Payload missing from a
    capture whose packet kinds show a filter that kept only some packets of every
    connection (flowcheck.sessions.kept: no data packet kept, or no pure ACK) is the
    filter's, not the sniffer's: capture_filtered says so, and only a kernel drop count
    is reported here. A filter that kept only data packets needs the NDMP greeting to be
    told from a capture that started mid-conversation (flowcheck.verify.kept): its gaps
    stay here.

    ring_gaps: holes of a ring buffer (capture_ring_gap). A connection that spans one
    lost what was sent while the missing file was written: its missed bytes are said
    apart, as the hole's rather than the sniffer's (the tracker keeps no time per gap, so
    a spanning connection's own sniffer loss is counted with them); when every lossy
    connection spans a hole, the finding is an info pointing at the ring (trial 18 D8:
    a deleted ring file was blamed on the sniffer).

    marks: the set's Linux cooked marks (Traffic.host_marks): when they prove the
    capture taken on one host of the one-way connections, the fix that asks for both
    directions names that host as the capture point (verify.one_way_point.both_ways_fix)
    instead of "on the media server itself".

    clock_stepped: the capture's timestamps go back (capture_clock_stepped): when that is
    files joined out of time order, a connection's packets lie in several places of the
    file and the gaps between them are no sniffer's loss; the message says so (trial 18
    D7: 30% "lost" by a ring joined in shell-glob order, 8% read as files).

    joined_cut: the file was read as pieces joined out of time order
    (connections.joined_order) and ends in the middle of a record: its last-written
    piece, cut short, need not be the last in time, so what the cut took reads as gaps
    before the piece captured after it; the message says so, not the sniffer's loss.

    sessions: their announcements tell the connections that opened while the capture
    ran; with the SYNs and SYN-ACKs answered or answering, the opening handshake packets
    the sniffer missed (flowcheck.verify.openings) are said too, apart from the payload
    (recheck 25 N3).

    census: the connections' (verify.census), when already taken.

    file_gaps: the time between files given in sequence that no file covers
    (sources.file_gaps): an opening handshake that may have gone then is said apart, as
    sent between the files, not lost by the sniffer (review56e).

    placed: uids of connections whose missing bytes a finding places in the network
    (verify.stall_passed.placed_uids: a data stall seen from the sender's packets past
    the loss): not the sniffer's, left out.

    A connection whose receiver the capture holds no packet of (one direction:
    verify.one_way_loss) has every gap of its sender's stream named in a sentence of its
    own, hedged (the sniffer or the network, which the capture cannot tell), its untold
    gaps included; its bytes count in the share, so the severity, as the sniffer's do.
    """
    if census is None:
        census = take_census(connections)
    missed, seen, _ = census.loss_share()  # with both sides captured: the sniffer's
    if placed:
        missed -= sum(c.sniffer_missed for c in connections
                      if c.uid in placed and not one_way(c))
    sessions = list(sessions)
    openings = missed_openings(census.unopened, announced_openings(sessions), ring_gaps,
                               session_openings(sessions, connections),
                               start=census.first_ts, file_gaps=file_gaps)
    # A one-way connection's gaps: counted, hedged (verify.one_way_loss).
    unsure = one_way_lossy(census.one_sided, placed)
    if census.kept().shape in ("flags", "no_data", "no_ack"):
        missed, unsure, openings = 0, [], []
    two_way = missed
    missed += sum(one_way_missed(c) for c in unsure)
    share = missed / (missed + seen) if missed + seen else 0.0
    between = [o for o in openings if o.between is not None]
    openings = [o for o in openings if o.between is None]
    # A ring of pcapng files repeats the tool's running totals in each file: several
    # files count no more than the largest (a lower bound for separate captures).
    said = [c.kernel_dropped for c in captures if c.kernel_dropped]
    dropped = max(said, default=0)
    packets = sum(c.packets for c in captures)
    drop_share = dropped / (dropped + packets) if dropped else 0.0
    if not missed and not dropped and not openings:
        return [_between_finding(between)] if between else []
    lossy = sorted([*(c for c in connections if two_way and c.sniffer_missed
                      and c.uid not in placed and not one_way(c)), *unsure],
                   key=lambda c: (-named_missed(c), c.first_frame))
    gaps = sum(named_gaps(c) for c in lossy)
    lost = sum(c.evidence("orig").lost + c.evidence("resp").lost for c in connections)
    untold = (sum(c.untold_missed for c in connections)
              - sum(c.untold_missed for c in unsure))
    holes = [gap for gap in ring_gaps if not gap.head]
    in_holes = [c for c in lossy if any(c.ts < gap.start and c.last_ts > gap.end
                                        for gap in holes)]
    hole_bytes = sum(named_missed(c) for c in in_holes)
    parts: list[str] = []
    if missed and hole_bytes == missed and not dropped and not openings:
        files = ", ".join(f"{gap.before} .. {gap.after}" for gap in holes)
        kind = hole_kind(holes)
        return [make_finding(
            "capture_loss",
            f"The capture missed {missed:,} B of TCP payload across {len(lossy)} "
            f"{plural(len(lossy), 'connection')}, each of which spans a hole in the "
            f"{kind[0]} (capture_ring_gap: between {files}): what they sent while the "
            f"missing {kind[1]} was written is not in the capture set, so these bytes are "
            "the hole's, not the sniffer's loss; a connection that ended or opened while it "
            "was written shows nothing of that time, so the hole may hold much more than "
            "these bytes. Most affected: "
            + "; ".join(describe(c) for c in lossy[:MOST_AFFECTED]) + ".",
            f"Analyze {kind[2]} to see these bytes.",
            severity=Severity.INFO, uid=lossy[0].uid if len(lossy) == 1 else None,
            ts=first_time(lossy[:MOST_AFFECTED]),
            frames=[f for c in lossy[:MOST_AFFECTED] for f in gap_frames(c)])]
    cut = cut_count(captures)
    mirror = sum(c.mirror_skipped for c in captures)
    tunnel = tunnel_words(lossy)
    if missed and cut >= gaps:
        parts.append(truncation_words(missed, gaps, share, seen, captures, lossy))
    elif missed:
        both = [c for c in lossy if not one_way(c)]
        if two_way:
            both_gaps = sum(named_gaps(c) for c in both)
            parts.append(
                f"The capture missed {missed_words(two_way, both_gaps, both)} across "
                f"{len(both)} {plural(len(both), 'connection')} "
                f"({share_words(two_way, missed + seen)}): "
                + what_words(two_way, both)
                + ". The receivers acknowledged them, or the endpoints went on for a "
                "retransmission timeout without resending them, so "
                + ("if the file is in time order (see below) " if clock_stepped else
                   "unless the file's cut end took them (see below) " if joined_cut else "")
                + (mirror_words(mirror) if mirror >= gaps else who_lost(captures)
                   + tunnel)
                + ". Most affected: "
                + "; ".join(describe(c) for c in both[:MOST_AFFECTED]))
        if two_way and 0 < mirror < gaps:
            parts.append(f"The mirror's ERSPAN stream skips {mirror:,} "
                         f"{plural(mirror, 'frame')} of them (its sequence numbers): those "
                         "were lost after the mirror session sent them, before the capture")
        if unsure:  # no ACK of the receiver's: who lost them cannot be told
            parts.append(unsure_words(unsure, missed + seen, also=bool(two_way)))
        if hole_bytes:
            kind = hole_kind(holes)
            parts.append(f"Of these, {hole_bytes:,} B are in {len(in_holes)} "
                         f"{plural(len(in_holes), 'connection')} that span a hole in the "
                         f"{kind[0]} (capture_ring_gap): what was sent while "
                         f"the missing {kind[1]} was written is among them, not "
                         "the sniffer's loss")
        starts = file_start_gaps([c for c in lossy if c not in in_holes], captures)
        if starts is not None:
            parts.append(file_start_words(starts))
        if lost:
            parts.append(f"Not counted: {lost:,} B the receivers never acknowledged "
                         "either (their ACKs after the gaps stayed below them): the network "
                         "lost those before the capture point, not the sniffer")
        if untold:
            parts.append(f"Not counted either: {untold:,} B in gaps the connections ended "
                         "less than a retransmission timeout after, with no acknowledgement "
                         "after them: neither end could resend or acknowledge them, so the "
                         "capture cannot tell whether the network or the sniffer lost them")
    if openings:
        parts.append(missed_openings_words(openings, also=bool(missed)))
    if between:
        parts.append(between_words(between))
    if dropped:
        parts.append(f"The sniffer reported {dropped:,} {plural(dropped, 'packet')} dropped "
                     f"by the kernel ({percent(drop_share)} of the packets)"
                     + (": those after a connection's last captured packet (the rest of a "
                        "transfer, its close) leave no gap to count, so more payload may be "
                        "missing than the bytes above" if missed else ""))
    if missed and clock_stepped:
        parts.append("The capture's clock also steps back (capture_clock_stepped): if the "
                     "file was joined from several captures out of time order, part of "
                     "these gaps are packets that lie elsewhere in the file, not the "
                     "sniffer's loss; analyze the files themselves to tell")
    if missed and joined_cut:
        parts.append("The file holds pieces of one capture joined out of time order "
                     "(capture_clock_stepped) and ends in the middle of a packet record "
                     "(capture_truncated): its last-written piece is cut short and need "
                     "not be the last in time, so the packets the cut took read as gaps "
                     "before the piece captured after it, part of these gaps or all")
    parts.append("Findings that rest on what the capture does not hold are less certain")
    severity = (Severity.WARNING if max(share, drop_share) > WARNING_SHARE else Severity.INFO)
    frames = [f for c in lossy[:MOST_AFFECTED] for f in gap_frames(c)]
    frames += [f for opening in openings[:MOST_AFFECTED] for f in opening.frames]
    frames += [f for opening in between[:MOST_AFFECTED] for f in opening.frames]
    named = [*lossy, *(o.conn for o in openings if o.conn not in lossy)]
    if missed and cut >= gaps and not dropped:
        fix = cut_fix(captures)
    elif missed and mirror >= gaps:
        fix = MIRROR_FIX
    else:
        fix = (loss_fix(named, captures, job_hosts(sessions, connections))
               + (TUNNEL_FIX if missed and tunnel else ""))
        if unsure and not two_way:  # who lost them: capture both ways to tell
            both = both_ways_fix(marks or {}, unsure, _session_roles(sessions))
            fix = (both or ONE_WAY_FIX) + fix[:1].lower() + fix[1:]
    times = [o.ts for o in [*openings[:MOST_AFFECTED], *between[:MOST_AFFECTED]]]
    if lossy:
        times.append(first_time(lossy[:MOST_AFFECTED]))
    return [make_finding("capture_loss", ". ".join(parts) + ".", fix,
                         severity=severity, uid=named[0].uid if len(named) == 1 else None,
                         ts=min(times, default=None), frames=frames)]


def _session_roles(sessions: Iterable[Session]) -> Callable[[str], str | None]:
    """A host's role by the sessions: "media" for a media server, "agent" for a remote
    agent, None for neither or both (one_way_point.named's words)."""
    media = {s.media_server for s in sessions}
    agents = {s.remote_agent for s in sessions}
    return lambda host: (None if (host in media) == (host in agents) else
                         "media" if host in media else "agent")


def _between_finding(between: list[MissedOpening]) -> Finding:
    """capture_loss (info) when only openings between the files are missing."""
    return make_finding(
        "capture_loss", between_words(between) + ". Findings that rest on what the "
        "capture does not hold are less certain.",
        "Capture without a pause (one sniffer run, or a ring buffer: tcpdump -C/-W, "
        "dumpcap -b), or give every file of the capture set; if these files are one "
        "sniffer's, rotated without a pause, it missed the packets: capture so it keeps up",
        severity=Severity.INFO, uid=between[0].conn.uid if len(between) == 1 else None,
        ts=min(o.ts for o in between[:MOST_AFFECTED]),
        frames=[f for o in between[:MOST_AFFECTED] for f in o.frames])
