"""A progress bar on standard error: bytes read of the total, bytes/s and packets/s over
the whole run (rich is imported only here)."""

from __future__ import annotations

import os
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
        )

        # The byte rate is the run's own (as packets/s): rich's TransferSpeedColumn
        # estimates from its update samples and read "881 bytes/s" when a file came in
        # one chunk (trial 20 D15). NO_COLOR: no escape sequence but the cursor's.
        self._progress = Progress(
            TextColumn("reading"), BarColumn(), DownloadColumn(),
            TextColumn("{task.fields[speed]}"), TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True,
                            color_system=None if os.environ.get("NO_COLOR") else "auto"),
            transient=True,
        )
        self._task = self._progress.add_task("read", total=total, speed="- bytes/s",
                                             rate="- packets/s")
        self._progress.start()

    def update(self) -> None:
        if self._progress is not None:
            from rich.filesize import decimal

            elapsed = max(time.monotonic() - self._started, 1e-3)
            done = self._read_so_far()
            speed = f"{decimal(int(done / elapsed))}/s"
            rate = f"{self._packets_so_far() / elapsed:,.0f} packets/s"
            self._progress.update(self._task, completed=done, speed=speed, rate=rate)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
