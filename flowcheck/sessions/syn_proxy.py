"""A handshake a device between the hosts completed in the responder's name: a SYN proxy.

A firewall's SYN-flood protection in proxy mode (nftables' `synproxy`, iptables' SYNPROXY,
the SYN proxies of commercial firewalls and load balancers) answers the originator's SYN
with a SYN-ACK of its own and opens the connection to the responder only once the
originator's ACK came: the capture then shows a completed handshake whatever the
responder does next. The proxy's SYN-ACK leaves the device with the device's TTL, so it
arrives having crossed fewer routers than the responder's own packets (a device between
the hosts is nearer the capture point: every packet of the responder crosses it too;
RFC 791 3.1). When the responder then refused the connection (its own RST, from farther
than the SYN-ACK) or could not be reached (a router's ICMP unreachable quoting the
proxy's SYN, after the SYN-ACK), the connection was refused, not opened: field check
trial 37b (the agent's closed data port read `data_aborted`, "the handshake completed,
so the port was reachable"; a host down behind the proxy read `ndmp_no_reply`). Read by
flowcheck.sessions.classify.connection_outcome ("refused") and by the refusal words of
flowcheck.verify.
"""

from __future__ import annotations

from flowcheck.model import Connection
from flowcheck.model.traffic import hops_travelled

# Zeek's history letters a responder's packets add: only its SYN-ACK ("h") and a RST
# ("r") for a refusal behind the proxy; only the SYN-ACK for an unreachable responder.
_REFUSED_LETTERS = {"h", "r"}


def _responder_letters(conn: Connection) -> set[str]:
    return {letter for letter in conn.history if letter.islower()}


def proxied_refusal(conn: Connection) -> bool:
    """SYN-ACK, then the responder's RST as its only other packet, no payload from it, the
    RST having crossed more routers than the SYN-ACK (SideEvidence.rst_ttl against
    Connection.resp_ttl, the SYN-ACK's): a device nearer the capture point sent the
    SYN-ACK, and the responder refused the connection the device opened to it."""
    rst_ttl, synack_ttl = conn.evidence("resp").rst_ttl, conn.resp_ttl
    return (conn.synack_seen and conn.resp_rst and not conn.resp_bytes
            and _responder_letters(conn) <= _REFUSED_LETTERS
            and rst_ttl is not None and synack_ttl is not None
            and hops_travelled(rst_ttl) > hops_travelled(synack_ttl))


def proxied_unreachable(conn: Connection) -> bool:
    """SYN-ACK, nothing else from the responder, and an ICMP unreachable about the
    connection from a third address (a router: Connection.icmp_sender) after the SYN-ACK,
    quoting a segment in the originator's name (Connection.icmp_to): the SYN-ACK was a
    device's, and the SYN it then sent on to the responder could not be delivered. One
    quoting the responder's own SYN-ACK tells the opposite: the responder answered, and
    its answer found no way back (trial 40 x1)."""
    return (conn.synack_seen and not conn.resp_bytes and not conn.resp_rst
            and _responder_letters(conn) <= {"h"} and bool(conn.icmp_frames)
            and bool(conn.synack_frames) and conn.icmp_frames[0] > conn.synack_frames[0]
            and conn.icmp_sender not in (None, conn.resp_h, conn.orig_h)
            and conn.icmp_to != conn.resp_h)


def proxied(conn: Connection) -> bool:
    """proxied_refusal or proxied_unreachable: refused behind a SYN proxy."""
    return proxied_refusal(conn) or proxied_unreachable(conn)
