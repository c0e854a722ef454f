"""capture_duplicates' words by the IP version of the capture's packets, chosen once per
finding (copy_family, by flowcheck.connections.duplicates.copies_finding) and said by
every builder of its words (duplicates, point_names, relay_words).

A capture of IPv6 alone: its packets have no IP ID (RFC 8200 has none outside the
fragment header) and a hop limit, not a TTL (RFC 8200 3), so the copies' words name what
the packets carry (the other findings say "hop limit" of IPv6 hosts too:
flowcheck.verify.ttl.ttl_word, trial 28 D5). A capture of IPv4, or of both families,
keeps the IPv4 words, unless every copy is IPv6 (lab matrix seed 123 run 10: dual-stack,
the IPv4 callback at one capture point only). Lab matrix seed 122 runs 4, 6, 22 and 26
(IPv6 only, two capture points merged) read "(same IP ID, TCP header and payload ...)"
and "at a TTL one lower".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from flowcheck.model import Connection


class CopyFamily(NamedTuple):
    """The words of one IP version: ttl, "TTL" or "hop limit" (ttls its plural); identity,
    what a copy shares with its original ("same IP ID, TCP header and payload"); bare, the
    packets without an identity of their own, as the copies' rule names them."""

    ttl: str
    ttls: str
    identity: str
    bare: str


IPV4 = CopyFamily(
    ttl="TTL", ttls="TTLs", identity="same IP ID, TCP header and payload",
    bare="a SYN-ACK, RST or bare ACK with IP ID 0 or over IPv6")
# An IPv6 copy is told by its TCP header from the sequence number on, timestamps included.
IPV6 = CopyFamily(
    ttl="hop limit", ttls="hop limits", identity="same TCP header and payload",
    bare="a SYN-ACK, RST or bare ACK (IPv6 has no IP ID)")


def copy_family(connections: Iterable[Connection], *, ipv6_copies: bool = False) -> CopyFamily:
    """IPV6 when every connection of the capture runs over IPv6 (at least one), or when
    every copy is IPv6 (`ipv6_copies`: connections.copies.CaptureCopies counts the IPv4
    ones; a dual-stack capture whose IPv4 connections were captured at one point only),
    else IPV4 (a capture of both families' copies, or of none)."""
    return IPV6 if ipv6_copies or ipv6_only(connections) else IPV4


def ipv6_only(connections: Iterable[Connection]) -> bool:
    """Whether every connection of the capture runs over IPv6 (at least one)."""
    seen = False
    for conn in connections:
        if ":" not in conn.orig_h:
            return False
        seen = True
    return seen
