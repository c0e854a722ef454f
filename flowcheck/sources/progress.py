"""A progress bar on standard error, by bytes read (rich is imported only here)."""

from __future__ import annotations

import sys
from collections.abc import Callable


class ByteProgress:
    """Shows bytes read against the total size; a no-op unless stderr is a terminal."""

    def __init__(self, total: int | None, read_so_far: Callable[[], int]) -> None:
        self._read_so_far = read_so_far
        self._progress = None
        self._task = None
        if not sys.stderr.isatty():
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("reading"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), console=Console(stderr=True), transient=True,
        )
        self._task = self._progress.add_task("read", total=total)
        self._progress.start()

    def update(self) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self._read_so_far())

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
