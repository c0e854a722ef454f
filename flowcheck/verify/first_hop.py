"""step_missing of the callback in a capture taken on the agent's first hop: a router's
(or bridge's) several interfaces captured at once, which the agent's packets reach with
an initial TTL.

Such a capture (Context.interface_copies: each packet as it came in and as it left,
tcpdump -i any on the device; capture_duplicates says so) holds each packet arriving
before the device's own firewall. When the agent's packets to the media server arrive
there with an initial TTL (INITIAL_TTLS: no router crossed), nothing lies between the
agent and the capture point but its link: a callback SYN that left the agent would be in
the capture, so the agent's own firewall (outbound), its connect failing locally, or its
link stopped it, not the media server's firewall nor anything beyond the capture point.
newuser68 item 5: rany-cbdrop.pcap (`tcpdump -i any` on the router, the agent's output
chain dropping its callback, the job stopped) read "a firewall on the agent, a device
between, or the media server's" with a capture-filter hint, though the agent's packets
arrive at the router with TTL 128.

As for a capture taken on either host (verify.callback_step, newuser67 item 2), the job
stopping at the callback with no recorded filter keeping only the NDMP port is what lets
the placement, not a filter, explain the absence.
"""

from __future__ import annotations

from flowcheck.model import Session
from flowcheck.model.traffic import INITIAL_TTLS
from flowcheck.verify.callback_unreached import filter_first, filter_unless, other_route
from flowcheck.verify.context import Context
from flowcheck.verify.profile_followed import OTHER_PRODUCT_FIX
from flowcheck.verify.ttl import own_ttls, ttl_word
from flowcheck.verify.windows_host import outbound_words, windows_host


def first_hop_ttl(ctx: Context, session: Session) -> int | None:
    """The initial TTL (hop limit) the session's agent's packets to its media server
    arrive with at a capture of a forwarding device's several interfaces
    (Context.interface_copies), when every such packet's is that one value
    (verify.ttl.own_ttls: none a RST); None otherwise."""
    if not ctx.interface_copies:
        return None
    ttls = own_ttls(ctx, session.remote_agent, session.media_server)
    if len(ttls) != 1:
        return None
    ttl = next(iter(ttls))
    return ttl if ttl in INITIAL_TTLS else None


def first_hop_words(ctx: Context, session: Session, ttl: int, *,
                    filtered: bool = False) -> str:
    """step_missing's words for first_hop_ttl's `ttl` (leading ". ", no full stop).
    filtered: the capture holds nothing but the NDMP port's TCP, its filter unrecorded,
    so a 'port 10000' filter may have kept the SYNs out (callback_unreached.filter_unless,
    review64g's reading for a capture on either host), said first. The TTLs alone place
    the point (review63e, review64g, as for a capture on the agent by its TTLs,
    callback_unreached.unsent_words): a bridging (layer 2) firewall between the agent and
    this point keeps the TTL, so it is named beside the agent; and with no connection the
    agent opened to the media server in the capture (other_route), its route there may
    leave by another interface and another first hop, which this point does not see."""
    agent = session.remote_agent
    unless = ([filter_unless(ctx.config.ndmp_port)] if filtered else []) + (
        [f"the SYN left by another interface of the agent's (its route to "
         f"{session.media_server} through another network card and another first hop, "
         "which this capture does not see)"] if other_route(ctx, session) else [])
    seen = (f"no SYN of the callback is in it, so, unless {' or '.join(unless)}, none "
            "reached it and " if unless else "no SYN of the callback reached it, so ")
    return (f". This capture was taken on a router or bridge between the hosts, its "
            "several interfaces at once (capture_duplicates), which the agent's packets "
            f"reach with {ttl_word(agent)} {ttl}, an initial value: its first hop, no router "
            "between them; it holds each packet arriving there: "
            f"{seen}neither the media server's firewall nor a device beyond this point is "
            "the cause: the agent never sent the callback SYN out (its own firewall's "
            "output rule dropping or rejecting it, or its connect failing locally: its log "
            "says which), its link lost it, or a bridging (layer 2) firewall between the "
            "agent and this point, which keeps the TTL, dropped it")


def first_hop_fix(ctx: Context, session: Session, *, filtered: bool = False) -> str:
    """The fix for first_hop_words: the agent's log, then its own outbound rules (and a
    bridging firewall before this point, and, by other_route, a route out of another
    interface); its link; no other capture point but the unfiltered capture a possible
    filter asks for first (filtered: as for first_hop_words); Windows' outbound rules
    when the agent's TTL starts at 128 (verify.windows_host.outbound_words: newuser68b's
    router-any-cbdrop, the agent at 128, got the rules' words alone)."""
    agent = session.remote_agent
    first = f"{filter_first(ctx.config.ndmp_port)}; else read" if filtered else "Read"
    routed = "" if not other_route(ctx, session) else (
        f", or, timed out, a route that sends it out of another interface of the "
        f"agent's (`ip route get {session.media_server}` on the agent names it)")
    # Windows' outbound rules (verify.windows_host); the marks of a capture on the
    # router prove nothing of the agent's system.
    windows = (f"; {outbound_words(agent)}" if windows_host(ctx, agent, session.media_server)
               else "")
    return (f"{first} the agent {agent}'s log at that time: a connect that failed "
            "\"Connection refused\" or timed out with no SYN in this capture is its own "
            f"firewall's output rule (a reject or a drop){routed}: allow TCP from {agent} to "
            f"{session.media_server} ports {ctx.ranges('media')} in the agent's own outbound "
            "rules (this capture, taken on its first hop, holds every SYN that left it by "
            "this way), and in any bridging firewall between the agent and this point (the "
            f"TTLs cannot tell one from the agent's link){windows}; "
            "a failed connect \"Cannot assign requested address\" or \"no free port\" means "
            "it had no source port to send the callback from; with neither in its log, "
            f"check the agent's link (its interface's error counters){OTHER_PRODUCT_FIX}.")
