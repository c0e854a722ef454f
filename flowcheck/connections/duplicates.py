"""The capture_duplicates finding: how many packets the capture set holds twice, and why.

Copies within 0.5 ms at one capture point (flowcheck.connections.copies) are a SPAN
session, `tcpdump -i any` or a duplicating network; copies between two files, two pcapng
interfaces, or a file and itself at an offset (flowcheck.connections.points) are two
capture points' captures given together: the finding names the files, the copies each
pair holds, and the offset between their clocks (and the shift flowcheck applied to a
file's times to take it out, flowcheck.connections.track_connections), in
flowcheck.connections.point_names' words. Copies a Windows
tool made by logging each packet at several places of one host's stack (pktmon, netsh
trace: flowcheck.sources.host_tools) are that tool's, one capture point's: the finding
says so and how to have each packet once (host_tool_copies). Copies a router or bridge
forwarded, captured on the interface it came in on and again on the one it left by
(`tcpdump -i any` on it: flowcheck.connections.relay_copies), at its queueing delay,
are said so, with the longest delay and the fix of capturing one interface
(flowcheck.connections.relay_words).
"""

from __future__ import annotations

import dataclasses
import shlex
from typing import TYPE_CHECKING

from flowcheck.connections.copy_family import CopyFamily, copy_family
from flowcheck.connections.copy_window import COPY_WINDOW
from flowcheck.connections.offsets import appended
from flowcheck.connections.point_names import PointNames
from flowcheck.connections.relay_words import (
    KEEP_WHY,
    near_fix,
    near_words,
    of_them,
    relay_fix,
    relay_told,
    relay_words,
)
from flowcheck.durations import span_words
from flowcheck.findings import make_finding
from flowcheck.model import CaptureInfo, Connection, Finding
from flowcheck.sources.host_tools import PKTMON

if TYPE_CHECKING:
    from flowcheck.connections.copies import CaptureCopies
    from flowcheck.connections.offsets import Offset
    from flowcheck.connections.points import CapturePoints
    from flowcheck.connections.relay_copies import RelayCopies
    from flowcheck.connections.tracker import ConnectionTracker

_NAMED = 3  # pairs of capture points described
# The fix for copies of two capture points (here and tunnel_copies).
TWO_POINTS_FIX = ("nothing to fix in the network for the copies; keep giving both points' "
                  f"captures together ({KEEP_WHY}), and to judge one capture point alone, "
                  "analyze its files alone")

_COUNTED = ("The copies are counted as packets (as tshark counts them) but not as "
            "retransmissions, SYN retries or rejects, and the job's data volumes count each "
            "byte once: they are no evidence of a drop or a refusal")


def copies_finding(tracker: ConnectionTracker, captures: list[CaptureInfo] | None = None,
                   shifts: dict[int, float] | None = None,
                   connections: list[Connection] | None = None) -> Finding | None:
    """capture_duplicates (info) with the count, the first copies' frames and the first
    one's time; None when no copy was found (answers without identity alone are never
    copies). captures: the set's files (their paths name the capture points); shifts:
    seconds added to a file's times, by its place in captures (TrackResult.shifts);
    connections: the tracker's (their copies' share of the payload tells the network's
    copies from a capture point's: `scattered_share`). The words' IP version is the
    copies' (copy_family: "hop limit" and no IP ID when no copy is IPv4)."""
    copies = tracker.copies
    if not copies.count:
        return None
    # A capture of IPv6 alone, or of both versions whose every copy is IPv6 (lab matrix
    # seed 123 run 10: dual-stack, the IPv6 control connection captured at two points,
    # the IPv4 callback at one, read "same IP ID" and "at a TTL one lower"), from the
    # copies' own count: no record is read for it (records are made when read).
    family = copy_family(copies.ipv4)
    finding = _copies_finding(tracker, captures, shifts, connections or [], family)
    return dataclasses.replace(
        finding, ts=copies.first_ts,
        message=finding.message + _not_compared(tracker, len(captures or []) > 1))


