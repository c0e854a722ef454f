"""Connections captured on both sides of a NAT: one connection, two address views.

Two capture points given together (both hosts' captures, or `mergecap` of them) with a
NAT between them hold each connection the NAT translated twice, under two different
4-tuples: the media server's capture shows the agent's public address (DNAT) or its
own (masquerade), the agent's the translated one. Packet copies are found per 4-tuple
(flowcheck.connections.copies), so these are two connections, and every job became
two sessions, each with half of the job's connections (trial 26 D7: good jobs read
INCONCLUSIVE, a callback that worked `step_missing`, a rule "on the media server" named
the NAT's address).

The capture proves that two control connections are one when their decoded NDMP
streams are the same conversation: the same messages (direction, sequence number,
type, code, error, reply sequence and the addresses inside them: a NAT does not
rewrite NDMP), at least MIN_MESSAGES of them from both sides, each message at the same
time offset between the two (within OFFSET_SPREAD: the path between the points, not
two jobs), the same payload bytes each way, and one end (host and port) the same in
both: the NAT translated the other (DNAT the responder, source NAT the originator).
Two streams whose every end differs (a NAT of both) are not joined. Such a pair gives
the NAT's mapping (one address on one side, another on the other, the peer unchanged),
and another pair of connections is one connection when it runs between the same peer
end (host and port) and the two mapped addresses, on the same side, with the same
payload bytes each way, opening at the control pair's offset (within OFFSET_SPREAD).

A capture point that began recording after a control connection opened (dumpcap
-i r0 -i r1 starting one interface ~10 ms late: trial 31 D2) holds a late view of it:
no opening, and only the last of its messages. That view is the same control
connection when it has no opening while the other view has, its messages (at least
MIN_MESSAGES, from both sides) are the last ones of the other view's, each at one time
offset (within OFFSET_SPREAD), with one end the same and each direction's payload that
of those messages (plus at most the part of the message before them that the capture
caught); else it would be a second session that took the job's data connection by
direction and ports (a false INCONCLUSIVE). The whole view is kept.

Each connection is kept once, in the view taken nearest its originator (its packets
with the higher TTL: flowcheck.verify.ttl), so the job is judged as its originator
sent it; the earlier one when the TTLs do not tell; a late view never (the other holds
its opening and announcements). The other view is left out of the connections and
sessions, as a tunnel copy is (flowcheck.connections.tunnel_copies), and
`capture_duplicates` names it.
"""

from __future__ import annotations

from flowcheck.connections.tunnel_copies import pair_words
from flowcheck.findings import make_finding
from flowcheck.model import (
    Connection,
    Finding,
    NdmpMessage,
    NdmpStream,
    connection_ends,
    other_direction,
)

MIN_MESSAGES = 4
OFFSET_SPREAD = 0.1  # seconds: a path's latency and jitter between the two points

# (peer host, the address on the kept view's side, the address on the other's, the
# offset other - kept)
_Mapping = tuple[str, str, str, float]


def fold_nat_views(connections: list[Connection], streams: list[NdmpStream]
                   ) -> tuple[list[Connection], list[tuple[Connection, Connection]]]:
    """(the connections without the far views, in their order; (kept, far view) pairs,
    control connections first)."""
    if not streams:
        return connections, []  # no control stream: no view to pair (nor a dict to build)
    # Looked up by the streams' uids only.
    tapped = {stream.uid for stream in streams}
    by_uid = {conn.uid: conn for conn in connections if conn.uid in tapped}
    groups: dict[tuple, list[NdmpStream]] = {}
    for stream in streams:
        key = _signature(stream)
        if key is not None and stream.uid in by_uid:
            groups.setdefault(key, []).append(stream)
    pairs: list[tuple[Connection, Connection]] = []
    mappings: list[_Mapping] = []
    for group in groups.values():
        if len(group) != 2:
            continue  # one stream, or several alike: nothing proven
        found = _control_pair(by_uid[group[0].uid], by_uid[group[1].uid], *group)
        if found is not None:
            pairs.append(found[0])
            mappings.append(found[1])
    for found in _late_pairs(by_uid, streams, {c.uid for pair in pairs for c in pair}):
        pairs.append(found[0])
        mappings.append(found[1])
    if not pairs:
        return connections, []
    taken = {id(c) for pair in pairs for c in pair}
    pairs.extend(_other_pairs(connections, mappings, taken))
    for kept, far in pairs:
        if far.synack_frames and not kept.synack_frames and not kept.resp_pkts:
            # Answers the far view holds and the kept one lacks: they never crossed.
            kept.far_synack_frames = list(far.synack_frames)
    left_out = {id(far) for _, far in pairs}
    return [c for c in connections if id(c) not in left_out], pairs


