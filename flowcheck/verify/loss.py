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

from collections.abc import Callable, Iterable, Sequence, Set

from flowcheck.findings import make_finding
from flowcheck.model import (
    CaptureInfo,
    Connection,
    Finding,
    RingGap,
    Session,
    Severity,
    connection_ends,
    endpoint,
)
from flowcheck.sources.batch import CHUNK_BYTES
from flowcheck.verify.census import Census, take_census
from flowcheck.verify.context import session_uids
from flowcheck.verify.cut_frames import cut_count, cut_fix, cut_words
from flowcheck.verify.file_start_gaps import file_start_gaps, file_start_words
from flowcheck.verify.one_way_loss import (
    ONE_WAY_FIX,
    named_gaps,
    named_missed,
    one_way,
    one_way_lossy,
    one_way_missed,
    one_way_words,
)
from flowcheck.verify.openings import (
    MissedOpening,
    announced_openings,
    missed_openings,
    session_openings,
)

WARNING_SHARE = 0.001  # above 0.1% of the payload (or of the packets) missed: a warning
MOST_AFFECTED = 3  # connections named in the message
FRAMES_EACH = 4  # evidence frames per named connection
_CHUNK_MIB = CHUNK_BYTES >> 20  # the read chunk, named in the fragments' words
_MIRROR_FIX = ("Make the mirror's stream reach the capture whole: mirror only the backup "
               "hosts' traffic (a source filter or ACL on the ERSPAN session), keep the "
               "mirror's destination and the path to the collector below their capacity "
               "(the session's rate, the collector's link), and let the collector's capture "
               "keep up (tcpdump -B 65536, in KiB, writing to a fast local disk)")


