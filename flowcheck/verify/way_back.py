"""The way back a connection's answer would take, when the capture holds none of it
under the connection's own addresses: no packet at all from its responder to its
originator (answer_uncaptured), but the responder host's packets to another address of
the connector's (other_source: the connector opened it from a second source address,
trial 19 D13) or from another address of the responder's (translated_back: a NAT or
another interface, trial 31 D1). Either shows the capture holds the way back, so it is
no one-direction capture. Another host's neighbour solicitation sent to the
originator's own address (asked_toward) shows less: a frame travelling toward the
originator at this capture point, which a capture of its outgoing packets alone never
holds, but not that the responder's answers come back past that point (an asymmetric
route: review 54d's lab, the answers returning through a second router the capture
point never sees). The responder's own packets to the originator that are not TCP (a
ping reply, an ARP reply: came_back) show more: that the capture holds that direction,
so the SYNs' silence is the host's or a firewall's, not the capture's (review 56b).
Used by flowcheck.verify.opening's words.
"""

from __future__ import annotations

from flowcheck.decode.other_ways import MAX_WAYS, OtherWay
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session
from flowcheck.verify.context import Context, session_uids
from flowcheck.verify.end_roles import role_ends


def answer_uncaptured(ctx: Context, conn: Connection) -> bool:
    """Does the capture hold no packet at all in the direction the connection's answer
    (SYN-ACK, RST) would take, from its responder to its originator? Whether that
    direction was captured is then unknown (one direction evidently missing is
    ctx.missing; here nothing need prove it): a lost answer and one never sent look the
    same."""
    return not ctx.holds((conn.resp_h, conn.orig_h), conn.ts)


def came_back(ctx: Context, conn: Connection) -> str | None:
    """When the capture holds no TCP packet from `conn`'s responder to its originator
    (answer_uncaptured) but holds other packets of the responder's to it (Census.others:
    decode.other_ways), their words: "an ICMP echo reply (frame 2)", "3 packets that are
    not TCP, the first an ARP reply (frame 5)". None otherwise, or when the census was
    taken without them. Review 56b: a real echo reply from 10.77.0.2 added to
    control-dropped.pcap read "holds no packet at all from 10.77.0.2 to 10.77.0.1, so it
    may hold one direction only"."""
    if ctx.census is None or not answer_uncaptured(ctx, conn):
        return None
    return ctx.census.other_words(conn.resp_h, conn.orig_h, conn.ts)


def lacking_words(ctx: Context, sender: str, receiver: str, ts: float | None = None) -> str:
    """What the capture holds of `sender`'s packets to `receiver` when it holds none of
    their TCP (a direction ctx.missing proves lacking, or an answer's way): "no packet
    from S to R (one direction only)"; or, when it holds that direction's packets that
    are not TCP (Census.others: decode.other_ways), "no TCP packet from S to R (only an
    ICMP echo reply, frame 2: its TCP left out by a filter or another path, not the
    direction)"; or, that pair past the pairs counted (Ways.uncounted), both said
    possible. The one phrase of every hedge built on a direction's missing TCP (task
    words58, after nontcpback: eight hedges said "no packet from S to R" beside a ping
    reply from S to R). ts: a time (s) whose piece of the set (sources.pieces) lacks the
    direction: packets that are not TCP whose first is another piece's are not this
    piece's way back (review58f), and, more than one begun in an earlier piece, may be
    (_elsewhere_words)."""
    census = ctx.census
    way, where = (None, 0) if census is None else census.other_way(sender, receiver, ts)
    if way is not None and where:
        return _elsewhere_words(sender, receiver, way, where < 0)
    if way is not None:
        return (f"no TCP packet from {sender} to {receiver} (only {way.bare_words()}"
                f"{_unreachable_about(ctx, way)}: its TCP left out by a filter or another "
                "path, not the direction)")
    if census is not None and census.others.uncounted(sender, receiver):
        return (f"no TCP packet from {sender} to {receiver} (one direction only, or its TCP "
                f"left out: the packets that are not TCP of the first {MAX_WAYS:,} host "
                "pairs counted hold none of it, later pairs' were not counted)")
    return f"no packet from {sender} to {receiver} (one direction only)"


