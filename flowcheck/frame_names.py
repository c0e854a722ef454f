"""Frames named as a user finds them: in a set of several files, the file and its own
frame number ("frame 201 of ring.pcap3"), not the set's merged number (newuser62: a
tcpdump -C ring's "frames 2910, 2911" were frames 201, 202 of ring.pcap3, which the text
report never named). One file's frames are named as before ("frame 201").

The set's numbers stay in the JSON (contract.md: `frames`, `first_frame`, `last_frame`);
reports and the words of findings name frames through a FrameNames (report layer: given
one; findings' words: the one `naming` made current while a set is checked,
pipeline.analyze). Where no FrameNames is given or current (one file, a test building
findings by hand), every function here gives the words it always gave.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, ParamSpec, Protocol, TypeVar

import numpy as np

if TYPE_CHECKING:
    from flowcheck.model import CaptureInfo
    from flowcheck.sources.frame_files import FrameFiles


P = ParamSpec("P")
R = TypeVar("R")


class _ReadSet(Protocol):
    """What traffic_names reads of a Traffic (flowcheck.traffic: not imported here, a
    later stage) or a CaptureSetReader (flowcheck.sources)."""

    captures: list[CaptureInfo]
    frame_files: FrameFiles | None


class FrameNames:
    """The set's files' names and each set frame's (file, frame in file).

    files   the name each file is shown by, by its place in `captures`: its base name,
            or its path as given where two files share a base name
    located FrameFiles of the set (sources.frame_files)
    """

    def __init__(self, paths: Sequence[str], located: FrameFiles) -> None:
        bases = [os.path.basename(path.rstrip("/")) or path for path in paths]
        self.files = [base if bases.count(base) == 1 else path
                      for base, path in zip(bases, paths, strict=True)]
        self.located = located

    def place(self, frame: int) -> tuple[str, int] | None:
        """(file name, frame in it) of set frame `frame`; None when not read."""
        found = self.located.locate(frame)
        return None if found is None else (self.files[found[0]], found[1])

    def groups(self, frames: Sequence[int]) -> list[tuple[str | None, list[int]]]:
        """The frames per file in order of first mention, each file's frame numbers in
        the order given (file None: frames not located, kept as the set's)."""
        out: dict[str | None, list[int]] = {}
        for frame in frames:
            found = self.place(frame)
            name, number = (None, frame) if found is None else found
            out.setdefault(name, []).append(number)
        return list(out.items())


def frame_names(paths: Sequence[str], located: FrameFiles | None) -> FrameNames | None:
    """The set's FrameNames; None for one file (or nothing located): frames named as the
    set numbers them, which are the file's own."""
    if located is None or len(paths) < 2:
        return None
    return FrameNames(paths, located)


def traffic_names(traffic: _ReadSet) -> FrameNames | None:
    """frame_names of the set a Traffic (Traffic.frame_files) or a CaptureSetReader was
    read from."""
    return frame_names([info.path for info in traffic.captures], traffic.frame_files)


def run_words(numbers: Sequence[int]) -> str:
    """"250", "901, 969", "1-20, 25": runs of three or more consecutive numbers as a
    range (report.frame_list's)."""
    parts: list[str] = []
    if not numbers:
        return ""
    start = previous = numbers[0]
    for number in [*numbers[1:], None]:
        if number is not None and number == previous + 1:
            previous = number
            continue
        if previous - start >= 2:
            parts.append(f"{start}-{previous}")
        else:
            parts.extend(str(n) for n in range(start, previous + 1))
        if number is not None:
            start = previous = number
    return ", ".join(parts)


def frames_words(frames: Sequence[int], more: int = 0, names: FrameNames | None = None,
                 *, ranges: bool = True, plural: bool | None = None) -> str:
    """"frame 250", "frames 901, 969", "frames 1-20 and 2 more"; of a set of several
    files (`names`, else the current one: `naming`), per file: "frames 201, 202 of
    ring.pcap3, frame 1 of ring.pcap4". `ranges`: runs of three or more as "a-b" (else
    every number listed); `plural`: "frames" forced (True) or not (None: by count). ""
    for none."""
    if not frames:
        return ""
    names = names if names is not None else _CURRENT.get()
    listed = run_words if ranges else (lambda numbers: ", ".join(map(str, numbers)))
    many = (len(frames) > 1 or bool(more)) if plural is None else plural
    tail = f" and {more} more" if more else ""
    if names is None:
        return f"frame{'s' if many else ''} {listed(list(frames))}{tail}"
    parts = []
    for name, numbers in names.groups(frames):
        each = f"frame{'s' if len(numbers) > 1 else ''} {listed(numbers)}"
        parts.append(each if name is None else f"{each} of {name}")
    return ", ".join(parts) + tail


def frame_text(frame: int, names: FrameNames | None = None) -> str:
    """"frame 201", or in a set of several files "frame 201 of ring.pcap3" (names, else
    the current one)."""
    names = names if names is not None else _CURRENT.get()
    found = None if names is None or not isinstance(frame, int | np.integer) \
        else names.place(int(frame))
    return f"frame {frame}" if found is None else f"frame {found[1]} of {found[0]}"


def frame_pair(first: int, last: int, joint: str = "to",
               names: FrameNames | None = None) -> str:
    """"frames 12 to 40" (`joint` "to", "and", ...); in a set of several files "frames
    201 to 229 of ring.pcap3", or across two "frame 201 of ring.pcap3 to frame 3 of
    ring.pcap4"."""
    both = _both_placed(first, last, names)
    if both is None:
        return f"frames {first} {joint} {last}"
    (file_one, one), (file_two, two) = both
    if file_one == file_two:
        return f"frames {one} {joint} {two} of {file_one}"
    return f"frame {one} of {file_one} {joint} frame {two} of {file_two}"


def frame_span(first: int, last: int, names: FrameNames | None = None) -> str:
    """A connection's frames in a table column: "12-340"; of a set of several files
    "ring.pcap3 201-305", or across files "ring.pcap3 201-ring.pcap4 12"."""
    both = _both_placed(first, last, names)
    if both is None:
        return f"{first}-{last}"
    (file_one, one), (file_two, two) = both
    if file_one == file_two:
        return f"{file_one} {one}-{two}"
    return f"{file_one} {one}-{file_two} {two}"


def _both_placed(first: int, last: int, names: FrameNames | None
                 ) -> tuple[tuple[str, int], tuple[str, int]] | None:
    """FrameNames.place of `first` and of `last` (names, else the current one); None
    without names (one file) or when either is not located: then named as the set's."""
    names = names if names is not None else _CURRENT.get()
    if names is None:
        return None
    one, two = names.place(first), names.place(last)
    return None if one is None or two is None else (one, two)


def frame_cell(frame: int, names: FrameNames | None = None) -> str:
    """A frame in a table column: "201", or of a set of several files "ring.pcap3 201"."""
    names = names if names is not None else _CURRENT.get()
    found = None if names is None else names.place(frame)
    return str(frame) if found is None else f"{found[0]} {found[1]}"


def current() -> FrameNames | None:
    """The FrameNames `naming` made current, None outside it (one file)."""
    return _CURRENT.get()


@contextmanager
def naming(names: FrameNames | None) -> Iterator[None]:
    """Within it, findings' words name frames by `names` (None: as the set numbers them)."""
    token = _CURRENT.set(names)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def name_frames(names: FrameNames | None) -> None:
    """From here on, findings' words name frames by `names`: inside a
    `naming` block (a reading that starts again makes its set's names anew), which puts the
    caller's back when it ends."""
    _CURRENT.set(names)


_CURRENT: ContextVar[FrameNames | None] = ContextVar("frame_names", default=None)
