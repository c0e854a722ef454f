"""The look-ahead across batches (connections.seams) one batch at a time: the tracker's
(ConnectionTracker.feed pushes each batch, tracks what push() hands on, and flushes the
held one when the reading is over), so that no caller's batch cuts change what it reads
(a file's read chunks, live's reads of its sniffer's pipe, a test's batches of a few
packets: tests/test_chunk_size_backwards.py).

A copy of a holder (live's checks copy the tracker: flowcheck.live) shares the held
batch: a batch is never changed once read, and copying it would copy its chunk.
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

    def __deepcopy__(self, memo: dict[int, object]) -> SeamHolder:
        """A holder of the same batch (not copied: the module's docstring)."""
        twin = SeamHolder()
        twin.held = self.held
        return twin

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
