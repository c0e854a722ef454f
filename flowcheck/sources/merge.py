"""Merging the files of a capture set into one stream in time order.

Each file is a lane ordered by its running-maximum timestamp (its "key"), so a file
with a few packets out of order keeps them where the file has them, as Wireshark does.
Lanes merge by (key, lane index): stable, and exact across chunk boundaries. Ring
buffers (files consecutive in time) take the fast path: a lane is opened only when the
merged stream reaches its first timestamp, and a batch from one lane is passed on as
is, without copying.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterator

import numpy as np

from flowcheck.sources.clock_epochs import StreamClock, confirmed_epoch, settle, shared_epoch
from flowcheck.sources.reader import CaptureFile
from flowcheck.sources.records import Records

Chunk = tuple[bytes | bytearray | memoryview, Records]
# The lane (Lane.index) each record of a merged chunk came from: one int when the whole
# chunk comes from one lane (no per-packet array on the ring-buffer path), else an
# int32 array parallel to the records.
LaneOf = int | np.ndarray
Key = tuple[int, float]  # (clock epoch, running maximum timestamp within it, s)


class Lane:
    """One file's position in the merge: its current chunk and how much of it is out."""

    def __init__(self, capture: CaptureFile, index: int, first_key: float | None,
                 shift: float = 0.0) -> None:
        self.capture = capture
        self.index = index
        self.shift = shift  # seconds added to the file's times (first_key has it)
        self.first_key = float("-inf") if first_key is None else first_key
        self._chunks: Generator[Chunk, None, None] | None = None
        self.buf: bytes | bytearray | memoryview = b""
        self.records: Records | None = None
        self.keys = np.empty(0)
        self.epochs = np.empty(0, np.int64)
        self.start = 0
        self.exhausted = False
        self.clock = StreamClock()

    @property
    def pending(self) -> int:
        return 0 if self.records is None else len(self.records) - self.start

    @property
    def last_key(self) -> Key:
        return self.clock.epoch, self.clock.max

    def activate(self, epoch: int = 0) -> None:
        """Start reading the file, its clock in `epoch`."""
        self.clock = StreamClock(epoch)
        self._chunks = self.capture.chunks()
        self.refill()

    def refill(self) -> None:
        assert self._chunks is not None
        chunk = next(self._chunks, None)
        if chunk is None:
            self.exhausted, self.records, self.buf = True, None, b""
            self.keys, self.epochs = np.empty(0), np.empty(0, np.int64)
            return
        self.buf, self.records = chunk
        if self.shift:
            self.records.ts = self.records.ts + self.shift
        self.epochs, self.keys = self.clock.keys(self.records.ts)
        self.start = 0

    def undo(self, epoch: int, pre: float) -> None:
        """Key the pending packets of an undone clock epoch in the epoch before."""
        rows = self.start + np.flatnonzero(self.epochs[self.start:] == epoch)
        self.epochs[rows] = epoch - 1
        self.keys[rows] = np.maximum(self.keys[rows], pre)

    def count(self, bound: Key, side: str) -> int:
        """How many pending packets key at or before bound (side "right"), or before it
        ("left"); (epoch, key) never decreases within a lane."""
        epochs, keys = self.epochs[self.start:], self.keys[self.start:]
        low = int(np.searchsorted(epochs, bound[0], side="left"))
        high = int(np.searchsorted(epochs, bound[0], side="right"))
        return low + int(np.searchsorted(keys[low:high], bound[1], side=side))  # type: ignore[call-overload]

    def close(self) -> None:
        """Stop reading the file (its read-ahead thread ends, the file is closed)."""
        if self._chunks is not None:
            self._chunks.close()

    def take(self, count: int, shared: int = 0) -> Records:
        """The next count pending records; their clock epochs up to `shared` (the
        latest the capture host's clock reached: shared_epoch) handed on."""
        assert self.records is not None
        part = self.records.slice(self.start, self.start + count)
        if shared and self.epochs[self.start + count - 1] > 0:
            part.epoch = np.minimum(self.epochs[self.start:self.start + count], shared)
        self.start += count
        return part


def merge_lanes(lanes: list[Lane], on_read: Callable[[], None] | None = None,
                ) -> Iterator[tuple[bytes | bytearray | memoryview, Records, LaneOf]]:
    """Yield (buffer, records, lane of each record) in merged order; lanes must be
    sorted by first key. Closing it early closes every file it opened."""
    try:
        yield from _merge(lanes, on_read)
    finally:
        for lane in lanes:
            lane.close()


