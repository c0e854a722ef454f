"""A handshake whose SYN-ACK an ICMP unreachable answered on its way back (trial 40 x1).

An ICMP error quotes the packet it answers (RFC 792, RFC 4443); one that quotes the
responder's SYN-ACK, sent to the responder by a router or firewall between the hosts
(Connection.icmp_to is the responder, icmp_sender neither end), says the responder
accepted the connection and its answer found no way back to the originator: a router
with no route to the originator's address (network or host unreachable, RFC 1812
5.2.7.1), or a filter that rejects the return traffic (administratively prohibited). The
originator keeps resending its SYN and never sees an answer; the capture at the
responder shows its SYN-ACKs and the ICMP messages. Often the originator's host picked
a source address the network does not route back to (a second address, a route's
`src`), not the address its session's control connection reached it at.
"""

from __future__ import annotations

from flowcheck.connections.icmp import FRAMES_PER_QUOTE
from flowcheck.frame_names import frames_words
from flowcheck.model import Connection, Session
from flowcheck.verify.context import Context
from flowcheck.verify.end_roles import role_words
from flowcheck.verify.established_accept import established_accept
from flowcheck.verify.refusals import prohibited, refusal_how, routing_unreachable


def synack_unreachable(conn: Connection) -> bool:
    """Did a device between the hosts, or the originator itself, answer the responder's
    SYN-ACK with an ICMP unreachable (the quote's sender is the responder: icmp_to)?"""
    return (bool(conn.icmp_frames) and conn.icmp_to == conn.resp_h
            and conn.icmp_sender not in (None, conn.resp_h))


def synack_how(conn: Connection) -> str:
    """The ICMP that answered the SYN-ACK, named with its sender ("an ICMP network
    unreachable (code 0) from 10.77.1.254"; refusals.refusal_how, which names a device
    between the hosts, the originator too)."""
    how = refusal_how(conn)
    return how + (f" from {conn.orig_h}" if conn.icmp_sender == conn.orig_h else "")


def report_synack_unreachable(ctx: Context, session: Session | None, conn: Connection,
                              head: str, cause: str, subject: int = 0) -> None:
    """handshake_incomplete for a synack_unreachable connection: who answered the SYN-ACK
    and why (a route or a filter), the originator's other source address when the
    session knows its host by another one, and the route or rule that fixes it
    (subject: how long head's subject is, Finding.subject)."""
    orig, resp, device = conn.orig_h, conn.resp_h, conn.icmp_sender
    frames = conn.icmp_frames
    many = len(frames) > 1
    listed = frames_words(frames, ranges=False, plural=many) + (
        ", ..." if len(frames) >= FRAMES_PER_QUOTE else "")
    told = (f"{synack_how(conn)} answered {resp}'s SYN-ACK to {orig} ("
            f"{listed}: the "
            f"{'messages quote' if many else 'message quotes'} the SYN-ACK)")
    other = other_address_words(session, conn)

    def accept(chain: str) -> str:
        return ("accept the return traffic of established connections ahead of the reject "
                f"{established_accept(chain, 'reject')}, or let TCP from {resp} port "
                f"{conn.resp_p} back to {orig} pass")

    if device == orig and other and session is not None:
        # Not the host's own address: a NAT device in front of it answers from it (field
        # check 41: its forward rules rejected the answers), or its second address.
        name = role_words(conn, session).rsplit(" ", 1)[0]
        reading = (f"{orig}, the address {name}'s connection came from but not its own "
                   f"({_known_address(session, conn)}: a NAT device in front of it, or a "
                   f"second address of its host), rejects {resp}'s answers: the firewall "
                   f"there (a NAT device's forward rules, a host's input rules)")
        fix = (f"On the device that holds {orig} (the NAT device in front of {name}, else "
               f"{name}'s host), " + accept("forward") + " (on a host: its "
               "input chain).")
    elif device == orig:
        reading = (f"{orig}'s own firewall rejects {resp}'s answers (its input rules), so "
                   "its TCP never sees them and resends its SYN")
        fix = f"On {orig}, " + accept("input") + "."
    elif routing_unreachable(conn) is not None and not prohibited(conn):
        reading = (f"{device} has no route back to {orig}: {resp} accepted the connection, "
                   f"and its answers die at {device}" + (
                       f". {other}" if other else
                       f" ({orig}'s network is missing from its routes, or {orig} is an "
                       "address the network does not route)"))
        known = (f" (such as {_known_address(session, conn)}, its control connection's; "
                 f"`ip route get {resp}` on it shows the source address Linux picks: a "
                 "route's `src`, a service's bind address)"
                 if other and session is not None else "")
        fix = (f"Give {device} a route to {orig} (its network, through the router toward "
               f"{orig}), or make {orig}'s host use an address the network routes for its "
               f"connections to {resp}{known}.")
    else:
        reading = (f"a filter on {device} rejects the return traffic to {orig}: {resp} "
                   f"accepted the connection, and its answers never reached {orig}"
                   + (f". {other}" if other else ""))
        fix = (f"On {device}, accept the return traffic of the connections it passes "
               f"(established connections ahead of the reject), or let TCP from {resp} port "
               f"{conn.resp_p} back to {orig} pass.")
    ctx.add("handshake_incomplete", f"{head}: {told}: {reading}.", fix,
            session=session, conn=conn, cause=cause,
            frames=sorted({*conn.syn_frames[:1], *conn.synack_frames[:1], *frames}),
            subject=subject)


def other_address_words(session: Session | None, conn: Connection) -> str:
    """"10.77.3.2 is not the address the session's control connection reached the agent
    at (10.77.2.2): the agent's host chose another source address for this connection",
    or "" when the originator is one of the session's hosts' known addresses."""
    if session is None or conn.orig_h in (session.media_server, session.remote_agent):
        return ""
    name = role_words(conn, session).rsplit(" ", 1)[0]  # "the agent"
    return (f"{conn.orig_h} is not the address the session's control connection reached "
            f"{name} at ({_known_address(session, conn)}): {name}'s host chose another "
            "source address for this connection")


def _known_address(session: Session, conn: Connection) -> str:
    """The session's address of the originator's host: its other end's peer."""
    return (session.remote_agent if conn.resp_h == session.media_server
            else session.media_server)
