"""Records written out of time order across the end of a read chunk.

The readers hand the tracker one batch per read chunk (8 MiB). A connection's packets
written out of time order by less than NTP's step threshold are taken in time order
within a batch (flowcheck.connections.by_time.in_time_order); a pair written swapped
with the chunk ending between them would be taken in the file's order, the later
segment opening a gap its earlier one then fills as a retransmission. So the tracker
reads one batch ahead: the records at the end of a batch stamped after a record at the
start of the next one (by less than CLOCK_STEP_SECONDS: records behind a clock set
back stay) go on with the next batch: the tracker takes any batch boundaries (a
chunk ends wherever its bytes do). Only batches of one file whose optional per-packet arrays match
(a pcap file; a pcapng file) are joined; the cost is one comparison of the next batch's
first records per batch and, at a seam that has such records, one copy of the next
batch's buffer. Memory: one batch held (one chunk buffer) besides the one being tracked
and the one being read ahead; nothing of a batch handed on is kept while the next is
read (tests/test_connections_memory.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from flowcheck.connections.clock import CLOCK_STEP_SECONDS
from flowcheck.sources.batch import PacketBatch

__all__ = ["SEAM_RECORDS", "across_seams"]

# Records looked at on each side of a seam: at most this many move to the next batch.
SEAM_RECORDS = 4096


def across_seams(batches: Iterable[PacketBatch]) -> Iterator[PacketBatch]:
    """The batches, each one's last records stamped after one of the next batch's first
    records (written out of time order across the seam) moved to the next batch."""
    held: PacketBatch | None = None
    for batch in batches:
        if held is None:
            held = batch
            continue
        ready, held = _moved_across(held, batch)
        del batch
        if len(ready):
            yield ready
        # Nothing of the batch handed on stays referenced while the next is read: its
        # buffer is free again before the reader's next read takes one.
        del ready
    if held is not None:
        yield held


def _moved_across(before: PacketBatch, after: PacketBatch) -> tuple[PacketBatch, PacketBatch]:
    """(before, after) with before ending where its records (its last SEAM_RECORDS) are
    stamped at or before every record after them, and at or before after's first
    SEAM_RECORDS: the last such place (`clean_cut`); its records after it moved to
    after's start. Unchanged when before ends so already or they cannot be joined."""
    if not len(before) or not len(after) or not _joinable(before, after):
        return before, after
    tail = before.ts[-SEAM_RECORDS:]
    cut = clean_cut(tail, after.ts[:SEAM_RECORDS])
    if cut == len(tail):
        return before, after
    cut += len(before) - len(tail)
    return _rows(before, 0, cut), _joined(_rows(before, cut, len(before)), after)


def clean_cut(tail: np.ndarray, head: np.ndarray) -> int:
    """The last place in tail (seconds, a batch's last records in file order; head: the
    next batch's first) where every record before it is stamped at or before every
    record after it, in tail and head, and the record before it is not behind the
    latest before it (a stretch behind still open at a batch's end is undecided:
    clock.written_behind): len(tail) when tail's end is one, 0 when no place is. A
    record stamped more than CLOCK_STEP_SECONDS behind the latest before it (a clock
    set back, records far out of order: left in the file's order) counts as after
    everything, and as no stretch behind."""
    latest = np.maximum.accumulate(tail)
    far = tail < latest - CLOCK_STEP_SECONDS
    lows = np.where(far, np.inf, tail)
    near = head[head >= latest[-1] - CLOCK_STEP_SECONDS]
    after = np.minimum.accumulate(np.concatenate((lows, [near.min() if near.size
                                                         else np.inf]))[::-1])[::-1]
    # Place c (1..len(tail)) is clean when latest[c - 1] <= after[c] and record c - 1
    # is the latest so far (or far behind); place 0 always.
    clean = np.flatnonzero((latest <= after[1:]) & ((tail >= latest) | far))
    return int(clean[-1]) + 1 if clean.size else 0


def _joinable(before: PacketBatch, after: PacketBatch) -> bool:
    """One file's consecutive batches whose optional arrays are alike (both or neither),
    their frames running on (frame0) when they have no frame array."""
    return (isinstance(before.capture, int | np.integer)
            and isinstance(after.capture, int | np.integer)
            and int(before.capture) == int(after.capture)
            and all((getattr(before, name) is None) == (getattr(after, name) is None)
                    for name in ("interface", "frames", "identity"))
            and (before.frames is not None or before.frame0 + len(before) == after.frame0))


def _rows(batch: PacketBatch, start: int, stop: int) -> PacketBatch:
    """The batch's records start..stop (same buffer)."""
    part = slice(start, stop)
    return PacketBatch(
        batch.buf, batch.frame0 + start, batch.ts[part], batch.data_off[part],
        batch.caplen[part], batch.wirelen[part], batch.linktype[part], batch.capture,
        *(None if (a := getattr(batch, name)) is None else a[part]
          for name in ("interface", "frames", "identity")))


def _joined(first: PacketBatch, second: PacketBatch) -> PacketBatch:
    """first's records then second's, in one buffer: first's records' bytes copied
    ahead of second's buffer."""
    source = memoryview(first.buf)
    pieces = [source[int(o):int(o) + int(n)] for o, n in
              zip(first.data_off.tolist(), first.caplen.tolist(), strict=True)]
    sizes = np.array([len(p) for p in pieces], np.int64)
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    moved = int(sizes.sum())
    buf = b"".join([*pieces, memoryview(second.buf)])
    return PacketBatch(
        buf, first.frame0,
        np.concatenate((first.ts, second.ts)),
        np.concatenate((offsets, second.data_off.astype(np.int64) + moved)),
        np.concatenate((first.caplen, second.caplen)),
        np.concatenate((first.wirelen, second.wirelen)),
        np.concatenate((first.linktype, second.linktype)), first.capture,
        *(None if getattr(first, name) is None else
          np.concatenate((getattr(first, name), getattr(second, name)))
          for name in ("interface", "frames", "identity")))
