"""A missing callback in a capture taken on the media server: where it was lost.

The packet tap of a capture on a host sees arriving packets before the host's firewall
(netfilter's input chain, the Windows Filtering Platform: docs/lab.md), so a capture on
the media server that holds no SYN of the agent's callback proves the SYN never reached
the media server: its own inbound rules cannot be the cause. The agent's own outbound
rules, or a router, firewall or NAT between the hosts, dropped or rejected it (or the
agent never sent it: its log tells); a capture on the agent shows which (trial 26 D6: a
router dropping or rejecting the callback read as "allow inbound on the media server").
The TTLs tell the capture point (verify.ttl.capture_host): the media server's packets
with an initial TTL and the agent's lowered by a router between them; so do one Linux
cooked capture's packet types (verify.capture_host.proven_host), a router between or
not.

The same reading, the other way (newuser66 item 3): a capture taken on the agent holds
the SYNs it sent as they left, after its own output firewall (the packet tap sees
leaving packets after it), so with no SYN of the callback in it the agent never sent one
(its log tells) or its own outbound rules dropped it: neither the media server's rules
nor a device between them is the cause, and "capture on the agent" would send the user
where the capture already was (it said so, every fix ending that way). By the TTLs
alone the point may be on the agent's segment rather than on the agent: a router
between is ruled out, a bridging (layer 2) firewall there is not (unsent_words,
review63e); the Linux cooked marks prove the host itself.
"""

from __future__ import annotations

from flowcheck.model import Allows, Connection, Session
from flowcheck.verify.capture_host import proven_host
from flowcheck.verify.context import Context
from flowcheck.verify.profile_followed import OTHER_PRODUCT_FIX
from flowcheck.verify.windows_host import outbound_words, windows_host


def taken_on_media_server(ctx: Context, session: Session) -> str:
    """The proof's words (verify.capture_host_proof.CaptureHostProof.words: the TTLs' "or on its
    network segment: 10.77.0.1's packets arrive with TTL 64, ...: a router between them",
    or the Linux cooked marks' "its Linux cooked headers mark each SYN, ...") when the
    capture was taken on the session's media server (or, by the TTLs, its network
    segment behind a router); "" otherwise."""
    return _taken_on(ctx, session, session.media_server)


def taken_on_agent(ctx: Context, session: Session) -> str:
    """taken_on_media_server's words for a capture taken on the session's agent (or, by
    the TTLs, its network segment); "" otherwise."""
    return _taken_on(ctx, session, session.remote_agent)


def _taken_on(ctx: Context, session: Session, host: str) -> str:
    """The proof's words when the capture was taken on `host`, one of the session's two
    hosts (verify.capture_host.proven_host, found once per pair); "" otherwise."""
    found = proven_host(ctx, session.media_server, session.remote_agent)
    return found.words if found is not None and found.host == host else ""


def unsent_words(ctx: Context, session: Session, ttls: str, *,
                 filtered: bool = False) -> str:
    """step_missing's words for the callback no SYN of which left the agent the capture
    was taken on (ttls: taken_on_agent's words): the agent never sent it out of this
    interface, its own firewall's output rule dropping or rejecting it or its connect
    failing locally (newuser67 item 2: an nft output `reject with tcp reset` answers the
    agent's connect "Connection refused" and puts nothing on the wire). By the TTLs alone
    the point may be on the agent's segment rather than on the agent
    (verify.ttl.taken_on_words): a bridging (layer 2) firewall between them keeps the TTL,
    so it is named beside the agent's own rules, and only routers are ruled out
    (review63e); and a capture of one interface (not the Linux cooked capture of every
    interface the marks come from) does not see a SYN the agent's routes send out of
    another (review64g: a multi-homed agent's callback routed out its second network
    card and dropped by a router read "neither ... nor a router between them is the
    cause"). filtered: the capture holds nothing but the NDMP port's TCP, its filter
    unrecorded, so a 'port 10000' filter may have kept the SYNs out (review64g: such a
    capture on the agent of a callback a router dropped read the same), said first."""
    segment = not _marked(ctx, session)
    unless = ([filter_unless(ctx.config.ndmp_port)] if filtered else []) + (
        [f"the SYN left by another interface of the agent's (its route to "
         f"{session.media_server} through another network card; this capture, of one "
         "interface, does not see it)"] if _other_route(ctx, session) else [])
    return (f". This capture was taken on the agent {session.remote_agent} ({ttls}), "
            "which sees leaving packets after the agent's own firewall: "
            + (f"no SYN of the callback is in it, so, unless {' or '.join(unless)}, none "
               "left the agent and " if unless else "no SYN of the callback left it, so ")
            + "neither the media server's firewall nor a "
            + ("router" if segment else "device") + " between them is the cause: the "
            "agent never sent the callback SYN out of this interface, its own firewall's "
            "output rule dropping or rejecting it (a reject fails the agent's connect at "
            "once, \"Connection refused\", a drop leaves it to time out; neither puts a SYN "
            "on the wire) or its connect failing locally (no source port: \"Cannot assign "
            "requested address\"); the agent's log says which"
            + ("; or, were this capture taken on its segment rather than on the agent, a "
               "bridging (layer 2) firewall between the agent and this capture point "
               "dropped it" if segment else ""))


