"""Bulk reads of fixed-size fields at per-packet offsets of a batch buffer."""

from __future__ import annotations

import numpy as np

from flowcheck.sources.batch import PacketBatch


class Gather:
    """Reads bytes at per-packet offsets from the batch buffer, a whole header at a time.

    Reads are clipped to the buffer, never to the packet: a caller checks each header
    against the captured length and ignores what it read from a packet too short.
    """

    def __init__(self, batch: PacketBatch) -> None:
        self.buf = np.frombuffer(batch.buf, dtype=np.uint8)
        self.start = np.asarray(batch.data_off, np.int64)  # no copy when already int64
        self.caplen = batch.caplen.astype(np.int64)
        # Bytes the packet had on the wire (a file may claim less than it captured).
        self.wirelen = np.maximum(batch.wirelen.astype(np.int64), self.caplen)
        self.size = self.buf.shape[0]
        self._windows: dict[int, np.ndarray] = {}
        self._own_start = False
        self.appended = False  # bytes of reassembled datagrams after the batch's (append)
        self._capture = batch.capture  # PacketBatch.capture: an int, or one per packet

    def capture_of(self, row: int) -> int:
        """The file of the capture set packet `row` came from (PacketBatch.capture)."""
        return int(self._capture if np.ndim(self._capture) == 0 else self._capture[row])

    def append(self, rows: list[int], frames: list[bytes]) -> None:
        """Read packet rows[i] from frames[i] from now on: bytes put after the batch's in
        a buffer of this decode's own (`buf`; `appended` True), as a reassembled datagram
        (its first fragment's headers, then the payload of all its fragments) is read."""
        if not rows:
            return
        if not self._own_start:
            self.start = self.start.copy()
            self._own_start = True
        lengths = np.array([len(frame) for frame in frames], dtype=np.int64)
        self.start[rows] = self.size + np.concatenate(([0], np.cumsum(lengths)[:-1]))
        self.caplen[rows] = lengths
        self.buf = np.concatenate([self.buf, np.frombuffer(b"".join(frames), dtype=np.uint8)])
        self.size = self.buf.shape[0]
        self._windows.clear()
        self.appended = True

    def block(self, off: np.ndarray, width: int, rows: np.ndarray | None = None) -> np.ndarray:
        """(len(off), width) bytes starting at each packet's offset `off`."""
        start = self.start if rows is None else self.start[rows]
        if self.size < width:
            return np.zeros((off.shape[0], width), dtype=np.uint8)
        first = np.minimum(start + off, self.size - width)
        window = self._windows.get(width)
        if window is None:
            # Item i of the window is buf[i:i+width] as one opaque value: one index per
            # packet, and numpy copies whole items (about 3x faster than rows of bytes).
            window = np.ndarray(shape=(self.size - width + 1,), dtype=f"V{width}",
                                buffer=self.buf, strides=(1,))
            self._windows[width] = window
        return window[first].view(np.uint8).reshape(-1, width)

    def header(self, off: np.ndarray, dtype: np.dtype, rows: np.ndarray | None = None
               ) -> np.ndarray:
        return self.block(off, dtype.itemsize, rows).view(dtype).reshape(-1)

    def u8(self, off: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        return self.block(off, 1, rows)[:, 0].astype(np.int64)

    def be(self, off: np.ndarray, width: int, rows: np.ndarray | None = None) -> np.ndarray:
        raw = self.block(off, width, rows)
        return raw.view(f">u{width}").reshape(-1).astype(np.int64)

    def le(self, off: np.ndarray, width: int, rows: np.ndarray | None = None) -> np.ndarray:
        raw = self.block(off, width, rows)
        return raw.view(f"<u{width}").reshape(-1).astype(np.int64)