def address_aliases(pairs: list[tuple[Connection, Connection]]) -> frozenset[tuple[str, str]]:
    """(kept address, far view's address) for every end fold_nat_views' pairs show
    translated: one host seen under two addresses, one per side of the NAT."""
    aliases = set()
    for kept, far in pairs:
        for near_h, far_h in ((kept.orig_h, far.orig_h), (kept.resp_h, far.resp_h)):
            if near_h != far_h:
                aliases.add((near_h, far_h))
    return frozenset(aliases)


def _signature(stream: NdmpStream) -> tuple | None:
    """The conversation of a control stream, None when too short to prove anything."""
    messages = stream.messages
    if len(messages) < MIN_MESSAGES or len({m.direction for m in messages}) < 2:
        return None
    return _conversation(messages)


def _conversation(messages: list[NdmpMessage]) -> tuple:
    """What a NAT leaves alone of each message: direction, sequence number, type, code,
    error, reply sequence and the addresses inside it."""
    return tuple((m.direction, m.sequence, m.type, m.code, m.error, m.reply_sequence,
                  tuple((a.ip, a.port) for a in m.addresses)) for m in messages)


def _translated(a: Connection, b: Connection) -> str | None:
    """Which end a NAT translated between two views of one connection: "resp" (DNAT)
    when the originator's end is the same and the responder's host differs, "orig"
    (source NAT) the other way round; None when neither is so."""
    if (a.orig_h, a.orig_p) == (b.orig_h, b.orig_p) and a.resp_h != b.resp_h:
        return "resp"
    if (a.resp_h, a.resp_p) == (b.resp_h, b.resp_p) and a.orig_h != b.orig_h:
        return "orig"
    return None


def _control_pair(a: Connection, b: Connection, sa: NdmpStream, sb: NdmpStream
                  ) -> tuple[tuple[Connection, Connection], _Mapping] | None:
    """The (kept, far) pair and the NAT's mapping when a and b are one control connection
    seen on both sides of a NAT; else None."""
    side = _translated(a, b)
    if side is None:
        return None
    if _bytes_once(a) != _bytes_once(b):
        return None
    offsets = [mb.ts - ma.ts for ma, mb in zip(sa.messages, sb.messages, strict=True)]
    if max(offsets) - min(offsets) > OFFSET_SPREAD:
        return None
    kept, far = _keeping(a, b)
    return (kept, far), _mapping(kept, far, side, _median(offsets) * (1 if kept is a else -1))


def _bytes_once(conn: Connection) -> tuple[int, int]:
    """Each way's payload counted once: a firewall's own capture holds a view's packets
    at several inspection points (Check Point fw monitor: i, I, o at one address, O at
    the translated one; field check 36), the copies in orig/resp_copy_bytes."""
    return conn.orig_bytes - conn.orig_copy_bytes, conn.resp_bytes - conn.resp_copy_bytes


def _median(offsets: list[float]) -> float:
    """statistics.median of the offsets (seconds), loaded only for a pair found: statistics
    pulls in fractions and decimal, no part of every run's start-up (issue 7)."""
    from statistics import median
    return median(offsets)


