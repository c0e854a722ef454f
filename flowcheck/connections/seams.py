"""Records written out of time order across the end of a read chunk.

The readers hand the tracker one batch per read chunk (16 MiB; a caller of
ConnectionTracker.feed, batches of any size). A connection's packets
written out of time order by less than NTP's step threshold are taken in time order
within a batch (flowcheck.connections.by_time.in_time_order); a pair written swapped
with the chunk ending between them would be taken in the file's order, the later
segment opening a gap its earlier one then fills as a retransmission. So the tracker
reads one batch ahead: the records at the end of a batch stamped after a record of
their own connection at the start of the next one (by less than CLOCK_STEP_SECONDS:
records behind a clock set back stay) go on with the next batch: the tracker takes any
batch boundaries (a chunk ends wherever its bytes do). Only a connection's order
counts (the tracker takes each flow's records in time order, not all records): two
connections each in order, one stamped 1 ms behind the other (two NIC queues' rings
merged), move a record or two, not the whole look-ahead. Only batches of one file whose
optional per-packet arrays match (a pcap file; a pcapng file) are joined.

Cost: one comparison of the seam's records' times per batch (numpy); when those are
out of order across the seam, a decode of the seam's records (at most SEAM_RECORDS on
each side) to tell their connections apart, and, when records move (at most
SEAM_BYTES of them), a copy of them into the room the reader's chunk buffer has past
the next batch's bytes (about readahead.BUFFER_STEP less the partial record carried
into it: room for the record or two that usually move), or, when they do not fit, one
copy of the next batch's buffer. Memory: one batch held (one chunk buffer) besides the
one being tracked and the one being read ahead; nothing of a batch handed on is kept
while the next is read (tests/test_connections_memory.py).

SeamHolder is the look-ahead one batch at a time, the tracker's: ConnectionTracker.feed
pushes each batch, tracks what push() hands on and flushes the held one when the reading
is over, so no caller's batch cuts change what it reads (a file's read chunks, live's
reads of its sniffer's pipe, a test's batches of a few packets:
tests/test_chunk_size_backwards.py). A copy of a holder (live's checks copy the tracker:
flowcheck.live) shares the held batch: a batch is never changed once read, and copying
it would copy its chunk.
"""

from __future__ import annotations

import numpy as np

from flowcheck.connections.clock import CLOCK_STEP_SECONDS
from flowcheck.connections.flows import Endpoint, numbered_flows
from flowcheck.decode import decode_batch
from flowcheck.sources.batch import PacketBatch

__all__ = ["SEAM_BYTES", "SEAM_RECORDS", "SeamHolder", "clean_cut", "moved_across"]

# A seam's look-ahead: at most the last SEAM_RECORDS records of a batch, and of them at
# most SEAM_BYTES of captured bytes (always the last record), may move to the next
# batch; the next batch's first SEAM_RECORDS records are looked at.
SEAM_RECORDS = 4096
SEAM_BYTES = 1 << 20


class SeamHolder:
    """push() hands on the batch before the one pushed, its last records written across
    the seam moved to the pushed one (moved_across); None for the first. `held`:
    the batch kept for the next one's look-ahead, not handed on yet. flush(): the held
    batch, as it is (the reading is over)."""

    __slots__ = ("held",)

    def __init__(self) -> None:
        self.held: PacketBatch | None = None

    def __deepcopy__(self, memo: dict[int, object]) -> SeamHolder:
        """A holder of the same batch (not copied: the module's docstring)."""
        twin = SeamHolder()
        twin.held = self.held
        return twin

    def push(self, batch: PacketBatch) -> PacketBatch | None:
        """The batch before `batch`, ready for the tracker (None: none yet); `batch`,
        with the records moved to its start, is held."""
        if self.held is None:
            self.held = batch
            return None
        ready, self.held = moved_across(self.held, batch)
        return ready

    def flush(self) -> PacketBatch | None:
        """The held batch (None: none), no longer held."""
        rest, self.held = self.held, None
        return rest


def moved_across(before: PacketBatch, after: PacketBatch) -> tuple[PacketBatch, PacketBatch]:
    """(before, after) with before ending at the last clean place (`clean_cut`) among
    its last records (SEAM_RECORDS of them, SEAM_BYTES at most), judged against after's
    first SEAM_RECORDS; its records after it moved to after's start. Unchanged when
    before ends so already or they cannot be joined. The order of all records is
    judged first (numpy over the seam's times only); only when that finds records to
    move are the seam's records decoded and the order judged per connection."""
    if not len(before) or not len(after) or not _joinable(before, after):
        return before, after
    sizes = before.caplen[-SEAM_RECORDS:].astype(np.int64)
    within = int(np.count_nonzero(np.cumsum(sizes[::-1]) <= SEAM_BYTES))
    start = len(before) - max(1, within)
    tail = before.ts[start:]
    head = after.ts[:SEAM_RECORDS]
    if clean_cut(tail, head) == len(tail):
        return before, after
    tail_flow, head_flow = _connections(before.rows(start, len(before)),
                                        after.rows(0, len(head)))
    cut = clean_cut(tail, head, tail_flow, head_flow)
    if cut == len(tail):
        return before, after
    cut += start
    return before.rows(0, cut), _joined(before.rows(cut, len(before)), after)


