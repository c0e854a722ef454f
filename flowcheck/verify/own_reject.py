"""Whose firewall an ICMP reject from the refusing host's own address is: the host's own,
or a bridge (transparent) firewall in front of it answering in its name.

A host's own reject rule (nft `reject`, iptables' REJECT in its input chain) sends the
ICMP unreachable from the host's address; a router's filter answers from its own (the
address its route back to the originator leaves by). A bridge firewall has no address on
the path: Linux's bridge-family `reject` and br_netfilter's REJECT (nf_reject) build the
reject from the SYN itself, its source address and MAC those of the SYN's destination,
its TTL the bridge's own default, and a transparent or virtual-wire firewall answers the
same way. So the reject's source address alone names the host or such a device in front
of it, and the words say both (flowcheck.verify.refusals: an administratively
prohibited, port unreachable or routing code from the responder itself).

Only a capture taken on the responder itself, which the Linux cooked marks prove
(flowcheck.verify.capture_host.proven_host, `marked`), shows the reject left the host: a
bridge's reject goes back toward the originator and never passes the host, nor does the
SYN it refused. The TTLs prove less (the host or a point on its network segment, a bridge
possibly between), and the reject's own TTL against the host's other packets' (what
flowcheck.verify.foreign_reset reads of a RST) is not kept for an ICMP message.
(Review 51b: lab matrix seed 118 run 24's words, "a firewall on fd77::1 rejects it",
were said of every reject from the responder's address, wherever it was captured.)
"""

from __future__ import annotations

from flowcheck.model import Connection
from flowcheck.verify.capture_host import HostProof, proven_host
from flowcheck.verify.context import Context


def reject_left_host(ctx: Context, conn: Connection) -> HostProof | None:
    """The proof that the capture was taken on the responder itself (Linux cooked marks),
    so the reject from its address that the capture holds left it; None otherwise (no
    such proof, or the TTLs' alone: a point on its segment, a bridge possibly between)."""
    proof = proven_host(ctx, conn.orig_h, conn.resp_h)
    if proof is None or not proof.marked or proof.host != conn.resp_h:
        return None
    return proof


def rejecting_firewall(ctx: Context, conn: Connection, host: str) -> str:
    """Who sent a reject from host's own address, the subject of "... rejects it": "a
    firewall on HOST" when the capture shows the reject leaving it (reject_left_host),
    else that or a bridge (transparent) firewall in front of it."""
    if reject_left_host(ctx, conn) is not None:
        return f"a firewall on {host}"
    return (f"a firewall on {host}, or a bridge (transparent) firewall in front of {host} "
            "answering in its name,")


def source_words(ctx: Context, conn: Connection, host: str) -> str:
    """What the reject's source shows of whose it is, a clause for the words' bracket:
    the capture on host holding it leaving (reject_left_host), else that a bridge
    firewall's comes from host's address too and the capture does not tell them apart."""
    proof = reject_left_host(ctx, conn)
    if proof is not None:
        return (f"this capture was taken on {host} ({proof.shown}) and holds the reject "
                f"leaving it, where a bridge firewall in front of {host} would send its "
                f"own back without passing {host}")
    return (f"a bridge firewall in front of {host} (nft's bridge-family reject, a "
            f"transparent or virtual-wire firewall) sends its reject from {host}'s address "
            "too, and nothing in the capture tells them apart (a capture on "
            f"{host} itself holds its own reject leaving it)")


def rule_place(ctx: Context, conn: Connection, host: str) -> str:
    """Where the reject rule is, for the fix's "the reject rule is in ...": host's
    firewall, or, without the proof, that or a bridge firewall in front of it."""
    if reject_left_host(ctx, conn) is not None:
        return f"{host}'s firewall"
    return (f"{host}'s firewall or in a bridge (transparent) firewall in front of {host} "
            f"that answers in its name (`nft list ruleset` or `iptables -S` on {host} "
            "shows whether it holds the reject rule)")
