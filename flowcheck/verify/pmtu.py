"""Path MTU black holes (RFC 2923 2.1): a link between two hosts with a smaller MTU
than theirs, and the ICMP messages that would tell the sender (IPv4 "fragmentation
needed", type 3 code 4, RFC 1191; ICMPv6 "packet too big", type 2, RFC 8201) dropped on
the way. Small packets pass, full-size segments vanish: the connection opens, the
control conversation goes on, the data connection stalls at its first full-size segment.

The reading is an addition to a stall's message (data_stalled), given when the capture
shows segments passing or vanishing by their size: seen from the receiver, a segment
smaller than the bytes lost before it arrived (Stall.next_len below Stall.unacked).
"""

from __future__ import annotations

from flowcheck.verify.stalled import Stall

READING = ("only full-size segments were lost: a path MTU black hole (a link with a "
           "smaller MTU between them, and the ICMP 'fragmentation needed' / 'packet too "
           "big' messages blocked: RFC 2923)")


def lost_by_size(stall: Stall) -> bool:
    """Seen from the receiver: a smaller segment after the lost bytes arrived (the packet
    after the gap carried fewer bytes than the gap), while the bytes before it never did,
    resent or not."""
    return stall.lost and 0 < stall.next_len < stall.unacked


def fix(a: str, b: str) -> str:
    """The fixes of a path MTU black hole between hosts a and b."""
    return (f"Let ICMP 'fragmentation needed' (IPv4 type 3 code 4) and ICMPv6 'packet too "
            f"big' (type 2) through every firewall between {a} and {b} (and their own), so "
            "path MTU discovery works; or clamp the TCP MSS on the router with the smaller "
            "MTU (nft: tcp flags syn tcp option maxseg size set rt mtu; iptables: -j TCPMSS "
            "--clamp-mss-to-pmtu); or lower the MTU of both hosts' interfaces to the path's")
