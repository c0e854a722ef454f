"""Path MTU black holes (RFC 2923 2.1): a link between two hosts with a smaller MTU
than theirs, and the ICMP messages that would tell the sender (IPv4 "fragmentation
needed", type 3 code 4, RFC 1191; ICMPv6 "packet too big", type 2, RFC 8201) dropped on
the way. Small packets pass, full-size segments vanish: the connection opens, the
control conversation goes on, the data connection stalls at its first full-size segment.

The reading is an addition to a stall's message (data_stalled), given when the capture
shows segments passing or vanishing by their size: seen from the receiver, a segment
smaller than the bytes lost before it arrived (Stall.next_len below Stall.unacked); seen
from the sender, resends as large as its largest segment (SideEvidence.resent_len,
orig_seg_max), none of its data ever acknowledged, while its smaller packets to the same
host still arrived after the first of them (an NDMP message on the control connection,
acknowledged). Full-size resends without that evidence give the reading as a
possibility.
"""

from __future__ import annotations

from flowcheck.model import Connection, NdmpMessage
from flowcheck.verify.stalled import Stall

READING = ("only full-size segments were lost: a path MTU black hole (a link with a "
           "smaller MTU between them, and the ICMP 'fragmentation needed' / 'packet too "
           "big' messages blocked: RFC 2923)")


def lost_by_size(stall: Stall) -> bool:
    """Seen from the receiver: a smaller segment after the lost bytes arrived (the packet
    after the gap carried fewer bytes than the gap), while the bytes before it never did,
    resent or not."""
    return stall.lost and 0 < stall.next_len < stall.unacked


def full_size_resends(conn: Connection, stall: Stall) -> int:
    """The stalled sender's resend size (payload bytes) when its resends are full-size,
    as large as the largest segment it sent (SideEvidence.resent_len, orig_seg_max),
    and the receiver acknowledged none of its data: every byte it sent is among the ones
    never acknowledged or their resends (orig_bytes at most orig_unacked plus the resends'
    bytes), as when no full-size segment ever got through. 0 otherwise (data delivered
    before the stall: a path that carried full-size segments), and for a stall of resent
    FINs, of ACKs lost, or seen from the receiver."""
    if stall.lost or stall.fin or stall.acks_lost:
        return 0
    size = conn.evidence(stall.side).resent_len
    if not size or size != getattr(conn, f"{stall.side}_seg_max"):
        return 0
    sent = getattr(conn, f"{stall.side}_bytes")
    return size if sent <= stall.unacked + stall.resends * size else 0


def small_passed(control: Connection | None, messages: list[NdmpMessage], sender: str,
                 since: float | None) -> NdmpMessage | None:
    """The sender's last NDMP message on the control connection after `since` (the
    stall's first resend) when the receiver acknowledged every control byte the sender
    sent (Connection.orig_unacked 0, the receiver's packets captured): smaller packets
    from the sender that arrived. None when there is no such message."""
    if control is None or since is None or sender not in (control.orig_h, control.resp_h):
        return None
    side = "orig" if control.orig_h == sender else "resp"
    peer_pkts = control.resp_pkts if side == "orig" else control.orig_pkts
    if not peer_pkts or getattr(control, f"{side}_unacked"):
        return None
    sent = [m for m in messages if m.direction == side and m.ts > since]
    return sent[-1] if sent else None


def fix(a: str, b: str) -> str:
    """The fixes of a path MTU black hole between hosts a and b."""
    return (f"Let ICMP 'fragmentation needed' (IPv4 type 3 code 4) and ICMPv6 'packet too "
            f"big' (type 2) through every firewall between {a} and {b} (and their own), so "
            "path MTU discovery works; or clamp the TCP MSS on the router with the smaller "
            "MTU (nft: tcp flags syn tcp option maxseg size set rt mtu; iptables: -j TCPMSS "
            "--clamp-mss-to-pmtu); or lower the MTU of both hosts' interfaces to the path's")
