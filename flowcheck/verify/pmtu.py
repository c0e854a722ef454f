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
possibility. Path MTU discovery's own message in the capture proves it (trial 28 D5):
a router's "packet too big" / "fragmentation needed" quoting the stalled connection,
sent to its sender, reporting an MTU below the packets the sender went on resending
(told_too_big): the sender never acted on it, so something drops it on its way in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import Connection, NdmpMessage
from flowcheck.model.traffic import INITIAL_TTLS
from flowcheck.sessions.classify import message_op
from flowcheck.sessions.local import ip_version
from flowcheck.verify.allow_rules import lowered
from flowcheck.verify.stall_passed import passed_by_size
from flowcheck.verify.stall_record import Stall

if TYPE_CHECKING:
    from flowcheck.verify.context import Context

# The smallest IP and TCP headers of a segment (RFC 791, RFC 8200, RFC 9293): a payload
# of n bytes makes a packet of at least n + these.
HEADERS = {4: 20 + 20, 6: 40 + 20}

# Why full-size segments vanish: behind a router (ROUTED), or between hosts on one
# network segment (SWITCHED: one_segment), where no ICMP message can come.
ROUTED = ("(a link with a smaller MTU between them, and the ICMP 'fragmentation needed' / "
          "'packet too big' messages blocked: RFC 2923)")
SWITCHED = ("(no router that lowers the TTL between them: most likely a switch port or "
            "bridge with a smaller MTU than the hosts', which sends no ICMP; or a firewall "
            "that keeps the TTL and drops the ICMP messages)")
READING = f"only full-size segments were lost: a path MTU black hole {ROUTED}"
# The same between hosts on one network segment (one_segment): no router, so no ICMP.
READING_SWITCHED = (
    "only full-size segments were lost: most likely an MTU mismatch on the network segment "
    "both hosts are on (their packets arrive with their initial TTLs: no router that "
    "lowers the TTL between them). A switch port or bridge with a smaller MTU than the "
    "hosts' interfaces (jumbo frames on the hosts and not on the switch) drops the larger "
    "frames silently: a switch sends no ICMP 'fragmentation needed', so path MTU discovery "
    "cannot help. A firewall that routes without lowering the TTL (a Cisco ASA by default) "
    "and drops those ICMP messages looks the same")


def lost_by_size(stall: Stall) -> bool:
    """Seen from the receiver: a smaller segment after the lost bytes arrived (the packet
    after the gap carried fewer bytes than the gap), while the bytes before it never did,
    resent or not; seen from the sender's packets alone past the loss (Stall.sender_only),
    its largest segment captured smaller than a full-size one as well
    (stall_passed.passed_by_size)."""
    if stall.sender_only:

        return passed_by_size(stall)
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
    sent = conn.sent_once(stall.side)  # two capture points: each byte once (trial 40 p3)
    return size if sent <= stall.unacked + stall.resends * size else 0


def shrunk_words(conn: Connection, stall: Stall, passed: NdmpMessage | None) -> str:
    """" Its resends are full-size (1448 B, its largest segment), after ...": a path MTU
    that shrank mid-transfer fits a stall whose resends are full-size although earlier
    full-size segments were acknowledged (full_size_resends' "none acknowledged" fails);
    passed: a smaller control message of the sender's acknowledged after the first
    resend (small_passed), the evidence that smaller packets pass (field check trial 37c:
    an MTU lowered mid-job, its ICMP blocked, read as lost state only). "" when the
    resends are not full-size or no such message passed."""
    if stall.lost or stall.fin or stall.acks_lost or passed is None:
        return ""
    size = conn.evidence(stall.side).resent_len
    if not size or size != getattr(conn, f"{stall.side}_seg_max"):
        return ""
    shown = (f", as the control connection's {message_op(passed)} ({frame_text(passed.frame)}) "
             "did after the first resend")
    return (f" Its resends are full-size ({size:,} B, its largest segment) after full-size "
            "segments had been delivered: a path whose MTU shrank mid-transfer (a route "
            "change to a link with a smaller MTU, an MTU lowered, the ICMP 'fragmentation "
            "needed' / 'packet too big' messages blocked: RFC 2923) drops them the same way "
            f"while smaller packets still pass{shown}.")


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


