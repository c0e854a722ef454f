"""Which folders a walk for stored captures enters: each real folder once.

`regress DIR` and the pytest plugin follow links to folders (a capture repository links
shared captures in), so a link back up the tree (`ln -s .. captures/loop`) would walk the
same captures again on every turn, until the path is too long. As `find -L` does, a
folder is entered once, by the first path that reaches it, and a link is not followed
when it leads back into the walk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


class FolderWalk:
    """The folders a walk from `tops` (the paths given: folders or files, relative to
    the working directory or absolute) enters. A link to a folder is not followed when
    its target holds the link (a loop: `..`, `.`) or lies in a top (the walk reaches it
    under its own name, so the real name wins whatever the listing order); any folder,
    linked or not, is entered by one path only (two links to one folder: the first)."""

    def __init__(self, tops: Iterable[Path]) -> None:
        tops = list(tops)
        self._given = {Path(os.path.abspath(top)) for top in tops}  # a top may be a link
        self._tops = [_real(top) for top in tops]
        self._entered: dict[Path, Path] = {}  # real folder -> the path that entered it

    def enters(self, folder: Path) -> bool:
        """Whether to walk into `folder` (a path found by the walk, or a top). Asking
        again for the same path gives the same answer; a folder outside every top is
        entered and not recorded (pytest asks for each entry of the folders above the
        paths given, before it keeps the ones given)."""
        named = Path(os.path.abspath(folder))
        if not any(named == top or top in named.parents for top in self._given):
            return True
        real = _real(folder)
        if folder.is_symlink() and named not in self._given:
            holder = _real(folder.parent)
            if real == holder or real in holder.parents:
                return False  # the link leads back up to itself
            if any(real == top or top in real.parents for top in self._tops):
                return False  # walked under its own name
        return self._entered.setdefault(real, folder) == folder


def _real(path: Path) -> Path:
    """`path` with every link resolved, absolute (os.path.realpath: no error on a
    dangling link or a loop, which the walk reports or skips)."""
    return Path(os.path.realpath(path))
