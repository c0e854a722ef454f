"""A SYN refused by an ICMP unreachable its own originator sent itself (trial 28 D7).

Linux holds a SYN while it resolves the next hop; when its ARP requests (IPv4) or
neighbour solicitations (IPv6) get no answer it drops the SYN and reports the
destination unreachable to its own sender (ICMP host unreachable, ICMPv6 address
unreachable), from the host to itself on lo, which `tcpdump -i any` captures; a reject
rule in the host's own output chain answers from the host to itself too. Either way the
SYN never left the host: no router sent the ICMP, no forward chain holds the rule, and
the capture lacks the SYN because it was never sent, not because it saw one direction
only.
"""

from __future__ import annotations

from flowcheck.frame_names import frames_words
from flowcheck.model import Connection, Session
from flowcheck.verify.allow_rules import allow_rule, capitalised
from flowcheck.verify.context import Context


def own_stack_refused(conn: Connection) -> bool:
    """Was the SYN refused by an ICMP unreachable its originator sent itself? Not one
    that quotes the responder's SYN-ACK (Connection.icmp_to): the originator's firewall
    rejecting the answer (flowcheck.verify.synack_unreachable)."""
    return (bool(conn.icmp_frames) and not conn.resp_rst
            and conn.icmp_sender is not None and conn.icmp_sender == conn.orig_h
            and conn.icmp_to != conn.resp_h)


# The other next hop whose neighbour entry may have gone unanswered: own_stack_words'
# bracket, and the Finding.hedges of a finding holding them (own_stack_hedges).
GATEWAY_HEDGE = "or for its gateway toward it"


def own_stack_hedges(conn: Connection) -> tuple[str, ...]:
    """Finding.hedges for a finding that may hold own_stack_words of `conn`: the ARP or
    neighbour discovery that went unanswered may have been for the gateway, not the
    responder (review64g: the cause line read "10.77.0.1's ARP for 10.77.0.99 got no
    answer", the bracket left out)."""
    return (GATEWAY_HEDGE,) if own_stack_refused(conn) else ()


def own_stack_words(conn: Connection, how: str, routing: bool) -> str:
    """Why the originator's own ICMP refused the SYN, the conclusion first: "ORIG's ARP
    for RESP got no answer (...): ORIG's own network stack reported RESP unreachable,
    with HOW (frame N), ...". how: the ICMP named (flowcheck.verify.refusals.
    refusal_how); routing: its code is a routing one (host or address unreachable:
    failed resolution), else a filter's."""
    orig, resp = conn.orig_h, conn.resp_h
    many = len(conn.icmp_frames) > 1
    told = (f"{orig}'s own network stack reported {resp} unreachable, with {how} "
            f"({frames_words(conn.icmp_frames, ranges=False, plural=many)})")
    if not routing:
        return (f"a reject rule in {orig}'s own firewall (its output rules) rejects it: "
                f"{told}, so the SYN never left {orig}")
    asked = "neighbour discovery" if ":" in resp else "ARP"
    return (f"{orig}'s {asked} for {resp} ({GATEWAY_HEDGE}) got no answer "
            f"({resp} is down, not on that network, or the wrong address, or a name that "
            f"resolves to it): {told}, as a host does for its own application when {asked} "
            f"for the next hop goes unanswered. The SYN never left {orig}, so no firewall "
            f"between the hosts and no port on {resp} is involved")


def own_stack_fix(ctx: Context, conn: Connection, session: Session, routing: bool) -> str:
    """The neighbour and route to check (routing: a routing code, see own_stack_words),
    or the allow rule before the originator's own reject rule."""
    orig, resp = conn.orig_h, conn.resp_h
    if not routing:
        rule = allow_rule(ctx, conn, session)
        return (f"{capitalised(rule)}: the reject rule is in {orig}'s own firewall (its "
                "output rules), so the allow rule must come before it there.")
    if ":" in resp:
        neigh = (f"`ip -6 neigh show {resp}` there reads FAILED or INCOMPLETE; on Windows "
                 "`netsh interface ipv6 show neighbors` has no reachable entry for it")
    else:
        neigh = (f"`ip neigh show {resp}` there reads FAILED or INCOMPLETE; on Windows "
                 "`arp -a` has no entry for it")
    return (f"Check that {resp} is up and is the right address: ping it from {orig} "
            f"({neigh}); power on or reconnect that host, or correct the address {orig} "
            f"was given for it (or its name's DNS record). If {resp} is on another network, "
            f"{orig} should send its packets to a gateway rather than resolve {resp} "
            "itself: check its address, prefix length and routes, and that the gateway "
            "answers.")