def one_segment(ctx: Context, conn: Connection) -> bool:
    """Whether both hosts' packets reach the capture point with an initial TTL (hop
    limit: verify.ttl), so no router is between them (RFC 791 3.1: each router takes one
    off): a smaller MTU on the way is a switch's or a bridge's, which drops larger frames
    without an ICMP message (trial 38 A8). Not when the set holds capture points a router
    apart (Context.routed_points): each host's packets are first seen at its own point,
    with its initial TTL, whatever lies between (trial 26 D5)."""
    return (conn.orig_ttl in INITIAL_TTLS and conn.resp_ttl in INITIAL_TTLS
            and not ctx.routed_points)


def hole_why(ctx: Context, conn: Connection) -> str:
    """ROUTED, or SWITCHED between hosts on one segment (one_segment)."""
    return SWITCHED if one_segment(ctx, conn) else ROUTED


def mtu_reading(ctx: Context, conn: Connection) -> str:
    """READING, or READING_SWITCHED between hosts on one segment (one_segment)."""
    return READING_SWITCHED if one_segment(ctx, conn) else READING


def conn_fix(ctx: Context, conn: Connection, *, probing: bool = False) -> str:
    """The fixes of a path MTU black hole on conn's path (no final full stop): fix()'s,
    with probing also the sender's path MTU probing (PROBING), or, between hosts on one
    segment (one_segment), one MTU for the hosts and the switches between them (probing
    among them always: no ICMP can come there)."""
    if one_segment(ctx, conn):
        return (f"Give {conn.orig_h}'s and {conn.resp_h}'s interfaces and every switch "
                "port and bridge between them the same MTU: enable jumbo frames on the "
                "switches too, or set the hosts' MTU back to the switches' (1500); "
                "meanwhile let the sender find the path's MTU by probing (RFC 4821; Linux: "
                "sysctl net.ipv4.tcp_mtu_probing=1). If a firewall that keeps the TTL routes "
                "between them: "
                + lowered(fix(conn.orig_h, conn.resp_h)))
    return fix(conn.orig_h, conn.resp_h) + (PROBING if probing else "")


# The sender's own way round a black hole, when no data at all got through (aborted).
PROBING = ("; or let the sender find the path's MTU by probing (packetization-layer path "
           "MTU discovery, RFC 4821; Linux: sysctl net.ipv4.tcp_mtu_probing=1)")


def fix(a: str, b: str) -> str:
    """The fixes of a path MTU black hole between hosts a and b."""
    return (f"Let ICMP 'fragmentation needed' (IPv4 type 3 code 4) and ICMPv6 'packet too "
            f"big' (type 2) through every firewall between {a} and {b} (and their own), so "
            "path MTU discovery works; or clamp the TCP MSS on the router with the smaller "
            "MTU (nft: tcp flags syn tcp option maxseg size set rt mtu; iptables: -j TCPMSS "
            "--clamp-mss-to-pmtu); or lower the MTU of both hosts' interfaces to the path's")


@fields_dataclass(frozen=True, slots=True)
class TooBig:
    """Path MTU discovery's messages to a stalled sender that it never acted on
    (told_too_big): how many, the MTU reported (None when none says one: an IPv4 router
    older than RFC 1191), the router that sent them, the sender's resent segment size
    (payload bytes) and its packets' size at least."""

    count: int
    frames: list[int]
    mtu: int | None
    router: str
    size: int
    packet: int


