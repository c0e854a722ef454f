"""Which file, and which frame of it, each frame of a capture set of several files is.

A set's frames are numbered 1, 2, 3, ... over its merged order (contract.md), but a user
opens one file of it in Wireshark, which numbers that file's frames from 1 (newuser62:
"frames 2910, 2911" of a tcpdump -C ring were frames 201, 202 of ring.pcap3, named
nowhere). CaptureSetReader records, for every batch it hands on, the file each frame
came from and its place among the file's records as Wireshark numbers them opened alone
(Records.position: a pcapng file's interfaces merged by time keep the file's numbers,
custom blocks take one); reports look the frames they name up here.

Cost: a batch of one file whose frames follow one another in it (a ring, files apart in
time) is a few ints, and the next such batch of the same file lengthens it. A batch merged
from overlapping files keeps the file of each frame: one bit a frame for two files (two
capture points, the common set merged packet by packet), else one byte (up to 256
files). Where a file's frames in a batch do not follow one another (a pcapng of several
interfaces read in time order) each frame keeps how far its place in the file is from
where the file's order would put it, in the smallest int type that holds it (a byte for
interfaces a few dozen frames apart). Those two grow with the packets read; nothing else
here does, and no batch's cost depends on what was read before it.
"""

from __future__ import annotations

import bisect

import numpy as np

from flowcheck.fields_dataclass import fields_dataclass


@fields_dataclass(slots=True)
class _Stretch:
    """The set frames start .. start + count - 1 (one batch, or runs of batches).

    files    the files (indexes into `captures`) the stretch holds, ascending
    first    the 0-based place in its file of the stretch's first frame of each of `files`
    which    None when the stretch is one file's; else the file of each frame, as its
             place in `files`: one bit a frame for two files (np.packbits), else one
             uint8 (uint16 past 256 files)
    offsets  None when each file's frames in the stretch follow one another in it; else
             each frame's place in its file less the place that would give (its file's
             `first` plus the frames of its file before it in the stretch), in the
             smallest signed int type that holds them (a pcapng of several interfaces
             read in time order: a frame or a few apart, not a file position each)
    """

    start: int
    count: int
    files: list[int]
    first: list[int]
    which: np.ndarray | None = None
    offsets: np.ndarray | None = None

    def lanes(self, count: int) -> np.ndarray:
        """The place in `files` of each of the stretch's first `count` frames (which)."""
        assert self.which is not None
        if len(self.files) == 2:
            return np.unpackbits(self.which[:(count + 7) // 8], count=count)
        return self.which[:count]


class FrameFiles:
    """The (file, frame in file) of each frame of a set read (`add` per batch, in order)."""

    def __init__(self, alone: int | None = None) -> None:
        self._stretches: list[_Stretch] = []
        self._starts: list[int] = []
        # The set's only file read (the others unreadable): its frames are the file's own
        # (CaptureSetReader numbers them so), the file's index into `captures`; else None.
        self.alone = alone

    def add(self, start: int, capture: int | np.ndarray, positions: np.ndarray | None,
            count: int) -> None:
        """The batch of `count` frames from set frame `start` on: the file of each
        (`capture`: PacketBatch.capture) and its 0-based place in the file (None: they
        follow one another from 0, never the case beyond a file's first batch, so only
        given None by a caller that has no positions: then unknown, not recorded)."""
        if not count or positions is None:
            return
        if not isinstance(capture, int | np.integer):
            files, which = np.unique(capture, return_inverse=True)
            if len(files) > 1:
                self._add_merged(start, files.tolist(), which.reshape(-1), positions)
                return
            capture = int(files[0])
        file, first = int(capture), int(positions[0])
        if int(positions[-1]) - first == count - 1 and (
                count < 3 or bool(np.all(np.diff(positions) == 1))):
            last = self._stretches[-1] if self._stretches else None
            if (last is not None and last.which is None and last.offsets is None
                    and last.files[0] == file and last.start + last.count == start
                    and last.first[0] + last.count == first):
                last.count += count
                return
            self._append(_Stretch(start, count, [file], [first]))
            return
        self._append(_Stretch(start, count, [file], [first], offsets=_narrow(
            positions - np.arange(first, first + count, dtype=np.int64))))

    def _add_merged(self, start: int, files: list[int], which: np.ndarray,
                    positions: np.ndarray) -> None:
        """add's batch merged from several `files` (which: each frame's place in them)."""
        firsts: list[int] = []
        expected = np.empty(len(which), np.int64)  # each frame's place, its file's in order
        for at in range(len(files)):
            rows = np.flatnonzero(which == at)
            firsts.append(int(positions[rows[0]]))
            expected[rows] = np.arange(firsts[-1], firsts[-1] + len(rows))
        offsets = positions - expected
        lanes = (np.packbits(which.astype(bool)) if len(files) == 2
                 else which.astype(np.uint8 if len(files) <= 256 else np.uint16))
        self._append(_Stretch(start, len(which), files, firsts, lanes,
                              _narrow(offsets) if offsets.any() else None))

    def _append(self, stretch: _Stretch) -> None:
        self._stretches.append(stretch)
        self._starts.append(stretch.start)

    def locate(self, frame: int) -> tuple[int, int] | None:
        """(file: index into `captures`, its 1-based frame number in that file opened
        alone) of set frame `frame`; None for a frame not read (0, beyond the set)."""
        if self.alone is not None:
            return (self.alone, frame) if frame > 0 else None
        at = bisect.bisect_right(self._starts, frame) - 1
        if at < 0:
            return None
        stretch = self._stretches[at]
        row = frame - stretch.start
        if row >= stretch.count:
            return None
        lane, before = 0, row  # one file's stretch: every frame before it is the file's
        if stretch.which is not None:
            lanes = stretch.lanes(row + 1)
            lane = int(lanes[row])
            before = int(np.count_nonzero(lanes[:row] == lane))
        offset = 0 if stretch.offsets is None else int(stretch.offsets[row])
        return stretch.files[lane], stretch.first[lane] + before + offset + 1

    def spans(self) -> dict[int, tuple[int, int]]:
        """Per file (index into `captures`): (its first, its last set frame)."""
        out: dict[int, tuple[int, int]] = {}
        for stretch in self._stretches:
            if stretch.which is None:
                pairs = [(stretch.files[0], stretch.start, stretch.start + stretch.count - 1)]
            else:
                lanes = stretch.lanes(stretch.count)
                pairs = []
                for lane, file in enumerate(stretch.files):
                    rows = np.flatnonzero(lanes == lane)
                    pairs.append((file, stretch.start + int(rows[0]),
                                  stretch.start + int(rows[-1])))
            for file, low, high in pairs:
                first, _last = out.get(file, (low, high))
                out[file] = (min(first, low), high)
        return out


def _narrow(values: np.ndarray) -> np.ndarray:
    """`values` (ints) in the smallest signed int type that holds them all."""
    low, high = int(values.min()), int(values.max())
    for kind in (np.int8, np.int16, np.int32):
        limits = np.iinfo(kind)
        if limits.min <= low and high <= limits.max:
            return values.astype(kind)
    return values.astype(np.int64)