def _mapping(kept: Connection, far: Connection, side: str, offset: float) -> _Mapping:
    """The NAT's mapping a control pair shows: (peer host, the kept view's address, the
    far view's, offset far - kept in seconds)."""
    return kept.host(other_direction(side)), kept.host(side), far.host(side), offset


def _late_pairs(by_uid: dict[str, Connection], streams: list[NdmpStream], paired: set[str]
                ) -> list[tuple[tuple[Connection, Connection], _Mapping]]:
    """The (whole view, late view) control pairs and their mappings: a late view (no
    opening captured) whose conversation is the last part of exactly one whole view's
    sharing one end with it (see the module's docstring); `paired`: the uids already
    joined. Candidates by end, so the cost stays linear in the streams."""
    whole: dict[tuple[str, str, int], list[NdmpStream]] = {}
    late: list[NdmpStream] = []
    for stream in streams:
        conn = by_uid.get(stream.uid)
        if conn is None or stream.uid in paired:
            continue
        if conn.syn_seen or conn.synack_seen:
            whole.setdefault(("orig", conn.orig_h, conn.orig_p), []).append(stream)
            whole.setdefault(("resp", conn.resp_h, conn.resp_p), []).append(stream)
        elif _signature(stream) is not None:
            late.append(stream)
    found = []
    for stream in late:
        conn = by_uid[stream.uid]
        fits = [pair for key in (("orig", conn.orig_h, conn.orig_p),
                                 ("resp", conn.resp_h, conn.resp_p))
                for other in whole.get(key, [])
                if (pair := _late_pair(by_uid[other.uid], conn, other, stream)) is not None]
        if len(fits) == 1 and fits[0][0][0].uid not in paired:
            found.append(fits[0])
            paired.update((fits[0][0][0].uid, conn.uid))
    return found


def _late_pair(kept: Connection, far: Connection, sk: NdmpStream, sf: NdmpStream
               ) -> tuple[tuple[Connection, Connection], _Mapping] | None:
    """(kept, far) and the mapping when `far`, a view with no opening, holds the last
    messages of `kept`'s conversation and their payload (see the module's docstring)."""
    side = _translated(kept, far)
    count = len(sf.messages)
    if side is None or len(sk.messages) <= count:
        return None
    tail = sk.messages[-count:]
    if _conversation(tail) != _conversation(sf.messages):
        return None
    offsets = [mf.ts - mk.ts for mk, mf in zip(tail, sf.messages, strict=True)]
    if max(offsets) - min(offsets) > OFFSET_SPREAD:
        return None
    before = sk.messages[:-count]
    for direction, kept_bytes, far_bytes in (("orig", kept.orig_bytes, far.orig_bytes),
                                             ("resp", kept.resp_bytes, far.resp_bytes)):
        sizes = [m.size for m in tail if m.direction == direction]
        lead = [m.size for m in before if m.direction == direction][-1:]
        if not all(sizes + lead):  # a size unknown: only no more than the whole view's
            if far_bytes > kept_bytes:
                return None
        elif not sum(sizes) <= far_bytes <= sum(sizes + lead):
            return None
    return (kept, far), _mapping(kept, far, side, _median(offsets))


def _other_pairs(connections: list[Connection], mappings: list[_Mapping], taken: set[int]
                 ) -> list[tuple[Connection, Connection]]:
    """The other connections between a mapping's peer and its two addresses that are one
    connection in two views (same peer end and side, payload, opening at the offset).
    Indexed by (peer end, side, other address): one pass, however many jobs."""
    offsets: dict[tuple[str, str, str], list[float]] = {}
    for peer_h, near, far_h, offset in mappings:
        offsets.setdefault((peer_h, near, far_h), []).append(offset)
    # (peer host, other address) -> (peer port, peer is the originator) -> connections
    index: dict[tuple[str, str], dict[tuple[int, bool], list[Connection]]] = {}
    for conn in connections:
        if id(conn) in taken:
            continue
        for peer_first in (True, False):
            peer = (conn.orig_h, conn.orig_p) if peer_first else (conn.resp_h, conn.resp_p)
            other = conn.resp_h if peer_first else conn.orig_h
            index.setdefault((peer[0], other), {}).setdefault(
                (peer[1], peer_first), []).append(conn)
    pairs = []
    for (peer_h, near, far_h), times in offsets.items():
        far_ends = index.get((peer_h, far_h), {})
        for end, near_side in index.get((peer_h, near), {}).items():
            far_side = far_ends.get(end, [])
            for one in near_side:
                two = next((c for c in far_side if id(c) not in taken and id(one) not in taken
                            and _same_connection(one, c, times)), None)
                if two is not None:
                    pairs.append(_keeping(one, two))
                    taken.update((id(one), id(two)))
    return pairs