def _elsewhere_words(sender: str, receiver: str, way: OtherWay, earlier: bool) -> str:
    """lacking_words for a piece of the set whose time holds none of `way`'s first packet:
    "no packet from S to R (one direction only)" when none of them can be in it (their
    first came later, or it was the only one); else hedged, the first named as another
    file's ("one direction only, or its TCP left out: 3 packets that are not TCP from S
    to R began in another file of the set, the first an ICMP echo reply at frame 2")."""
    if not earlier or way.count < 2:
        return f"no packet from {sender} to {receiver} (one direction only)"
    return (f"no TCP packet from {sender} to {receiver} (one direction only, or its TCP left "
            f"out: {way.count} packets that are not TCP from {sender} to {receiver} began "
            f"in another file of the set, the first {way.what} at {frame_text(way.frame)})")


def _unreachable_about(ctx: Context, way: OtherWay) -> str:
    """What the first packet of `way` is about when it is an ICMP or ICMPv6 destination
    unreachable, said after its frame: ", about C3" (a connection's record holds it:
    Connection.icmp_frames), ", whose cut quote may be about C4" (icmp_untied), ", about
    no TCP connection of the capture" (none does: a UDP datagram's, say); "" for another
    kind. Review58c: an ICMP port unreachable from the agent to the media server about a
    UDP query, beside SYNs unanswered, read "(only an ICMP destination unreachable,
    frame 2: ...), the way a SYN-ACK, RST or ICMP unreachable would travel", as if it
    might be their reject."""
    if "destination unreachable" not in way.what:
        return ""
    owners = ctx.proofs.icmp_owners
    if owners is None:
        owners = {}
        for conn in ctx.connections:
            if conn.icmp_untied is not None:
                owners.setdefault(conn.icmp_untied[0], (conn.uid, False))
            for frame in conn.icmp_frames:
                owners[frame] = (conn.uid, True)
        ctx.proofs.icmp_owners = owners
    owner = owners.get(way.frame)
    if owner is None:
        return ", about no TCP connection of the capture"
    uid, tied = owner
    return f", about {uid}" if tied else f", whose cut quote may be about {uid}"


def came_back_words(conn: Connection, back: str) -> str:
    """The words of an unanswered opening with retried SYNs whose capture holds no TCP
    packet from its responder to its originator but other packets of the responder's to
    it (`back`: came_back's words): the capture holds that direction, so an answer coming
    back past this capture point would be in it, unless the capture's filter kept the
    responder's TCP out or that TCP took another way; the retries show none reached the
    originator. Review 56k: a capture on the media server filtered `tcp dst port 10000 or
    icmp or arp`, its input chain dropping the agent's SYN-ACKs, read "the silence is not
    the capture's", though 8 SYN-ACKs had come past its capture point (the same capture
    unfiltered holds them)."""
    return (f"something drops its SYNs on the way to {conn.resp_h}, or {conn.resp_h}'s "
            f"answers on their way back: the capture holds no TCP packet from "
            f"{conn.resp_h} to {conn.orig_h}, but it holds {back} from {conn.resp_h} to "
            f"{conn.orig_h}, so it holds that direction: a SYN-ACK, RST or ICMP unreachable "
            f"coming back to {conn.orig_h} past this capture point would be in it, and none "
            "is, unless the capture's filter kept that TCP out (one on port or protocol: "
            f"`tcp dst port {conn.resp_p} or icmp` keeps the SYNs and a ping's reply, never "
            "a SYN-ACK) or that TCP takes another way than these packets (a route, ECMP or a "
            f"load balancer choosing by protocol or port, or another interface of "
            f"{conn.resp_h}'s). The retried SYNs show that no SYN-ACK or RST reached "
            f"{conn.orig_h} (an ICMP unreachable may have: TCP resends its SYN after one, "
            "RFC 1122 4.2.3.9): the connection never opened")


