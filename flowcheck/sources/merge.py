"""Merging the files of a capture set into one stream in time order.

Each file is a lane ordered by its running-maximum timestamp (its "key"), so a file
with a few packets out of order keeps them where the file has them, as Wireshark does.
Lanes merge by (key, lane index): stable, and exact across chunk boundaries. Ring
buffers (files consecutive in time) take the fast path: a lane is opened only when the
merged stream reaches its first timestamp, and a batch from one lane is passed on as
is, without copying. Streams whose clock stepped back together merge by (clock epoch,
key) (sources.clock_epochs); while a lane's step may still be undone, the packets keyed
after the step's time stay held in their chunks (Held: no copy) until it is decided.
A set that is one ring (sources.ring_order) is read in its files' write order instead,
each file whole after the one before (in_order), whatever a clock step did to its times.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterator

import numpy as np

from flowcheck.sources.clock_epochs import StreamClock, confirmed_epoch, settle, shared_epoch
from flowcheck.sources.joined_pieces import piece_chunks
from flowcheck.sources.reader import CaptureFile
from flowcheck.sources.records import Records

Chunk = tuple[bytes | bytearray | memoryview, Records]
# The lane (Lane.index) each record of a merged chunk came from: one int when the whole
# chunk comes from one lane (no per-packet array on the ring-buffer path), else an
# int32 array parallel to the records.
LaneOf = int | np.ndarray
Key = tuple[int, float]  # (clock epoch, running maximum timestamp within it, s)


class Held:
    """One chunk of a file, from its first packet not handed on yet: the records a lane
    holds back point into its buffer (buffers are never reused: sources.reader)."""

    __slots__ = ("buf", "records", "epochs", "keys", "start")

    def __init__(self, buf: bytes | bytearray | memoryview, records: Records,
                 epochs: np.ndarray, keys: np.ndarray) -> None:
        self.buf = buf
        self.records = records
        self.epochs = epochs  # int64 clock epoch of each record
        self.keys = keys  # float64 s: running maximum timestamp within its epoch
        self.start = 0  # records before it are handed on

    def __len__(self) -> int:
        return len(self.records) - self.start

    def count(self, bound: Key, side: str) -> int:
        """How many of its records key at or before bound (side "right"), or before it
        ("left"); (epoch, key) never decreases within a lane."""
        epochs, keys = self.epochs[self.start:], self.keys[self.start:]
        low = int(np.searchsorted(epochs, bound[0], side="left"))
        high = int(np.searchsorted(epochs, bound[0], side="right"))
        return low + int(np.searchsorted(keys[low:high], bound[1], side=side))  # type: ignore[call-overload]


Part = tuple[int, Held, int, int]  # (lane index, chunk, first row, end row)


class Lane:
    """One file's position in the merge: its chunks read and not all handed on yet
    (one, but while a clock step that may be undone holds packets back: several)."""

    def __init__(self, capture: CaptureFile, index: int, first_key: float | None,
                 shift: float = 0.0, rows: tuple[int, int | None] | None = None,
                 numbered: bool = False) -> None:
        self.capture = capture
        # Give every record its place in the file (Records.position), counted where the
        # file's reader gives none (pcap): a set's frames located in their files
        # (sources.frame_files); `seen` the file's records read so far.
        self.numbered = numbered
        self.seen = 0
        self.index = index
        self.shift = shift  # seconds added to the file's times (first_key has it)
        # The file's records read (sources.joined_pieces: a piece of a file joined out of
        # time order): (first place, place after the last or None); None: all of them.
        self.rows = rows
        self.first_key = float("-inf") if first_key is None else first_key
        self._chunks: Generator[Chunk, None, None] | None = None
        self.held: deque[Held] = deque()
        self.pending = 0  # records read and not handed on
        self.exhausted = False
        self.clock = StreamClock()

    @property
    def last_key(self) -> Key:
        return self.clock.epoch, self.clock.max

    @property
    def position(self) -> Key:
        """How far the lane was read: its last key, or while its step is not shown to
        stay, the key it has without it (the lanes are read in time order, so another
        lane's records are not held back while this one may still undo its step)."""
        clock = self.clock
        if clock.pre is not None and not clock.stayed:
            return clock.epoch - 1, max(clock.max, clock.pre)
        return self.last_key

    def activate(self, epoch: int = 0) -> None:
        """Start reading the file, its clock in `epoch`."""
        self.clock = StreamClock(epoch)
        chunks = self.capture.chunks()
        if self.rows is not None:
            chunks = piece_chunks(chunks, *self.rows)
        self._chunks = chunks
        self.refill()

    def refill(self) -> None:
        """Read the file's next chunk; the records held back stay."""
        assert self._chunks is not None
        chunk = next(self._chunks, None)
        if chunk is None:
            self.exhausted = True
            return
        buf, records = chunk
        if self.numbered and records.position is None:
            records.position = np.arange(self.seen, self.seen + len(records), dtype=np.int64)
        self.seen += len(records)
        if self.shift:
            records.ts = records.ts + self.shift
        epochs, keys, undone = self.clock.keys(records.ts)
        if undone is not None:  # a step held back since an earlier chunk: undone
            self.undo(*undone)
        if len(records):
            self.held.append(Held(buf, records, epochs, keys))
            self.pending += len(records)

    def undo(self, epoch: int, pre: float) -> None:
        """Key the pending packets of an undone clock epoch in the epoch before."""
        for held in self.held:
            rows = held.start + np.flatnonzero(held.epochs[held.start:] == epoch)
            held.epochs[rows] = epoch - 1
            held.keys[rows] = np.maximum(held.keys[rows], pre)

    def count(self, bound: Key, side: str) -> int:
        """How many pending packets key at or before bound (side "right"), or before it
        ("left")."""
        total = 0
        for held in self.held:
            count = held.count(bound, side)
            total += count
            if count < len(held):
                break
        return total

    def close(self) -> None:
        """Stop reading the file (its read-ahead thread ends, the file is closed)."""
        if self._chunks is not None:
            self._chunks.close()

    def take(self, count: int) -> list[Part]:
        """The next count pending records, as (lane index, chunk, rows) per chunk."""
        parts: list[Part] = []
        while count:
            held = self.held[0]
            taken = min(count, len(held))
            parts.append((self.index, held, held.start, held.start + taken))
            held.start += taken
            count -= taken
            self.pending -= taken
            if not len(held):
                self.held.popleft()
        return parts


def merge_lanes(lanes: list[Lane], on_read: Callable[[], None] | None = None,
                in_order: bool = False,
                ) -> Iterator[tuple[bytes | bytearray | memoryview, Records, LaneOf]]:
    """Yield (buffer, records, lane of each record) in merged order; lanes sorted by
    first key, or with `in_order` (one ring's files in their write order:
    sources.ring_order) each read whole after the one before, whatever its times say.
    Closing it early closes every file it opened."""
    try:
        yield from _merge(lanes, on_read, in_order)
    finally:
        for lane in lanes:
            lane.close()


def _merge(lanes: list[Lane], on_read: Callable[[], None] | None, in_order: bool,
           ) -> Iterator[tuple[bytes | bytearray | memoryview, Records, LaneOf]]:
    waiting = deque(lanes if in_order else
                    sorted(lanes, key=lambda lane: (lane.first_key, lane.index)))
    active: list[Lane] = []

    def activate(lane: Lane) -> None:
        lane.activate(confirmed_epoch({other.index: other.clock for other in active}))
        active.append(lane)
        if on_read is not None:
            on_read()

    while True:
        _settle(active, final=not waiting)
        live = [lane for lane in active if not lane.exhausted]
        if not live and waiting:
            activate(waiting.popleft())
            continue
        # The lane read next: the one read least far; a file is opened when the lanes
        # read reach its first packet. The bound: what every lane still sending may
        # still send keys at or after; a step not shown to stay holds its new epoch
        # back (StreamClock.bound) while another lane sends to merge with.
        reader = min(live, key=lambda lane: (lane.position, lane.index)) if live else None
        front = reader.position if reader is not None else (np.iinfo(np.int64).max, np.inf)
        epoch = confirmed_epoch({other.index: other.clock for other in active})
        # In order: the next file opens once the one before is read to its end (a lane
        # alone hands on all it read: _bound).
        if waiting and not in_order and (epoch, waiting[0].first_key) <= front:
            activate(waiting.popleft())
            continue
        bound, setter = _bound(active)
        parts: list[Part] = []
        for lane in sorted(active, key=lambda lane: lane.index):
            if not lane.pending:
                continue
            # Ties at the bound: lanes up to the setter's index go first (stability).
            count = lane.count(bound, "right" if lane.index <= setter else "left")
            if count:
                parts.extend(lane.take(count))
        if parts:
            yield _combine(parts, shared_epoch({lane.index: lane.clock for lane in active}))
        if reader is not None:
            reader.refill()
            if on_read is not None:
                on_read()
        active = [lane for lane in active if lane.pending or not lane.exhausted]
        if not active and not waiting:
            return


def _bound(active: list[Lane]) -> tuple[Key, int]:
    """(bound, the index of the lane setting it): every lane still sending, or holding
    packets of a step that may be undone, keys its later packets at or after the bound
    (StreamClock.bound; a lane alone: its last key, as it holds nothing for others)."""
    holding = [lane for lane in active if not lane.exhausted or lane.pending]
    bounds = [(lane.clock.bound() if len(holding) > 1 else lane.last_key, lane.index)
              for lane in active if not lane.exhausted]
    bounds += [(lane.clock.bound(), lane.index) for lane in active if lane.exhausted
               and lane.pending and lane.clock.pre is not None and not lane.clock.stayed]
    return min(bounds, default=((np.iinfo(np.int64).max, np.inf), -1))


def _settle(active: list[Lane], final: bool) -> None:
    """Confirm or undo the lanes' pending clock steps (sources.clock_epochs); `final`:
    no lane waits to be opened."""
    lanes = {lane.index: lane for lane in active}
    sending = [lane.index for lane in active if not lane.exhausted]
    for index, epoch, pre in settle({n: lane.clock for n, lane in lanes.items()}, sending,
                                    final):
        lanes[index].undo(epoch, pre)


def _combine(parts: list[Part], shared: int,
             ) -> tuple[bytes | bytearray | memoryview, Records, LaneOf]:
    """The parts' records in merged order, their clock epochs up to `shared` (the latest
    the capture host's clock reached: shared_epoch) handed on. One part is passed on as
    it is, in its own buffer; several are copied into one."""
    if len(parts) == 1:
        index, held, first, end = parts[0]
        records = held.records.slice(first, end)
        if shared and held.epochs[end - 1] > 0:
            records.epoch = np.minimum(held.epochs[first:end], shared)
        return held.buf, records, index
    chunks = [held.records.slice(first, end) for _index, held, first, end in parts]
    keys = np.concatenate([held.keys[first:end] for _index, held, first, end in parts])
    epochs = np.concatenate([held.epochs[first:end] for _index, held, first, end in parts])
    part_ids = np.concatenate([np.full(len(rec), n) for n, rec in enumerate(chunks)])
    # stable: parts come by lane index, a lane's in file order, kept at equal keys
    order = np.lexsort((part_ids, keys, epochs))
    ts = np.concatenate([rec.ts for rec in chunks])[order]
    src_off = np.concatenate([rec.data_off for rec in chunks])[order]
    caplen = np.concatenate([rec.caplen for rec in chunks])[order]
    wirelen = np.concatenate([rec.wirelen for rec in chunks])[order]
    linktype = np.concatenate([rec.linktype for rec in chunks])[order]
    part_ids = part_ids[order]
    new_off = np.zeros(len(order), np.int64)
    np.cumsum(caplen[:-1], out=new_off[1:])
    merged = bytearray(int(caplen.sum()))
    views = [memoryview(held.buf) for _index, held, _first, _end in parts]
    # Overlapping files only: a per-packet copy is acceptable off the ring-buffer path.
    for source, start, length, target in zip(part_ids.tolist(), src_off.tolist(),
                                             caplen.tolist(), new_off.tolist(), strict=True):
        merged[target:target + length] = views[source][start:start + length]
    lane_of_part = np.array([index for index, _held, _first, _end in parts], np.int32)
    epoch = np.minimum(epochs[order], shared) if shared and epochs.max() > 0 else None
    identity = None if all(rec.identity is None for rec in chunks) else np.concatenate(
        [np.full(len(rec), -1, np.int64) if rec.identity is None else rec.identity
         for rec in chunks])[order]
    position = None if any(rec.position is None for rec in chunks) else np.concatenate(
        [rec.position for rec in chunks])[order]
    return merged, Records(ts, new_off, caplen, wirelen, linktype, position=position,
                           identity=identity, epoch=epoch), lane_of_part[part_ids]
