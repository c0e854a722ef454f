"""XDR reading for NDMP bodies, including bodies the capture's snap length cut.

`XdrReader(data)` reads a whole (or captured-prefix) body: reading past its end raises
`BodyTooShort`. `XdrReader(data, known=n)` reads a body padded with zero bytes to its
length on the wire, of which only the first n are real: a value that decides the layout
(a count, a string length, a union arm) read from the padding raises `Unknowable`,
because zeros there would pick a layout the real bytes may not have.
"""

from __future__ import annotations

import struct

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
# Lists in a control message are short; a larger count means we are misreading.
MAX_ITEMS = 4096


class BodyTooShort(Exception):
    """The body ends before the layout does."""


class BadLayout(Exception):
    """The body cannot be this layout (absurd count, unknown union arm)."""


class Unknowable(Exception):
    """The layout depends on bytes the capture did not keep."""


class XdrReader:
    __slots__ = ("data", "known", "pos")

    def __init__(self, data: bytes, known: int | None = None) -> None:
        self.data = data
        self.pos = 0
        self.known = len(data) if known is None else known

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def u32(self) -> int:
        if self.remaining < 4:
            raise BodyTooShort
        (value,) = _U32.unpack_from(self.data, self.pos)
        self.pos += 4
        return value

    def u64(self) -> int:
        if self.remaining < 8:
            raise BodyTooShort
        (value,) = _U64.unpack_from(self.data, self.pos)
        self.pos += 8
        return value

    def tag(self) -> int:
        """A u32 that decides what follows (union arm, count, length)."""
        if self.pos + 4 > self.known and self.remaining >= 4:
            raise Unknowable
        return self.u32()

    def opaque(self, length: int | None = None) -> bytes:
        """Variable-length opaque (length word first) or fixed-length when given."""
        if length is None:
            length = self.tag()
        padded = (length + 3) & ~3
        if self.remaining < padded:
            raise BodyTooShort
        value = self.data[self.pos:self.pos + length]
        self.pos += padded
        return value

    def string(self) -> str:
        return self.opaque().decode("utf-8", "replace")

    def skip_opaque(self) -> None:
        self.opaque()

    def count(self) -> int:
        n = self.tag()
        if n > MAX_ITEMS:
            raise BadLayout
        if n * 4 > self.remaining:
            raise BodyTooShort
        return n