def clean_cut(tail: np.ndarray, head: np.ndarray, tail_flow: np.ndarray | None = None,
              head_flow: np.ndarray | None = None) -> int:
    """The last place in tail (seconds, a batch's last records in file order; head: the
    next batch's first) where every record before it is stamped at or before every
    record of its connection after it, in tail and head, and the record before it is
    not behind the latest before it (a stretch behind still open at a batch's end is
    undecided: clock.written_behind): len(tail) when tail's end is one, 0 when no place
    is. tail_flow, head_flow: per record its connection (a number, the same in both;
    -1: not known, which is every connection's); None: all records one connection's. A
    record stamped more than CLOCK_STEP_SECONDS behind the latest before it (a clock
    set back, records far out of order: left in the file's order) counts as after
    everything, and as no stretch behind."""
    if _in_order(tail, head):
        return len(tail)  # every place is clean, the last one too
    latest = np.maximum.accumulate(tail)
    far = tail < latest - CLOCK_STEP_SECONDS
    lows = np.where(far, np.inf, tail)
    near = head >= latest[-1] - CLOCK_STEP_SECONDS
    # The record before place c (1..len(tail)) is the latest so far (or far behind).
    clean = (tail >= latest) | far
    if tail_flow is None or head_flow is None:
        clean &= latest <= _after(lows, head[near])[1:]
    else:
        clean &= ~_crossed(tail, lows, tail_flow, head[near], head_flow[near])[1:]
    places = np.flatnonzero(clean)
    return int(places[-1]) + 1 if places.size else 0


def _in_order(tail: np.ndarray, head: np.ndarray) -> bool:
    """tail (non-empty) is in time order and no record of head is stamped before its
    last: the usual seam, whose end is clean for any connections (the cheap test first;
    NaN times fail it)."""
    return bool(tail.shape[0] and (not head.shape[0] or head.min() >= tail[-1])
                and (tail[1:] >= tail[:-1]).all())


