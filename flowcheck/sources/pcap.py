"""Classic libpcap files: both byte orders, microsecond and nanosecond timestamps.

The record walk is the hot path of the whole program: it follows the caplen chain with
one struct.unpack_from per record (unrolled by four while a whole record is sure to fit),
then gathers every header field for the whole buffer in a few numpy operations.
"""

from __future__ import annotations

import struct

import numpy as np

from flowcheck.sources.batch import LINKTYPE_NAMES
from flowcheck.sources.records import FormatError, Located, Records, empty_records, u32_view

MAGIC_USEC = 0xA1B2C3D4
MAGIC_NSEC = 0xA1B23C4D
FILE_HEADER_SIZE = 24
RECORD_HEADER_SIZE = 16
MIN_MAX_CAPLEN = 262144  # a caplen above max(snaplen, this) is taken as corruption


def linktype_name(linktype: int) -> str:
    return LINKTYPE_NAMES.get(linktype, f"LINKTYPE_{linktype}")


def is_pcap_magic(head: bytes) -> bool:
    if len(head) < 4:
        return False
    return (struct.unpack("<I", head[:4])[0] in (MAGIC_USEC, MAGIC_NSEC)
            or struct.unpack(">I", head[:4])[0] in (MAGIC_USEC, MAGIC_NSEC))


class PcapParser:
    """Locates the records of a pcap file, one buffer at a time (sans-IO)."""

    format_name = "pcap"

    def __init__(self) -> None:
        self.header_done = False
        self.big_endian = False
        self.frac_scale = 1e-6
        self.linktype = 0
        self.snaplen = 0
        self.max_caplen = MIN_MAX_CAPLEN
        self.link_types: list[str] = []

    def _parse_header(self, buf: bytes | bytearray | memoryview, start: int) -> None:
        magic_le = struct.unpack_from("<I", buf, start)[0]
        if magic_le in (MAGIC_USEC, MAGIC_NSEC):
            self.big_endian, magic = False, magic_le
        else:
            magic = struct.unpack_from(">I", buf, start)[0]
            if magic not in (MAGIC_USEC, MAGIC_NSEC):
                raise FormatError(f"not a pcap file (magic 0x{magic_le:08x})")
            self.big_endian = True
        order = ">" if self.big_endian else "<"
        _major, _minor, _zone, _sigfigs, snaplen, network = struct.unpack_from(
            order + "HHiIII", buf, start + 4)
        self.frac_scale = 1e-9 if magic == MAGIC_NSEC else 1e-6
        self.snaplen = snaplen
        self.max_caplen = max(snaplen, MIN_MAX_CAPLEN)
        # The upper bits of the link-type field carry FCS information, not the type.
        self.linktype = network & 0xFFFF
        self.link_types = [linktype_name(self.linktype)]
        self.header_done = True

    def locate(self, buf: bytes | bytearray | memoryview, base: int) -> Located:
        """Find the complete records in buf, whose first byte is at file offset base."""
        size = len(buf)
        off = 0
        if not self.header_done:
            if size < FILE_HEADER_SIZE:
                return Located(empty_records(), 0)
            self._parse_header(buf, 0)
            off = FILE_HEADER_SIZE
        offsets, off, bad_off = self._walk(buf, off)
        missing = 0
        if bad_off is None and off + RECORD_HEADER_SIZE <= size:
            order = ">I" if self.big_endian else "<I"
            missing = off + RECORD_HEADER_SIZE + struct.unpack_from(order, buf, off + 8)[0] - size
        error = error_offset = None
        if bad_off is not None:
            error_offset = base + bad_off
            caplen = struct.unpack_from(">I" if self.big_endian else "<I", buf, bad_off + 8)[0]
            error = (f"record at byte offset {error_offset} claims a captured length of "
                     f"{caplen} bytes (limit {self.max_caplen}): file corrupt")
        return Located(self._gather(buf, offsets), off, error, error_offset, missing)

    def _walk(self, buf: bytes | bytearray | memoryview,
              off: int) -> tuple[list[int], int, int | None]:
        """Record offsets, the offset after the last complete record, the first bad one."""
        unpack = struct.Struct((">" if self.big_endian else "<") + "8xI").unpack_from
        limit = self.max_caplen
        size = len(buf)
        offsets: list[int] = []
        append = offsets.append
        # While four maximal records still fit, no bounds checks are needed; absurd
        # lengths are caught afterwards in bulk (offsets only ever grow).
        safe_end = size - 4 * (RECORD_HEADER_SIZE + limit)
        while off < safe_end:
            append(off)
            off += unpack(buf, off)[0] + 16
            append(off)
            off += unpack(buf, off)[0] + 16
            append(off)
            off += unpack(buf, off)[0] + 16
            append(off)
            off += unpack(buf, off)[0] + 16
        if offsets:
            bad = self._first_absurd(buf, offsets)
            if bad is not None:
                return offsets[:bad], offsets[bad], offsets[bad]
        while off + RECORD_HEADER_SIZE <= size:
            caplen = unpack(buf, off)[0]
            if caplen > limit:
                return offsets, off, off
            end = off + RECORD_HEADER_SIZE + caplen
            if end > size:
                break
            append(off)
            off = end
        return offsets, off, None

    def _first_absurd(self, buf: bytes | bytearray | memoryview,
                      offsets: list[int]) -> int | None:
        caplens = u32_view(buf, self.big_endian)[np.asarray(offsets, np.int64) + 8]
        bad = np.flatnonzero(caplens > self.max_caplen)
        return int(bad[0]) if bad.size else None

    def _gather(self, buf: bytes | bytearray | memoryview, offsets: list[int]) -> Records:
        if not offsets:
            return empty_records()
        starts = np.asarray(offsets, np.int64)
        view = u32_view(buf, self.big_endian)
        seconds = view[starts].astype(np.float64)
        fraction = view[starts + 4].astype(np.float64)
        caplen = view[starts + 8].astype(np.int32)
        wirelen = view[starts + 12].astype(np.int32)
        ts = seconds + fraction * self.frac_scale
        linktype = np.full(starts.shape[0], self.linktype, np.int32)
        return Records(ts, starts + RECORD_HEADER_SIZE, caplen, wirelen, linktype)