def check_capture_loss(connections: list[Connection], captures: list[CaptureInfo],
                       ring_gaps: Sequence[RingGap] = (), *,
                       clock_stepped: bool = False, joined_cut: bool = False,
                       sessions: Iterable[Session] = (),
                       census: Census | None = None,
                       placed: frozenset[str] = frozenset(),
                       file_gaps: Sequence[RingGap] = ()) -> list[Finding]:
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
        kind = _hole_kind(holes)
        return [make_finding(
            "capture_loss",
            f"The capture missed {missed:,} B of TCP payload across {len(lossy)} "
            f"{_plural(len(lossy), 'connection')}, each of which spans a hole in the "
            f"{kind[0]} (capture_ring_gap: between {files}): what they sent while the "
            f"missing {kind[1]} was written is not in the capture set, so these bytes are "
            "the hole's, not the sniffer's loss; a connection that ended or opened while it "
            "was written shows nothing of that time, so the hole may hold much more than "
            "these bytes. Most affected: "
            + "; ".join(_describe(c) for c in lossy[:MOST_AFFECTED]) + ".",
            f"Analyze {kind[2]} to see these bytes.",
            severity=Severity.INFO, uid=lossy[0].uid if len(lossy) == 1 else None,
            ts=_first_time(lossy[:MOST_AFFECTED]),
            frames=[f for c in lossy[:MOST_AFFECTED] for f in _gap_frames(c)])]
    cut = cut_count(captures)
    mirror = sum(c.mirror_skipped for c in captures)
    tunnel = _tunnel_words(lossy)
    if missed and cut >= gaps:
        parts.append(_cut_words(missed, gaps, share, seen, captures, lossy))
    elif missed:
        both = [c for c in lossy if not one_way(c)]
        if two_way:
            both_gaps = sum(named_gaps(c) for c in both)
            parts.append(
                f"The capture missed {_missed_words(two_way, both_gaps, both)} across "
                f"{len(both)} {_plural(len(both), 'connection')} "
                f"({_share_words(two_way, missed + seen)}): "
                + _what_words(two_way, both)
                + ". The receivers acknowledged them, or the endpoints went on for a "
                "retransmission timeout without resending them, so "
                + ("if the file is in time order (see below) " if clock_stepped else
                   "unless the file's cut end took them (see below) " if joined_cut else "")
                + (_mirror_words(mirror) if mirror >= gaps else _who_lost(captures)
                   + tunnel)
                + ". Most affected: "
                + "; ".join(_describe(c) for c in both[:MOST_AFFECTED]))
        if two_way and 0 < mirror < gaps:
            parts.append(f"The mirror's ERSPAN stream skips {mirror:,} "
                         f"{_plural(mirror, 'frame')} of them (its sequence numbers): those "
                         "were lost after the mirror session sent them, before the capture")
        if unsure:  # no ACK of the receiver's: who lost them cannot be told
            parts.append(_unsure_words(unsure, missed + seen, also=bool(two_way)))
        if hole_bytes:
            kind = _hole_kind(holes)
            parts.append(f"Of these, {hole_bytes:,} B are in {len(in_holes)} "
                         f"{_plural(len(in_holes), 'connection')} that span a hole in the "
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
        parts.append(_openings_words(openings, also=bool(missed)))
    if between:
        parts.append(_between_words(between))
    if dropped:
        parts.append(f"The sniffer reported {dropped:,} {_plural(dropped, 'packet')} dropped "
                     f"by the kernel ({_percent(drop_share)} of the packets)"
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
    frames = [f for c in lossy[:MOST_AFFECTED] for f in _gap_frames(c)]
    frames += [f for opening in openings[:MOST_AFFECTED] for f in opening.frames]
    frames += [f for opening in between[:MOST_AFFECTED] for f in opening.frames]
    named = [*lossy, *(o.conn for o in openings if o.conn not in lossy)]
    if missed and cut >= gaps and not dropped:
        fix = cut_fix(captures)
    elif missed and mirror >= gaps:
        fix = _MIRROR_FIX
    else:
        fix = (_fix(named, captures, _job_hosts(sessions, connections))
               + (_TUNNEL_FIX if missed and tunnel else ""))
        if unsure and not two_way:  # who lost them: capture both ways to tell
            fix = ONE_WAY_FIX + fix[:1].lower() + fix[1:]
    times = [o.ts for o in [*openings[:MOST_AFFECTED], *between[:MOST_AFFECTED]]]
    if lossy:
        times.append(_first_time(lossy[:MOST_AFFECTED]))
    return [make_finding("capture_loss", ". ".join(parts) + ".", fix,
                         severity=severity, uid=named[0].uid if len(named) == 1 else None,
                         ts=min(times, default=None), frames=frames)]


def _unsure_words(conns: list[Connection], total: int, *, also: bool) -> str:
    """capture_loss's sentence for the gaps of connections whose receiver the capture
    holds no packet of (verify.one_way_loss); total: the bytes the capture saw sent or
    acknowledged, missed ones included."""
    missed = sum(named_missed(c) for c in conns)
    gaps = sum(named_gaps(c) for c in conns)
    return one_way_words(conns, _missed_words(missed, gaps, conns),
                         f"({_share_words(missed, total)})",
                         "; ".join(_describe(c) for c in conns[:MOST_AFFECTED]), also=also)


def _share_words(missed: int, total: int) -> str:
    """"0.14% of 2,039,096 B, the TCP payload of every packet captured (...)":
    _whole_words."""
    return f"{_percent(missed / total if total else 0.0)} of {_whole_words(total)}"


def _who_lost(captures: list[CaptureInfo]) -> str:
    """"the sniffer lost them, not the network"; when the capture holds IP fragments
    flowcheck could not put together (CaptureInfo.loose_fragments), that the bytes may
    be in them (trial 28 D9: IPv6 fragments read as 99% sniffer loss); likewise frames
    it could not decode (CaptureInfo.undecodable: cut before the TCP header ends, trial
    36 D5)."""
    loose = sum(c.loose_fragments for c in captures)
    undecodable = sum(c.undecodable for c in captures)
    if not loose and undecodable:
        # Trial 36 D5: frames cut before their TCP header ends are in the file.
        return (f"the network did not lose them: the sniffer did, or they are in the "
                f"{undecodable:,} {_plural(undecodable, 'frame')} flowcheck could not "
                "decode (capture_undecodable_packets: cut before the end of their TCP "
                "header, or malformed), so part of them may be in the file")
    if not loose:
        return "the sniffer lost them, not the network"
    return (f"the network did not lose them: the sniffer did, or they are in the {loose:,} "
            f"IP {_plural(loose, 'fragment')} flowcheck could not put together into "
            "packets (it reassembles a datagram whose fragments are all in one "
            f"{_CHUNK_MIB} MiB read chunk of the capture, or in two back to back; the "
            "others, and fragments whose rest is not in the capture, are counted, not "
            "read), so part of them may be in the file")


def _cut_words(missed: int, gaps: int, share: float, seen: int,
               captures: list[CaptureInfo], lossy: list[Connection]) -> str:
    """The missed bytes of a capture whose tool cut frames and recorded them as whole
    (flowcheck.verify.cut_frames), at least one per gap: its truncation, not loss."""
    return (f"The capture misses {missed:,} B of TCP payload in {gaps:,} "
            f"{_plural(gaps, 'gap')} across {len(lossy)} {_plural(len(lossy), 'connection')} "
            f"({_percent(share)} of {_whole_words(missed + seen)}), "
            f"but no packet was lost: {cut_words(captures)}. Each gap is the rest of such a "
            "frame: neither the sniffer nor the network lost it. Most affected: "
            + "; ".join(_describe(c) for c in lossy[:MOST_AFFECTED]))


def _whole_words(whole: int) -> str:
    """What the missed share is of: "1,074,587,324 B, the TCP payload of every packet
    captured (resends included, as tshark sums it) and the bytes missed" (Census.payload
    and missed). Not the transfer's size, each byte once, that a step's detail gives
    (newuser60: "1,074,587,324 bytes sent or acknowledged" beside step 4's "1073745920
    B in all" read as two sizes of one stream)."""
    return (f"{whole:,} B, the TCP payload of every packet captured (resends included, "
            "as tshark sums it) and the bytes missed")


def _tunnel_words(lossy: list[Connection]) -> str:
    """When the connections with gaps arrived in a tunnel (a mirror session's VXLAN,
    GRE or ERSPAN to a collector, as cloud traffic mirroring delivers them), the mirror
    may have dropped its copies too, which no sequence number of its tells here (field
    check 36b: AWS mirror loss read as the collector's sniffer's only); "" otherwise."""
    tunnel = next((c.tunnel for c in lossy if c.tunnel), None)
    if tunnel is None:
        return ""
    return (f", or the mirror session that delivered them in a tunnel ({tunnel}) dropped "
            "its copies (a mirror drops mirrored packets first when its sources or its "
            "target are loaded: cloud traffic mirroring, a switch's ERSPAN or RSPAN)")


# Added to the sniffer's fix when the gaps' connections arrived in a tunnel.
_TUNNEL_FIX = (". If the packets came from a mirror session (they arrive in a tunnel), "
               "check it drops none: mirror only the backup hosts' traffic and keep the "
               "mirror target and the path to the collector below their capacity")


def _mirror_words(mirror: int) -> str:
    """Whose loss the gaps are when an ERSPAN mirror's stream skips as many frames."""
    return (f"the network the backup crossed did not lose them; the mirror's ERSPAN stream "
            f"skips {mirror:,} {_plural(mirror, 'frame')} (its sequence numbers): they were "
            "lost after the mirror session sent them and before the capture recorded them (an "
            "oversubscribed mirror destination, the network carrying the ERSPAN stream, or "
            "the collector's capture falling behind)")


def _missed_words(missed: int, gaps: int, lossy: list[Connection]) -> str:
    """"N B of TCP payload in G gaps (at least as many segments)", with the FINs the
    capture missed (Connection.fins_unseen: one byte and one gap each in missed) said
    apart as FINs (trial 25 D6: two FINs read "2 bytes of TCP payload")."""
    fins = sum(c.fins_unseen for c in lossy)
    fin_words = (f"{fins:,} {_plural(fins, 'FIN')} "
                 + ("(connection ends)" if fins > 1 else "(a connection's end)"))
    if fins >= missed:
        return fin_words
    payload, payload_gaps = missed - fins, gaps - fins
    return (f"{payload:,} B of TCP payload in {payload_gaps:,} "
            f"{_plural(payload_gaps, 'gap')} (at least as many segments)"
            + (f" and {fin_words}" if fins else ""))


def _what_words(missed: int, lossy: list[Connection]) -> str:
    """What the missed bytes are, as the capture shows them."""
    fins = sum(c.fins_unseen for c in lossy)
    fin_words = (("FINs whose acknowledgements" if fins > 1 else
                  "a FIN whose acknowledgement") + " the capture holds (one sequence number "
                 "past the last byte captured, what a FIN takes)")
    if fins >= missed:
        return fin_words
    return ("sequence ranges never seen although later data was, or acknowledged beyond "
            "the last byte captured" + (f"; {fin_words}" if fins else ""))


def _listed_openings(openings: list[MissedOpening],
                     say: Callable[[MissedOpening], str]) -> str:
    """The first MOST_AFFECTED openings, each as say words it, joined by "; ", then
    "; and N more" for the rest."""
    listed = "; ".join(say(o) for o in openings[:MOST_AFFECTED])
    more = len(openings) - MOST_AFFECTED
    return listed + (f"; and {more} more" if more > 0 else "")


def _openings_words(openings: list[MissedOpening], *, also: bool) -> str:
    """The connections whose opening handshake packets the sniffer missed
    (flowcheck.verify.openings): "The capture missed opening handshake packets of 1
    connection ...: data connection C3 ...: its SYN, which the SYN-ACK of frame 22
    answers"."""
    count = len(openings)
    listed = _listed_openings(openings, lambda o: f"{_named(o.conn, o.reverse)}: {o.what}")
    return (f"{'It also missed' if also else 'The capture missed'} opening handshake "
            f"packets of {count} {_plural(count, 'connection')} that went on without them "
            "(a side sends on only once the handshake reached it, and their later packets "
            "both ways are in the capture), so the sniffer lost them, not the network: "
            f"{listed}")


def _between_words(between: list[MissedOpening]) -> str:
    """The openings that may have gone in the time between two files of the set that
    none covers (MissedOpening.between): hedged, since files given in sequence may be
    one sniffer's, rotated without a pause under names that tell it not (-C files
    renamed, two tcpdump -G files alone), and then the time between them is idle time it
    watched (review56j: one tcpdump -G run whose callback SYN and SYN-ACK were lost read
    "missing because nothing of that time is in the set, not shown lost by the sniffer").
    A ring's numbered names, and three or more -G files' time-stamped names, do tell so:
    their neighbours leave no file gap (sources.file_gaps) but where a hole is found."""
    count = len(between)
    listed = _listed_openings(
        between, lambda o: f"{_named(o.conn, o.reverse)}: {o.what}, perhaps in "
                           f"{o.between.words() if o.between else 'a gap'}")
    return (f"The capture set lacks opening handshake packets of {count} "
            f"{_plural(count, 'connection')} that went on without them, which may have "
            "been sent in time that lies between two of its files given in sequence and "
            "that none of them covers: if no sniffer ran then (one stopped and started "
            "again, or two capture points' files), nothing of that time is in the set; "
            "if the files are one sniffer's, rotated without a pause under names that do "
            "not tell so (-C files renamed, or two tcpdump -G files alone), it missed them: "
            f"{listed}")


def _between_finding(between: list[MissedOpening]) -> Finding:
    """capture_loss (info) when only openings between the files are missing."""
    return make_finding(
        "capture_loss", _between_words(between) + ". Findings that rest on what the "
        "capture does not hold are less certain.",
        "Capture without a pause (one sniffer run, or a ring buffer: tcpdump -C/-W, "
        "dumpcap -b), or give every file of the capture set; if these files are one "
        "sniffer's, rotated without a pause, it missed the packets: capture so it keeps up",
        severity=Severity.INFO, uid=between[0].conn.uid if len(between) == 1 else None,
        ts=min(o.ts for o in between[:MOST_AFFECTED]),
        frames=[f for o in between[:MOST_AFFECTED] for f in o.frames])


def _first_time(named: list[Connection]) -> float:
    """The time of the earliest of the named connections' gap frames (the finding's
    frames; trial 25 D6: it gave the first connection's start, "+0.000s" for gaps 50 ms
    in); the first connection's start when the tracker kept no gap time."""
    times = [ts for c in named for frame, ts in zip(c.gap_frames, c.gap_times, strict=False)
             if frame in _gap_frames(c)]
    return min(times, default=named[0].ts)


def _gap_frames(c: Connection) -> list[int]:
    """c's gap frames but its lost and untold gaps' first ones (not the sniffer's loss);
    of a connection the capture holds one side of, its untold gaps' too (_counted)."""
    orig, resp = c.evidence("orig"), c.evidence("resp")
    lost = {orig.lost_frame, resp.lost_frame} - {0}
    if not one_way(c):
        lost |= {orig.untold_frame, resp.untold_frame} - {0}
    return [f for f in c.gap_frames if f not in lost][:FRAMES_EACH]


def _named(c: Connection, reverse: bool = False) -> str:
    """"data connection C3 10.77.0.1:5002 -> 10.77.0.2:6001"; reverse: responder ->
    originator (MissedOpening.reverse: it opened the other way round)."""
    role = "" if c.role == "other" else f"{c.role} connection "
    ends = (f"{endpoint(c.resp_h, c.resp_p)} -> {endpoint(c.orig_h, c.orig_p)}" if reverse
            else connection_ends(c))
    return f"{role}{c.uid} {ends}"


def _describe(c: Connection) -> str:
    cited = _gap_frames(c)
    frames = ", ".join(str(f) for f in cited)
    gaps = named_gaps(c) - c.fins_unseen
    payload = named_missed(c) - c.fins_unseen
    said = [f"{payload:,} B in {gaps} {_plural(gaps, 'gap')}"
            ] if payload > 0 else []
    if c.fins_unseen:
        said.append("both its FINs" if c.fins_unseen > 1 else "its FIN")
    return (f"{_named(c)}: " + " and ".join(said)
            + (f" ({_plural(len(cited), 'frame')} {frames})" if frames else ""))


def _job_hosts(sessions: list[Session], connections: list[Connection]) -> set[str]:
    """The addresses of every session's connections (control, callback, data): a capture
    filter for the backup hosts keeps each job's packets, over either IP version."""
    wanted = {uid for session in sessions for uid in session_uids(session)}
    return {h for c in connections if c.uid in wanted for h in (c.orig_h, c.resp_h)}


def _fix(lossy: list[Connection], captures: list[CaptureInfo],
         jobs: Set[str] = frozenset()) -> str:
    """The fix for the sniffer's loss: its capture filter names the hosts of the most
    affected connections and of every job (`jobs`, _job_hosts). Lab matrix seed 123 run
    26 (two jobs, job 2's callback dropped, 1.9% of the frames deleted) named only the
    media server and job 1's agent, whose data connections had lost bytes: a capture so
    filtered would have lost the failing job 2 whole."""
    hosts = sorted({h for c in lossy[:MOST_AFFECTED] for h in (c.orig_h, c.resp_h)} | jobs)
    capture_filter = " or ".join(f"host {h}" for h in hosts) or "host MEDIA or host AGENT"
    live = next((c for c in captures if c.sniffer), None)
    if live is not None:  # what `flowcheck live` itself can change
        buffer = f" than the {live.buffer_mib} MiB it had" if live.buffer_mib else ""
        other = ("dumpcap or tcpdump (--sniffer; scapy is the slowest)"
                 if live.sniffer == "scapy" else "another sniffer (--sniffer)")
        return ("Run live so its sniffer keeps up: filter on the backup hosts only "
                f"(--capture-filter '{capture_filter}'), give it a bigger kernel buffer"
                f"{buffer} (--buffer, in MiB), try {other}, or run it on the host with the "
                "lighter load; or capture to a file (tcpdump -B 65536 -w job.pcap) and "
                "analyze that")
    return ("Capture so the sniffer keeps up: filter on the backup hosts only "
            f"(tcpdump -w job.pcap '{capture_filter}'), give it a bigger kernel buffer "
            "(tcpdump -B 65536, in KiB), write to a fast local disk (not a network share), "
            "use dumpcap instead of tcpdump, or capture on the host with the lighter load")


def _percent(share: float) -> str:
    return f"{share * 100:.2g}%" if share < 0.01 else f"{share * 100:.1f}%"


def _plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


def _hole_kind(holes: Sequence[RingGap]) -> tuple[str, str, str]:
    """(what has the holes, what is missing, what to analyze): "ring buffer", "ring
    file", "the whole ring (every file of it)"; for files missing from a capture cut by
    time (tcpdump -G, RingGap.rotated) alone "capture cut by time", "file", "every file
    of the capture cut by time"."""
    if holes and all(gap.rotated for gap in holes):
        return "capture cut by time", "file", "every file of the capture cut by time"
    return "ring buffer", "ring file", "the whole ring (every file of it)"
