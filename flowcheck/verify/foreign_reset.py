"""A RST that refused a SYN and that the responder did not send, told by its IP TTL.

A router or firewall between the hosts that rejects a connection with a reset (a
`reject with tcp reset` in its forward rules) sends the RST in the responder's name but
with its own TTL (flowcheck.verify.ttl: RFC 791 3.1, RFC 8200 3). foreign_reset finds a
RST whose TTL is not the one every other packet of the responder to the originator
arrived with; undecremented_reset one that arrived with an initial TTL while the capture
holds nothing else of the responder to compare with (a condition only: whether a router
is between cannot be seen). Here are their words and fixes for callback_refused,
data_refused and control_refused (flowcheck.verify.refusals, .links; trial 19).
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session, endpoint
from flowcheck.verify.allow_rules import allow_rule
from flowcheck.verify.context import Context
from flowcheck.verify.ttl import INITIAL_TTLS, apart_from_own, forged_words, own_ttls, ttl_word


def foreign_reset(ctx: Context, conn: Connection) -> tuple[int, int] | None:
    """(the RST's TTL, that of the responder's own packets) when the SYN was refused with
    a RST whose TTL is not the one every other packet of the responder to the originator
    arrived with (verify.ttl.apart_from_own): a router or firewall between the hosts sent it
    in the responder's name (`reject with tcp reset`), as control_reset reads it; None
    otherwise (no RST, TTLs unknown or several, or the responder's own; or a RST that
    crossed more routers than those packets: then they were a nearer device's)."""
    rst = conn.evidence("resp").rst_ttl
    if not conn.resp_rst or rst is None:
        return None
    reference = apart_from_own(ctx, conn, rst)
    return None if reference is None else (rst, reference)


def undecremented_reset(ctx: Context, conn: Connection) -> int | None:
    """The RST's TTL when the SYN was refused with a RST that arrived with an initial TTL
    (INITIAL_TTLS: sent on the capture point's network segment), the SYN too (the capture
    on the originator's segment), and the capture holds no other packet of the responder
    to the originator to compare with: a responder reached through a router would send
    it lowered, so the RST is then a device's between them (a condition only: the
    capture cannot tell whether a router is between). None otherwise."""
    rst = conn.evidence("resp").rst_ttl
    if (not conn.resp_rst or rst not in INITIAL_TTLS or conn.orig_ttl not in INITIAL_TTLS
            or own_ttls(ctx, conn.resp_h, conn.orig_h)):
        return None
    return rst


def reset_device(conn: Connection) -> str:
    """The device that sent a RST in the responder's name, named for allow_rule."""
    return (f"the router or firewall between {conn.orig_h} and {conn.resp_h} that sent "
            "the RST")


def foreign_reset_words(conn: Connection, ttls: tuple[int, int]) -> str:
    """Why a RST with another TTL than the responder's (foreign_reset) is not its answer."""
    return (f"the SYN to {endpoint(conn.resp_h, conn.resp_p)} was answered with a RST "
            f"({frame_text(conn.rst_frames[0])}) that {conn.resp_h} did not send: "
            f"{forged_words(conn.resp_h, *ttls)}, so a router or firewall between the hosts "
            f"rejects the connection in {conn.resp_h}'s name (a `reject with tcp reset` in "
            "its forward rules), not a port in use or a firewall on "
            f"{conn.resp_h}")


def undecremented_words(conn: Connection, rst: int) -> str:
    """The condition a RST with an initial TTL (undecremented_reset) adds to the words."""
    ttl = ttl_word(conn.resp_h)
    return (f" The RST's {ttl} {rst} is an initial value, as is the SYN's ({conn.orig_ttl}): "
            f"the RST was sent on {conn.orig_h}'s own network segment, so if {conn.resp_h} "
            "is reached through a router, that router or a firewall there sent it in "
            f"{conn.resp_h}'s name (a packet from behind a router arrives with a lowered "
            f"{ttl}).")


def undecremented_fix(ctx: Context, conn: Connection, session: Session) -> str:
    """The fix a RST with an initial TTL (undecremented_reset) adds."""
    rule = allow_rule(ctx, conn, session, device="that router or firewall")
    return f" If {conn.resp_h} is reached through a router: {rule}."
