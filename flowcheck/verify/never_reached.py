"""no_control_session for a capture with no TCP taken where the job's traffic would pass.

A capture holding none of the job's traffic read "the sniffer saw none of the job's
traffic: the wrong interface, a filter, or stopped before the job started" also where
its own packets show it was taken on a host, or where one of the job's hosts' own
packets pass: there the job's packets may have been dropped before they reached the
capture point, which the words left out (field check 77, seed 140 run 8: the router
dropped the control SYNs; `tcpdump -i any` on the agent held its own neighbour
discovery alone, its Linux cooked headers marking the router solicitations it sent).
The capture cannot say which host took it when no configured address sent any of its
packets, so that reading is hedged ("if it was taken on the media server or the
agent"); where a configured host's own packets (not TCP: ARP replies, ICMP, neighbour
discovery, UDP) are in it, it was taken where that host's traffic passes, and the job's
to or from it would have been there had nothing dropped it on the way.
"""

from __future__ import annotations

from flowcheck.config import Config
from flowcheck.decode.skipped import Skipped

# Linux cooked capture packet type (linux/if_packet.h): sent by the capture host.
_OUTGOING = 4
_DROPPED = ("dropped before it, by the sending host's own output rules or a router or "
            "firewall on the way")
# The fix's words added where the reading applies.
REACHED_FIX = (" Taken on one of them as the job started, capture on the other as well: "
               "its SYNs leaving there with none arriving here place the drop between.")


def never_reached(skipped: Skipped, config: Config, filtered: bool = False) -> str:
    """"; or ..." for no_control_session's causes when the capture holds no TCP and its
    own packets show where it was taken: a configured host's own packets (the first
    configured address that sent any: Skipped.ways), else Linux cooked marks of packets
    the capture host sent (a host's own capture, which host unknown); "" otherwise, and
    when `filtered`: a capture filter the capture records may have left the job's TCP
    out (review64m: `icmp6` keeps a host's neighbour discovery and none of its TCP, so
    those packets place no job's packets in the capture)."""
    if filtered:
        return ""
    roles = [("the media server", a) for a in config.media_servers] + \
        [("the agent", a) for a in config.remote_agents]
    for role, address in roles:
        own = skipped.ways.sent_by(address)
        if own is not None:
            return (f"; or the job's packets never reached the capture point, "
                    f"{_DROPPED}: it holds {role} {address}'s own packets "
                    f"({own.bare_words()}), so it was taken where that host's traffic "
                    "passes, on one of its interfaces at least, and the job's to or from "
                    "it would be there unless it used another")
    if skipped.cooked.get(_OUTGOING):
        return ("; or, if it was taken on the media server or the agent (its Linux cooked "
                "headers mark packets the capture host sent), the job's packets never "
                f"reached the capture point, {_DROPPED}")
    return ""
