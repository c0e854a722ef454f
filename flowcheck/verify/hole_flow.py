"""Step 5 over a hole of a capture set (capture_ring_gap): data that flowed while a ring
file, or a file of a capture cut by time (tcpdump -G), was written is in no file.

A data connection open across the hole, or one that ended or began in it, shows neither
how much was sent then nor how it ended or began: the byte counts and the closes read
from the files are not the job's (newuser57: a -G folder missing its middle file read
PASS with half the data uncounted, the first data connection's close and the second's
opening in the hole).
"""

from __future__ import annotations

from collections.abc import Sequence

from flowcheck.durations import span_words
from flowcheck.model import Connection, RingGap, Said, cites_of
from flowcheck.verify.context import Context


def hole_across(ctx: Context, conns: Sequence[Connection]) -> RingGap | None:
    """The first hole of the capture set (not a ring's lost head) that lies between the
    first packet of `conns` and the last, or None (none, or no connection)."""
    if not conns:
        return None
    start, end = min(c.ts for c in conns), max(c.last_ts for c in conns)
    return next((g for g in ctx.ring_gaps if not g.head and g.start < end and g.end > start),
                None)


def hole_words(ctx: Context, conns: Sequence[Connection]) -> Said | None:
    """Why step 5 cannot be judged when a hole (not a ring's lost head) lies between the
    first packet of the session's data connections (`conns`) and the last, or None."""
    gap = hole_across(ctx, conns)
    if gap is None:
        return None
    across = gap.words()
    return Said(f"the data flowed across {across}, {span_words(gap.end - gap.start)} of "
                "traffic no file of the set holds: what was sent then, and how a data "
                "connection ended or began then, is not in the capture", cites_of(across))
