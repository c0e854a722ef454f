"""pcapng files: sections of either byte order, per-interface link types and clocks.

Packets come from Enhanced (6), Simple (3) and obsolete Packet (2) blocks; every other
block type (name resolution, statistics, decryption secrets, custom) is skipped. The
walk is per block in Python; timestamps are converted in bulk per interface.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from flowcheck.sources.pcap import MIN_MAX_CAPLEN, linktype_name
from flowcheck.sources.records import Located, Records, empty_records

SHB_TYPE = 0x0A0D0D0A
IDB_TYPE = 1
OPB_TYPE = 2
SPB_TYPE = 3
EPB_TYPE = 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
MAX_BLOCK_LENGTH = 64 << 20  # larger than any real block: taken as corruption
OPT_END, OPT_IF_TSRESOL, OPT_IF_TSOFFSET = 0, 9, 14
SPB_MARK = -1  # interface index placeholder: the row has no timestamp of its own


@dataclass(slots=True)
class Interface:
    linktype: int
    snaplen: int
    ticks_per_second: int = 1_000_000
    ts_offset: int = 0  # seconds added to every timestamp (if_tsoffset)


class BlockError(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class PcapngParser:
    """Locates the packets of a pcapng file, one buffer at a time (sans-IO)."""

    format_name = "pcapng"

    def __init__(self) -> None:
        self.order = "<"
        self.interfaces: list[Interface] = []  # every interface of every section so far
        self.section_base = 0  # index in self.interfaces of this section's interface 0
        self.link_types: list[str] = []
        self.last_ts = 0.0  # for Simple Packet Blocks, which carry no timestamp
        self._missing = 0  # bytes still to come of the block cut at the buffer's end

    def locate(self, buf: bytes | bytearray | memoryview, base: int) -> Located:
        rows: list[tuple[int, int, int, int, int, int]] = []
        try:
            off = self._walk(buf, base, rows)
        except BlockError as exc:
            return Located(self._gather(rows), exc.offset - base, str(exc), exc.offset)
        return Located(self._gather(rows), off, missing=self._missing)

    def _walk(self, buf: bytes | bytearray | memoryview, base: int,
              rows: list[tuple[int, int, int, int, int, int]]) -> int:
        """Append (iface, ts_high, ts_low, data_off, caplen, wirelen) per packet."""
        off = 0
        size = len(buf)
        unpack_from = struct.unpack_from
        self._missing = 0
        while off + 12 <= size:
            block_type = unpack_from(self.order + "I", buf, off)[0]
            if block_type == SHB_TYPE:
                self._set_byte_order(buf, off, base)
            block_length = unpack_from(self.order + "I", buf, off + 4)[0]
            if block_length < 12 or block_length % 4 or block_length > MAX_BLOCK_LENGTH:
                raise BlockError(f"block at byte offset {base + off} has an invalid length "
                                 f"of {block_length} bytes: file corrupt", base + off)
            end = off + block_length
            if end > size:
                self._missing = end - size
                break
            if unpack_from(self.order + "I", buf, end - 4)[0] != block_length:
                raise BlockError(f"block at byte offset {base + off} has mismatched length "
                                 f"fields: file corrupt", base + off)
            if block_type == EPB_TYPE:
                rows.append(self._enhanced(buf, off, block_length, base))
            elif block_type == SPB_TYPE:
                rows.append(self._simple(buf, off, block_length, base))
            elif block_type == OPB_TYPE:
                rows.append(self._obsolete(buf, off, block_length, base))
            elif block_type == IDB_TYPE:
                self._interface(buf, off, block_length)
            elif block_type == SHB_TYPE:
                self.section_base = len(self.interfaces)
            off = end
        return off

    def _set_byte_order(self, buf: bytes | bytearray | memoryview, off: int, base: int) -> None:
        if struct.unpack_from("<I", buf, off + 8)[0] == BYTE_ORDER_MAGIC:
            self.order = "<"
        elif struct.unpack_from(">I", buf, off + 8)[0] == BYTE_ORDER_MAGIC:
            self.order = ">"
        else:
            raise BlockError(f"section header at byte offset {base + off} has no valid "
                             f"byte-order magic: file corrupt", base + off)

    def _packet_interface(self, local_id: int, off: int, base: int) -> int:
        index = self.section_base + local_id
        if local_id >= len(self.interfaces) - self.section_base:
            raise BlockError(f"packet at byte offset {base + off} names interface "
                             f"{local_id}, which the section never described", base + off)
        return index

    def _check_caplen(self, caplen: int, room: int, index: int, off: int, base: int) -> None:
        limit = max(self.interfaces[index].snaplen, MIN_MAX_CAPLEN)
        if caplen > room or caplen > limit:
            raise BlockError(f"packet block at byte offset {base + off} claims a captured "
                             f"length of {caplen} bytes (limit {min(room, limit)}): "
                             f"file corrupt", base + off)

    def _enhanced(self, buf: bytes | bytearray | memoryview, off: int, length: int,
                  base: int) -> tuple[int, int, int, int, int, int]:
        local_id, high, low, caplen, wirelen = struct.unpack_from(self.order + "5I", buf, off + 8)
        index = self._packet_interface(local_id, off, base)
        self._check_caplen(caplen, length - 32, index, off, base)
        return index, high, low, off + 28, caplen, wirelen

    def _obsolete(self, buf: bytes | bytearray | memoryview, off: int, length: int,
                  base: int) -> tuple[int, int, int, int, int, int]:
        local_id, _drops, high, low, caplen, wirelen = struct.unpack_from(
            self.order + "HH4I", buf, off + 8)
        index = self._packet_interface(local_id, off, base)
        self._check_caplen(caplen, length - 32, index, off, base)
        return index, high, low, off + 28, caplen, wirelen

    def _simple(self, buf: bytes | bytearray | memoryview, off: int, length: int,
                base: int) -> tuple[int, int, int, int, int, int]:
        index = self._packet_interface(0, off, base)
        wirelen = struct.unpack_from(self.order + "I", buf, off + 8)[0]
        snaplen = self.interfaces[index].snaplen
        caplen = min(wirelen, length - 16)
        if snaplen:
            caplen = min(caplen, snaplen)
        return SPB_MARK, index, 0, off + 12, caplen, wirelen

    def _interface(self, buf: bytes | bytearray | memoryview, off: int, length: int) -> None:
        linktype, _reserved, snaplen = struct.unpack_from(self.order + "HHI", buf, off + 8)
        interface = Interface(linktype, snaplen)
        for code, value in self._options(buf, off + 16, off + length - 4):
            if code == OPT_IF_TSRESOL and value:
                exponent = value[0] & 0x7F
                if value[0] & 0x80:
                    interface.ticks_per_second = 1 << min(exponent, 63)
                else:
                    interface.ticks_per_second = 10 ** min(exponent, 19)
            elif code == OPT_IF_TSOFFSET and len(value) >= 8:
                interface.ts_offset = struct.unpack(self.order + "q", value[:8])[0]
        self.interfaces.append(interface)
        name = linktype_name(linktype)
        if name not in self.link_types:
            self.link_types.append(name)

    def _options(self, buf: bytes | bytearray | memoryview, off: int,
                 end: int) -> list[tuple[int, bytes]]:
        options = []
        while off + 4 <= end:
            code, length = struct.unpack_from(self.order + "HH", buf, off)
            if code == OPT_END:
                break
            value = bytes(buf[off + 4:min(off + 4 + length, end)])
            options.append((code, value))
            off += 4 + ((length + 3) & ~3)
        return options

    def _gather(self, rows: list[tuple[int, int, int, int, int, int]]) -> Records:
        if not rows:
            return empty_records()
        table = np.array(rows, dtype=np.int64)
        iface = table[:, 0]
        simple = iface == SPB_MARK
        # For Simple Packet Blocks column 1 holds the interface, not a timestamp.
        real_iface = np.where(simple, table[:, 1], iface)
        ts = np.full(len(rows), np.nan)
        ticks = (table[:, 1].astype(np.uint64) << np.uint64(32)) | table[:, 2].astype(np.uint64)
        for index in np.unique(iface[~simple]):
            interface = self.interfaces[int(index)]
            mask = iface == index
            per_second = np.uint64(interface.ticks_per_second)
            seconds = (ticks[mask] // per_second).astype(np.float64)
            fraction = (ticks[mask] % per_second).astype(np.float64) / interface.ticks_per_second
            ts[mask] = seconds + fraction + interface.ts_offset
        if simple.any():
            ts = _forward_fill(ts, self.last_ts)
        self.last_ts = float(ts[-1])
        linktypes = np.array([self.interfaces[i].linktype for i in range(len(self.interfaces))],
                             dtype=np.int32)
        return Records(ts, table[:, 3].copy(), table[:, 4].astype(np.int32),
                       table[:, 5].astype(np.int32), linktypes[real_iface])


def _forward_fill(ts: np.ndarray, before: float) -> np.ndarray:
    """Give each NaN the timestamp of the packet before it (before: the previous chunk's)."""
    positions = np.where(np.isnan(ts), -1, np.arange(ts.shape[0]))
    last_known = np.maximum.accumulate(positions)
    filled = np.where(last_known >= 0, ts[np.maximum(last_known, 0)], before)
    return filled