def compared_words(copies: CaptureCopies) -> str:
    """The message's opening count, of the packets compared for copies (TCP packets and
    ICMP errors quoting TCP: CaptureCopies.compared, icmp_compared), not of every packet
    of the set: "4 of the 8 TCP packets compared are copies of " (field check 72: "4 of
    26 packets are copies" of a capture of both hosts' interfaces whose 18 neighbour
    discovery packets, each twice too, were never compared)."""
    what = "TCP packets and ICMP errors" if copies.icmp_compared else "TCP packets"
    compared = copies.compared + copies.icmp_compared
    return f"{copies.count:,} of the {compared:,} {what} compared are copies of "


def _not_compared(tracker: ConnectionTracker, several: bool) -> str:
    """The sentence (its full stop first) on the packets of the set never compared for
    copies (tracker.packets less CaptureCopies' compared ones: ARP, neighbour discovery,
    UDP, IP fragments after the first, undecodable ones), which may be in it twice too;
    "" when every packet was compared. several: the set has more than one file."""
    copies = tracker.copies
    rest = tracker.packets - copies.compared - copies.icmp_compared
    if rest <= 0:
        return ""
    whose = "capture set's" if several else "capture's"
    return (f". The {whose} {rest:,} other packet{'' if rest == 1 else 's'} (ARP, "
            "neighbour discovery, UDP and any other that is neither TCP nor an ICMP error "
            f"quoting TCP) {'was' if rest == 1 else 'were'} not compared: copies among "
            "them are not counted")


def _copies_finding(tracker: ConnectionTracker, captures: list[CaptureInfo] | None,
                    shifts: dict[int, float] | None, connections: list[Connection],
                    family: CopyFamily) -> Finding:
    """copies_finding's finding of a capture holding copies (tracker.copies.count > 0),
    in `family`'s words, without its time."""
    copies = tracker.copies
    points = copies.points
    pairs = sorted((entry for entry in points.offsets.values()
                    if entry.copies and _between_points(points, entry)),
                   key=lambda entry: -entry.copies)
    count = compared_words(copies)
    tools = host_tool_copies(tracker, captures or [])
    if tools:
        return _host_tool(count, copies.frames, tools)
    if not pairs:
        if copies.replayed == copies.count:
            return _replayed(count, copies.frames, family)
        share = scattered_share(connections)
        replays = _replays_among(copies.replayed)
        later = _later(copies, family)
        if share is not None and not copies.relays.count:
            return _network_copies(count, copies.frames, share, family, replays, later)
        return _one_point(count, copies.frames, copies.relays, family, replays, later,
                          copies.count, copies.icmp_count)
    lead = f"{count}another packet of the capture set in the same direction"
    names = PointNames(points, captures or [], shifts or {})
    said = [names.pair(entry, family) for entry in pairs[:_NAMED]]
    if len(pairs) > _NAMED:
        said.append(f"and {len(pairs) - _NAMED} more pairs of capture points")
    # Not same_time alone: after flowcheck's shift two points' copies may lie at 0 s
    # (review56b; one_capture takes the shift back out, and knows the files' clocks).
    same = all(names.one_capture(entry) for entry in pairs)
    return make_finding(
        "capture_duplicates",
        f"{lead} ({family.identity}): the capture set holds the packets of more than one "
        f"capture point. {'; '.join(said)}. {relay_words(copies.relays, family)}"
        f"{_COUNTED}",
        "give each capture once" if same else TWO_POINTS_FIX,
        frames=copies.frames)


def host_tool_copies(tracker: ConnectionTracker,
                     captures: list[CaptureInfo]) -> list[CaptureInfo]:
    """The files holding the set's copies when a Windows tool made every one of them by
    logging each packet at several places of one host's stack (CaptureInfo.tool): every
    file holding copies is such a file, and no copy is another capture point's; [] when
    not (no copy, or another cause)."""
    copies = tracker.copies
    if not copies.count or not copies.within or any(
            entry.copies and _between_points(copies.points, entry)
            for entry in copies.points.offsets.values()):
        return []
    files = [captures[index] if index < len(captures) else None
             for index in sorted(copies.within)]
    if any(info is None or info.tool is None for info in files):
        return []
    return [info for info in files if info is not None]