def _merge(lanes: list[Lane], on_read: Callable[[], None] | None,
           ) -> Iterator[tuple[bytes | bytearray | memoryview, Records, LaneOf]]:
    waiting = deque(sorted(lanes, key=lambda lane: (lane.first_key, lane.index)))
    active: list[Lane] = []

    def activate(lane: Lane) -> None:
        lane.activate(confirmed_epoch({other.index: other.clock for other in active}))
        active.append(lane)
        if on_read is not None:
            on_read()

    while True:
        _settle(active)
        live = [lane for lane in active if not lane.exhausted]
        if not live and waiting:
            activate(waiting.popleft())
            continue
        setter = min(live, key=lambda lane: (lane.last_key, lane.index)) if live else None
        bound = setter.last_key if setter is not None else (np.iinfo(np.int64).max, np.inf)
        epoch = confirmed_epoch({other.index: other.clock for other in active})
        if waiting and (epoch, waiting[0].first_key) <= bound:
            activate(waiting.popleft())
            continue
        parts: list[tuple[Lane, Records]] = []
        shared = shared_epoch({lane.index: lane.clock for lane in active})
        for lane in sorted(active, key=lambda lane: lane.index):
            if not lane.pending:
                continue
            if setter is None:
                count = lane.pending
            else:
                # Ties at the bound: lanes up to the setter's index go first (stability).
                side = "right" if lane.index <= setter.index else "left"
                count = lane.count(bound, side)
            if count:
                parts.append((lane, lane.take(count, shared)))
        if parts:
            yield _combine(parts, shared)
        if setter is not None:
            setter.refill()
            if on_read is not None:
                on_read()
        active = [lane for lane in active if lane.pending or not lane.exhausted]
        if not active and not waiting:
            return


def _settle(active: list[Lane]) -> None:
    """Confirm or undo the lanes' pending clock steps (sources.clock_epochs)."""
    lanes = {lane.index: lane for lane in active}
    sending = [lane.index for lane in active if not lane.exhausted]
    for index, epoch, pre in settle({n: lane.clock for n, lane in lanes.items()}, sending):
        lanes[index].undo(epoch, pre)


def _combine(parts: list[tuple[Lane, Records]], shared: int,
             ) -> tuple[bytes | bytearray | memoryview, Records, LaneOf]:
    if len(parts) == 1:
        lane, records = parts[0]
        return lane.buf, records, lane.index
    keys = np.concatenate([lane.keys[lane.start - len(rec):lane.start] for lane, rec in parts])
    epochs = np.concatenate([lane.epochs[lane.start - len(rec):lane.start]
                             for lane, rec in parts])
    lane_ids = np.concatenate([np.full(len(rec), n) for n, (_lane, rec) in enumerate(parts)])
    order = np.lexsort((lane_ids, keys, epochs))  # stable: file order kept within a lane
    ts = np.concatenate([rec.ts for _lane, rec in parts])[order]
    src_off = np.concatenate([rec.data_off for _lane, rec in parts])[order]
    caplen = np.concatenate([rec.caplen for _lane, rec in parts])[order]
    wirelen = np.concatenate([rec.wirelen for _lane, rec in parts])[order]
    linktype = np.concatenate([rec.linktype for _lane, rec in parts])[order]
    lane_ids = lane_ids[order]
    new_off = np.zeros(len(order), np.int64)
    np.cumsum(caplen[:-1], out=new_off[1:])
    merged = bytearray(int(caplen.sum()))
    views = [memoryview(lane.buf) for lane, _rec in parts]
    # Overlapping files only: a per-packet copy is acceptable off the ring-buffer path.
    for source, start, length, target in zip(lane_ids.tolist(), src_off.tolist(),
                                             caplen.tolist(), new_off.tolist(), strict=True):
        merged[target:target + length] = views[source][start:start + length]
    lane_index = np.array([lane.index for lane, _rec in parts], np.int32)
    epoch = np.minimum(epochs[order], shared) if shared and epochs.max() > 0 else None
    identity = None if all(rec.identity is None for _lane, rec in parts) else np.concatenate(
        [np.full(len(rec), -1, np.int64) if rec.identity is None else rec.identity
         for _lane, rec in parts])[order]
    return merged, Records(ts, new_off, caplen, wirelen, linktype, identity=identity,
                           epoch=epoch), \
        lane_index[lane_ids]
