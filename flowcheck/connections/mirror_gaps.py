"""Frames an ERSPAN mirror's stream lost before the capture: its sequence-number gaps.

A switch's ERSPAN session (type II, III) numbers the frames it sends to the collector
(GRE sequence numbers, RFC 2890, one count per session): a number skipped is a mirrored
frame that never reached the capture. Lost after the mirror sent it, on the way to the
collector (an oversubscribed mirror destination, the network carrying the stream) or by
the collector's own capture; not by the network the backup crossed. Trial 22 D4: such
gaps read "the sniffer lost them" with only tcpdump's buffer as fix.

Counted per file of the set (PacketBatch.capture) and mirror stream (its tunnel and
ERSPAN session), across batches; a number that goes back (reordering, a restarted
session) or leaps far ahead is no gap. A frame recorded cut (its captured length short
of its wire length) before its sequence number could be read may be one of the numbers
a gap lacks: it is in the file, not lost (trial 36 D5: frames cut at 1 to 130 bytes each
read "the mirror's ERSPAN stream skips 218 frames"), so a gap counts only the numbers
beyond the frames so cut between its two ends in the file. Only batches with ERSPAN
packets cost anything, and batches after one.
"""

from __future__ import annotations

import numpy as np

from flowcheck.arrays import distinct
from flowcheck.decode import DecodedBatch
from flowcheck.model import CaptureInfo
from flowcheck.sources.batch import PacketBatch

MAX_SKIP = 1 << 16  # a larger leap is a restarted session, not frames lost


class MirrorGaps:
    """Per file of the set: the frames its ERSPAN streams' sequence numbers skip."""

    def __init__(self) -> None:
        # Per stream (file, tunnel, session): its last sequence number, and how many
        # frames of its file had been recorded cut without one by then.
        self._last: dict[tuple[int, str, int], tuple[int, int]] = {}
        self._skipped: dict[int, int] = {}
        self._cut: dict[int, int] = {}  # per file: frames cut without a sequence number

    def see(self, batch: PacketBatch, d: DecodedBatch) -> None:
        """Count one batch's skipped sequence numbers (module docstring)."""
        mirror = d.mirror
        if mirror is None and not self._last:
            return
        n = len(batch)
        # Frames recorded cut whose sequence number is not read: per row, how many of
        # them its file holds before it (over the file's batches so far).
        unread = np.asarray(batch.caplen) < np.asarray(batch.wirelen)
        if mirror is not None:
            unread[mirror.rows] = False
        files = batch.capture_of(np.arange(n))
        before = np.zeros(n, dtype=np.int64)
        for file in distinct(files).tolist():
            mine = files == file
            cut = unread & mine
            start = self._cut.get(file, 0)
            before[mine] = start + (np.cumsum(cut) - cut)[mine]
            self._cut[file] = start + int(cut.sum())
        if mirror is None:
            return
        keys = np.column_stack((batch.capture_of(mirror.rows), mirror.tunnel, mirror.session))
        streams, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        for index, (file, tunnel, session) in enumerate(streams.tolist()):
            mine = inverse == index
            seq = mirror.seq[mine].astype(np.int64)
            cut = before[mirror.rows[mine]]
            key = (file, d.tunnels[tunnel], session)
            if key in self._last:
                seq = np.concatenate(([self._last[key][0]], seq))
                cut = np.concatenate(([self._last[key][1]], cut))
            self._last[key] = (int(seq[-1]), int(cut[-1]))
            step = (seq[1:] - seq[:-1]) % (1 << 32)
            gap = (step > 1) & (step < MAX_SKIP)
            # The frames cut between the two ends may be the numbers the gap lacks.
            beyond = step[gap] - 1 - (cut[1:] - cut[:-1])[gap]
            skipped = int(np.maximum(beyond, 0).sum())
            if skipped:
                self._skipped[file] = self._skipped.get(file, 0) + skipped

    def fill(self, captures: list[CaptureInfo]) -> None:
        """Set each CaptureInfo's mirror_skipped."""
        for index, info in enumerate(captures):
            info.mirror_skipped = self._skipped.get(index, 0)