def _same_connection(one: Connection, two: Connection, offsets: list[float]) -> bool:
    """Do `one` (near view) and `two` (far view), between the same peer end, carry the
    same payload each way and open at one of the control pairs' offsets?"""
    if _bytes_once(one) != _bytes_once(two):
        return False
    gap = two.opening_ts - one.opening_ts
    return any(abs(gap - offset) <= OFFSET_SPREAD for offset in offsets)


def _keeping(a: Connection, b: Connection) -> tuple[Connection, Connection]:
    """(kept, far view): the view whose originator's packets have the higher TTL (seen
    nearer their sender), else the earlier."""
    if a.orig_ttl is not None and b.orig_ttl is not None and a.orig_ttl != b.orig_ttl:
        return (a, b) if a.orig_ttl > b.orig_ttl else (b, a)
    return (a, b) if (a.ts, a.first_frame) <= (b.ts, b.first_frame) else (b, a)


def nat_views_finding(pairs: list[tuple[Connection, Connection]]) -> Finding | None:
    """capture_duplicates (info) naming the far views left out; None without any."""
    if not pairs:
        return None
    are, named, frames = pair_words(
        pairs, lambda kept, far: (f"{far.uid} ({connection_ends(far)}) is {kept.uid} "
                                  f"({connection_ends(kept)})"))
    translated = sorted({_translation(kept, far) for kept, far in pairs})
    late = [far.uid for kept, far in pairs if _late(kept, far)]
    started = (f". {' and '.join(late)} {'begins' if len(late) == 1 else 'begin'} later, "
               "without the connection's opening: the capture point on that side began "
               "recording after the connection opened (its messages are the last ones of "
               "the other view's, at the same offset)" if late else "")
    return make_finding(
        "capture_duplicates",
        f"{are} in the capture twice, under two addresses: on both sides of a NAT "
        f"({'; '.join(translated)}): {named}. The capture set holds two capture "
        "points with the NAT between them: each control connection's two views carry "
        "the same NDMP messages (the same sequence numbers and addresses, at one time "
        "offset) and payload, so they are one job, not two; its other connections are "
        "paired by the NAT's mapping, payload and time. Each connection is judged once, "
        "on its view nearer its originator (the higher TTL); the other view is left out "
        "of the connections and sessions. A connection seen at one point only (dropped "
        f"between them) is kept as it was captured{started}",
        "Nothing to fix for the copies; to judge one side of the NAT alone, analyze that "
        "capture point's file alone",
        frames=frames, ts=pairs[0][1].ts)


def _late(kept: Connection, far: Connection) -> bool:
    """Is `far` a late view of `kept` (_late_pairs): no opening, less payload?"""
    return (not (far.syn_seen or far.synack_seen)
            and (far.orig_bytes, far.resp_bytes) != (kept.orig_bytes, kept.resp_bytes))


def _translation(kept: Connection, far: Connection) -> str:
    """"10.99.0.2 seen as 10.88.0.2" for the end the NAT translated."""
    if kept.resp_h != far.resp_h:
        return f"{kept.resp_h} seen as {far.resp_h}"
    return f"{kept.orig_h} seen as {far.orig_h}"
