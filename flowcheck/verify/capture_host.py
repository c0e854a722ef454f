"""Which of two hosts a capture was taken on, by whichever proof holds: the TTLs
(flowcheck.verify.ttl.capture_host: the host's packets at an initial TTL, the other's
lowered by routers between, so the host or a point on its network segment) or one Linux
cooked capture's packet types (flowcheck.verify.cooked_host.host_by_marks: the
host itself, with or without a router between). Every reading that says where a
capture was taken asks here, so a capture the marks place reads alike in each (session
51: the marks were read by the unanswered openings alone, a stall or a reset's SYN-ACKs
in the same `tcpdump -i any` capture said "if this capture was taken on ...").

When the two name different hosts (the TTLs one, the marks the other: a host pair whose
connections' first packets and opening packets disagree, such as a capture of one
host's connections begun mid-stream beside a router's own resets) neither is claimed:
`proven_host` gives None and the callers keep their conditional words.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from flowcheck.verify.capture_host_proof import CaptureHostProof
from flowcheck.verify.context import Context
from flowcheck.verify.cooked_host import context_one_host, host_by_marks, words_by_marks
from flowcheck.verify.ttl import capture_host, taken_on_words

if TYPE_CHECKING:
    from flowcheck.model import Connection


def proven_host(ctx: Context, a: str, b: str) -> CaptureHostProof | None:
    """The host of a and b the capture was taken on when the TTLs or the Linux cooked
    marks show it (module docstring); None when neither does, or they name different
    hosts. Found once per Context and pair (Context.proofs.capture_hosts): a refusal's message and
    fix each ask it (verify.own_reject), and so do several readings of one pair."""
    key = (a, b)
    if key not in ctx.proofs.capture_hosts:
        ctx.proofs.capture_hosts[key] = _proven_host(ctx, a, b)
    return ctx.proofs.capture_hosts[key]


def _proven_host(ctx: Context, a: str, b: str) -> CaptureHostProof | None:
    """proven_host, found anew."""
    on = capture_host(ctx, a, b)
    one = partial(context_one_host, ctx)  # one_host of ctx.host_marks, found once
    marked = host_by_marks(ctx.host_marks, a, b, one)
    if on is not None and marked is not None and on[0] != marked:
        return None  # the two proofs disagree: neither holds
    if marked is not None:
        other = b if marked == a else a
        return CaptureHostProof(marked, words_by_marks(ctx.host_marks, marked, other, one),
                                on, True)
    if on is not None:
        other = b if on[0] == a else a
        return CaptureHostProof(on[0], taken_on_words(on, other), on, False)
    return None


def taken_hedges(ctx: Context, conn: Connection) -> tuple[str, ...]:
    """Finding.hedges for a finding on `conn` whose words may say the capture was taken
    on one of its hosts (proven_host of its originator and responder, the order
    verify.opening asks in: CaptureHostProof.hedges); () when nothing places it."""
    on = proven_host(ctx, conn.orig_h, conn.resp_h)
    return on.hedges if on is not None else ()