def told_too_big(conn: Connection, stall: Stall, sender: str) -> TooBig | None:
    """The packet too big / fragmentation needed messages (Connection.too_big_*) a
    router sent the stalled sender about this connection, when the sender went on
    resending packets larger than the MTU they report (or, with no MTU reported,
    full-size resends: full_size_resends); None otherwise, and for a stall seen from the
    receiver (its resends are not in the capture)."""
    if not conn.too_big_count or conn.too_big_to != sender or stall.lost \
            or conn.too_big_sender is None:
        return None
    size = conn.evidence(stall.side).resent_len or getattr(conn, f"{stall.side}_seg_max")
    packet = size + HEADERS[ip_version(sender)]
    if conn.too_big_mtu is None:
        if not full_size_resends(conn, stall):
            return None
    elif packet <= conn.too_big_mtu:
        return None
    return TooBig(conn.too_big_count, list(conn.too_big_frames), conn.too_big_mtu,
                  conn.too_big_sender, size, packet)


def _names(sender: str) -> tuple[str, str]:
    """(the message's name, its type) for the sender's IP version."""
    return (("ICMPv6 'packet too big'", "type 2") if ip_version(sender) == 6
            else ("ICMP 'fragmentation needed'", "type 3 code 4"))


def too_big_words(told: TooBig, sender: str, taken: str | None) -> str:
    """The reading of path MTU discovery's messages a stalled sender never acted on;
    taken: when the capture was taken on the sender (the messages reached it), the
    words saying so (CaptureHostProof.taken_there: hedged when only the TTLs place it),
    else None."""
    name, _ = _names(sender)
    many = told.count > 1
    frames = frames_words(told.frames, ranges=False, plural=many) + (
        " ..." if told.count > len(told.frames) else "")
    mtu = f", reporting a path MTU of {told.mtu}" if told.mtu else ""
    where = (f"the messages reached {sender} ({taken}), so its own host firewall drops "
             "them after the capture point, or its stack ignores them"
             if taken is not None else
             f"{sender}'s host firewall, or a device between this capture point and "
             f"{sender}, drops them")
    return (f" The capture holds {told.count} {name} message{'s' if many else ''} from "
            f"the router {told.router} to {sender} quoting this connection's segments "
            f"({frames}){mtu}, and {sender} went on resending "
            f"{told.size:,} B segments ({told.packet:,} B packets) after "
            f"{'them' if many else 'it'}: path MTU discovery told {sender} to send smaller "
            f"packets and it never did ({'RFC 8201' if ':' in sender else 'RFC 1191'}): "
            f"{where}. A path MTU black hole "
            "(RFC 2923): full-size segments never pass the link with the smaller MTU, "
            "smaller packets do.")


def too_big_fix(told: TooBig, sender: str) -> str:
    """The fix of path MTU discovery's messages the sender never acted on."""
    name, kind = _names(sender)
    if ip_version(sender) == 6:
        rules = ("nft `icmpv6 type packet-too-big accept` on input; ip6tables `-p icmpv6 "
                 "--icmpv6-type packet-too-big -j ACCEPT`; Windows: keep the Core "
                 "Networking rule 'Packet Too Big (ICMPv6-In)' enabled")
    else:
        rules = ("nft `icmp type destination-unreachable icmp code frag-needed accept` on "
                 "input; iptables `-p icmp --icmp-type fragmentation-needed -j ACCEPT`; "
                 "Windows: keep the Core Networking rule 'Destination Unreachable "
                 "Fragmentation Needed (ICMPv4-In)' enabled")
    return (f"Let {name} ({kind}) in on {sender} ({rules}) and through every firewall "
            f"between {told.router} and {sender} (RFC 4890 4.3.1 for IPv6: never drop "
            f"it); or clamp the TCP MSS on {told.router}, the router with the smaller MTU "
            "(nft: tcp flags syn tcp option maxseg size set rt mtu; iptables: -j TCPMSS "
            "--clamp-mss-to-pmtu).")