def came_back_fix(conn: Connection) -> str:
    """The close of an unanswered opening's fix when came_back holds (with its leading
    space): a capture whose filter keeps the responder's TCP, which shows whether the
    answers came back (review 56k: `tcp dst port 10000 or icmp or arp` on the media
    server, its own input dropping the SYN-ACKs the filter left out)."""
    return (f" If this capture was taken with a filter, take one that keeps "
            f"{conn.resp_h}'s TCP too (`host {conn.resp_h}`): it shows whether the SYN-ACKs "
            f"came back to {conn.orig_h} (SYN-ACKs in it while the SYNs are still resent are "
            f"lost past that point: by {conn.orig_h}'s own firewall when it was taken "
            "there).")


def other_source(ctx: Context, conn: Connection) -> tuple[str, str, str, str] | None:
    """(the connector's role, its other address, what shows it, the responder host's
    address that sent to it) when the capture holds no packet from `conn`'s responder to
    its originator but holds the responder host's packets to another address of the
    connector's host in the same session: the connector opened `conn` from another
    source address than that one (a second address chosen by an `ip rule` or a route's
    src: trial 19 D13), and the capture does hold the way back to that host, so it is no
    one-direction capture. None otherwise."""
    session = ctx.session_of(conn)
    if session is None or not answer_uncaptured(ctx, conn):
        return None
    roles = {host: which for which, (host, _) in role_ends(ctx, conn, session)}
    connector, responder = roles.get(conn.orig_h), roles.get(conn.resp_h)
    if connector is None or connector == responder:
        return None
    peers = [conn.resp_h]
    shown: list[tuple[str, str]] = []
    for uid in session_uids(session):
        for which, (host, _) in role_ends(ctx, ctx.by_uid[uid], session):
            if which == responder and host not in peers:
                peers.append(host)
            elif which == connector and host != conn.orig_h:
                shown.append((host, _what(session, uid)))
    return next(((connector, host, what, peer) for host, what in shown for peer in peers
                 if ctx.holds((peer, host), conn.ts)), None)


def translated_back(ctx: Context, conn: Connection) -> str | None:
    """The responder host's other address in `conn`'s session (its control connection's:
    a NAT's that translates the host, or another interface) that the capture holds
    packets from to `conn`'s originator, when it holds none from `conn`'s responder: the
    way back is in the capture, under that address, so it is no one-direction capture
    (trial 31 D1: a routed NAT masquerading the media server). None otherwise."""
    session = ctx.session_of(conn)
    if session is None or not answer_uncaptured(ctx, conn):
        return None
    roles = {host: which for which, (host, _) in role_ends(ctx, conn, session)}
    responder = roles.get(conn.resp_h)
    if responder is None or roles.get(conn.orig_h) == responder:
        return None
    return next((host for uid in session_uids(session)
                 for which, (host, _) in role_ends(ctx, ctx.by_uid[uid], session)
                 if which == responder and host != conn.resp_h
                 and ctx.holds((host, conn.orig_h), conn.ts)), None)


def _what(session: Session, uid: str) -> str:
    if uid == session.control_uid:
        return "its control connection"
    return "its callback" if uid == session.callback_uid else "its other data connections"


def other_source_words(ctx: Context, conn: Connection) -> tuple[str, str]:
    """(words, fix) naming the connector's other source address (other_source); ("", "")
    when it does not apply."""
    found = other_source(ctx, conn)
    if found is None:
        return "", ""
    which, host, what, peer = found
    role = "media server" if which == "media" else "agent"
    words = (f" The {role} opened it from {conn.orig_h}, not from {host}, the address of "
             f"{what}: a rule for the {role}'s address {host} does not match it. The "
             f"capture holds {peer}'s packets to {host}, so it holds the way back to the "
             f"{role}; no answer to {conn.orig_h} is among them.")
    fix = (f" Instead of that rule, the {role} can send these connections from {host} "
           f"(its source address for them: the route's src or the `ip rule` that picks "
           f"{conn.orig_h}, its interface binding).")
    return words, fix


