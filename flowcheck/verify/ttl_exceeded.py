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

from typing import TYPE_CHECKING

from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import Allows, Connection
from flowcheck.sessions.classify import originator_aborted
from flowcheck.verify.capture_time import time_enough

if TYPE_CHECKING:
    from flowcheck.verify.context import Context


def ttl_exceeded(conn: Connection) -> bool:
    """Did an ICMP / ICMPv6 time exceeded quote one of `conn`'s segments?"""
    return bool(conn.ttl_exceeded_frames)


def _drawing(conn: Connection) -> int:
    """How many of `conn`'s captured SYNs drew a time exceeded: those a time exceeded
    frame follows before the next SYN (or at the end). A count of the messages would take
    two for one SYN (a copy captured twice, a SYN looping past two routers' checks) for
    each SYN drawing one (review 54i)."""
    syns = sorted(conn.syn_frames)
    ends = [*syns[1:], None]
    return sum(any(syn < frame and (end is None or frame < end)
                   for frame in conn.ttl_exceeded_frames)
               for syn, end in zip(syns, ends, strict=True))


def ttl_exceeded_every(conn: Connection) -> bool:
    """Did each captured SYN of `conn` draw a time exceeded? Only then are the SYNs'
    silence and the fix the routing's alone: a route that changed (a flap) lets the later
    SYNs through to whatever drops them (review 54i)."""
    return ttl_exceeded(conn) and _drawing(conn) >= len(conn.syn_frames)


def _frames(conn: Connection) -> str:
    """The time exceeded messages' frames as the findings cite them ("frame 66",
    "frames 66, 131")."""
    frames = conn.ttl_exceeded_frames
    return f"{frames_words(frames, ranges=False, plural=len(frames) > 1)}"


def ttl_exceeded_tail(conn: Connection) -> str:
    """The end of a step's "unanswered: N SYNs over T s" for such a connection."""
    return f", no SYN-ACK or RST; ICMP time exceeded from {conn.ttl_exceeded_sender} " \
           f"({_frames(conn)})"


def ttl_exceeded_words(conn: Connection) -> str:
    """What the time exceeded messages show (the reading of an unanswered opening)."""
    if ttl_exceeded_every(conn):
        return (f"each SYN drew an ICMP time exceeded from {conn.ttl_exceeded_sender} "
                f"({_frames(conn)}): its TTL ran out on the way to {conn.resp_h}, a "
                f"routing loop or a path longer than the TTL; the SYNs never reached "
                f"{conn.resp_h}, and no firewall dropped them")
    drew, syns = _drawing(conn), len(conn.syn_frames)
    return (f"{drew} of its {syns} SYNs drew an ICMP time exceeded from "
            f"{conn.ttl_exceeded_sender} ({_frames(conn)}): {'its' if drew == 1 else 'their'}"
            f" TTL ran out on the way to {conn.resp_h}, a routing loop or a path longer "
            f"than the TTL, so {'it' if drew == 1 else 'those'} never reached "
            f"{conn.resp_h}; {_others(syns - drew)}")


def _others(count: int) -> str:
    """What the SYNs that drew no time exceeded show: nothing of their fate."""
    if count == 1:
        return ("the other one drew none (the route may have changed), and what became "
                "of it the capture does not show")
    return (f"the other {count} drew none (the route may have changed), and what became "
            "of them the capture does not show")


def ttl_exceeded_fix(conn: Connection, other: str) -> str:
    """The fix of such an opening: the routing between the hosts, from that router; when
    only some SYNs drew a time exceeded, that and `other` (the fix of an unanswered
    opening without one, whose words `other` are: the later SYNs' silence is unexplained)."""
    if not ttl_exceeded_every(conn):
        return (f"Check the routing between {conn.orig_h} and {conn.resp_h} "
                f"({_routing(conn)}); the later SYNs drew no time exceeded, so also: "
                f"{other}")
    return (f"The fix is the routing between {conn.orig_h} and {conn.resp_h}, not a "
            f"firewall rule: {_routing(conn)}.")


def ttl_exceeded_allows(conn: Connection, other: Allows | None) -> Allows | None:
    """Finding.allows of a fix ttl_exceeded_fix may give (the caller's `other` its
    other fix's): None when every SYN drew a time exceeded (the routing alone, no rule),
    else `other`."""
    return None if ttl_exceeded(conn) and ttl_exceeded_every(conn) else other


def _routing(conn: Connection) -> str:
    """How to check the routing toward a connection's responder."""
    return (f"check the route to {conn.resp_h} on "
            f"{conn.ttl_exceeded_sender} and the routers before and after it (ip route get "
            f"{conn.resp_h}; two routers that each route it via the other are a loop); "
            f"traceroute -n -T -p {conn.resp_p} {conn.resp_h} from {conn.orig_h} shows the "
            "hops, repeating in a loop")


# The highest TTL a traceroute gives its probes (traceroute's and tcptraceroute's default
# maximum of hops, -m 30). A host's own SYN leaves with 64, 128 or 255 and crosses fewer
# routers than 34 (flowcheck.model.traffic.INITIAL_TTLS).
PROBE_TTL = 30


