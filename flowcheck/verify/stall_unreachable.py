"""A stalled connection whose resends a router answered with ICMP host or network
unreachable: the receiver went off its network, no device lost the connection's state.

A router that can no longer deliver to a host (its ARP or neighbour discovery for it
unanswered: the host powered off, its link down; or its route to it lost) answers the
packets it cannot forward with an ICMP destination unreachable, host or network (RFC 792,
RFC 4443 3.1; RFC 1812 5.2.7.1). When such messages quote a connection's resends, the
stall is that: not a firewall that dropped the connection's state, which drops silently
(field check trial 37b: 17 host unreachables from the router while the agent was gone
behind it read "the device lost its state table" first). Read by data_stalled
(flowcheck.verify.stalled_transfer).
"""

from __future__ import annotations

from flowcheck.frame_names import frames_words
from flowcheck.model import Connection
from flowcheck.sessions.local import icmp_word
from flowcheck.verify.refusals import routing_unreachable, unreachable_router


def router_reported(conn: Connection) -> str | None:
    """"ICMP host unreachables (code 1, frames 179, 182, ...)": the routing unreachables
    a third address (a router: Connection.icmp_sender, neither end) sent about the
    established connection's packets; None when none did."""
    if not conn.established or unreachable_router(conn) is None:
        return None
    name = routing_unreachable(conn)
    frames = conn.icmp_frames
    many = len(frames) > 1
    shown = frames_words(frames[:6], ranges=False, plural=many) + (
        ", ..." if len(frames) > 6 else "")
    return (f"{icmp_word(conn)} {name}{'s' if many else ''} (code {conn.icmp_code}, "
            f"{shown})")


def router_unreachable(conn: Connection, receiver: str) -> tuple[str, str] | None:
    """(reading, fix) when ICMP routing unreachables from a router quote the established
    connection (router_reported); None when none did."""
    reported = router_reported(conn)
    if reported is None:
        return None
    sender = conn.icmp_sender
    return (f" The router {sender} answered the connection's packets with {reported}: "
            f"it could no longer reach {receiver}. {receiver} went off its network "
            "(powered off, its link down, no ARP or neighbour answer to the router) or the "
            f"router lost its route to it; no device between dropped the connection's state "
            "(that drops packets silently).",
            f"Check that {receiver} is up and on its network, from {sender} (`ping "
            f"{receiver}`, its ARP or neighbour entry for it, its route to it); then the "
            f"job and {receiver}'s system log for why it went away.")