def asked_toward(ctx: Context, conn: Connection) -> str | None:
    """When the capture holds no packet from `conn`'s responder to its originator
    (answer_uncaptured) but holds another host's neighbour solicitation sent to the
    originator's own address (model.arp_claims.NeighbourClaims.asked_for): the words
    naming it ("fe80::1's neighbour solicitation sent to it, frame 11"); None otherwise. Lab
    matrix seed 123 run 19 (the router dropping IPv6 control SYNs, captured on the media
    server's veth) read "so it may hold one direction only (tcpdump -Q in/out, a SPAN
    port that sees one way)" with the router's solicitation for the media server in it."""
    if not answer_uncaptured(ctx, conn):
        return None
    asked = ctx.link_claims.asked_for.get(conn.orig_h)
    if asked is None:
        return None
    frame, asker, kind = asked
    return f"{asker}'s {kind}, {frame_text(frame)}"


def asked_toward_words(conn: Connection, toward: str, none: str | None = None) -> str:
    """The words of an unanswered opening with retried SYNs whose capture holds no
    packet from its responder to its originator but another host's solicitation sent to
    the originator (`toward`: asked_toward's words). The solicitation shows frames toward
    the originator are captured here (no `tcpdump -Q out` of its packets), not that the
    answers come back this way: review 54d's lab (M -- R1 -- A, A's way back to M through
    a second router R2 that dropped its 8 SYN-ACKs, tcpdump on R1's interface toward M,
    R1's probe of M frame 12) read "a SYN-ACK ... coming back to fd77::1 past this
    capture point would be in it, and none is", the answers' other way unsaid (lab matrix
    seed 123 run 19's case, the router's probe of M, reads so too). none: what the
    capture holds of the responder's packets to the originator (Census.none_words: "no
    packet at all from B to A", the default, or the hedge of a pair past the 65,536 host
    pairs counted; task silentwords)."""
    none = none or f"no packet at all from {conn.resp_h} to {conn.orig_h}"
    return (f"something drops its SYNs on the way to {conn.resp_h}, or the answers on "
            f"the way back. The capture holds {none}, though it holds one travelling "
            f"toward {conn.orig_h} "
            f"({toward}), which a capture of {conn.orig_h}'s outgoing packets alone "
            "(tcpdump -Q out, a SPAN port that sees one way) would not: a SYN-ACK, RST "
            f"or ICMP unreachable coming back to {conn.orig_h} past this capture point "
            "would be in it, and none is. One coming back another way would not pass it "
            f"(an asymmetric route: through another router, or to another interface of "
            f"{conn.orig_h}'s), so a SYN-ACK sent by {conn.resp_h} and lost on such a way "
            "looks the same as no answer at all. The retried SYNs show that no SYN-ACK or "
            f"RST reached {conn.orig_h} (an ICMP unreachable may have: TCP resends its SYN "
            "after one, RFC 1122 4.2.3.9): the connection never opened")


def answer_way_unseen(ctx: Context, conn: Connection) -> tuple[str, str] | None:
    """(sender, receiver) of the direction the capture lacks that a lone SYN's answer
    (a SYN-ACK, or the RST or ICMP reject that stops the resends) would travel: the
    connection's own, or its hosts' under their session's control connection addresses
    (dual-stack hosts: a callback or data connection over IPv4 beside a control
    connection over IPv6, captured `-Q in` on the job engine: the lab matrix's seed 109
    run 44). None when the capture holds that direction."""
    if ctx.lacks((conn.resp_h, conn.orig_h), conn.ts):
        return conn.resp_h, conn.orig_h
    session = ctx.session_of(conn)
    if session is None:
        return None
    if ctx.holds((conn.resp_h, conn.orig_h), conn.ts):
        return None
    agents = ctx.host_addresses(session, "agent")
    media = ctx.host_addresses(session, "media")
    if conn.orig_h in agents and conn.resp_h in media:
        way = (session.media_server, session.remote_agent)
    elif conn.orig_h in media and conn.resp_h in agents:
        way = (session.remote_agent, session.media_server)
    else:
        return None
    return way if ctx.lacks(way, conn.ts) else None