def interface_copies(tracker: ConnectionTracker, captures: list[CaptureInfo]) -> bool:
    """Whether the set's copies are one capture host's several interfaces (a bridge's or
    router's, `tcpdump -i any` on it: relay_copies.RelayCopies.interfaces), no copy
    another capture point's and none a Windows tool's (host_tool_copies): a packet in the
    set twice passed that one host, not two capture points (trial 35 D3)."""
    copies = tracker.copies
    return (bool(copies.count) and copies.relays.interfaces
            and not any(entry.copies and _between_points(copies.points, entry)
                        for entry in copies.points.offsets.values())
            and not host_tool_copies(tracker, captures))


def _between_points(points: CapturePoints, entry: Offset) -> bool:
    """Copies of two files, or within one at an offset beyond the copies of one capture
    point (a SPAN session's microseconds), or appended to it."""
    first, second = entry.sources
    return first != second or appended(entry) or (
        entry.offset is not None and abs(entry.offset) > COPY_WINDOW)


# A capture point that sees packets twice (a SPAN of both ports, -i any across a bridge, a
# firewall's several inspection points) holds every packet of the conversation twice:
# about half the payload bytes of the connections with copies are copies. A network that
# duplicates some packets (field check 37: a router copying 2%) leaves far fewer.
SCATTERED_SHARE = 0.1


def scattered_share(connections: list[Connection]) -> float | None:
    """The copies' share of the payload bytes of the connections holding copies (their
    orig_copy_bytes and resp_copy_bytes against orig_bytes and resp_bytes) when under
    SCATTERED_SHARE: a few packets copied here and there, as a network duplicates them.
    None when higher, or when no copy carried payload (bare ACKs alone tell nothing)."""
    copied = copy_bytes = 0
    for conn in connections:
        if conn.orig_copy_bytes or conn.resp_copy_bytes:
            copy_bytes += conn.orig_copy_bytes + conn.resp_copy_bytes
            copied += conn.orig_bytes + conn.resp_bytes
    if not copy_bytes or not copied:
        return None
    share = copy_bytes / copied
    return share if share < SCATTERED_SHARE else None


# Captures joined end to end whose second part goes over moments the first held.
_JOINED = ("a capture joined with itself, or two captures of the same moments joined end "
           "to end (`cat`, `mergecap -a`): after the first part the time goes back to "
           "moments already captured and the same packets come again")


def _replayed(count: str, frames: list[int], family: CopyFamily) -> Finding:
    """Copies each captured after a step back of the capture's clock, of a packet
    captured before it (CaptureCopies.replayed: every copy is one)."""
    return make_finding(
        "capture_duplicates",
        f"{count}a packet captured earlier in the file, before the capture's clock stepped "
        f"back ({family.identity}, stamped at most {COPY_WINDOW * 1e3:g} "
        f"ms apart): the capture holds stretches of packets twice. It is {_JOINED}. "
        f"{_COUNTED}",
        "nothing to fix in the network for the copies; give each capture once: analyze "
        "the captures' own files together (flowcheck reads several files as one capture "
        "set), or one of them alone, not a join of a capture with itself or with another "
        "capture of the same moments",
        frames=frames)


def _replays_among(replayed: int) -> str:
    """The sentence on the copies captured after a step back of the clock (of packets
    captured before it) among others, to end a message with (its full stop first);
    "" without any."""
    if not replayed:
        return ""
    return (f". {replayed:,} of them are copies of packets captured earlier in the file, "
            f"before the capture's clock stepped back: {_JOINED}")


