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

from typing import NamedTuple


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


def copy_family(ipv4_copies: int) -> CopyFamily:
    """IPV6 when no copy is IPv4 (`ipv4_copies`: connections.copies.CaptureCopies counts
    them among the copies, TCP packets and ICMP errors alike), else IPV4. Asked only of
    a capture with copies, where this is also "every connection runs over IPv6" for a
    capture of IPv6 alone (an IPv4 copy is a packet of an IPv4 connection), and names a
    dual-stack capture whose IPv4 connections were captured at one point only."""
    return IPV4 if ipv4_copies else IPV6
