"""How many times a capture set holds each packet: once per capture point it passed.

Two hosts' captures given together hold what passed both twice; a firewall's own
recording holds more: Check Point `fw monitor` writes each forwarded packet at four
inspection points (i, I, o, O), a Palo Alto's stage files three (receive, firewall,
transmit), while a packet it dropped is in the set fewer times (at `i` only; in the
receive and drop stages). So "twice" is read as "as many times as the other packets
between the same two hosts" (field check 36: SYNs in Palo Alto's receive and drop
files read as having reached the agent, the drop file taken for a second point).
Read by flowcheck.verify.capture_points.
"""

from __future__ import annotations

from flowcheck.model import Connection
from flowcheck.verify.context import Context


def whole_copies(sent: int, copied: int) -> int:
    """How many times the set holds each of a side's payload bytes when it holds them
    all equally often: its payload `sent` (copies included) over the bytes once
    (sent - copied, Connection.orig_copy_bytes' complement); 1 with no copies, 0 when
    the bytes are not all held equally often (or there are none)."""
    if not sent:
        return 0
    once = sent - copied
    if once <= 0 or sent % once:
        return 0
    return sent // once


def pair_copies(ctx: Context, sender: str, receiver: str) -> int:
    """How many times the set holds the packets from sender to receiver: the largest
    whole_copies of any connection between them in that direction (built once per
    Context); 0 when none holds its payload equally often."""
    if ctx.proofs.pair_copies is None:
        best: dict[tuple[str, str], int] = {}
        for c in ctx.connections:
            for key, sent, copied in (((c.orig_h, c.resp_h), c.orig_bytes, c.orig_copy_bytes),
                                      ((c.resp_h, c.orig_h), c.resp_bytes, c.resp_copy_bytes)):
                if copied:
                    best[key] = max(best.get(key, 0), whole_copies(sent, copied))
        ctx.proofs.pair_copies = best
    return ctx.proofs.pair_copies.get((sender, receiver), 0)


def syn_copies(conn: Connection) -> int:
    """How many times the set holds each of conn's SYNs, for a connection of which it
    holds the originator's SYNs only (history "S"; a copy is never counted a SYN retry,
    nor adds a letter): its packets over its SYNs; 0 when they do not divide evenly or
    it holds anything else."""
    syns = conn.syn_retries + 1
    if conn.history.strip("S") or conn.orig_pkts % syns:
        return 0
    return conn.orig_pkts // syns


def kept_leg(ctx: Context, conn: Connection) -> bool:
    """Were conn's SYN copies all captured on their original's leg (its TTL and
    link-layer address pair) while the originator's other packets to the responder
    crossed to another leg (Context.copy_legs)? Then each SYN's second copy is the
    point where it arrived, recorded again (a firewall's drop capture such as a Cisco
    ASA's `asp-drop`, which keeps the TTL), not a second capture point it reached."""
    legs = ctx.copy_legs
    if syn_copies(conn) < 2 or legs.get((conn.orig_h, conn.orig_p, conn.resp_h,
                                         conn.resp_p), True):
        return False  # a copy crossed, or none's legs are known
    # The pair's packets crossed: copies on another leg, or views across a NAT the set
    # shows (Context.nat_aliases: a NAT rewrites the addresses, so no copy pairs them).
    if ctx.proofs.crossed_pairs is None:
        ctx.proofs.crossed_pairs = {(src, dst) for (src, _, dst, _), crossed in legs.items()
                             if crossed}
    return (conn.orig_h, conn.resp_h) in ctx.proofs.crossed_pairs or any(
        near in (conn.orig_h, conn.resp_h) for near, _ in ctx.nat_aliases)


def fewer_than_pair(ctx: Context, conn: Connection) -> bool:
    """Is each of conn's SYNs in the set fewer times than the originator's other packets
    to the responder (pair_copies, at least 2), or are its copies all on its
    original's leg while those packets crossed (kept_leg): they did not pass every
    capture point the others passed?"""
    held = syn_copies(conn)
    return 1 <= held < max(2, pair_copies(ctx, conn.orig_h, conn.resp_h)) or kept_leg(
        ctx, conn)


def as_often_as_pair(ctx: Context, conn: Connection) -> bool:
    """Is each of conn's SYNs in the set at least twice and as often as the
    originator's other packets to the responder (pair_copies; exactly twice when
    none tells how often), its copies not all on its original's leg (kept_leg)?"""
    held, pair = syn_copies(conn), pair_copies(ctx, conn.orig_h, conn.resp_h)
    return (held == 2 if pair < 2 else held >= pair) and not kept_leg(ctx, conn)
