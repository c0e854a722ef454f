"""The way back a connection's answer would take, when the capture holds none of it
under the connection's own addresses: no packet at all from its responder to its
originator (answer_uncaptured), but the responder host's packets to another address of
the connector's (other_source: the connector opened it from a second source address,
trial 19 D13) or from another address of the responder's (translated_back: a NAT or
another interface, trial 31 D1). Either shows the capture holds the way back, so it is
no one-direction capture. So does another host's neighbour solicitation sent to the
originator's own address (asked_toward), a frame travelling toward the originator,
which a capture of its outgoing packets alone never holds. Used by
flowcheck.verify.opening's words.
"""

from __future__ import annotations

from flowcheck.model import Connection, Session
from flowcheck.verify.context import Context, session_uids
from flowcheck.verify.end_roles import role_ends


def answer_uncaptured(ctx: Context, conn: Connection) -> bool:
    """Does the capture hold no packet at all in the direction the connection's answer
    (SYN-ACK, RST) would take, from its responder to its originator? Whether that
    direction was captured is then unknown (one direction evidently missing is
    ctx.missing; here nothing need prove it): a lost answer and one never sent look the
    same."""
    return (conn.resp_h, conn.orig_h) not in ctx.captured


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
                 if (peer, host) in ctx.captured), None)


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
                 and (host, conn.orig_h) in ctx.captured), None)


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
    return f"{asker}'s {kind}, frame {frame}"
