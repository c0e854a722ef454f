"""The order a sniffer wrote a ring buffer's files in, for a set that is one ring.

A ring's files follow each other: the sniffer closes one and opens the next, so its
packets are one stream cut into files, and the file numbers (tcpdump -C `NAME`,
`NAME1`, ...; -W `NAME0`, ...; dumpcap and editcap `PREFIX_NNNNN_YYYYMMDDhhmmss.EXT`:
flowcheck.sources.ring.ring_member) give their write order. Ordered by first packet
time instead, a ring whose clock stepped back puts the files written after the step
before the file it stepped in (review58d: a two-jobs capture stepped back 2 s, cut in 7
files, read INCONCLUSIVE, capture_started_mid_session and capture_duplicates; the file
whole read PASS).

A tcpdump -W ring that wrapped reuses its numbers (after NAME(W-1) it writes NAME0
again, over the oldest): its write order is a rotation of the numbers. As
flowcheck.sources.ring reads it, the rotation that puts the files' first packets in
time order tells it (the files after the wrap in number order with their first packets
rising). Where neither the numbers nor a rotation of them has the first packets rising
(a clock step inside a ring), the files' modification times tell the write order when
they are a rotation of the numbers (the sniffer wrote each file before the next; equal
times, as a copy may leave, keep the number order); else the set is read by time as
any set of files.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowcheck.sources.ring import ring_member


def ring_write_order(paths: Sequence[str | None], firsts: Sequence[float | None],
                     mtimes: Sequence[int | None]) -> list[int] | None:
    """The set's file positions in the order the sniffer wrote them, when the set is one
    ring of two files or more; None for any other set (read by time).

    paths   each file's path (None: standard input or a pipe: no ring)
    firsts  each file's first packet time, s (None: no packet in it)
    mtimes  each file's modification time, ns (None: unknown)
    Raises nothing."""
    if len(paths) < 2 or any(path is None for path in paths):
        return None
    members = [ring_member(path) for path in paths if path is not None]
    if any(member is None for member in members):
        return None
    keys = {member[0] for member in members if member is not None}
    numbers = [member[1] for member in members if member is not None]
    if len(keys) != 1 or len(set(numbers)) != len(numbers):
        return None
    by_number = sorted(range(len(paths)), key=lambda n: numbers[n])
    rotation = _first_rising(by_number, firsts)
    if rotation is not None:
        return rotation
    if any(mtime is None for mtime in mtimes):
        return None
    by_mtime = sorted(by_number, key=lambda n: mtimes[n] or 0)
    return by_mtime if _is_rotation(by_mtime, by_number) else None


def _first_rising(by_number: list[int], firsts: Sequence[float | None]) -> list[int] | None:
    """The numbers' order, or its rotation starting at the earliest first packet (a
    wrapped ring), whichever has the files' first packets rising (files without packets
    keep their place); None when neither does."""
    timed = [n for n in by_number if firsts[n] is not None]
    if _rising([firsts[n] for n in timed]):
        return by_number
    if not timed:
        return None
    earliest = by_number.index(min(timed, key=lambda n: firsts[n] or 0.0))
    turned = by_number[earliest:] + by_number[:earliest]
    if _rising([firsts[n] for n in turned if firsts[n] is not None]):
        return turned
    return None


def _rising(times: list[float | None]) -> bool:
    return all(a is not None and b is not None and a <= b
               for a, b in zip(times, times[1:], strict=False))


def _is_rotation(order: list[int], by_number: list[int]) -> bool:
    """Whether `order` is by_number turned at some file (a ring's numbers reused)."""
    start = by_number.index(order[0])
    return order == by_number[start:] + by_number[:start]
