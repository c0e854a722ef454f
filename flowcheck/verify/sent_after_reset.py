"""A connection's RST in the name of a host that went on sending after it (a data
connection: trial 37c D3, trial 40 t1d; the control connection after the halt:
verify.control_reset, the multipath field check).

A TCP that reset a connection sends nothing more on it (RFC 9293 3.10.7.4): a host whose
data goes on after the RST in its name did not reset it through its TCP: another host
that answers for its address did, or its own host firewall (a reject rule answers a
packet with a RST and leaves the socket open), when the RST carries the TTL of the
host's own packets then (flowcheck.verify.ttl); else one of those or a device between.
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection
from flowcheck.verify.allow_rules import capitalised
from flowcheck.verify.context import Context
from flowcheck.verify.ttl import reset_ttls, ttl_word


def sent_after_reset(conn: Connection) -> tuple[str, int] | None:
    """(host, frame of its last data packet) for a side whose data went on after its
    first RST (Connection.orig_rst_frame / resp_rst_frame against orig_last_data /
    resp_last_data): a TCP that reset a connection sends nothing more on it (RFC 9293
    3.10.7.4), so another host or a device sent that RST in its name. None when none."""
    for host, rst, last in ((conn.orig_h, conn.orig_rst_frame, conn.orig_last_data),
                            (conn.resp_h, conn.resp_rst_frame, conn.resp_last_data)):
        if rst and last is not None and last[0] > rst:
            return host, last[0]
    return None


def reset_went_on_words(ctx: Context, conn: Connection, head: str, host: str, frame: int
                        ) -> tuple[str, str]:
    """data_reset's message and fix when host went on sending after the RST in its name
    (sent_after_reset): its TCP did not send it. With the TTL of host's own packets then
    (verify.ttl.reset_ttls), something at host's distance did: another host answering
    for its address (trial 37c D3) or its own host firewall (a reject rule answers a
    packet with a RST and leaves the socket open: trial 40 t1d), which the wire does not
    tell apart; with another TTL or none known, another host or a device between them."""
    ttls = reset_ttls(ctx, conn, "orig" if conn.orig_h == host else "resp")
    others = (f"another host answers for {host}'s address (a duplicate IP address: a cloned "
              "virtual machine, an address configured twice)")
    arping = (f"look for another host using {host}'s address: `arping -D {host}` from its "
              "network, or the router's ARP entry and the switch's MAC table flapping "
              "between two MAC addresses")
    head += (f" But {host} went on sending data on it after the RST in its name (its last "
             f"data packet: {frame_text(frame)}): its own TCP had not reset the connection. ")
    if ttls is not None and ttls[0] == ttls[1]:
        return head + (
            f"The RST's {ttl_word(host)} {ttls[0]} is that of {host}'s own packets then, so "
            f"it came from {host}'s distance: {others}, or {host}'s own host firewall sent "
            "it (a reject rule answers a packet with a RST and leaves the connection open "
            "in its TCP)."), (
            f"{capitalised(arping)}; and see {host}'s own firewall rules for one that "
            "rejects this traffic with a TCP reset (`nft list ruleset`, `iptables -S`; "
            "Windows: its firewall's log of dropped packets), letting the job's ports pass.")
    return head + (f"{capitalised(others)}, or a device between them sent that RST in its "
                   "name."), (f"{capitalised(arping)}; else the firewall, NAT or IPS between "
                              f"{conn.orig_h} and {conn.resp_h} that reset it.")
