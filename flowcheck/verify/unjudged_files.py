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
may hold only ARP or NDP, review56l's tcpdump -G files), gets a no_control_session
warning naming it, so the set's verdict is inconclusive as the file's alone is; the
sessions judged in the other files keep their own readings.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    parts = ring_parts(captures) | time_rotated(captures)
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