def _later(copies: CaptureCopies, family: CopyFamily) -> str:
    """The sentence (with its trailing space) on the copies of one capture point found
    beyond COPY_WINDOW by their IPv4 ID, TTL and TSval (copy_window.WIDE_COPY_WINDOW):
    how many and the longest lag; "" without any."""
    if not copies.wide:
        return ""
    return (f"{of_them(copies.wide)} captured more than {COPY_WINDOW * 1e3:g} ms "
            f"after their original, up to {span_words(copies.widest)}, each with its "
            f"original's IPv4 ID, {family.ttl} and TCP timestamp (TSval), which a resend of "
            "Linux, Windows or the BSDs does not repeat (it takes another IPv4 ID and a "
            "later TSval; a stack that resends a datagram whole would): the lag between two "
            "capture points merged into one file, or between two mirrored switch ports' "
            "queues. ")


def _network_copies(count: str, frames: list[int], share: float, family: CopyFamily,
                    replays: str = "", later: str = "") -> Finding:
    """Copies of one capture point, few of the payload (scattered_share): the network
    delivered them twice (replays: _replays_among's sentence; later: _later's)."""
    return make_finding(
        "capture_duplicates",
        f"{count}a packet captured just before them in the same direction "
        f"({family.identity}, at most {COPY_WINDOW * 1e3:g} ms later): the capture holds "
        f"some packets twice, {share:.1%} of the payload bytes of the connections that "
        f"hold copies. {later}A capture point that sees packets twice (a SPAN session mirroring "
        "both switch ports of the conversation, tcpdump -i any across a bridge, a "
        "firewall's capture at several inspection points, two capture points' files given "
        "together) holds every packet of the conversation twice, half its bytes: these "
        "few the network delivered twice (a router, firewall or link duplicating packets; "
        "the receiver answers them with duplicate ACKs or D-SACKs, RFC 2883). The copies "
        "are counted as packets (as tshark counts them) but not as retransmissions, SYN "
        f"retries or rejects: they are no evidence of a drop or a refusal{replays}",
        "nothing breaks the job (TCP delivers each byte once); to stop the copies, find the "
        "device duplicating packets between the hosts (a duplicating rule, a bridging "
        "loop, a misconfigured bond or a port mirror back into the network)",
        frames=frames)


def _just_before(family: CopyFamily) -> str:
    """What a copy of one capture point is, the sentence (with its trailing space) after
    the count."""
    return (f"a packet captured just before them in the same direction ({family.identity}, "
            "or the same ICMP unreachable quoting the same packet, at most "
            f"{COPY_WINDOW * 1e3:g} ms later; {family.bare}, which a sender can send twice "
            "that fast, only after a copy of a packet with an identity of its own): the "
            "capture holds packets twice. ")