def unsent_fix(ctx: Context, session: Session, *, filtered: bool = False) -> str:
    """The fix for unsent_words: the agent's log, then its own outbound rules for a
    refused or timed-out connect (and a bridging firewall before the capture point, and
    a route out of another interface, by the TTLs alone), its range for a connect with
    no source port; no other capture point but the unfiltered capture a possible filter
    asks for first (filtered: as for unsent_words); Windows' outbound rules first when the
    agent's TTL starts at 128 (verify.windows_host.outbound_words: newuser68b), unless
    the Linux cooked marks prove the capture taken on the agent."""
    segment = "" if _marked(ctx, session) else (
        ", and in any bridging firewall between the agent and this capture point (the "
        "TTLs cannot tell the agent from its segment)")
    first = f"{filter_first(ctx.config.ndmp_port)}; else read" if filtered else "Read"
    routed = "" if not _other_route(ctx, session) else (
        f", or, timed out, a route that sends it out of another interface of the "
        f"agent's (`ip route get {session.media_server}` on the agent names it)")
    # Windows' outbound rules (verify.windows_host), unless the marks prove Linux.
    windows = (f"; {outbound_words(session.remote_agent)}" if windows_host(
        ctx, session.remote_agent, session.media_server, linux=_marked(ctx, session))
        else "")
    return (f"{first} the agent {session.remote_agent}'s log at that time: a connect that "
            "failed \"Connection refused\" or timed out with no SYN in this capture is its "
            f"own firewall's output rule (a reject or a drop){routed}: allow TCP from "
            f"{session.remote_agent} to {session.media_server} ports {ctx.ranges('media')} "
            "in the agent's own outbound rules (this capture, taken on the agent, sees its "
            f"leaving packets only after them, so a SYN they drop is not in it){segment}"
            f"{windows}; "
            "a failed connect \"Cannot assign requested address\" or \"no free port\" means "
            f"it had no source port to send the callback from{OTHER_PRODUCT_FIX}.")


def filter_unless(port: int) -> str:
    """The condition of a reading that no SYN of the callback passed a capture point,
    for a capture of nothing but the NDMP port's TCP whose filter is unrecorded (a
    'port 10000' filter writes the same; one that hid a callback dropped past the point
    stops the job as well: review64g's filtered-agent and filtered-media)."""
    return (f"a capture filter kept only the NDMP port {port} (tcpdump 'port {port}': this "
            "capture holds nothing else, no ARP, ICMP or UDP, as such a filter leaves it; "
            "capture again without it)")


def filter_first(port: int) -> str:
    """The fix's first clause for such a capture (filter_unless), capitalised."""
    return (f"If this capture was filtered to the NDMP port (tcpdump 'port {port}'), "
            "capture again without a filter")


def _other_route(ctx: Context, session: Session) -> bool:
    """May the agent's route to the media server leave by an interface this capture does
    not see? Only the TTLs place it (not the Linux cooked capture of every interface),
    and it holds no connection the agent opened to the media server (whose SYN took that
    route out of this interface; the control connection's packets answer, and may keep
    to their address's interface by a policy rule: review64g's otherif-agent)."""
    return not _marked(ctx, session) and other_route(ctx, session)


