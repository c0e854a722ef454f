"""Where to capture both directions, by where the capture was taken when it shows it:
capture_one_direction's fix (one_direction_fix; left_out_fix when only the direction's
TCP is missing), capture_loss's for one-way gaps (both_ways_fix) and the fix of a closed
job's answer (verify.replies: taken_on, taken_words).

"Capture both directions: on the media server itself, ..." told a user whose capture was
already taken on the media server (`tcpdump -i any -Q out` there: field check 71 runs 6,
10, 14 and 24, field check 74 run 14) to capture where they had. Linux cooked headers
that mark the captured side's own openings sent by the capture host (cooked_host.sent_as:
its SYNs leaving at an initial TTL, never arriving) prove the capture host holds that
address: the capture was taken on that host itself, and the fix names the capture there
without -Q, the other host, or a SPAN of both directions. Without that proof (Ethernet
captures, a capture of the arriving side: a router's own arrivals look alike) nothing
places the capture, so the fix names no point as the one to go to instead: tcpdump
without -Q on either host, or a SPAN of both directions (plain_fix; words64: the lab's
`tcpdump -Q out` on the media server's veth, captures/lab/one-direction-out, was told
"on the media server itself", where it had been taken).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flowcheck.connections.cooked_hosts import HostMarks
from flowcheck.model import Connection
from flowcheck.verify.context import Context
from flowcheck.verify.cooked_host import sent_as
from flowcheck.verify.ttl import ttl_word

SPAN = ("a SPAN session of both received and sent traffic, on a path both directions "
        "take")
# capture_loss's fix for one-way gaps when nothing places the capture (both_ways_fix
# None): where to capture, with no point named as the one to go to instead.
ONE_WAY_FIX = ("Capture both directions (tcpdump without -Q: -Q in/out keeps one, where this "
               "capture was taken or on these connections' hosts; or a SPAN session of both "
               "received and sent traffic), so the receivers' ACKs tell whether the sniffer "
               "or the network lost these bytes; and ")


def plain_fix(role: Callable[[str], str | None], one: str, other: str) -> str:
    """The fix asking for both directions of one and other when nothing places the
    capture: "Capture both directions: tcpdump without -Q (-Q in/out keeps one) on the
    media server 10.77.0.1 or the agent 10.77.0.2, or a SPAN session ...". Neither host
    is said as the point to go to instead ("on the media server itself" was said to a
    `-Q out` capture taken there); the media server first. role: as named's."""
    first, second = sorted((one, other), key=lambda host: role(host) != "media")
    return ("Capture both directions: tcpdump without -Q (-Q in/out keeps one) on "
            f"{named(role, first)} or {named(role, second)}, or {SPAN}.")


def one_direction_fix(ctx: Context, sender: str, receiver: str) -> str:
    """The fix of a capture_one_direction that lacks sender's packets to receiver: when
    the marks prove the capture taken on receiver itself (sent_as: its own SYNs marked
    sent by the capture host), "This capture was taken on the media server 10.77.0.1
    itself (...): capture there without -Q, ... or on the agent 10.77.0.2, or a SPAN
    ..."; else plain_fix's words."""
    proof = sent_as(ctx.host_marks, receiver)
    if proof is None:
        return plain_fix(ctx.host_role, receiver, sender)
    peer, ttl = proof
    return (taken_words(named(ctx.host_role, receiver), receiver, peer, ttl)
            + ", so capturing there again as before shows the same one direction: "
            "capture both directions there (tcpdump without -Q: -Q in/out keeps one), or "
            f"on {named(ctx.host_role, sender)}, or {SPAN}.")


