"""The packets sources.interface_order holds back, each left in the buffer it was read in.

An interface described but not seen yet (an idle `dumpcap -i eth0 -i eth1` member; the
many silent interfaces of a Windows pktmon/etl2pcapng file) may still send packets
earlier than those read: the others' packets are held back until it sends or falls
silent (interface_order.SILENT_PACKETS). Held that long, 20,000 packets were copied in
front of every next chunk, each byte by an int64 index, and the first-timestamp probe
reads 64 KiB chunks: 400 feeds, 49 CPU-s and 530 MB to read 50,000 packets that take
0.5 s and 98 MB as a pcap (bench/README.md, 2026-12-07 18:25). Now the held packets stay
in their read buffers, one part per buffer, and their bytes are copied once, when they
are handed on together with another buffer's (`joined`), or when a few of them would
keep a large buffer alive (`_compact`).

Cost per fed chunk: its own packets, and a comparison with the held packets' summary
(sections, earliest and latest key): nothing that grows with the packets held. Handing
some on checks each held part's summary (one part per read buffer: many at small chunks,
e.g. 4 CPU-s for 99k packets read 2 KiB at a time, 0.1 s at 64 KiB) and looks into the
parts whose summary says they hold some ready (at most SILENT_PACKETS packets of the file
are held for an interface that sends nothing).
Bytes copied (`HeldPackets.copied`, tests/test_sources_held_packets.py): each packet
handed on with another buffer's once (with at most SPAN_GAP bytes after it), and a held
packet copied out of a large buffer once, again only when three quarters of what was
copied with it has gone: well under three times the packets' bytes in all. Memory: the
held packets' read buffers, each at most four times its held bytes plus COMPACT_SLACK.
"""

from __future__ import annotations

import numpy as np

from flowcheck.sources.records import Records

Buffer = bytes | bytearray | memoryview
# Held or ready packets of one buffer: the buffer, their records (pointing into it), and
# per packet its key, section and clock epoch (interface_order).
Part = tuple[Buffer, Records, np.ndarray, np.ndarray, np.ndarray]
# Two packets of a buffer at most this many bytes apart (a pcapng block's header, padding
# and options) are copied in one span with what lies between them.
SPAN_GAP = 256
# A held part whose buffer's memory (the reader allocates a chunk's room past its bytes,
# readahead.BUFFER_STEP) is larger than four times its packets' bytes and this many
# bytes more has its packets copied out, the rest of the buffer freed: a few packets
# held of a 16 MiB chunk, or 20,000 packets of 2 KiB chunks in 128 KiB buffers each.
COMPACT_SLACK = 64 << 10
Point = tuple[int, float]  # (clock epoch, key)
# A part's smallest and largest section, earliest and latest (epoch, key).
Summary = tuple[int, int, Point, Point]


class HeldPackets:
    """The held packets of one file, as parts (add, ready, take_all, undo)."""

    def __init__(self) -> None:
        self._parts: list[Part] = []
        self._summaries: list[Summary] = []  # each part's (`_summary`)
        self.copied = 0  # bytes copied so far (joined, compacted)
        self._summary: Summary | None = None  # of all held packets (None: none held)

    def __bool__(self) -> bool:
        return bool(self._parts)

    def add(self, part: Part) -> None:
        """Hold a part (its records non-empty) after the others."""
        part = self._compact(part)
        summary = _summary(part)
        self._summary = summary if self._summary is None else _merged([self._summary, summary])
        self._parts.append(part)
        self._summaries.append(summary)

    def last_section(self) -> int:
        return self._summarised()[1]

    def latest(self) -> Point:
        return self._summarised()[3]

    def take_all(self) -> list[Part]:
        """Every held part, in the order held; none held after."""
        parts = self._parts
        self._parts, self._summaries, self._summary = [], [], None
        return parts

    def ready(self, newest: int, bound: Point) -> list[Part]:
        """The held packets of a section before `newest` or keyed at or before `bound`,
        one part per buffer, in the order held; the others stay held. Only the parts
        whose summary says some may be ready are looked at."""
        if not _some_ready(self._summarised(), newest, bound):
            return []
        out: list[Part] = []
        kept: list[Part] = []
        summaries: list[Summary] = []
        for part, summary in zip(self._parts, self._summaries, strict=True):
            if not _some_ready(summary, newest, bound):
                kept.append(part)
                summaries.append(summary)
                continue
            _, _, keys, section, epochs = part
            ready = (section < newest) | (epochs < bound[0]) | (
                (epochs == bound[0]) & (keys <= bound[1]))
            if ready.all():
                out.append(part)
            else:
                out.append(_take(part, np.flatnonzero(ready)))
                rest = self._compact(_take(part, np.flatnonzero(~ready)))
                kept.append(rest)
                summaries.append(_summary(rest))
        self._parts, self._summaries = kept, summaries
        self._summary = _merged(summaries) if summaries else None
        return out

    def undo(self, interface: int, undone: int, pre: float) -> None:
        """Key an interface's held packets of an undone clock epoch in the epoch before
        (undo_epoch, in place)."""
        for _, records, keys, _, epochs in self._parts:
            undo_epoch(records, epochs, keys, interface, undone, pre)
        self._summaries = [_summary(part) for part in self._parts]
        self._summary = _merged(self._summaries) if self._parts else None

    def joined(self, parts: list[Part]) -> Part:
        """The parts as one: a part alone as it is; several with their packets' bytes
        copied into one new buffer, in the parts' order (counted in `copied`)."""
        if len(parts) == 1:
            return parts[0]
        spans = [_spans(records) for _, records, _, _, _ in parts]
        sizes = [int(size.sum()) for _, _, size, _ in spans]
        data = np.empty(sum(sizes), np.uint8)
        offsets: list[np.ndarray] = []
        at = 0
        for (buf, _, _, _, _), span, size in zip(parts, spans, sizes, strict=True):
            offsets.append(_copy(buf, span, data[at:at + size]) + at)
            at += size
        self.copied += at
        records = [part[1] for part in parts]
        assert all(part.interface is not None and part.position is not None
                   for part in records)
        merged = Records(
            np.concatenate([part.ts for part in records]),
            np.concatenate(offsets),
            np.concatenate([part.caplen for part in records]),
            np.concatenate([part.wirelen for part in records]),
            np.concatenate([part.linktype for part in records]),
            np.concatenate([part.interface for part in records]),
            np.concatenate([part.position for part in records]),
            None if all(part.identity is None for part in records) else np.concatenate(
                [np.full(len(part), -1, np.int64) if part.identity is None else part.identity
                 for part in records]))
        return (memoryview(data), merged,
                *(np.concatenate([part[index] for part in parts]) for index in (2, 3, 4)))

    def _compact(self, part: Part) -> Part:
        """The part, its packets copied out of a buffer much larger than they are."""
        buf, records = part[0], part[1]
        used = int(records.caplen.sum(dtype=np.int64))
        if _allocated(buf) <= 4 * used + COMPACT_SLACK:
            return part
        span = _spans(records)
        data = np.empty(int(span[2].sum()), np.uint8)
        self.copied += data.shape[0]
        moved = records.take(slice(None))
        moved.data_off = _copy(buf, span, data)
        return memoryview(data), moved, part[2], part[3], part[4]

    def _summarised(self) -> Summary:
        assert self._summary is not None  # some part held
        return self._summary


