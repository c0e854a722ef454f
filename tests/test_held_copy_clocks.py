"""A copy over 1 s late read as held by a router only when the near copies prove the
same two clocks agree (review 54d, connections.relay_words.held_words).

captures/review54d/three-hosts-...: three hosts' `tcpdump -i any` merged, the routed
agent's clock 1.02 s ahead (editcap -t 1.02 on its file): M's 7 SYNs to it over 6 s,
each copy 1020 ms late, and 67 copies within 0.5 ms between M and the other agent on
one segment. Field check 60's reading said "held by a router while it resolved the next
hop's link-layer address ..., sent once: the copies within 0.5 ms of their originals
show the two captures' clocks agree": the near copies were another pair's, and a
neighbour queue sends what it held at once, not over 6 s.
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis

from flowcheck.connections.relay_copies import RelayCopies
from flowcheck.connections.relay_words import held_words

THREE = (Path(__file__).resolve().parents[1] / "captures" / "review54d"
         / "three-hosts-any-merged-sll2-routed-agents-clock-ahead-syns-dropped.pcap.gz")
CLOCKS = "captured at two points whose clocks disagree by as much"


def test_three_captures_one_clock_ahead_keep_the_clock_hedge() -> None:
    analysis = shared_analysis(THREE)
    [copies] = [f for f in analysis.findings if f.code == "capture_duplicates"]
    # All 75 told: 68 near ones, one of them sharing its original's timestamp with the
    # arriving copy first in the file (field check 61: read "74 of them were told", "67
    # within 0.5 ms" before RelayCopies.handed_near counted it).
    assert ("All of them were told by where they were captured, 68 within 0.5 ms of the "
            "original and 7 later (1.02 s after it)" in copies.message)
    assert ("(1 of them was captured at the very timestamp of its original, the arriving "
            "copy put first" in copies.message)
    assert ("7 of them over 1 s after the original with its TSval, each about as late: "
            "sent once, and either held by a router that long" in copies.message)
    assert CLOCKS in copies.message
    assert "clocks agree" not in copies.message


def _held(*, near_routed: int, first: float, last: float) -> RelayCopies:
    """Relay copies all marked leaving one host and arriving at another, all over
    RELAY_WINDOW late alike (RelayCopies' counts as copies.py leaves them)."""
    count = 1 if first == last else 7
    return RelayCopies(count=count, routed=count, longest=1.02, shortest=1.02, held=count,
                       handed=count, handed_routed=count, near_read=21,
                       near_handed=21 - near_routed, near_handed_routed=near_routed,
                       held_first=first, held_last=last)


def test_held_words_want_near_copies_across_a_router() -> None:
    """Run 10's shape (one held SYN, 21 near copies one hop lower) reads held; near
    copies at their originals' TTL (another pair, one segment) prove nothing of it."""
    assert "clocks agree" in held_words(_held(near_routed=21, first=5.0, last=5.0))
    assert CLOCKS in held_words(_held(near_routed=0, first=5.0, last=5.0))


def test_held_words_want_the_held_copies_sent_together() -> None:
    """Seven copies over 6 s each as late: a clock's offset, not one queue's release."""
    assert CLOCKS in held_words(_held(near_routed=21, first=5.0, last=11.0))


def test_held_words_want_the_held_copies_times() -> None:
    """Held copies whose capture times were never noted (RelayCopies' defaults, inf and
    -inf) are not read as sent together: the clocks' hedge stays (before: -inf - inf
    passed the 0.5 s bound and read "clocks agree" on no evidence)."""
    unknown = _held(near_routed=21, first=5.0, last=5.0)
    unknown.held_first, unknown.held_last = float("inf"), float("-inf")
    assert CLOCKS in held_words(unknown) and "clocks agree" not in held_words(unknown)
