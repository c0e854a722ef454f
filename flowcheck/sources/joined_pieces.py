"""One file read as pieces merged by time: a capture joined out of time order.

Pieces of one capture joined in the wrong order into one file (`mergecap -a p2 p3 p1`,
`cat` of a ring's files in a shell glob's order) go back in time where a piece begins
that was captured before the one written ahead of it. Given as separate files they
merge by time (sources.merge); joined, the time jump back read as a clock set back, and
a connection whose SYN lies in a later-written piece read as two: a mid-session one and
a new one reusing its 4-tuple (newuser58). flowcheck.connections.joined_order decides
from a first read that the file is such pieces; the file is then read again as one lane
per piece (each its own reading of the file, its records before the piece skipped,
those after it never read), merged by time as a set's files are. Memory stays a few
chunks per piece, whatever the file's size; each piece's reading parses the records
before it again (CPU, not memory, for the pieces' count).
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.sources.clock_epochs import STEP_BACK
from flowcheck.sources.inputs import InputSpec
from flowcheck.sources.records import Records

Chunk = tuple[bytes | bytearray | memoryview, Records]
# Parts in time order a file is split into at most (more: no pieces, the reading kept).
MOST_PIECES = 64


@fields_dataclass(frozen=True, slots=True)
class FilePieces:
    """A one-file capture's pieces, in the file's order: starts, each piece's first
    record's 0-based place among the file's numbered records (Wireshark's frame - 1),
    the first 0; first_ts, each piece's first packet time (s since the epoch)."""

    starts: tuple[int, ...]
    first_ts: tuple[float, ...]
    # Where the time first goes back to a part: (its 1-based frame in the file, seconds
    # from the latest time before it, its time).
    back: tuple[int, float, float] = (0, 0.0, 0.0)

    def __len__(self) -> int:
        return len(self.starts)

    def rows(self, index: int) -> tuple[int, int | None]:
        """Piece `index`'s records: (first place, place after its last; None: the file's
        end)."""
        stop = self.starts[index + 1] if index + 1 < len(self.starts) else None
        return self.starts[index], stop


def piece_chunks(chunks: Generator[Chunk, None, None], start: int, stop: int | None,
                 ) -> Generator[Chunk, None, None]:
    """The records of `chunks` (one file's, in file order) whose place among the file's
    numbered records (Records.position, or their count when it is None) is in
    start..stop (stop None: to the end); the file is not read past stop. Each chunk's
    records kept are a view of them (same buffer)."""
    seen = 0  # records of the file before the chunk (when they carry no position)
    try:
        for buf, records in chunks:
            count = len(records)
            if not count:
                continue
            places = _places(records, seen)
            seen += count
            low = int(np.searchsorted(places, start, side="left"))
            high = count if stop is None else int(np.searchsorted(places, stop, side="left"))
            if low < high:
                yield buf, records.slice(low, high)
            if high < count:
                return  # past the piece: the rest of the file is other pieces'
    finally:
        chunks.close()


def time_pieces(spec: InputSpec, chunk_size: int) -> FilePieces | None:
    """A one-file capture's parts each in time order and apart in time, when it is
    two or more such parts (else None), from one or two readings of its timestamps.

    The file splits where a record is stamped before its part's first record or more
    than STEP_BACK behind the part's latest (the time goes back: another piece
    begins); neighbouring parts whose times overlap are one (records a little out of
    order). When the parts left overlap in time, a second reading also splits a part
    where its time passes another part's first time (pieces joined 1-3-2: the first
    reading's part 1-3 spans piece 2's time, the jump from 1 to 3 splits it). The
    parts left must each end before the next in time begins. At most MOST_PIECES parts
    (a few floats each)."""
    parts = _parts(spec, chunk_size, None)
    if parts is None or len(parts) < 2:
        return None
    merged = _merged(parts)
    if len(merged) < 2 or not _apart(merged):
        parts = _parts(spec, chunk_size, np.array(sorted({part[1] for part in parts})))
        if parts is None:
            return None
        merged = _merged(parts)
        if len(merged) < 2 or not _apart(merged):
            return None
    back = next((int(part[0]) + 1, reached - part[1], part[1])
                for part, reached in zip(merged[1:], _reached(merged), strict=True)
                if part[1] < reached)
    return FilePieces(tuple(int(place) for place, _low, _high in merged),
                      tuple(low for _place, low, _high in merged), back)


def _parts(spec: InputSpec, chunk_size: int, lows: np.ndarray | None,
           ) -> list[list[float]] | None:
    """The file's parts in file order, [first place, lowest time, highest time] each,
    split where the time goes back (time_pieces) and, with lows (s, sorted), where a
    part's latest time passes one of them (another part's first time); None past
    MOST_PIECES, or when the reader hands records on out of file order (a pcapng
    file's interfaces merged by time, sources.interface_order: places are no ranges)."""
    from flowcheck.sources.reader import CaptureFile  # (the reader's merge imports this)

    parts: list[list[float]] = []
    seen = last_place = 0
    chunks = CaptureFile(spec, chunk_size, read_ahead=False).chunks()
    try:
        for _buf, records in chunks:
            ts = records.ts
            places = _places(records, seen)
            seen += len(ts)
            if len(places) and (places[0] < last_place or bool((np.diff(places) < 0).any())):
                # Records handed on out of file order: a pcapng file's interfaces read in
                # time order across them (sources.interface_order). A piece is no range
                # of places there (piece_chunks would drop records and cut pieces short):
                # no pieces, the reading kept.
                return None
            last_place = int(places[-1]) if len(places) else last_place
            row = 0
            while row < len(ts):
                if not parts:
                    parts.append([float(places[row]), float(ts[row]), float(ts[row])])
                    row += 1
                    continue
                part = parts[-1]
                rest = ts[row:]
                reached = np.maximum.accumulate(np.concatenate(([part[2]], rest)))
                split = (rest < part[1]) | (rest < reached[:-1] - STEP_BACK)
                if lows is not None:  # the part's latest passes another part's start
                    split |= (np.searchsorted(lows, reached[1:], side="right")
                              > np.searchsorted(lows, reached[:-1], side="right"))
                hits = np.flatnonzero(split)
                stop = len(ts) if not hits.size else row + int(hits[0])
                if stop > row:
                    part[2] = max(part[2], float(ts[row:stop].max()))
                if stop < len(ts):
                    if len(parts) == MOST_PIECES:
                        return None
                    parts.append([float(places[stop]), float(ts[stop]), float(ts[stop])])
                    stop += 1
                row = stop
    finally:
        chunks.close()
    return parts


def _places(records: Records, seen: int) -> np.ndarray:
    """Each record's 0-based place among the file's numbered records (int64): its
    Records.position, else counted on from `seen` (the file's records before them)."""
    if records.position is not None:
        return records.position
    return np.arange(seen, seen + len(records), dtype=np.int64)


def _merged(parts: list[list[float]]) -> list[list[float]]:
    """Neighbouring parts whose times overlap as one ([place, lowest, highest]); parts
    that only touch (one's last time the other's first: a cut between two packets
    stamped alike, ndmjob-1g-first-200000 cut every 66,667 packets) stay two."""
    merged: list[list[float]] = []
    for part in parts:
        if merged and part[1] < merged[-1][2] and part[2] > merged[-1][1]:
            merged[-1] = [merged[-1][0], min(merged[-1][1], part[1]),
                          max(merged[-1][2], part[2])]
        else:
            merged.append(list(part))
    return merged


def _apart(parts: list[list[float]]) -> bool:
    """Each part ends before the next in time begins (or as it begins: touching)."""
    spans = sorted((low, high) for _place, low, high in parts)
    return all(one[1] <= other[0] and one[0] < other[0]
               for one, other in zip(spans, spans[1:], strict=False))


def _reached(parts: list[list[float]]) -> list[float]:
    """Per part but the first ([place, lowest, highest] in file order): the latest time
    of the parts before it (s)."""
    highest, out = parts[0][2], []
    for part in parts[1:]:
        out.append(highest)
        highest = max(highest, part[2])
    return out
