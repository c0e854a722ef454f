"""capture_one_direction's fix, by where the capture was taken when the capture shows it.

"Capture both directions: on the media server itself, ..." told a user whose capture was
already taken on the media server (`tcpdump -i any -Q out` there: field check 71 runs 6,
10, 14 and 24, field check 74 run 14) to capture where they had. Linux cooked headers
that mark the captured side's own openings sent by the capture host (cooked_host.sent_as:
its SYNs leaving at an initial TTL, never arriving) prove the capture host holds that
address: the capture was taken on that host itself, and the fix names the capture there
without -Q, the other host, or a SPAN of both directions. Without that proof (Ethernet
captures, a capture of the arriving side: a router's own arrivals look alike) the fix
stays as it was.
"""

from __future__ import annotations

from flowcheck.verify.context import Context
from flowcheck.verify.cooked_host import sent_as
from flowcheck.verify.ttl import ttl_word

SPAN = ("a SPAN session of both received and sent traffic, on a path both directions "
        "take")
PLAIN_FIX = ("Capture both directions: on the media server itself, or a SPAN session of both "
             "received and sent traffic (tcpdump without -Q), on a path both directions take.")


def one_direction_fix(ctx: Context, sender: str, receiver: str) -> str:
    """The fix of a capture_one_direction that lacks sender's packets to receiver: when
    the marks prove the capture taken on receiver itself (sent_as: its own SYNs marked
    sent by the capture host), "This capture was taken on the media server 10.77.0.1
    itself (...): capture there without -Q, ... or on the agent 10.77.0.2, or a SPAN
    ..."; else PLAIN_FIX."""
    proof = sent_as(ctx.host_marks, receiver)
    if proof is None:
        return PLAIN_FIX
    peer, ttl = proof
    here, there = _named(ctx, receiver), _named(ctx, sender)
    return (f"This capture was taken on {here} itself (its Linux cooked headers mark "
            f"{receiver}'s SYNs to {peer} sent by the capture host, at {ttl_word(receiver)} "
            f"{ttl}, an initial "
            f"value), so capturing there again as before shows the same one direction: "
            f"capture both directions there (tcpdump without -Q: -Q in/out keeps one), or "
            f"on {there}, or {SPAN}.")


def _named(ctx: Context, host: str) -> str:
    """"the media server 10.77.0.1", "the agent 10.77.0.2", or the address alone when
    its role is not known (Context.host_role)."""
    role = ctx.host_role(host)
    return {"media": f"the media server {host}", "agent": f"the agent {host}"}.get(
        role or "", host)
