"""Which file, and which frame of it, each frame of a capture set of several files is.

A set's frames are numbered 1, 2, 3, ... over its merged order (contract.md), but a user
opens one file of it in Wireshark, which numbers that file's frames from 1 (newuser62:
"frames 2910, 2911" of a tcpdump -C ring were frames 201, 202 of ring.pcap3, named
nowhere). CaptureSetReader records, for every batch it hands on, the file each frame
came from and its place among the file's records as Wireshark numbers them opened alone
(Records.position: a pcapng file's interfaces merged by time keep the file's numbers,
custom blocks take one); reports look the frames they name up here.

Cost: a batch of one file whose frames follow one another in it (a ring, files apart in
time) is three ints; a batch merged from overlapping files keeps the file of each frame
(one byte per frame for up to 127 files), and the file frame of each only where a file's
frames in it do not follow one another (a pcapng of several interfaces).
"""

from __future__ import annotations

import bisect

import numpy as np

from flowcheck.fields_dataclass import fields_dataclass


@fields_dataclass(slots=True)
class _Stretch:
    """The set frames start .. start + count - 1 (one batch, or runs of batches).

    capture    the file (index into `captures`) of every frame: an int, or an int8/int16
               array, one per frame
    first      the 0-based place in its file of the stretch's first frame of each file
               (capture int: one entry), in order of the files' appearance in `files`
    files      the files the stretch holds, ascending (one entry for an int capture)
    positions  the 0-based place in its file of each frame, when a file's frames in the
               stretch do not follow one another there; else None
    """

    start: int
    count: int
    capture: int | np.ndarray
    first: list[int]
    files: list[int]
    positions: np.ndarray | None = None


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
        if isinstance(capture, int | np.integer):
            first = int(positions[0])
            if int(positions[-1]) - first == count - 1 and (
                    count < 3 or bool(np.all(np.diff(positions) == 1))):
                last = self._stretches[-1] if self._stretches else None
                if (last is not None and isinstance(last.capture, int)
                        and last.capture == int(capture) and last.positions is None
                        and last.start + last.count == start
                        and last.first[0] + last.count == first):
                    last.count += count
                    return
                self._append(_Stretch(start, count, int(capture), [first], [int(capture)]))
                return
            self._append(_Stretch(start, count, int(capture), [first], [int(capture)],
                                  positions.astype(np.int64, copy=True)))
            return
        files = np.unique(capture).tolist()
        small = np.int8 if max(files) < 127 else np.int16 if max(files) < 32767 else np.int32
        lanes = capture.astype(small, copy=True)
        firsts: list[int] = []
        ordered = True
        for file in files:
            mine = positions[capture == file]
            firsts.append(int(mine[0]))
            ordered = ordered and bool(np.all(np.diff(mine) == 1))
        self._append(_Stretch(start, count, lanes, firsts, files,
                              None if ordered else positions.astype(np.int64, copy=True)))

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
        if isinstance(stretch.capture, int):
            place = (stretch.first[0] + row if stretch.positions is None
                     else int(stretch.positions[row]))
            return stretch.capture, place + 1
        file = int(stretch.capture[row])
        if stretch.positions is not None:
            return file, int(stretch.positions[row]) + 1
        before = int(np.count_nonzero(stretch.capture[:row] == file))
        return file, stretch.first[stretch.files.index(file)] + before + 1

    def spans(self) -> dict[int, tuple[int, int]]:
        """Per file (index into `captures`): (its first, its last set frame)."""
        out: dict[int, tuple[int, int]] = {}
        for stretch in self._stretches:
            if isinstance(stretch.capture, int):
                pairs = [(stretch.capture, stretch.start, stretch.start + stretch.count - 1)]
            else:
                pairs = []
                for file in stretch.files:
                    rows = np.flatnonzero(stretch.capture == file)
                    pairs.append((file, stretch.start + int(rows[0]),
                                  stretch.start + int(rows[-1])))
            for file, low, high in pairs:
                first, _last = out.get(file, (low, high))
                out[file] = (min(first, low), high)
        return out
