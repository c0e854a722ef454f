"""sources.frame_files.FrameFiles against a plain list of every frame's (file, place): the
same locate and spans for random sets (batches of one file, in order or not, and merged
from two or many files, in order or not), and what it keeps per frame where it must keep
something: a bit for two files merged packet by packet, a byte for offsets from a file's
order a few frames apart (a pcapng of interfaces in blocks), not an int64 place each."""

from __future__ import annotations

import numpy as np
import pytest

from flowcheck.sources.frame_files import FrameFiles


def _kept(located: FrameFiles) -> int:
    """The bytes of the per-frame arrays `located` keeps."""
    return sum(array.nbytes for stretch in located._stretches
               for array in (stretch.which, stretch.offsets) if array is not None)


@pytest.mark.parametrize("seed", range(6))
def test_locate_and_spans_match_every_frame_listed(seed: int) -> None:
    rng = np.random.default_rng(seed)
    files = int(rng.integers(2, 5)) if seed % 2 else int(rng.integers(200, 300))
    located, listed, seen, start = FrameFiles(), [], [0] * files, 1
    for _ in range(12):
        count = int(rng.integers(1, 80))
        one = rng.random() < 0.4
        capture = np.full(count, rng.integers(0, files)) if one else rng.integers(0, files, count)
        positions = np.empty(count, np.int64)
        for file in np.unique(capture).tolist():
            mine = capture == file
            places = np.arange(seen[file], seen[file] + int(mine.sum()))
            if rng.random() < 0.5:
                rng.shuffle(places)  # a pcapng's interfaces read in time order
            positions[mine] = places
            seen[file] += int(mine.sum())
        given = int(capture[0]) if one and rng.random() < 0.5 else capture.astype(np.int32)
        located.add(start, given, positions, count)
        listed += list(zip(capture.tolist(), (positions + 1).tolist(), strict=True))
        start += count
    for frame in range(start + 1):
        expected = tuple(listed[frame - 1]) if 1 <= frame <= len(listed) else None
        assert located.locate(frame) == expected, frame
    spans: dict[int, tuple[int, int]] = {}
    for frame, (file, _) in enumerate(listed, start=1):
        spans[file] = (spans.get(file, (frame, frame))[0], frame)
    assert located.spans() == spans


def test_two_taps_keep_a_bit_a_frame() -> None:
    count = 100_000
    located = FrameFiles()
    located.add(1, (np.arange(count) % 2).astype(np.int32), np.arange(count) // 2, count)
    assert _kept(located) <= count // 8
    assert located.locate(count) == (1, count // 2)


def test_interfaces_in_blocks_keep_a_byte_a_frame() -> None:
    count = 100_000  # dumpcap's blocks of 25 frames of each of two interfaces, by time
    places = np.arange(count).reshape(-1, 50)
    positions = np.concatenate((places[:, ::2], places[:, 1::2]), axis=1).reshape(-1)
    located = FrameFiles()
    located.add(1, 0, positions, count)
    assert _kept(located) <= count
    assert [located.locate(frame) for frame in (1, 2, 26)] == [(0, 1), (0, 3), (0, 2)]
