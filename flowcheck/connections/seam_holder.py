"""The look-ahead across batches (connections.seams) one batch at a time, for a reader
that cannot wait for the next batch: live's verifier, whose checks run between reads of
its sniffer's pipe (flowcheck.live).

A file's reading goes through seams.across_seams, a generator over all its batches; live
pushes each batch as it is read, feeds the tracker what push() hands on, gives its
checks' snapshots the held batch (what is certain is reported without waiting for the
next read) and flushes it into the tracker when the capture stops. Kept apart from
seams.py so that reading files does not define it (an import's class costs instructions
on every run).
"""

from __future__ import annotations

from flowcheck.connections.seams import moved_across
from flowcheck.sources.batch import PacketBatch

__all__ = ["SeamHolder"]


class SeamHolder:
    """push() hands on the batch before the one pushed, its last records written across
    the seam moved to the pushed one (seams.moved_across); None for the first. `held`:
    the batch kept for the next one's look-ahead, not handed on yet. flush(): the held
    batch, as it is (the reading is over)."""

    __slots__ = ("held",)

    def __init__(self) -> None:
        self.held: PacketBatch | None = None

    def push(self, batch: PacketBatch) -> PacketBatch | None:
        """The batch before `batch`, ready for the tracker (None: none yet); `batch`,
        with the records moved to its start, is held."""
        if self.held is None:
            self.held = batch
            return None
        ready, self.held = moved_across(self.held, batch)
        return ready

    def flush(self) -> PacketBatch | None:
        """The held batch (None: none), no longer held."""
        rest, self.held = self.held, None
        return rest