def other_route(ctx: Context, session: Session) -> bool:
    """May the agent's route to the media server leave by an interface whose first hop
    is not this capture's device? Yes when the capture holds no connection the agent
    opened to the media server (whose SYN took that route through this point; the
    control connection's packets answer, and may keep to their address's interface by a
    policy rule: review64g's otherif-agent). _other_route for a capture on the agent,
    verify.first_hop for one on its first hop."""
    return not any(c.orig_h == session.remote_agent and c.resp_h == session.media_server
                   for c in ctx.connections)


def _marked(ctx: Context, session: Session) -> bool:
    """Did the Linux cooked marks (not the TTLs alone) show the capture taken on the
    session's agent itself?"""
    found = proven_host(ctx, session.media_server, session.remote_agent)
    return found is not None and found.marked


def unreached_words(session: Session, ttls: str, *, filtered: int | None = None) -> str:
    """step_missing's words for the callback no SYN of which reached the media server
    the capture was taken on (ttls: taken_on_media_server's words). filtered: the NDMP
    port, when the capture holds nothing but its TCP, its filter unrecorded
    (filter_unless: review64g's filtered-media, the media server's own input chain
    dropping the callback, read "the media server's firewall is not the cause")."""
    seen = (f"no SYN of the callback is in it, so, unless {filter_unless(filtered)}, none "
            "reached it and" if filtered is not None else
            "no SYN of the callback reached it, so")
    return (f". This capture was taken on the media server {session.media_server} "
            f"({ttls}), which sees arriving packets before the media "
            f"server's own firewall: {seen} the media "
            f"server's firewall is not the cause; a firewall on the agent "
            f"{session.remote_agent} (outbound) or a router, firewall or NAT between them "
            "dropped or rejected it (or the agent never sent it: its log tells), and a "
            "capture on the agent shows which")


def callback_allows(session: Session) -> Allows:
    """Finding.allows of a fix of allow rules for the session's callback none of which
    the capture holds (unreached_fix, unproven_fix, and the one for a callback whose
    answer the capture would show): from the agent to the media server."""
    return Allows((session.remote_agent, session.media_server))


def unreached_fix(ctx: Context, session: Session, *, filtered: bool = False) -> str:
    """The fix for unreached_words: the agent's outbound rules and the forward rules of
    the devices between, not the media server's inbound ones; first, for a capture a
    filter may have cut to the NDMP port (filtered: filter_unless), one without it."""
    first = f"{filter_first(ctx.config.ndmp_port)}; else allow" if filtered else "Allow"
    return (f"{first} TCP from {session.remote_agent} to {session.media_server} ports "
            f"{ctx.ranges('media')} outbound on the agent and in the forward rules of every "
            "router or firewall between them (a NAT in front of the media server must "
            "forward them to it); capture on the agent to see its SYNs leave and what "
            f"answers them{OTHER_PRODUCT_FIX}.")


def stopped_at_callback(session: Session, control: Connection) -> bool:
    """Did the job stop at the callback: no data endpoint announced and the control
    connection closed or reset in the capture? A capture filter that kept only the NDMP
    port would leave the job going on to announce one."""
    return not session.announced and bool(control.fin_frames or control.rst_frames)


def unproven_fix(ctx: Context, session: Session) -> str:
    """The fix for a missing callback in a capture whose point neither the TTLs nor the
    Linux cooked marks tell (one network segment, equal TTLs, no `-i any` capture of one
    host; verify.capture_host): on either host or between them, an unfiltered capture
    holds every callback SYN that reached the media server's firewall (a host's tap sees
    arriving packets before it), so the agent's outbound rules and the devices between
    come first; the media server's inbound rules stay named for a capture that a filter
    or its point kept from seeing the SYN (field check 38: an agent whose own output
    chain dropped its callback SYNs read 'inbound on the media server' alone)."""
    return (f"Allow TCP from {session.remote_agent} to {session.media_server} ports "
            f"{ctx.ranges('media')} outbound on the agent and in the forward rules of every "
            "router or firewall between them, and inbound on the media server: a capture "
            "taken on either host or between them, unfiltered, holds every callback SYN "
            "that reached the media server's firewall (a host's packet tap sees arriving "
            "packets before its firewall), so with none in it the agent's outbound rules or "
            "a device between dropped them, or the agent never sent them (its log tells); "
            f"capture on the agent to see its SYNs leave{OTHER_PRODUCT_FIX}.")