def _after(lows: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Per place c (0..len(lows)): the earliest of lows[c:] and head (inf: none)."""
    ends = np.concatenate((lows, [head.min() if head.size else np.inf]))
    return np.minimum.accumulate(ends[::-1])[::-1]


def _crossed(tail: np.ndarray, lows: np.ndarray, flow: np.ndarray, head: np.ndarray,
             head_flow: np.ndarray) -> np.ndarray:
    """Per place c (0..len(tail)): some record before it is stamped after a record of
    its connection after it (lows: tail's times, inf for those that count as after
    everything; head: the next batch's near records' times). A connection's records
    p < q next to each other in it cross every place p < c <= q when the latest of its
    records up to p is after the earliest from q on (head's included); its last one
    every place after it when that is after its earliest in head. Records of no known
    connection (-1) are judged against all."""
    n = len(tail)
    crossed = np.zeros(n + 1, bool)
    any_one = flow < 0
    if any_one.any() or (head_flow < 0).any():
        before = np.concatenate(([-np.inf], np.maximum.accumulate(tail)))
        wild_before = np.concatenate(([-np.inf], np.maximum.accumulate(
            np.where(any_one, tail, -np.inf))))
        crossed |= before > _after(np.where(any_one, lows, np.inf), head[head_flow < 0])
        crossed |= wild_before > _after(lows, head)
    known = np.flatnonzero(~any_one)
    if known.size:
        earliest_head = np.full(int(flow.max()) + 1, np.inf)
        keyed = (head_flow >= 0) & (head_flow < len(earliest_head))
        np.minimum.at(earliest_head, head_flow[keyed], head[keyed])
        # The known records grouped by connection, in file order within each.
        at = known[np.lexsort((known, flow[known]))]
        group = flow[at]
        latest = _grouped(tail[at], group, np.maximum, forward=True)
        earliest = _grouped(lows[at], group, np.minimum, forward=False)
        last = np.concatenate((group[1:] != group[:-1], [True]))
        nxt = np.concatenate((at[1:], [n]))
        following = np.where(last, earliest_head[group],
                             np.minimum(np.concatenate((earliest[1:], [np.inf])),
                                        earliest_head[group]))
        bad = latest > following
        steps = np.zeros(n + 2, np.int64)
        np.add.at(steps, at[bad] + 1, 1)
        np.add.at(steps, np.where(last, n, nxt)[bad] + 1, -1)
        crossed |= np.cumsum(steps)[:n + 1] > 0
    return crossed


def _grouped(values: np.ndarray, group: np.ndarray, running: np.ufunc,
             forward: bool) -> np.ndarray:
    """running (np.maximum or np.minimum) accumulated within each group (group: sorted
    labels, values in that order), forward or from each group's end. By ranks: sorted
    by (group, value), one group's ranks all exceed an earlier group's, so one
    accumulation over all groups never carries across a group's start (maximum,
    forward) or end (minimum, backward)."""
    by_rank = np.lexsort((values, group))
    rank = np.empty(len(values), np.int64)
    rank[by_rank] = np.arange(len(values))
    reached = running.accumulate(rank) if forward else running.accumulate(rank[::-1])[::-1]
    return values[by_rank[reached]]


def _connections(tail: PacketBatch, head: PacketBatch) -> tuple[np.ndarray, np.ndarray]:
    """Per record of tail and of head (a seam's two sides): its connection, a number
    shared by the two; -1 for a record that is no TCP segment decoded alone (an IP
    fragment, another protocol: judged against every connection). A connection here
    is the tracker's flow (flows.numbered_flows: group_flows' numbering) with its tunnel
    left out (coarser than the tracker's flows and their joined tunnel halves, never
    finer)."""
    numbers: dict[tuple[Endpoint, Endpoint], int] = {}
    labels = []
    for part in (tail, head):
        d = decode_batch(part)
        label = np.full(len(part), -1, np.int64)
        if len(d.tcp_index):
            keys, flow, _ = numbered_flows(d)
            ours = [numbers.setdefault(key[:2], len(numbers)) for key in keys]
            label[d.tcp_index] = np.array(ours, np.int64)[flow]
        labels.append(label)
    return labels[0], labels[1]


def _joinable(before: PacketBatch, after: PacketBatch) -> bool:
    """One file's consecutive batches whose optional arrays are alike (both or neither),
    their frames running on (frame0) when they have no frame array."""
    return (isinstance(before.capture, int | np.integer)
            and isinstance(after.capture, int | np.integer)
            and int(before.capture) == int(after.capture)
            and all((getattr(before, name) is None) == (getattr(after, name) is None)
                    for name in ("interface", "frames", "identity"))
            and (before.frames is not None or before.frame0 + len(before) == after.frame0))


def _joined(first: PacketBatch, second: PacketBatch) -> PacketBatch:
    """first's records then second's, in one buffer: first's records' bytes copied into
    second's buffer's room past its bytes when it has the room (`_room`), else ahead of
    a copy of second's buffer."""
    source = memoryview(first.buf)
    pieces = [source[int(o):int(o) + int(n)] for o, n in
              zip(first.data_off.tolist(), first.caplen.tolist(), strict=True)]
    sizes = np.array([len(p) for p in pieces], np.int64)
    moved = int(sizes.sum())
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    room = _room(first, second, moved)
    if room is not None:
        # The moved records after second's bytes, in the room the reader left.
        at = len(second.buf)
        room[at:at + moved] = b"".join(pieces)
        buf: bytes | memoryview = room[:at + moved]
        offsets += at
        after = second.data_off.astype(np.int64)
    else:
        buf = b"".join([*pieces, memoryview(second.buf)])
        after = second.data_off.astype(np.int64) + moved
    return PacketBatch(
        buf, first.frame0,
        np.concatenate((first.ts, second.ts)),
        np.concatenate((offsets, after)),
        np.concatenate((first.caplen, second.caplen)),
        np.concatenate((first.wirelen, second.wirelen)),
        np.concatenate((first.linktype, second.linktype)), first.capture,
        *(None if getattr(first, name) is None else
          np.concatenate((getattr(first, name), getattr(second, name)))
          for name in ("interface", "frames", "identity")),
        None if first.epoch is None and second.epoch is None else np.concatenate(
            [np.zeros(len(part), np.int64) if part.epoch is None else part.epoch
             for part in (first, second)]))


def _room(first: PacketBatch, second: PacketBatch, moved: int) -> memoryview | None:
    """second's whole chunk buffer, writable, when it holds `moved` bytes more past
    second's bytes: the reader's buffers are numpy arrays allocated in steps
    (sources.readahead.BUFFER_STEP) and viewed up to the bytes read, the room past them
    never touched. None for any other buffer (bytes, a merged copy, a view not from the
    array's start) and for one first's records are in (one chunk's two batches)."""
    buf, source = second.buf, first.buf
    array = buf.obj if isinstance(buf, memoryview) else None
    if (not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != 1
            or not array.flags.c_contiguous or not array.flags.writeable
            or array.nbytes - len(buf) < moved
            or (isinstance(source, memoryview) and source.obj is array)):
        return None
    view = np.frombuffer(buf, np.uint8)
    if view.size and view.ctypes.data != array.ctypes.data:
        return None
    return memoryview(array)
