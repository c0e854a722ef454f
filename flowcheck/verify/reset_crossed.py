"""Which RSTs crossed between two capture points given together: a host's own, or a
device's in its name (review64c, the two-point form of new-user trial 67 item 1; field
check 78 run 0).

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
point.

The other end's answers need not cross: the device that resets a connection may drop
what follows of it, those answers too (review64c: lab-trial67's restore-rst-media and
restore-rst-agent given together, the media server's RSTs each at its own point only).
When the two points are two files (frame_names: the file of each frame), each host's
point is the file its first packet of the connection is in (its SYN or SYN-ACK, else its
first data: a packet is first seen where it leaves its sender); a RST at one point only
is its named end's own when it is in that end's file, and a device's when it is in the
other end's file only: it never passed its named end's point. Both ends' RSTs at one
point only and neither so placed are `capture_points.resets_between`'s.

And when each end that reset the connection had its RSTs cross (`crossed_sides`), the
capture set shows them leave that host itself: no device between the points sent them
(field check 78 run 0: the agent's RST leaving at TTL 64, arriving at the media server's
point at 63, read "if neither host reset it, look for a firewall or IPS between").
"""

from __future__ import annotations

from flowcheck.frame_names import current, frame_text
from flowcheck.model import Connection, Session, other_direction
from flowcheck.model.traffic import INITIAL_TTLS
from flowcheck.verify.capture_points import both_points_until, copied_pairs
from flowcheck.verify.context import Context
from flowcheck.verify.end_roles import role_words
from flowcheck.verify.ttl import initial_both_ways, ttl_word


def first_rst(conn: Connection, side: str) -> int:
    """The frame of side's ("orig", "resp") first RST (0 when not kept)."""
    return conn.orig_rst_frame if side == "orig" else conn.resp_rst_frame


def reset_sides(conn: Connection) -> list[str]:
    """The sides ("orig", "resp", in that order) that sent a RST on conn."""
    return [side for side, sent in (("orig", conn.orig_rst), ("resp", conn.resp_rst))
            if sent]


def _two_points(ctx: Context, conn: Connection) -> bool:
    """Is the capture set two capture points a router apart, one on each host of the
    established connection conn (copies at another TTL: SideEvidence.copy_ttl_other;
    the pair's packets in it twice; both hosts' with initial TTLs)? False for one capture
    point or the copies of one host's stack (Context.host_copies)."""
    if ctx.host_copies or not conn.established:
        return False
    orig, resp = conn.evidence("orig"), conn.evidence("resp")
    pair = (conn.orig_h, conn.resp_h)
    copied = copied_pairs(ctx)
    return bool((orig.copy_ttl_other or resp.copy_ttl_other)
                and (pair in copied or pair[::-1] in copied)
                and initial_both_ways(ctx, *pair))


def _own_file(conn: Connection, side: str) -> str | None:
    """The file of side's ("orig", "resp") capture point: the file of its first packet
    of conn (its SYN or SYN-ACK, else its first data packet), a packet being first seen
    where it leaves its sender; None for one file or when not placed (frame_names)."""
    names = current()
    sent = conn.syn_frames if side == "orig" else conn.synack_frames
    data = conn.orig_first_data if side == "orig" else conn.resp_first_data
    frame = sent[0] if sent else data[0] if data else 0
    found = names.place(frame) if names is not None and frame else None
    return None if found is None else found[0]


def _rst_file(conn: Connection, side: str) -> str | None:
    """The file of side's first RST; None for one file or when not placed."""
    names, frame = current(), first_rst(conn, side)
    found = names.place(frame) if names is not None and frame else None
    return None if found is None else found[0]


def _placed_own(conn: Connection, side: str) -> bool | None:
    """Is side's first RST, at one capture point only, at side's own point (True), at
    the other end's only (False), or not placed (None: one file, or unknown)?"""
    own, other = _own_file(conn, side), _own_file(conn, other_direction(side))
    rst = _rst_file(conn, side)
    if None in (own, other, rst) or own == other:
        return None
    return True if rst == own else False if rst == other else None


