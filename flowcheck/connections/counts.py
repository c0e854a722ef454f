"""Packets the decoder skipped (non-TCP, IP fragments, undecodable), per file of a set,
and what they were over the set (SkippedTally).

A capture set's batches merge its files, so each batch says which file each packet came
from (PacketBatch.capture); the counts follow it, and each file's entry in `captures`
gets its own.
"""

from __future__ import annotations

import numpy as np

from flowcheck.decode import FRAGMENT, NON_TCP, UNDECODABLE, DecodedBatch
from flowcheck.decode.skipped import Skipped
from flowcheck.model import CaptureInfo

KINDS = 4  # TCP, NON_TCP, FRAGMENT, UNDECODABLE (DecodedBatch.kind values)
_LOOSE = KINDS  # CaptureCounts' column after the kinds: fragments never put together


class CaptureCounts:
    """Packets of each decode kind per capture index (PacketBatch.capture).

    Memory follows the number of files; one bincount per batch.
    """

    def __init__(self) -> None:
        self._rows = np.zeros((0, KINDS + 1), np.int64)  # the kinds, then _LOOSE

    def add(self, capture: int | np.ndarray, kind: np.ndarray,
            assembled: np.ndarray | None = None) -> None:
        """Count one batch: `kind` is DecodedBatch.kind, `capture` PacketBatch.capture,
        `assembled` DecodedBatch.assembled."""
        if not kind.shape[0]:
            return
        loose = kind == FRAGMENT
        if assembled is not None:
            loose &= ~assembled
        if loose.any():
            self._grow(int(np.max(capture)) + 1)
            np.add.at(self._rows[:, _LOOSE], np.broadcast_to(capture, kind.shape)[loose], 1)
        if isinstance(capture, int | np.integer):
            self._grow(int(capture) + 1)
            self._rows[int(capture), :KINDS] += np.bincount(kind, minlength=KINDS)[:KINDS]
            return
        files = int(capture.max()) + 1
        self._grow(files)
        flat = np.bincount(capture.astype(np.int64) * KINDS + kind, minlength=files * KINDS)
        self._rows[:files, :KINDS] += flat[:files * KINDS].reshape(files, KINDS)

    def unloose(self, captures: list[int]) -> None:
        """Fragments counted never put together that a later batch's datagram took after
        all (decode.fragment_carry): one per entry, in the file it names."""
        for capture in captures:
            self._rows[capture, _LOOSE] -= 1

    def total(self, kind: int) -> int:
        """Packets of one decode kind over every file."""
        return int(self._rows[:, kind].sum())

    def fill(self, captures: list[CaptureInfo]) -> None:
        """Set each CaptureInfo's non_tcp, fragments and undecodable from the counts."""
        for index, info in enumerate(captures):
            row = self._rows[index] if index < self._rows.shape[0] else np.zeros(KINDS + 1)
            info.non_tcp = int(row[NON_TCP])
            info.fragments = int(row[FRAGMENT])
            info.undecodable = int(row[UNDECODABLE])
            info.loose_fragments = int(row[_LOOSE])

    def _grow(self, files: int) -> None:
        if files > self._rows.shape[0]:
            grown = np.zeros((files, KINDS + 1), np.int64)
            grown[:self._rows.shape[0]] = self._rows
            self._rows = grown


class SkippedTally:
    """What the packets the decoder skipped were, over a capture set (decode.skipped):
    `skipped`. Their flows are counted (`flows`: decode_batch's skipped_flows) until a
    packet to or from the NDMP port shows: the words are for a capture without a control
    connection only (flowcheck.verify.capture_contents)."""

    def __init__(self, ndmp_port: int) -> None:
        self.ndmp_port = ndmp_port
        self.skipped = Skipped()
        self.flows = True

    def add(self, decoded: DecodedBatch) -> None:
        """Count one batch's decode."""
        if decoded.skipped is not None:
            self.skipped.merge(decoded.skipped)
        if self.flows and decoded.tcp_index.size and (
                (decoded.tcp_dport == self.ndmp_port).any()
                or (decoded.tcp_sport == self.ndmp_port).any()):
            self.flows = False
