"""The copies within copy_window.COPY_WINDOW of their originals: where their link headers
say they were captured (a sample, the first NEAR_SAMPLE read), so that
connections.relay_words can tell a router's or bridge's several interfaces, two hosts'
captures merged or two capture points a router apart from the network's copies.

Split from connections.relay_copies (review 54h): that module finds the copies a router
or bridge forwarded beyond COPY_WINDOW (its queue's delay) and keeps what they show;
this one only counts how the near copies copies.py found are marked (decode.legs), per
pair of original and copy. RelayCopies holds both (it is a NearCopies).
"""

from __future__ import annotations

import numpy as np

from flowcheck.decode.legs import (
    UNKNOWN,
    forwarded,
    handed_on,
    named_part,
    pair_part,
    way,
)
from flowcheck.fields_dataclass import fields_dataclass

NEAR_SAMPLE = 1 << 12  # copies within copy_window.COPY_WINDOW whose interfaces are read, at most


@fields_dataclass(slots=True)
class NearCopies:
    """Counts of the near copies read (`near_read`) by how their link headers mark them
    against their originals (note_near): `near_named` (of them `near_named_routed`, one
    TTL lower) on another named interface marked forwarded, and the others below."""

    near_read: int = 0
    near_named: int = 0
    # Of near_read: the copies marked leaving one host, then arriving at another
    # (legs.handed_on: two hosts' Linux cooked captures merged) at their originals' TTL,
    # and one lower.
    near_handed: int = 0
    near_handed_routed: int = 0
    # Of near_read: the pairs so marked the other way round at one timestamp (the
    # arriving copy first in the file, the leaving one at its TTL or one higher): a merge
    # orders packets of one timestamp by file, not as sent (handed_near).
    near_tied: int = 0
    near_tied_routed: int = 0
    near_named_routed: int = 0  # of near_named, one TTL lower
    # Of near_read: the copies on another named interface of the same file than their
    # originals (a pcapng's), neither marked coming in or going out (legs.way 0), at
    # their originals' TTL or one lower (`near_apart_routed`): not the network's copies.
    near_apart: int = 0
    near_apart_routed: int = 0
    # Of near_read: the copies of the same file on no named interface (a plain Ethernet
    # capture's) under another MAC pair than their originals, one TTL lower: a router
    # forwarded each between its two captures (lab matrix seed 124 run 0); not a copy
    # under the MAC pair of the packet two captures before it (legs.crossed_again: a
    # routing loop, review 54h).
    near_macs_routed: int = 0

    @property
    def near_wanted(self) -> bool:
        """Whether the interfaces of copies within copy_window.COPY_WINDOW are still read (a
        sample: the first NEAR_SAMPLE of them)."""
        return self.near_read < NEAR_SAMPLE

    @property
    def near_left(self) -> int:
        """How many more of them are read (the sample's rest)."""
        return max(0, NEAR_SAMPLE - self.near_read)

    def note_near(self, same_file: np.ndarray, legs_first: np.ndarray,
                  legs_then: np.ndarray, ttl_first: np.ndarray, ttl_then: np.ndarray,
                  tied: np.ndarray | None = None, again: np.ndarray | None = None
                  ) -> None:
        """Count the copies within copy_window.COPY_WINDOW read (`near_read`) and those of them
        captured in the same file as their originals on another named interface
        (legs.named_part) with an equal TTL or one lower, the original marked coming in
        and the copy going out (legs.forwarded; `near_named`): a bridge or router
        forwarding them, its several interfaces captured at once (`tcpdump -i any` on it,
        trial 35 D3), or a host's own packets crossing a bridge of its own. A pcapng of
        several interfaces without such marks (two hosts' captures merged by mergecap,
        dumpcap -i a -i b on a bridge) shows no one host: two capture points, or one
        host's several interfaces (`near_apart`); either way not the network's copies,
        which a capture point sees arriving twice on one interface (lab matrix seed 118
        run 1, both hosts' dumpcap files merged keeping both interfaces, read "or the
        network delivered them twice"). tied (bool per pair, None: none): captured at one
        timestamp, whose marks the other way round (the arriving copy first in the file)
        are counted apart (`near_tied`: lab matrix seed 124 runs 21 and 26, both hosts'
        `tcpdump -i any` merged, a few pairs of one microsecond each put the receiver's
        copy first, and the copies read "Either the capture point saw them twice ... or
        the network delivered them twice"). again (bool per pair, None: none): the copy
        under the MAC pair of the packet two captures before it (legs.crossed_again: a
        routing loop), which no router's two captures show: not near_macs_routed."""
        drop = ttl_first - ttl_then
        named = (same_file & (named_part(legs_first) != UNKNOWN)
                 & (named_part(legs_then) != UNKNOWN)
                 & (named_part(legs_first) != named_part(legs_then))
                 & forwarded(legs_first, legs_then) & ((drop == 0) | (drop == 1)))
        self.near_read += int(same_file.size)
        self.near_named += int(np.count_nonzero(named))
        self.near_named_routed += int(np.count_nonzero(named & (drop == 1)))
        apart = (same_file & (named_part(legs_first) != UNKNOWN)
                 & (named_part(legs_then) != UNKNOWN)
                 & (named_part(legs_first) != named_part(legs_then))
                 & (way(legs_first) == 0) & (way(legs_then) == 0)
                 & ((drop == 0) | (drop == 1)))
        self.near_apart += int(np.count_nonzero(apart))
        self.near_apart_routed += int(np.count_nonzero(apart & (drop == 1)))
        macs = (same_file & (named_part(legs_first) == UNKNOWN)
                & (named_part(legs_then) == UNKNOWN) & (pair_part(legs_first) != 0)
                & (pair_part(legs_then) != 0)
                & (pair_part(legs_first) != pair_part(legs_then)))
        if again is not None:
            macs &= ~again
        self.near_macs_routed += int(np.count_nonzero(macs & (drop == 1)))
        handed = same_file & handed_on(legs_first, legs_then)
        self.near_handed += int(np.count_nonzero(handed & (drop == 0)))
        self.near_handed_routed += int(np.count_nonzero(handed & (drop == 1)))
        if tied is not None:
            back = same_file & tied & handed_on(legs_then, legs_first)
            self.near_tied += int(np.count_nonzero(back & (drop == 0)))
            self.near_tied_routed += int(np.count_nonzero(back & (drop == -1)))

    @property
    def handed_near(self) -> tuple[int, int]:
        """The near copies read marked leaving one host, then arriving at another (at
        their originals' TTL, one lower), with the pairs of one timestamp marked the other
        way round (near_tied: the leaving copy one TTL higher counted as routed) when some
        copy is marked so in the file's order: two hosts' captures merged, the order of
        two packets of one timestamp the merge's (mergecap puts one file's first), not the
        network's. Without a copy marked so in order, (near_handed, near_handed_routed):
        an arrival then a departure in one instant alone is one host's forwarding too."""
        if not self.near_handed + self.near_handed_routed:
            return 0, 0
        return (self.near_handed + self.near_tied,
                self.near_handed_routed + self.near_tied_routed)