def uncrossed_side(ctx: Context, conn: Connection) -> str | None:
    """The side ("orig", "resp") of the established connection conn whose RSTs are each
    at one capture point only, the other end's only where files tell (module
    docstring), while the other side's crossed (SideEvidence.rst_twice) or are at its
    own point only, and came after its first (frames), in a set of two capture points
    (_two_points) both capturing the pair until after the first RST
    (capture_points.both_points_until); None otherwise."""
    if not (conn.orig_rst and conn.resp_rst and _two_points(ctx, conn)
            and conn.rst_ts is not None
            and both_points_until(ctx, conn.orig_h, conn.resp_h) > conn.rst_ts):
        return None
    orig, resp = conn.evidence("orig"), conn.evidence("resp")
    if orig.rst_twice and resp.rst_twice:
        return None
    if orig.rst_twice != resp.rst_twice:
        side = "resp" if orig.rst_twice else "orig"
        if _placed_own(conn, side):
            return None  # its own point's: its own, lost between the points
    else:  # neither crossed: placed by the files, one end's the device's
        placed = {s: _placed_own(conn, s) for s in ("orig", "resp")}
        device = [s for s, own in placed.items() if own is False]
        if len(device) != 1 or placed[other_direction(device[0])] is not True:
            return None
        side = device[0]
    first, answer = first_rst(conn, side), first_rst(conn, other_direction(side))
    return side if 0 < first < answer else None


def uncrossed_words(conn: Connection, session: Session, side: str) -> str:
    """Why uncrossed_side's RSTs are a device's, and the other end's its answers."""
    name, other = conn.host(side), conn.host(other_direction(side))
    answer = other_direction(side)
    answers = (f"{role_words(conn, session, other)}'s own RSTs (from "
               f"{frame_text(first_rst(conn, answer))})")
    if conn.evidence(answer).rst_twice:
        seen = (f"the RSTs in {name}'s name are in it at one capture point only, with one "
                f"{ttl_word(name)}: none crossed from one point to the other, as a host's "
                f"own RST would; {answers} crossed, after them")
        lost = ""
    else:
        seen = (f"the RSTs in {name}'s name are in it only at {other}'s capture point "
                f"({_rst_file(conn, side)}), never at {name}'s own "
                f"({_own_file(conn, side)}), where its packets leave it: they never left "
                f"{name}; {answers} are at its own point only, after them")
        lost = (f", and lost between the points (never in {_own_file(conn, side)}, "
                "captured then)")
    return (f"the capture set holds two capture points (other packets between "
            f"{conn.orig_h} and {conn.resp_h} are in it twice: capture_duplicates), and "
            f"{seen}: its TCP answering {name}'s later packets once that reset had ended "
            f"the connection on its side{lost}")


def crossed_sides(ctx: Context, conn: Connection) -> list[str]:
    """The sides ("orig", "resp") that reset the established connection conn when every
    one of them had its first RST, the one cited, cross from one capture point to the
    other (SideEvidence.first_rst_crossed: a later RST's crossing tells nothing of it;
    review64k) in a set of two capture points, one on each host (_two_points), each
    first seen with an initial TTL (INITIAL_TTLS: at its sender's own point): each RST
    left its host itself. Empty otherwise (one capture point, a side's first RST at one
    point only)."""
    sides = reset_sides(conn)
    if not sides or not all(conn.evidence(side).first_rst_crossed
                            and conn.evidence(side).rst_ttl in INITIAL_TTLS
                            for side in sides) or not _two_points(ctx, conn):
        return []
    return sides


def crossed_words(conn: Connection, session: Session, sides: list[str]) -> str:
    """Why crossed_sides' RSTs are their hosts' own: "the capture set holds two capture
    points (...), and the agent 10.77.1.2's RST is in it at both, first with 10.77.1.2's
    initial TTL 64: it left 10.77.1.2 itself and crossed to the other point"; for both
    ends each RST so, "...; ...: each left its host itself ... sent them" (review64k)."""
    each = "; ".join(
        f"{role_words(conn, session, conn.host(side))}'s RST "
        f"({frame_text(first_rst(conn, side))}) is in it at both, first with "
        f"{conn.host(side)}'s initial {ttl_word(conn.host(side))} "
        f"{conn.evidence(side).rst_ttl}" for side in sides)
    left, them = (("each left its host itself", "them") if len(sides) > 1
                  else (f"it left {conn.host(sides[0])} itself", "it"))
    return (f"the capture set holds two capture points (other packets between "
            f"{conn.orig_h} and {conn.resp_h} are in it twice: capture_duplicates), and "
            f"{each}: {left} and crossed to the other point, as a host's own RST does; no "
            f"device between the capture points sent {them}")