def left_out_fix(ctx: Context, sender: str, receiver: str) -> str:
    """The fix of a capture_one_direction whose direction passed the capture point while
    its TCP is missing (verify.evidence._tcp_left_out: a filter left it out, or it took
    another path). When the marks prove the capture taken on sender or receiver itself
    (taken_on), that host is said as where it was taken, which both directions' TCP pass:
    "Capture 10.77.0.2's TCP to 10.77.0.1 too: a capture filter that holds both
    directions' TCP (or none). This capture was taken on the media server 10.77.0.1
    itself (...), which both directions' TCP pass: capture there again so, on every
    interface (tcpdump -i any), or on the agent 10.77.0.2."; else "..., where both
    directions' TCP pass (on the media server itself)." (words65: a `tcpdump -i any`
    capture on the media server with the agent's TCP left out, its UDP kept, was told to
    capture "on the media server itself", where it had been taken)."""
    ask = (f"Capture {sender}'s TCP to {receiver} too: a capture filter that holds both "
           "directions' TCP (or none)")
    found = taken_on(ctx.host_marks, (sender, receiver))
    if found is None:
        return f"{ask}, where both directions' TCP pass (on the media server itself)."
    host, peer, ttl = found
    other = receiver if host == sender else sender
    return (f"{ask}. {taken_words(named(ctx.host_role, host), host, peer, ttl)}, which both "
            "directions' TCP pass: capture there again so, on every interface (tcpdump -i "
            f"any), or on {named(ctx.host_role, other)}.")


def taken_on(marks: HostMarks, hosts: Iterable[str]) -> tuple[str, str, int] | None:
    """(host, a peer, TTL) when the marks prove the capture taken on exactly one of
    `hosts` (sent_as: its own SYNs sent by the capture host); None when on none, or on
    more than one (two hosts' `-Q out` captures merged: no one capture point)."""
    proven = [(host, *proof) for host in sorted(set(hosts))
              if (proof := sent_as(marks, host)) is not None]
    return proven[0] if len(proven) == 1 else None


def taken_words(here: str, host: str, peer: str, ttl: int) -> str:
    """"This capture was taken on the media server 10.77.0.1 itself (its Linux cooked
    headers mark 10.77.0.1's SYNs to 10.77.0.2 sent by the capture host, at TTL 64, an
    initial value)": `here` names host (its role and address)."""
    return (f"This capture was taken on {here} itself (its Linux cooked headers mark "
            f"{host}'s SYNs to {peer} sent by the capture host, at {ttl_word(host)} {ttl}, "
            "an initial value)")


def both_ways_fix(marks: HostMarks, conns: list[Connection],
                  role: Callable[[str], str | None]) -> str | None:
    """The start of capture_loss's fix for gaps of one-way connections (`conns`: theirs
    is the only direction captured) when the marks prove the capture taken on one of
    their hosts: "This capture was taken on the media server 10.77.0.1 itself (...), so
    capturing there again as before misses the same direction: capture both directions
    there (...), or on the agent 10.77.0.2, or a SPAN ..., so the receivers' ACKs tell
    ...; and "; None when they do not (ONE_WAY_FIX then). role: a
    host's "media" or "agent" (None: unknown), for its name. A capture on the media
    server with `-Q out`, a control segment of its own lost: "on the media server itself"
    was said to a capture taken there (field70-matrix's clean backup on the media server
    cut to its own packets, one control segment removed)."""
    hosts = {h for c in conns for h in (c.orig_h, c.resp_h)}
    found = taken_on(marks, hosts)
    if found is None:
        return None
    host, peer, ttl = found
    others = sorted({c.resp_h if c.orig_h == host else c.orig_h for c in conns
                     if host in (c.orig_h, c.resp_h)} - {host})
    there = "".join(f", or on {named(role, other)}" for other in others)
    return (taken_words(named(role, host), host, peer, ttl)
            + ", so capturing there again as before misses the same direction: capture "
            f"both directions there (tcpdump without -Q: -Q in/out keeps one){there}, or "
            f"{SPAN}, so the receivers' ACKs tell whether the sniffer or the network lost "
            "these bytes; and ")


def named(role: Callable[[str], str | None], host: str) -> str:
    """"the media server 10.77.0.1", "the agent 10.77.0.2", or the address alone when
    its role is not known (role: Context.host_role, or the sessions' roles)."""
    return {"media": f"the media server {host}", "agent": f"the agent {host}"}.get(
        role(host) or "", host)

