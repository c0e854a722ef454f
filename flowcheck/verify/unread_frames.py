"""A direction the capture seems to lack, with frames flowcheck could not read.

A capture that holds one host's packets plain and the other's in an encapsulation
flowcheck knows but does not read (PBB, L2TPv3, GTP-U: flowcheck.decode.unread) reads as
a capture of one direction: its connections show the other side talking, no packet of
it is read. Field check trial 36 D3: "the capture holds only 10.77.0.1's direction:
10.77.0.2's SYNs were dropped on the way or never sent" (step_missing) and
capture_one_direction ("a SPAN port that sees one way"), while every packet of that
direction was in the file. With such frames in the capture nothing says a direction is
missing: capture_unread_encapsulation says how many frames could not be read, in what,
from which frame, and that what they hold is unknown; the steps that direction would
show stay unknown (not failed: verify.answer_seen gives no answer-would-show reading),
and the step details say the packets may be in those frames (unseen_words).

Only frames that could carry the direction count (could_carry, review 25b: one UDP
packet between unrelated hosts on port 1701 turned a FAIL into INCONCLUSIVE): frames
from or to its sender or receiver (their outer or readable inner IP addresses, or any
host's for those carrying Ethernet frames: decode.unread_hosts), within its connections'
time. Other frames leave capture_one_direction and the answer-would-show reading as they
were, and are named in an info.
"""

from __future__ import annotations

from flowcheck.decode.unread_hosts import ANY
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Severity
from flowcheck.verify.context import Context, opening_frames


def unread_words(unread: dict[str, tuple[int, int]]) -> str:
    """ "14 frames are in an encapsulation flowcheck does not read (PBB, from frame 2)" """
    total = sum(count for count, _ in unread.values())
    each = "; ".join(f"{name}, {count:,} from {frame_text(first)}" if len(unread) > 1
                     else f"{name}, from {frame_text(first)}"
                     for name, (count, first) in unread.items())
    are = "is" if total == 1 else "are"
    return (f"{total:,} frame{'' if total == 1 else 's'} {are} in an encapsulation "
            f"flowcheck does not read ({each})")


def could_carry(ctx: Context, way: tuple[str, str],
                conns: list[Connection] | None = None) -> bool:
    """Could the frames flowcheck could not read (ctx.unread) hold packets from way[0] to
    way[1]: some name either host (or may carry any host's) and lie within the time of
    conns (the direction's connections: ctx.missing's, else every connection)."""
    if not ctx.unread:
        return False
    if ctx.unread_spans is None:
        return True  # where and when is not known: they may
    conns = conns or ctx.missing.get(way) or ctx.connections
    start = min((c.ts for c in conns), default=float("-inf"))
    end = max((c.last_ts for c in conns), default=float("inf"))
    hosts = {ANY, *way}
    return any(address in hosts and first <= end and last >= start
               for (_, address), (first, last) in ctx.unread_spans.items())


def unseen_words(ctx: Context, way: tuple[str, str], what: str) -> str:
    """Why a packet (what) from way[0] to way[1] is not among those read, with frames
    flowcheck could not read in the capture (ctx.unread): it may be among them."""
    return (f"the capture holds no packet flowcheck can read from {way[0]} to {way[1]} "
            f"and {unread_words(ctx.unread)}: {what} from {way[0]} may be among them")


def report_unread(ctx: Context, missing: dict[tuple[str, str], list[Connection]],
                  others: int = 0) -> None:
    """capture_unread_encapsulation in place of capture_one_direction: a warning naming
    the directions that read as missing (their connections show that side talking) and
    the frames could carry (could_carry), an info when none does and the capture holds
    TCP connections. others: the directions missing that the frames cannot carry
    (capture_one_direction names them)."""
    first = min(first for _, first in ctx.unread.values())
    words = unread_words(ctx.unread)
    if not missing:
        if not ctx.connections:
            return  # no TCP at all: no_control_session names them (verify.capture_contents)
        why = ("none of them is from or to the hosts of a direction the capture lacks "
               "within its connections' time, so they cannot carry it"
               if others else "no direction reads as missing")
        ctx.add("capture_unread_encapsulation",
                f"{words}: what they hold is not judged; {why}.",
                "Capture where the job's packets are not encapsulated (on the media "
                "server or the agent) if they may be among them.", frames=[first],
                severity=Severity.INFO)
        return
    sides = []
    for (sender, receiver), conns in missing.items():
        listed = ", ".join(f"{c.uid}" for c in conns[:3])
        more = f" and {len(conns) - 3} more" if len(conns) > 3 else ""
        shows = "shows" if len(conns) == 1 else "show"
        sides.append(f"from {sender} to {receiver} (though {listed}{more} {shows} that "
                     "side talking)")
    conns = [c for group in missing.values() for c in group]
    _note_sessions(ctx, words)
    ctx.add("capture_unread_encapsulation",
            f"{words}, and the capture holds no packet flowcheck can read "
            f"{' nor '.join(sides)}: those packets may well be in the frames it could not "
            "read, so what they hold is unknown, not missing from the capture, and the "
            "steps they may carry are unknown, not failed.",
            "Capture where the job's packets are not encapsulated: on the media server "
            "or the agent, or on a switch port or mirror session that delivers both "
            "directions plain (or in an encapsulation flowcheck reads: VLAN tags, MPLS, "
            "GRE, ERSPAN, VXLAN, Geneve).", conn=conns[0],
            frames=[first] + [f for c in conns[:5] for f in opening_frames(c)])


def _note_sessions(ctx: Context, words: str) -> None:
    """A session whose kind is unknown because its control connection reads as one side
    only (sessions.unseen.job_unseen: "the agent's replies are not in it";
    Session.job_unseen_one_way, its data) says the other side's packets may be in the
    frames flowcheck could not read."""
    note = f" ({words}: they may be among them)"
    for session in ctx.sessions:
        if session.job_unseen_one_way:
            if session.kind_unknown_why == session.job_unseen:
                session.kind_unknown_why += note
            session.job_unseen += note
