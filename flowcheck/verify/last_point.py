"""SYNs that reached the capture point nearest their responder, no SYN-ACK captured, when
nothing places that point on the responder itself (task nu64b, newuser64).

Each SYN in the set twice, a router apart (copies at another TTL: Context.routed_points),
and both hosts' packets with initial TTLs: verify.capture_points.reached_responder. The
TTLs place the second point on the responder's side of the routers, not on the host:
`dumpcap -i r1 -i r3` on a router (a pcapng of two interfaces its IDBs name, the file
marking no direction) sees both hosts' packets at initial TTLs too, its r3 point before
the responder's link. data_unanswered read "10.64.3.2's own firewall drops them: the SYNs
reached the capture point on 10.64.3.2" where no capture point was on 10.64.3.2. Only
the SYNs' Linux cooked marks (verify.arrival.marked_arrival) show the point on the host,
or two files given as two capture points (Context.linked_files: each a host's, trial 17
D4); else the link after the point and the host's firewall are both named.
"""

from __future__ import annotations

from flowcheck.model import Connection, Session
from flowcheck.verify.allow_rules import own_rules
from flowcheck.verify.arrival import marked_arrival
from flowcheck.verify.context import Context


def last_point_only(ctx: Context, conn: Connection) -> bool:
    """For SYNs that reached the point nearest conn's responder (reached_responder): is
    that point no more than the last one before it? True when one file holds both points
    (not two files given as two hosts' captures: Context.linked_files, trial 17 D4) and
    the SYNs' Linux cooked marks do not show them arriving at the responder
    (marked_arrival): a router's two interfaces in one pcapng read the same."""
    return not ctx.linked_files and not marked_arrival(ctx, conn)


def last_point_words(conn: Connection) -> str:
    """The cause when the SYNs reached the last capture point before conn's responder
    and no SYN-ACK came back there: the responder's own firewall, or the link after that
    point; the capture cannot tell which."""
    host = conn.resp_h
    return (f"{host}'s own firewall or the link to it drops them: the SYNs reached the last "
            f"capture point before {host} (each is in the capture set twice, a router "
            "apart, and both hosts' packets with initial TTLs: a capture point on each "
            "side of the router, on the host or on its link) and no SYN-ACK came back "
            f"there: either {host}'s own firewall drops them (its input chain the SYNs, or "
            "its output chain its SYN-ACKs), or something on the link between that point "
            f"and {host} loses them or the SYN-ACKs (a bridge firewall, a switch's ACL, "
            "the cable); the capture cannot tell which: a capture on "
            f"{host} itself shows whether the SYNs reach it")


def last_point_fix(ctx: Context, conn: Connection, session: Session | None) -> str:
    """The opening of the fix for last_point_words: the responder's own rules, then the
    link between the last capture point and it (verify.allow_rules.own_rules)."""
    host = conn.resp_h
    return (f"On {host} itself (the SYNs reached the last capture point before it), before "
            f"any drop rule: {own_rules(ctx, conn, session)}: a stateless output rule drops "
            "the SYN-ACKs); if the SYNs do not reach it (a capture on it shows), on the link "
            f"between that capture point and {host}: a bridge firewall or switch ACL there. ")
