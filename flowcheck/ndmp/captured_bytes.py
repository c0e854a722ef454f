"""The buffered bytes of one direction of a stream, as the capture delivered them.

Each byte keeps the frame it arrived in and that frame's timestamp, so a decoded record
knows the frame holding its record mark (tags are kept only from the first buffered
byte on). Bytes the snap length left out of a packet (a record whose captured length is
under the packet's length on the wire: pcap-savefile(5), caplen and len; pcapng's
Enhanced Packet Block, Captured and Original Packet Length) are buffered as zero bytes
so that stream offsets stay exact, and their ranges are kept: `known_until` says how
much of a span was really captured. Offsets are stream offsets: `base` is that of `buf[0]`, and it
goes on across a hole (flowcheck.ndmp.stream.NdmpStreamDecoder.receive_gap).
"""

from __future__ import annotations

from collections import deque


class CapturedBytes:
    """One direction's buffered stream bytes, their frame tags and the snap length's cuts."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.base = 0  # stream offset of buf[0]
        self._tags: deque[tuple[int, int, float]] = deque()  # (offset, frame, ts)
        # Snap-length cuts buffered as zero bytes: stream offset ranges [start, end).
        self._unknown: list[list[int]] = []

    def tag(self, frame: int, ts: float) -> int:
        """Bytes buffered from here on came in `frame`; returns their stream offset."""
        end = self.base + len(self.buf)
        if not self._tags or self._tags[-1][1] != frame:
            self._tags.append((end, frame, ts))
        return end

    def add_cut(self, end: int, missing: int) -> None:
        """Buffer `missing` bytes the snap length cut, at stream offset `end` (the buffer's
        end), as zero bytes: offsets stay exact, and the range says they are not real."""
        if self._unknown and self._unknown[-1][1] == end:
            self._unknown[-1][1] = end + missing
        else:
            self._unknown.append([end, end + missing])
        self.buf += bytes(missing)

    def drop(self, count: int) -> None:
        """Drop the first `count` buffered bytes."""
        del self.buf[:count]
        self.base += count
        while self._unknown and self._unknown[0][1] <= self.base:
            self._unknown.pop(0)
        tags = self._tags
        # Keep the tag covering the new first byte; older ones are no longer needed.
        while len(tags) > 1 and tags[1][0] <= self.base:
            tags.popleft()

    def known_until(self, pos: int, length: int) -> int:
        """How many of the `length` buffered bytes at `pos` come before the first cut byte."""
        start = self.base + pos
        for low, high in self._unknown:
            if high > start and low < start + length:
                return max(0, low - start)
        return length

    def unknown_end(self, pos: int) -> int:
        """Buffer position just after the cut range that touches the 4 bytes at `pos`."""
        start = self.base + pos
        for low, high in self._unknown:
            if high > start and low < start + 4:
                return min(len(self.buf), high - self.base)
        return pos + 1

    def frames(self) -> set[int]:
        """The frames whose bytes are buffered (their tags; tag_at answers from these)."""
        return {frame for _, frame, _ in self._tags}

    def tag_at(self, offset: int) -> tuple[int, float]:
        """(frame, timestamp) of the byte at stream offset `offset`; (0, 0.0) before any."""
        frame, ts = 0, 0.0
        for tag_offset, tag_frame, tag_ts in self._tags:
            if tag_offset > offset:
                break
            frame, ts = tag_frame, tag_ts
        return frame, ts
