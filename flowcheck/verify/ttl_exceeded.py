"""The words for an opening whose SYNs drew ICMP time exceeded messages.

A router that decrements a packet's TTL (IPv6 hop limit) to zero drops it and sends its
source an ICMP time exceeded (RFC 792 type 11, RFC 4443 3.3) quoting it; the tracker keeps
those quoting a connection in Connection.ttl_exceeded_frames, the first one's source in
ttl_exceeded_sender (connections.icmp_attach.told_ttl_exceeded). The SYNs then never
reached the responder: a routing loop between routers, or a path longer than the
sender's initial TTL. No firewall dropped them, and the message proves the way back
from that router was captured, so the capture is no one-direction capture (review 54h:
two routers routing the agent's subnet to each other).
"""

from __future__ import annotations

from flowcheck.model import Connection


def ttl_exceeded(conn: Connection) -> bool:
    """Did an ICMP / ICMPv6 time exceeded quote one of `conn`'s segments?"""
    return bool(conn.ttl_exceeded_frames)


def _frames(conn: Connection) -> str:
    """The time exceeded messages' frames as the findings cite them ("frame 66",
    "frames 66, 131")."""
    frames = conn.ttl_exceeded_frames
    return f"frame{'s' if len(frames) > 1 else ''} {', '.join(map(str, frames))}"


def ttl_exceeded_tail(conn: Connection) -> str:
    """The end of a step's "unanswered: N SYNs over T s" for such a connection."""
    return f", no SYN-ACK or RST; ICMP time exceeded from {conn.ttl_exceeded_sender} " \
           f"({_frames(conn)})"


def ttl_exceeded_words(conn: Connection) -> str:
    """What the time exceeded messages show (the reading of an unanswered opening)."""
    count = len(conn.ttl_exceeded_frames)
    every = count >= len(conn.syn_frames)
    each = ("each SYN drew" if every else
            "a SYN drew" if count == 1 else f"{count} of its SYNs drew")
    return (f"{each} an ICMP time exceeded from {conn.ttl_exceeded_sender} "
            f"({_frames(conn)}): its TTL ran out on the way to {conn.resp_h}, a routing "
            f"loop or a path longer than the TTL; {'the' if every else 'those'} SYNs "
            f"never reached {conn.resp_h}, and no firewall dropped them")


def ttl_exceeded_fix(conn: Connection) -> str:
    """The fix of such an opening: the routing between the hosts, from that router."""
    return (f"The fix is the routing between {conn.orig_h} and {conn.resp_h}, not a "
            f"firewall rule: check the route to {conn.resp_h} on "
            f"{conn.ttl_exceeded_sender} and the routers before and after it (ip route get "
            f"{conn.resp_h}; two routers that each route it via the other are a loop); "
            f"traceroute -n -T -p {conn.resp_p} {conn.resp_h} from {conn.orig_h} shows the "
            "hops, repeating in a loop.")
