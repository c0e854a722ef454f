"""Frames an ERSPAN mirror's stream lost before the capture: its sequence-number gaps.

A switch's ERSPAN session (type II, III) numbers the frames it sends to the collector
(GRE sequence numbers, RFC 2890, one count per session): a number skipped is a mirrored
frame that never reached the capture. Lost after the mirror sent it, on the way to the
collector (an oversubscribed mirror destination, the network carrying the stream) or by
the collector's own capture; not by the network the backup crossed. Trial 22 D4: such
gaps read "the sniffer lost them" with only tcpdump's buffer as fix.

Counted per file of the set (PacketBatch.capture) and mirror stream (its tunnel and
ERSPAN session), across batches; a number that goes back (reordering, a restarted
session) or leaps far ahead is no gap. Only batches with ERSPAN packets cost anything.
"""

from __future__ import annotations

import numpy as np

from flowcheck.decode import DecodedBatch
from flowcheck.model import CaptureInfo
from flowcheck.sources.batch import PacketBatch

MAX_SKIP = 1 << 16  # a larger leap is a restarted session, not frames lost


class MirrorGaps:
    """Per file of the set: the frames its ERSPAN streams' sequence numbers skip."""

    def __init__(self) -> None:
        self._last: dict[tuple[int, str, int], int] = {}
        self._skipped: dict[int, int] = {}

    def see(self, batch: PacketBatch, d: DecodedBatch) -> None:
        """Count one batch's skipped sequence numbers (module docstring)."""
        mirror = d.mirror
        if mirror is None:
            return
        keys = np.column_stack((batch.capture_of(mirror.rows), mirror.tunnel, mirror.session))
        streams, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        for index, (file, tunnel, session) in enumerate(streams.tolist()):
            seq = mirror.seq[inverse == index].astype(np.int64)
            key = (file, d.tunnels[tunnel], session)
            if key in self._last:
                seq = np.concatenate(([self._last[key]], seq))
            self._last[key] = int(seq[-1])
            step = (seq[1:] - seq[:-1]) % (1 << 32)
            skipped = int((step[(step > 1) & (step < MAX_SKIP)] - 1).sum())
            if skipped:
                self._skipped[file] = self._skipped.get(file, 0) + skipped

    def fill(self, captures: list[CaptureInfo]) -> None:
        """Set each CaptureInfo's mirror_skipped."""
        for index, info in enumerate(captures):
            info.mirror_skipped = self._skipped.get(index, 0)
