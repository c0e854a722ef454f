"""A host reported unreachable on one port while it answers another: a port forward.

A router or firewall that forwards only some ports of an address to a host behind it (a
port forward, a DNAT of the NDMP port alone, the address one of the device's own or a
virtual IP) has no host for the address's other ports: it answers their SYNs with an
ICMP host unreachable (its ARP for the address gets no answer) or drops them. When that
address answers another connection at the same time (the job's control connection on
port 10000), it is neither down nor unroutable as a whole (field check trial 37b: "the
agent down, or no route" for a forward of port 10000 only). Said by the refusal findings
(flowcheck.verify.data_links: data_refused, its message and fix).
"""

from __future__ import annotations

from flowcheck.model import Connection
from flowcheck.verify.context import Context
from flowcheck.verify.refusals import unreachable_router


def answered_meanwhile(ctx: Context, conn: Connection) -> Connection | None:
    """An established connection to conn's responder address (another port), opened
    before conn's first SYN and answered by that address after it, when a router (not
    the responder) reported that address unreachable to conn (a routing code); None
    otherwise."""
    if unreachable_router(conn) is None:
        return None
    start = conn.opening_ts
    # Answered: the address sent on it after this SYN (a host that went down leaves its
    # other connections open in the capture, their resends unanswered).
    return next((c for c in ctx.connections
                 if c is not conn and c.established and c.resp_h == conn.resp_h
                 and c.resp_p != conn.resp_p and c.ts <= start and _spoke_after(c, start)),
                None)


def _spoke_after(conn: Connection, start: float) -> bool:
    """Did conn's responder send on it at or after `start` (its last data packet's time,
    which every path of the engine keeps; else its last packet's, where known)?"""
    last = conn.resp_last_data[1] if conn.resp_last_data is not None else None
    if last is None or last < start:
        last = conn.resp_last_ts
    return last is not None and last >= start


def forwarded_words(conn: Connection, other: Connection) -> str:
    """The sentence for answered_meanwhile's connection `other`."""
    return (f" Yet {conn.resp_h} answered {other.uid} on port {other.resp_p} at the same "
            f"time, so it is neither down nor unroutable as a whole: a device in front of "
            f"it that forwards only some of its ports (a port forward or DNAT of port "
            f"{other.resp_p} alone, {conn.resp_h} an address of that device) answers so "
            "for the others.")


def forwarded_fix(ctx: Context, conn: Connection) -> str:
    """The fix's opening for answered_meanwhile's reading."""
    range_words = ctx.ranges("agent") if ctx.config.in_agent_range(conn.resp_p) else (
        ctx.ranges("media") if ctx.config.in_media_range(conn.resp_p) else
        f"port {conn.resp_p}")
    return (f"If {conn.resp_h} is a forwarded address (a port forward or DNAT on the "
            f"device in front of the host), forward {range_words} to the host too, as port "
            "10000 is; else: ")
