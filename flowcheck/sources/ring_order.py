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

Names alone do not make a ring: two sniffers writing `x.pcap` and `x.pcap1` at the same
time (two interfaces, two hosts) name their files as a ring does, and read one after
another their packets would not interleave (review58l: each whole file after the other,
one write order for ClockSteps). So whatever order the names and times give is kept only
when each file's last record, as written (sources.tail: read from its end), comes no
later than the first packet of the next file with packets: the sniffer closed one file
before it opened the next. A file whose end cannot be read so (gzip) leaves the set read
by time, as does a clock step at the very turn from one file to the next.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flowcheck.sources.ring import ring_member


def ring_write_order(paths: Sequence[str | None], firsts: Sequence[float | None],
                     mtime_of: Callable[[int], int | None],
                     last_of: Callable[[int], float | None]) -> list[int] | None:
    """The set's file positions in the order the sniffer wrote them, when the set is one
    ring of two files or more; None for any other set (read by time).

    paths   each file's path (None: standard input or a pipe: no ring)
    firsts  each file's first packet time, s (None: no packet in it)
    mtime_of a file's modification time, ns, by position (None: unknown), asked only of
            a ring whose numbers give no rising first packets (resolve_inputs stat'ed
            the files already: lastread58a)
    last_of a file's last record time, s, by position (None: unknown; sources.tail),
            asked only of a set whose names are one ring
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
    order = _first_rising(by_number, firsts)
    if order is None:
        mtimes = [mtime_of(n) for n in range(len(paths))]
        if all(mtime is not None for mtime in mtimes):
            by_mtime = sorted(by_number, key=lambda n: mtimes[n] or 0)
            order = by_mtime if _is_rotation(by_mtime, by_number) else None
    return order if order is not None and _one_after_another(order, firsts, last_of) \
        else None


def _one_after_another(order: list[int], firsts: Sequence[float | None],
                       last_of: Callable[[int], float | None]) -> bool:
    """Whether each file with packets ends, by its last record, no later than the next
    file with packets starts (one sniffer's files, closed one before the next opened);
    False when a file's end is unknown."""
    timed = [n for n in order if firsts[n] is not None]
    for before, after in zip(timed, timed[1:], strict=False):
        last = last_of(before)
        if last is None or last > (firsts[after] or 0.0):
            return False
    return True


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
