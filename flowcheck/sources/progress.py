"""A progress bar on standard error: bytes read of the total, packets/s (rich is imported
only here)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


class ByteProgress:
    """Shows bytes read against the total size and packets read per second; a no-op
    unless stderr is a terminal."""

    def __init__(self, total: int | None, read_so_far: Callable[[], int],
                 packets_so_far: Callable[[], int] = lambda: 0) -> None:
        self._read_so_far = read_so_far
        self._packets_so_far = packets_so_far
        self._started = time.monotonic()
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
            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=True,
        )
        self._task = self._progress.add_task("read", total=total, rate="- packets/s")
        self._progress.start()

    def update(self) -> None:
        if self._progress is not None:
            elapsed = max(time.monotonic() - self._started, 1e-3)
            rate = f"{self._packets_so_far() / elapsed:,.0f} packets/s"
            self._progress.update(self._task, completed=self._read_so_far(), rate=rate)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
