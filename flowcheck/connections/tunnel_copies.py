"""Connections captured twice: once inside a tunnel and once out of it (or in two tunnels).

A capture taken on several interfaces that carry the same packets (`tcpdump -i any` on a
VXLAN or GRE endpoint, `dumpcap -i eth0 -i vxlan0`) holds each packet of the overlay
twice: encapsulated on the underlay and plain on the tunnel device. Connections are
keyed by their tunnel too (two tenants may use the same addresses in two VXLAN
segments), so each copy is a connection of its own, and every session, step and error
came out twice. Two connections are copies when they have the same endpoints, arrive in
different tunnels (or one in none), start within COPY_START_SECONDS of each other (their
SYNs within SYN_SECONDS, when both hold one) and carry about the same bytes: the payload
seen plus the bytes the capture missed (`tcpdump -i any` often loses more on one
interface than on the other). The one the capture holds more of (fewer bytes missed),
then the one with more packets, is kept, the other left out: with segmentation offload on
the plain interface its copy has fewer, larger packets, and a capture filter that let
through the tunnel's first fragments only made the tunnelled copy lossy (third new-user
trial: it was kept for its packets, and the capture's loss reported for bytes it held).

The two copies may also be two capture points' files given together: a host's capture
and a switch's mirror session delivering its packets in ERSPAN or VXLAN, their clocks
apart. points.py pairs the two files' packets whatever their encapsulation and takes
the offset out before the connections are built (their starts then lie within
COPY_START_SECONDS), and the finding says two points' captures, not `-i any`.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter

from flowcheck.connections.duplicates import TWO_POINTS_FIX
from flowcheck.connections.point_names import shifted_words
from flowcheck.findings import make_finding
from flowcheck.model import Connection, Finding, connection_ends

COPY_START_SECONDS = 1.0
SYN_SECONDS = 0.05  # one SYN seen on two interfaces of one host: microseconds apart
# The bytes of one copy at least this share of the other's (the sender's retransmissions
# count on both; two tenants' connections are not this alike).
COPY_SHARE = 0.9
_NAMED = 3  # pairs named in a capture_duplicates of connections kept once


def fold_tunnel_copies(connections: list[Connection]
                       ) -> tuple[list[Connection], list[tuple[Connection, Connection]]]:
    """(the connections without the copies, in their order; (kept, copy) pairs)."""
    if not any(map(attrgetter("tunnel"), connections)):
        return connections, []  # the usual capture: nothing tunnelled, nothing to pair
    by_endpoints: dict[tuple[str, int, str, int], list[Connection]] = {}
    for conn in connections:
        key = (conn.orig_h, conn.orig_p, conn.resp_h, conn.resp_p)
        by_endpoints.setdefault(key, []).append(conn)
    pairs: list[tuple[Connection, Connection]] = []
    for group in by_endpoints.values():
        if len(group) > 1 and len({c.tunnel for c in group}) > 1:
            pairs.extend(_pairs(group))
    if not pairs:
        return connections, []
    left_out = {id(copy) for _, copy in pairs}
    return [c for c in connections if id(c) not in left_out], pairs


def _pairs(group: list[Connection]) -> list[tuple[Connection, Connection]]:
    """Copies among connections with the same endpoints, earliest first."""
    group = sorted(group, key=lambda c: c.ts)
    taken: set[int] = set()
    pairs = []
    for index, first in enumerate(group):
        if id(first) in taken:
            continue
        for second in group[index + 1:]:
            if second.ts - first.ts > COPY_START_SECONDS:
                break
            if id(second) in taken or second.tunnel == first.tunnel or \
                    not _same_traffic(first, second):
                continue
            kept, copy = sorted((first, second), key=_keeping_order)
            pairs.append((kept, copy))
            taken.update((id(first), id(second)))
            break
    return pairs


def _keeping_order(conn: Connection) -> tuple[int, int, int, int]:
    """The copy kept sorts first: fewer bytes missed, more packets, then plain before
    tunnelled, then the shorter tunnel chain."""
    tunnel = conn.tunnel or ""
    return (conn.missed_bytes, -(conn.orig_pkts + conn.resp_pkts), bool(tunnel), len(tunnel))


def _same_traffic(a: Connection, b: Connection) -> bool:
    if a.syn_ts is not None and b.syn_ts is not None and abs(a.syn_ts - b.syn_ts) > SYN_SECONDS:
        return False
    return _close(a.orig_bytes + a.resp_bytes + a.missed_bytes,
                  b.orig_bytes + b.resp_bytes + b.missed_bytes)


def _close(x: int, y: int) -> bool:
    return x == y or min(x, y) >= COPY_SHARE * max(x, y)


def tunnel_copies_finding(pairs: list[tuple[Connection, Connection]],
                          points: tuple[list[str], dict[int, float]] | None = None
                          ) -> Finding | None:
    """capture_duplicates (info) naming the copies left out; None without any. points:
    when the set's files are two capture points' (points.py paired their packets, a
    tunnelled copy with its plain original too: TrackResult.linked_files), the files'
    paths and the seconds added to each one's times (TrackResult.shifts): the copies are
    then the two points', not one capture's interfaces (session 33's trial 3: a host's
    capture and a switch's ERSPAN mirror of it, clocks 2.3 s apart, read as two
    sessions)."""
    if not pairs:
        return None
    are, named, frames = pair_words(
        pairs, lambda kept, copy: f"{copy.uid} ({_where(copy)}) copies {kept.uid} "
                                  f"({_where(kept)})")
    first = pairs[0][0]
    which = (connection_ends(first)
             + (" and others" if len(pairs) > 1 else ""))
    judged = ("Each connection is judged once, on the copy the capture holds more of "
              "(fewer bytes missed, then more packets); the other "
              "copy is left out of the connections and sessions")
    if all(kept.tunnel and copy.tunnel for kept, copy in pairs):
        # Two tunnels each holding the whole connection: two mirror sessions (ERSPAN from
        # the switches of both hosts, each mirroring both directions), not -i any.
        return make_finding(
            "capture_duplicates",
            f"{are} in the capture twice, in two tunnels: {which}: {named}. Each "
            "tunnel holds both directions of the connection: two mirror sessions (or "
            "tunnels) deliver the same packets, as ERSPAN from the switches of both hosts, "
            f"each mirroring both directions of its port, does. {judged}",
            "Mirror each packet once: on each switch only what its host sends (the "
            "port's receive direction), or both directions on one switch only",
            frames=frames, ts=pairs[0][1].ts)
    if points is not None:
        return make_finding(
            "capture_duplicates",
            f"{are} in the capture set twice, inside a tunnel and out of it: {which}: "
            f"{named}. {_two_points(*points)} {judged}",
            TWO_POINTS_FIX,
            frames=frames, ts=pairs[0][1].ts)
    return make_finding(
        "capture_duplicates",
        f"{are} in the capture twice, inside a tunnel and out of it: {which}: "
        f"{named}. "
        "The capture was taken on interfaces that carry the same packets (tcpdump -i any "
        "on a tunnel endpoint, or dumpcap on both the tunnel device and the interface "
        f"under it). {judged}",
        "Capture on one interface: the tunnel device for the plain packets, or the "
        "interface under it for the encapsulated ones, not -i any",
        frames=frames, ts=pairs[0][1].ts)


def _two_points(paths: list[str], shifts: dict[int, float]) -> str:
    """The sentence on two capture points' files (tunnel_copies_finding's points)."""
    text = ("The files are two capture points' captures of the same traffic, one holding "
            "it in a tunnel (a switch's mirror session sending ERSPAN, or a tunnel's "
            "underlay) and one plain")
    if not shifts:
        return f"{text}; their clocks agree."
    said = []
    for index, shift in sorted(shifts.items()):
        name = paths[index] if index < len(paths) else f"file {index + 1}"
        said.append(f"{name}'s clock reads {-shift:+.3f} s against the others' (the "
                    f"packets both hold say so): {shifted_words(name, shift)}")
    return f"{text}; {'; '.join(said)}."


def pair_words(pairs: list[tuple[Connection, Connection]],
               name: Callable[[Connection, Connection], str]) -> tuple[str, str, list[int]]:
    """For a capture_duplicates of connections kept once: "1 connection is" / "N
    connections are", the first pairs (kept, left out) named by `name` ("...; and 2
    more"), and the left-out ones' first frames (the finding's evidence)."""
    are = "1 connection is" if len(pairs) == 1 else f"{len(pairs)} connections are"
    more = f"; and {len(pairs) - _NAMED} more" if len(pairs) > _NAMED else ""
    named = "; ".join(name(kept, other) for kept, other in pairs[:_NAMED]) + more
    return are, named, [other.first_frame for _, other in pairs[:_NAMED]]


def _where(conn: Connection) -> str:
    return f"in {conn.tunnel}" if conn.tunnel else "not tunnelled"
