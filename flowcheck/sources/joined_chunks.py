"""Capture files joined with `cat`, handed on in chunks as the same files appended by
`mergecap -a` are.

A file joined after another starts with its own header where a record should be: the
reader ends the records it located at that header and goes on with a parser of the
next file's own (reader.py, Located.next_file). Handed on there, the first file's
records would end a batch wherever the file ends, and what looks across a batch's end
would see only the packets of the last moments kept: a capture joined with itself
(the same file twice, a capture point's file given again) goes back to the first
file's start, and its copies (flowcheck.connections.copies, at the same times as
their originals) would each be taken for a packet sent again, a control connection
retransmitting its last message for ever (control_stalled: FAIL), where the same
files appended by mergecap, read as one chunk, show the copies (capture_duplicates).

So a file's records that end at another file's header are held (`joined_chunks`) and
handed on with the next file's records of the same read in one chunk: one buffer,
their bytes copied together once per joined file (never per record), the records'
arrays concatenated. At most a chunk's worth is held: a file joined after the held
ones that reach the chunk size begins the next chunk, as a read chunk ends wherever
its bytes do. A held file's bytes are copied out of its read buffer, which may hold
the files after it too, so that what is held stays the held files' bytes (a read
buffer kept per file held: 17.5 GB for 1,410 small pcap files joined, before the
reader read the rest of a buffer in place). Chunks whose optional per-record
arrays cannot be joined (a pcapng file of several interfaces beside a pcap file, whose
packets have none) are handed on apart, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

from flowcheck.arrays import distinct
from flowcheck.sources.records import Records

Chunk = tuple[memoryview, Records]
# A chunk's located records (reader.CaptureFile._chunks): its buffer, the bytes of it
# parsed (the records lie in them), the records, the place of the first record among
# those Wireshark numbers in the file (0-based), and whether another file's header
# follows them.
Located = tuple[memoryview, int, Records, int, bool]


def joined_chunks(located: Iterable[Located], chunk_size: int,
                  described: Callable[[], int] = lambda: 0) -> Iterator[Chunk]:
    """The chunks of a file's located records (`Located` tuples, in file order), those
    that end at another file's header handed on with the next ones (module docstring);
    chunk_size: bytes, the reader's; described: the pcapng interfaces described so far
    (across sections)."""
    held: list[tuple[memoryview, int, Records, int]] = []
    size = 0
    for buf, consumed, records, first, next_file in located:
        if len(records):
            held.append((buf, consumed, records, first))
            size += consumed
        if next_file and size < chunk_size:
            if held and held[-1][0] is buf:
                # Its bytes alone, not its read buffer (which may hold the files after it).
                held[-1] = (memoryview(np.frombuffer(buf, np.uint8, consumed).copy()),
                            consumed, records, first)
            continue
        if held:
            yield from _joined(held, described())
        held, size = [], 0
    if held:
        yield from _joined(held, described())


def _joined(parts: list[tuple[memoryview, int, Records, int]],
            described: int) -> Iterator[Chunk]:
    """The parts (buffer, its bytes parsed, its records, the first one's place among the
    numbered) as one chunk; apart when their interfaces cannot be joined
    (`_interfaces`; described: the pcapng interfaces described). One part is handed on
    as it is (its buffer's room past its bytes kept: seams.py moves records into it)."""
    if len(parts) == 1:
        yield parts[0][0], parts[0][2]
        return
    records = [part[2] for part in parts]
    interface = _interfaces(records, described)
    if interface is False:
        for buf, _, part, _ in parts:
            yield buf, part
        return
    sizes = [consumed for _, consumed, _, _ in parts]
    starts = np.concatenate(([0], np.cumsum(sizes[:-1], dtype=np.int64)))
    data = np.empty(sum(sizes), np.uint8)
    for (buf, _, _, _), start, length in zip(parts, starts.tolist(), sizes, strict=True):
        data[start:start + length] = np.frombuffer(buf, np.uint8, length)
    position = None
    if any(part.position is not None for part in records):
        position = np.concatenate([
            np.arange(first, first + len(part), dtype=np.int64) if part.position is None
            else part.position for _, _, part, first in parts])
    identity = None
    if any(part.identity is not None for part in records):
        identity = np.concatenate([np.full(len(part), -1, np.int64) if part.identity is None
                                   else part.identity for part in records])
    epoch = None
    if any(part.epoch is not None for part in records):
        epoch = np.concatenate([np.zeros(len(part), np.int64) if part.epoch is None
                                else part.epoch for part in records])
    yield memoryview(data), Records(
        np.concatenate([part.ts for part in records]),
        np.concatenate([part.data_off.astype(np.int64) + start
                        for part, start in zip(records, starts.tolist(), strict=True)]),
        np.concatenate([part.caplen for part in records]),
        np.concatenate([part.wirelen for part in records]),
        np.concatenate([part.linktype for part in records]),
        interface, position, identity, epoch)


def _interfaces(records: list[Records], described: int) -> np.ndarray | None | bool:
    """The joined records' pcapng interfaces: None when no part has any (pcap files);
    every part's, those of a pcap part taken as the one interface of the pcapng parts
    (as mergecap merges identical interfaces); False when the pcapng files describe
    several (`described`; a pcap part's packets would be merged by time with one of
    them: interface_order.py)."""
    told = [part.interface for part in records if part.interface is not None]
    if not told:
        return None
    if len(told) < len(records):
        values = distinct(np.concatenate(told))
        if values.shape[0] != 1 or described > 1:
            return False
        fill = values[0]
    else:
        fill = np.int32(0)
    return np.concatenate([np.full(len(part), fill, np.int32) if part.interface is None
                           else part.interface.astype(np.int32) for part in records])
