"""One end's RSTs that never crossed between two capture points while the other end's
did: a device's reset in the first end's name (review64c, the two-point form of
new-user trial 67 item 1).

Both hosts' captures of a job given together hold every packet that crossed from one
capture point to the other twice, a router apart at two TTLs (flowcheck.verify.
capture_points). A host's own RST leaves through its own point and crosses to the
other (SideEvidence.rst_twice: a RST of that side at a second TTL). A RST a device
between the points sends in a host's name reaches only the other host's point, and the
other host's TCP, which it made drop the connection, answers that host's later packets
with RSTs of its own (RFC 9293 3.10.7.1), which do cross. So when one end's RSTs are each
at one point only, the other end's crossed, and all of the other end's came after the
first end's first, a device between them reset the connection in the first end's name
(lab-trial67: a router's `reject with tcp reset` on a backup's data, the two hosts'
captures given together, read "reset by both ends"). The TTLs tell nothing here: that
device's RST may arrive with the host's initial TTL, as the host's own does at its own
point. Both ends' RSTs at one point only are `capture_points.resets_between`'s.
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session, other_direction
from flowcheck.verify.capture_points import both_points_until, copied_pairs
from flowcheck.verify.context import Context
from flowcheck.verify.end_roles import role_words
from flowcheck.verify.ttl import initial_both_ways, ttl_word


def first_rst(conn: Connection, side: str) -> int:
    """The frame of side's ("orig", "resp") first RST (0 when not kept)."""
    return conn.orig_rst_frame if side == "orig" else conn.resp_rst_frame


def uncrossed_side(ctx: Context, conn: Connection) -> str | None:
    """The side ("orig", "resp") of the established connection conn whose RSTs are each
    at one capture point only while the other side's crossed (SideEvidence.rst_twice)
    and came after its first (frames), in a set of two capture points a router apart
    (copies at another TTL: SideEvidence.copy_ttl_other; the pair's packets in it twice;
    both hosts' with initial TTLs; both points capturing the pair until after the first
    RST: capture_points.both_points_until); None otherwise, as for one capture point or
    the copies of one host's stack (Context.host_copies)."""
    if ctx.host_copies or not (conn.established and conn.orig_rst and conn.resp_rst):
        return None
    orig, resp = conn.evidence("orig"), conn.evidence("resp")
    if orig.rst_twice == resp.rst_twice:
        return None
    side = "resp" if orig.rst_twice else "orig"
    pair = (conn.orig_h, conn.resp_h)
    copied = copied_pairs(ctx)
    if not ((orig.copy_ttl_other or resp.copy_ttl_other)
            and (pair in copied or pair[::-1] in copied)
            and initial_both_ways(ctx, *pair)
            and conn.rst_ts is not None
            and both_points_until(ctx, *pair) > conn.rst_ts):
        return None
    first, answer = first_rst(conn, side), first_rst(conn, other_direction(side))
    return side if 0 < first < answer else None


def uncrossed_words(conn: Connection, session: Session, side: str) -> str:
    """Why uncrossed_side's RSTs are a device's, and the other end's its answers."""
    name, other = conn.host(side), conn.host(other_direction(side))
    return (f"the capture set holds two capture points (other packets between "
            f"{conn.orig_h} and {conn.resp_h} are in it twice: capture_duplicates), and "
            f"the RSTs in {name}'s name are in it at one capture point only, with one "
            f"{ttl_word(name)}: none crossed from one point to the other, as a host's own "
            f"RST would; {role_words(conn, session, other)}'s own RSTs (from "
            f"{frame_text(first_rst(conn, other_direction(side)))}) crossed, after them: its "
            f"TCP answering {name}'s later packets once that reset had ended the connection "
            "on its side")