def undo_epoch(records: Records, epochs: np.ndarray, keys: np.ndarray, interface: int,
               undone: int, pre: float) -> None:
    """Key an interface's packets of an undone clock epoch in the epoch before, at its
    running maximum (in place)."""
    assert records.interface is not None
    mask = (records.interface == interface) & (epochs == undone)
    epochs[mask] = undone - 1
    keys[mask] = np.maximum(keys[mask], pre)


def _some_ready(summary: Summary, newest: int, bound: Point) -> bool:
    """Whether packets so summarised may be ready (HeldPackets.ready): a section before
    `newest`, or keyed at or before `bound`."""
    return summary[0] < newest or summary[2] <= bound


def _merged(summaries: list[Summary]) -> Summary:
    return (min(s[0] for s in summaries), max(s[1] for s in summaries),
            min(s[2] for s in summaries), max(s[3] for s in summaries))


def _summary(part: Part) -> Summary:
    """A non-empty part's smallest and largest section, earliest and latest (epoch, key)."""
    _, _, keys, section, epochs = part
    first, last = int(epochs.min()), int(epochs.max())
    return (int(section.min()), int(section.max()),
            (first, float(keys[epochs == first].min())),
            (last, float(keys[epochs == last].max())))


def _allocated(buf: Buffer) -> int:
    """Bytes of memory a buffer keeps alive (a memoryview's whole underlying array)."""
    owner = buf.obj if isinstance(buf, memoryview) else buf
    return max(len(buf), int(getattr(owner, "nbytes", 0)))


def _take(part: Part, rows: np.ndarray) -> Part:
    buf, records, keys, section, epochs = part
    return buf, records.take(rows), keys[rows], section[rows], epochs[rows]


Spans = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _spans(records: Records) -> Spans:
    """The spans of a buffer that hold the records' bytes: packets in buffer order at
    most SPAN_GAP bytes apart share one (their block headers between them). Each span's
    start and size in the buffer, and each record's span and offset in it."""
    starts = records.data_off.astype(np.int64)
    ends = starts + records.caplen.astype(np.int64)
    gap = starts[1:] - ends[:-1]
    breaks = np.flatnonzero((gap < 0) | (gap > SPAN_GAP)) + 1
    first = np.concatenate(([0], breaks))
    last = np.concatenate((breaks, [len(records)])) - 1
    span_start = starts[first]
    span_of = np.repeat(np.arange(len(first)), last - first + 1)
    return span_start, span_of, ends[last] - span_start, starts - span_start[span_of]


def _copy(buf: Buffer, spans: Spans, into: np.ndarray) -> np.ndarray:
    """The spans of buf copied one after another into `into` (one copy per span, never
    per byte); the records' offsets in it."""
    span_start, span_of, sizes, within = spans
    at = np.zeros(len(sizes), np.int64)
    np.cumsum(sizes[:-1], out=at[1:])
    source = np.frombuffer(buf, np.uint8)
    for start, size, to in zip(span_start.tolist(), sizes.tolist(), at.tolist(), strict=True):
        into[to:to + size] = source[start:start + size]
    return within + at[span_of]
