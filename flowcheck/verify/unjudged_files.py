"""no_control_session beside judged sessions: a file of the set without one TCP packet.

A file that holds no TCP at all reads alone as no_control_session, a warning (nothing of
a job in it can be judged: an encrypted tunnel such as WireGuard's, a capture of one
direction that held no SYN, the wrong interface; flowcheck.verify.no_session and
.capture_contents say which). Given with another file that holds a readable job (two
files, a folder), its doubt was lost and the other job's pass became the set's
(review56d: trial38-stack/wireguard-outer-media and field62's
dual-stack-control-syns-dropped-by-agent-any-on-agent-out-sll2 passed beside ndmjob's v4
backup). Here each such file, not one part of a ring nor of a capture cut by time (one
capture cut into files, sources.ring.ring_parts and .time_rotated: a part after the job
may hold only ARP or NDP, review56l's tcpdump -G files; nor a file no other file
overlaps in time while a connection begun before it goes on into it, by its TCP packets
after the file or an ICMP unreachable quoting it there: a slice of one capture's time,
as review58f's connection across a file gap proves; review58j: lab-trial17's
mtu-blackhole-media cut by `editcap -c 3` into files a.pcap .. x.pcap read an extra
no_control_session for the ARP and ICMPv6 met while the data connection waited, field57's
net-unreachable case cut in its handshake into trace, trace1 for trace1's reject) gets a
no_control_session warning naming it, so the set's verdict is inconclusive as the
file's alone is; the sessions judged in the other files keep their own readings.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from itertools import accumulate

from flowcheck.findings import make_finding
from flowcheck.model import CaptureInfo, Connection, Finding, Session, Severity
from flowcheck.sources.ring import ring_parts, time_rotated


def unjudged_files(findings: list[Finding], captures: Sequence[CaptureInfo],
                   sessions: Sequence[Session],
                   connections: Sequence[Connection] = ()) -> list[Finding]:
    """The findings with a no_control_session warning per file of a set of several that
    holds packets but no TCP one (CaptureInfo: every packet counted non-TCP or
    undecodable) and is no part of a ring or of a capture cut by time, beside judged
    sessions; unchanged with no session (then verify.no_session speaks for the whole
    set) or one file. Not for a file whose time (CaptureInfo.span) holds a session's
    control connection known only from an ICMP unreachable quoting its SYN (of
    `connections`: no TCP packet of it at all, so that file's): a session judged there
    (mergedone: trial28-own-unreachable any-v4-agent-down read "holds no TCP packet ...
    nothing of a job in it can be judged" beside ndmjob's v4 backup, its control_refused
    judged). A control connection with TCP packets is another file's (two capture
    points at once: an ARP-only file in a job's time still warns)."""
    if not sessions or len(captures) < 2:
        return findings
    parts = ring_parts(captures) | time_rotated(captures) | \
        _slices_inside(captures, connections)
    by_uid = {conn.uid: conn for conn in connections}
    starts = [conn.ts for s in sessions if (conn := by_uid.get(s.control_uid)) is not None
              and not conn.orig_pkts + conn.resp_pkts and conn.icmp_frames]
    added = []
    for info in captures:
        if info.packets == 0 or info.path in parts or \
                info.non_tcp + info.undecodable < info.packets:
            continue
        if info.span is not None and any(info.span[0] <= ts <= info.span[1] for ts in starts):
            continue  # a session judged in it (its SYN quoted by an ICMP unreachable)
        added.append(make_finding(
            "no_control_session",
            f"The file {info.path} of the capture set holds no TCP packet: none of its "
            f"{info.packets} packets is a TCP one flowcheck can read, so nothing of a job "
            "in it can be judged (its traffic in an encrypted tunnel or a link type "
            "flowcheck does not read, a capture of one direction that held none of the "
            "job's packets, or the wrong interface), whatever the sessions judged in the "
            "other files.",
            f"Read the file alone (`flowcheck analyze {info.path}`): its no_control_session "
            "says what it holds and the fix for that cause.",
            severity=Severity.WARNING))
    return [*findings, *added]


def _slices_inside(captures: Sequence[CaptureInfo], connections: Sequence[Connection]
                   ) -> set[str]:
    """The paths of files no other file overlaps in time (CaptureInfo.span, s) while a
    connection of `connections` that began before the file's first packet goes on
    into it: its TCP packets after the file's (Connection.last_ts; none can be in it) or
    an ICMP unreachable quoting it at or after the file's first packet
    (Connection.icmp_last): one capture's slice of the connection's time (review58j).
    Sorted spans and a running maximum: files x log(connections)."""
    spanned = sorted((info.span, info.path) for info in captures if info.span is not None)
    if len(spanned) < 2 or not connections:
        return set()
    by_start = sorted(connections, key=lambda conn: conn.ts)
    starts = [conn.ts for conn in by_start]
    reach = list(accumulate((max(conn.last_ts, conn.icmp_last or conn.last_ts)
                             for conn in by_start), max))  # the latest end so far
    inside = set()
    reached = float("-inf")  # the latest last packet of the files starting before
    for index, ((first, last), path) in enumerate(spanned):
        alone = reached < first and (index + 1 == len(spanned)
                                     or spanned[index + 1][0][0] > last)
        reached = max(reached, last)
        count = bisect_left(starts, first)  # connections that began before the file
        if alone and count and reach[count - 1] >= first:
            inside.add(path)
    return inside