def _one_point(count: str, frames: list[int], relays: RelayCopies, family: CopyFamily,
               replays: str = "", later: str = "", copies_count: int = 0,
               icmp_count: int = 0) -> Finding:
    """Copies of one capture point only (copies.py), a router's forwarded ones among
    them (relay_copies); replays: _replays_among's sentence; later: _later's;
    copies_count: the copies in all (near_words: whether its sample read them all),
    icmp_count: the ICMP errors' copies of them (never in that sample)."""
    if relays.count:
        return make_finding(
            "capture_duplicates",
            f"{count}a packet captured before them in the same direction "
            f"({family.identity}): the capture holds packets twice. {later}"
            f"{relay_told(relays, copies_count, family)}"
            "The copies are counted as packets (as tshark counts them) but not as "
            "retransmissions, SYN retries or rejects, and the job's data volumes count each "
            f"byte once: they are no evidence of a drop or a refusal{replays}",
            relay_fix(relays),
            frames=frames)
    marked = near_words(relays, copies_count, family, icmp_count)
    if marked:
        # The Linux cooked marks, or a pcapng's interfaces, tell the copies' capture
        # points (lab matrix seed 117 run 29, both hosts' -i any merged, and seed 118 run
        # 1, both hosts' dumpcap merged, read "either the capture point saw them twice
        # ... or the network delivered them twice").
        two = sum(relays.handed_near) > 0
        fix = near_fix(relays) or (
            ("nothing to fix in the network for the copies; to judge one capture point "
             "alone, analyze its capture alone (given as separate files, two points' "
             "captures are read on one clock)") if two else
            ("nothing to fix in the network for the copies; for each packet once, capture "
             "one interface of the bridge or router (tcpdump -i IFACE, the one toward the "
             "media server or the agent) instead of -i any"))
        return make_finding(
            "capture_duplicates",
            f"{count}{_just_before(family)}{later}{marked}{_COUNTED}{replays}", fix,
            frames=frames)
    return make_finding(
        "capture_duplicates",
        f"{count}{_just_before(family)}{later}Either the "
        "capture point "
        "saw them twice (a SPAN session mirroring both switch ports of the conversation, "
        "tcpdump -i any across a bridge, a firewall's own capture at several of its "
        "inspection points, as Check Point's fw monitor writes, or the captures of two "
        "capture points given together), or the network delivered them twice (a router, "
        "firewall or link duplicating packets: the receivers then answer the copies with "
        "duplicate ACKs or D-SACKs, RFC 2883, and a capture on a host's own interface holds "
        "them too). The "
        "copies are counted as packets (as tshark counts them) but not as retransmissions, "
        f"SYN retries or rejects: they are no evidence of a drop or a refusal{replays}",
        "if they are two capture points' (two points' captures given together, a "
        "router's two sides in one file): nothing to fix, keep them together "
        f"({KEEP_WHY}); if one capture point duplicates (a SPAN of both ports, -i any "
        "across a bridge): mirror one port of the conversation (or one direction of each "
        "port), or drop the copies with editcap -D (byte-identical frames only: not a "
        "device's copies from several of its points, with their own link headers or "
        f"{family.ttls}, which flowcheck counts once all the same); if the network does "
        "(the copies are in a capture on the receiving host itself): find the device "
        "duplicating packets between the hosts (a duplicating rule, a bridging loop, a "
        "misconfigured bond or port mirror back into the network); TCP delivers each byte "
        "once all the same",
        frames=frames)


def _host_tool(count: str, frames: list[int], files: list[CaptureInfo]) -> Finding:
    """Copies one host's Windows capture tool made (host_tool_copies): its words, its
    fix."""
    info = files[0]
    shown = shlex.quote(info.path)
    where = " and ".join(f.path for f in files)
    if info.tool == PKTMON:
        how = ("pktmon logged each packet at every network-stack component it passed (the "
               "network adapter, each filter driver, TCP/IP), and etl2pcap wrote each logged "
               "copy as a packet: its comments name them (the same PktGroupId and PktNumber, "
               "Appearance 1, 2, 3, ...)")
        fix = ("nothing to fix in the network. For each packet once, convert the log for one "
               "component: `pktmon etl2pcap PktMon.etl --component-id ID` (`pktmon list` "
               "names the components; the network adapter's sees what the wire carries), or "
               "capture at the network adapters only: `pktmon start --capture --comp nics`")
    else:
        how = ("netsh trace logged each packet at every NDIS layer it crossed (the network "
               "adapter and each filter driver over it), and etl2pcapng gave each layer an "
               "interface of its own (named \"eth:IfIndex:VlanId\", a filter's described "
               "\"LWF over IfIndex N\")")
        fix = ("nothing to fix in the network. For each packet once, keep one interface's "
               "packets: `tshark -r FILE -Y \"frame.interface_id == N\" -w one.pcapng`, N "
               "the interface of the network adapter itself (etl2pcapng prints which "
               "interface is which IfIndex; the adapter's is not described \"LWF over "
               "IfIndex\")").replace("FILE", shown)
    return make_finding(
        "capture_duplicates",
        f"{count}a packet logged before them in the same direction, all in {where}: "
        f"{how}. They are one host's copies of each packet, one capture point's: not "
        f"packets the network delivered twice, and not a second capture point's view. "
        f"{_COUNTED}",
        fix, frames=frames)
