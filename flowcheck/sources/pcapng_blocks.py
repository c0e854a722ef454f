"""pcapng's descriptive blocks: options, Interface Description Blocks (IDB) and Interface
Statistics Blocks (ISB), read from a buffer in the section's byte order.

Source: the pcapng draft (draft-ietf-opsawg-pcapng), sections 3.5 (options), 4.2 (IDB)
and 4.6 (ISB). The packet blocks are flowcheck.sources.pcapng's.
"""

from __future__ import annotations

import struct

from flowcheck.fields_dataclass import fields_dataclass

OPT_END, OPT_IF_TSRESOL, OPT_IF_TSOFFSET = 0, 9, 14
OPT_IF_NAME, OPT_IF_FILTER = 2, 11  # pcapng draft 4.2: if_filter's first byte 0 = libpcap
OPT_IF_DESCRIPTION, OPT_SHB_USERAPPL = 3, 4
OPT_ISB_ENDTIME, OPT_ISB_IFDROP, OPT_ISB_OSDROP = 3, 5, 7

Buffer = bytes | bytearray | memoryview


@fields_dataclass(slots=True)
class Interface:
    """One interface of a pcapng file, as its Interface Description Block says."""

    linktype: int
    snaplen: int
    ticks_per_second: int = 1_000_000
    ts_offset: int = 0  # seconds added to every timestamp (if_tsoffset)
    name: str | None = None  # if_name
    capture_filter: str | None = None  # if_filter, when in libpcap's syntax
    section: int = 0  # the section (SHB) of the file it belongs to, from 0


@fields_dataclass(frozen=True, slots=True)
class InterfaceStatistics:
    """What one Interface Statistics Block says. `ends`: its isb_endtime read in the
    interface's units and in microseconds, seconds since the epoch (dumpcap 4.0 writes
    microseconds for a nanosecond interface: the reader picks); `drops`: isb_ifdrop +
    isb_osdrop, packets. Each None when the block does not say."""

    ends: tuple[float, float] | None
    drops: int | None


def read_options(buf: Buffer, off: int, end: int, order: str) -> list[tuple[int, bytes]]:
    """The (code, value) options between byte offsets `off` and `end` (draft 3.5), up to
    opt_endofopt; a value running past `end` is cut there."""
    options = []
    while off + 4 <= end:
        code, length = struct.unpack_from(order + "HH", buf, off)
        if code == OPT_END:
            break
        value = bytes(buf[off + 4:min(off + 4 + length, end)])
        options.append((code, value))
        off += 4 + ((length + 3) & ~3)
    return options


def read_interface(buf: Buffer, off: int, length: int, order: str,
                   section: int) -> tuple[Interface, str | None]:
    """The Interface Description Block of `length` bytes at `off` (draft 4.2) and its
    if_description (None without one)."""
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", buf, off + 8)
    interface = Interface(linktype, snaplen, section=section)
    description = None
    for code, value in read_options(buf, off + 16, off + length - 4, order):
        if code == OPT_IF_TSRESOL and value:
            exponent = value[0] & 0x7F
            if value[0] & 0x80:
                interface.ticks_per_second = 1 << min(exponent, 63)
            else:
                interface.ticks_per_second = 10 ** min(exponent, 19)
        elif code == OPT_IF_TSOFFSET and len(value) >= 8:
            interface.ts_offset = struct.unpack(order + "q", value[:8])[0]
        elif code == OPT_IF_NAME and value:
            interface.name = value.decode(errors="replace").rstrip("\0")
        elif code == OPT_IF_DESCRIPTION and value:
            description = value.decode(errors="replace").rstrip("\0")
        elif code == OPT_IF_FILTER and value[:1] == b"\0" and value[1:].strip(b"\0"):
            interface.capture_filter = value[1:].decode(errors="replace").rstrip("\0")
    return interface, description


def read_statistics(buf: Buffer, off: int, length: int, order: str,
                    interface: Interface) -> InterfaceStatistics:
    """The Interface Statistics Block of `length` (>= 24) bytes at `off` (draft 4.6),
    for `interface`, the one it names."""
    ends = None
    drops: int | None = None
    for code, value in read_options(buf, off + 20, off + length - 4, order):
        if code == OPT_ISB_ENDTIME and len(value) >= 8:
            high, low = struct.unpack(order + "II", value[:8])
            ticks = (high << 32) | low
            ends = (ticks / interface.ticks_per_second + interface.ts_offset,
                    ticks / 1_000_000 + interface.ts_offset)
        elif code in (OPT_ISB_IFDROP, OPT_ISB_OSDROP) and len(value) >= 8:
            drops = (drops or 0) + struct.unpack(order + "Q", value[:8])[0]
    return InterfaceStatistics(ends, drops)