def traceroute_probe(ctx: Context, conn: Connection) -> bool:
    """Is `conn` a traceroute's probe (traceroute -T, tcptraceroute, mtr --tcp to the
    NDMP port), not a job's connection? Its SYNs carried a TTL of at most PROBE_TTL as
    captured (Connection.orig_ttl: its first packet's), no byte of data either way, the
    TTL varied as a traceroute's does (probe_ttls), and either nothing answered them
    (review 54i: probes beside a good job read as failed sessions, a firewall drop, then
    a routing loop), or, the probes sent from one port (tcptraceroute's), the originator
    reset the far end's SYN-ACK to a later one, never its ACK (reached_end). A router's
    time exceeded is the answer a probe asks for, the hop it names; a capture without
    one (a router that sends none, a capture filter on TCP: `tcp port 10000`) reads the
    same (verdicts56: the lab's traceroutes captured so read nine control_unanswered and
    two handshake_incomplete). A low TTL alone tells no probe: a host whose
    net.ipv4.ip_default_ttl is 30 or less (a hardened build), or a capture 34 routers
    from a Linux host, gives a job's own SYNs one (review56f: a control connection whose
    SYNs a firewall dropped read PASS, a probe)."""
    if conn.orig_ttl is None or conn.orig_ttl > PROBE_TTL or conn.orig_bytes or \
            conn.resp_bytes or not probe_ttls(ctx, conn):
        return False
    if not conn.synack_seen:
        return not conn.resp_rst
    return reached_end(conn)


def probe_ttls(ctx: Context, conn: Connection) -> bool:
    """Do `conn`'s SYNs show a traceroute's TTLs, not a connect()'s? A connect resends its
    SYN from the same port with the same TTL, the host's (RFC 6298 5.7, RFC 9293 3.8.1);
    tcptraceroute raises the TTL from one port (1, 1, 1, 2, 2, 2, ...:
    SideEvidence.ttl_moved), traceroute -T sends each TTL from ports of its own. So a
    connection of several SYNs is a probe's only when its TTL moved, and one of a lone
    SYN only when (a) another connection from the host to that endpoint, no data,
    carried another TTL of at most PROBE_TTL (the traceroute's other hops: a host's
    connects all leave with its one TTL) and (b) the capture went on a retransmission
    timeout after it (a connect would have resent it: time_enough)."""
    if len(conn.syn_frames) > 1:
        return conn.evidence("orig").ttl_moved is not None
    return time_enough(ctx, conn.last_ts, conn.last_frame) and any(
        other.orig_h == conn.orig_h and other.resp_p == conn.resp_p
        and other.orig_ttl is not None and other.orig_ttl <= PROBE_TTL
        and other.orig_ttl != conn.orig_ttl and not other.orig_bytes
        and not other.resp_bytes
        for other in ctx.between(conn.orig_h, conn.resp_h))


def reached_end(conn: Connection) -> bool:
    """The probes of one source port that reached the far end (tcptraceroute: TTL 1, 1,
    1, 2, 2, 2, ... from one port, each drawing a router's time exceeded if the router
    sends one, until a SYN whose TTL lasts gets the SYN-ACK): at least one SYN before the
    one the first SYN-ACK answers, and the originator's RST after it, never its ACK nor
    the far end's RST (originator_aborted: its TCP resets a SYN-ACK no socket waits for,
    RFC 9293 3.10.7.1, the probes coming from a raw socket). The first SYN's TTL
    (traceroute_probe's PROBE_TTL) is what a connect() never sends; a lone SYN so
    answered is verify.half_open's port check."""
    if not originator_aborted(conn):
        return False
    answered = min(conn.synack_frames)
    return len([syn for syn in conn.syn_frames if syn < answered]) > 1


def traceroute_words(conn: Connection) -> str:
    """Step 1's detail for a traceroute probe (traceroute_probe): one SYN's time exceeded,
    or the hops of probes sent from one port (the routers named by the first one only:
    Connection.ttl_exceeded_sender), or none captured, and how the far end answered."""
    if not conn.ttl_exceeded_frames:
        answers = ("no router's ICMP time exceeded for it is in the capture (a router may "
                   "send none; a capture filter on TCP, such as tcp port 10000, leaves "
                   "them out): the answer such a probe asks for, not the path's fault")
    elif len(conn.ttl_exceeded_frames) == 1:
        answers = (f"{conn.ttl_exceeded_sender}'s ICMP time exceeded ({_frames(conn)}) is "
                   "the answer such a probe asks for: the hop it names, no fault of the path")
    else:
        answers = (f"the ICMP time exceeded messages ({_frames(conn)}, the first from "
                   f"{conn.ttl_exceeded_sender}) are the answers such probes ask for: the "
                   "hops they name, no fault of the path")
    end = (f"; the SYN whose TTL lasted reached {conn.resp_h}, which answered (SYN-ACK, "
           f"{frame_text(conn.synack_frames[0])}), and {conn.orig_h}'s TCP reset it (RST, "
           f"{frame_text(conn.rst_frames[0])}): no socket waited for it, the probe's way of "
           f"ending, "
           "not a failed handshake" if conn.synack_seen else "")
    return (f"a traceroute probe (traceroute -T, tcptraceroute), not a job: its SYN carried "
            f"TTL {conn.orig_ttl} as captured (a probe's TTL, 1 to {PROBE_TTL}; a host's "
            f"own SYN leaves with 64, 128 or 255), and {answers}{end}")
