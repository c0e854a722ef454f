"""SYNs of a connection that never leaves one host (flowcheck.verify.ranges.host_local)
that got no answer: no device between two hosts, nor a firewall of the other host, can
have dropped them, and the capture holding them was taken on that host itself (loopback
traffic is seen nowhere else). A SYN to a port where nothing listens gets a RST there, so
what is left is the host's own firewall on its loopback interface, or a listener whose
accept queue is full (the kernel drops the SYN: RFC 9293 3.10.7.2 leaves it to the
implementation). The usual words ("something drops its SYNs on the way ... on any
firewall between the hosts ... a capture on HOST shows which way") do not apply (field
check 43: a local backup's callback dropped by the host's loopback rules)."""

from __future__ import annotations

from flowcheck.model import Connection
from flowcheck.verify.ranges import host_local, loopback_pair


def local_drop(conn: Connection) -> tuple[str, str] | None:
    """(the message's ending, the fix) for unanswered SYNs of a host-local connection;
    None for a connection between hosts."""
    if not host_local(conn):
        return None
    host, port = conn.resp_h, conn.resp_p
    loopback = loopback_pair(conn)
    how = "between loopback addresses" if loopback else "from its own address to itself"
    name = "the host" if loopback else host
    words = (f" The connection never leaves {name} ({how}): no device between hosts "
             f"carries it, and the capture was taken on {name} itself. Nothing listening "
             f"would have answered with a RST, so {name}'s own firewall drops these SYNs on "
             "its loopback interface (a policy drop that no loopback accept rule comes "
             "before), or the listener's accept queue is full and the kernel drops them.")
    fix = (f"On {name}, allow TCP to port {port} over the loopback interface, before any "
           "drop (nftables: `iif lo accept` in the input chain; iptables: `-I INPUT -i lo "
           "-j ACCEPT`; Windows Firewall: an inbound rule for that port); if it is allowed, "
           f"check that the program listening on port {port} accepts its connections "
           f"(`ss -ltn 'sport = :{port}'`: Recv-Q at the backlog means a full queue).")
    return words, fix
