"""The time of a capture file's last record, read from its end without walking the file.

sources.ring_order trusts a set's ring names only when each file's last record (in the
order written) comes no later than the next file's first packet: a sniffer closes one
ring file before it opens the next, while two sniffers writing `x.pcap` and `x.pcap1`
at the same time (two interfaces) overlap (review58l). Their first packets are probed
already (CaptureFile.probe_first_ts); this finds the last one by reading the file's
tail only:

- classic pcap (microsecond or nanosecond, either byte order): the last record ends at
  the file's end, so its 16-byte header is at the offset whose caplen reaches exactly
  there; the two records before it must end exactly at its header and theirs (a chain
  of three, or back to the file header), each with a caplen of 1 or more, which payload
  bytes do not make (a payload ending in zeros made a chain of empty "records":
  captures/ndmjob-pmtu).
- pcapng: each block ends with its total length, so the blocks are walked back from the
  end (over statistics and name blocks dumpcap writes last) to the last Enhanced Packet
  Block; its time in its interface's units (if_tsresol, if_tsoffset of the first
  section's Interface Description Blocks, pcapng draft 4.2, 4.3).

The end is read in a small window first (_WINDOW, the whole file when it is smaller)
and widened, doubling, up to three records of the largest snap length only when no
chain ends in it: a ring of 1,000 small files read about 786 KB from each file's end,
~800 MB before any packet (lastread58a). A chain found in the window is found in any
wider one too (the same bytes); a wider window could only add a rival chain reaching
back past the window, which a payload would have to forge three records deep.

Anything else (a gzip file, pcap with 24-byte records, a file cut in a record, a pcapng
file whose tail walk meets another section) gives None: unknown.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from flowcheck.sources.pcap import MAGIC_NSEC, MAGIC_USEC, PCAPNG_SECTION
from flowcheck.sources.pcapng import BYTE_ORDER_MAGIC, EPB_TYPE, IDB_TYPE, SHB_TYPE
from flowcheck.sources.pcapng_blocks import Interface, read_interface

_MAX_CAPLEN = 262_144  # tcpdump's and dumpcap's largest snap length
_CHAIN = 3  # records found ending one after another at a pcap file's end
_BLOCKS_BACK = 64  # blocks walked back from a pcapng file's end for a packet
_HEAD_BYTES = 65_536  # a pcapng file's start read for its Interface Description Blocks
_WINDOW = 65_536  # a pcap file's end read first, bytes; doubled while no chain ends in it
_MAGIC_BYTES = 28  # a file's first bytes telling pcap from pcapng (a pcapng SHB's start)
# A pcap file's magic as its first four bytes -> (byte order, nanosecond timestamps).
_PCAP_ORDERS = {struct.pack(order + "I", magic): (order, magic == MAGIC_NSEC)
                for order in "<>" for magic in (MAGIC_USEC, MAGIC_NSEC)}


def last_record_ts(path: str) -> float | None:
    """Seconds since the epoch of the last record of the capture file at `path` (the
    last written, whatever its time), None when it cannot be told from the file's ends
    (see the module's docstring) or the file has no packet. A file no larger than
    _WINDOW is read once, whole. Raises nothing."""
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            whole = size <= _WINDOW
            head = _read_at(file, 0, size if whole else _MAGIC_BYTES)
            if len(head) >= 24 and head[:4] in _PCAP_ORDERS:
                return _pcap_last(file, size, head if whole else None, head[:4])
            if len(head) >= 28 and head[:4] == PCAPNG_SECTION:
                if not whole:
                    head = _read_at(file, 0, min(size, _HEAD_BYTES))
                return _pcapng_last(file, size, head)
    except OSError:
        return None
    return None


def _read_at(file, offset: int, length: int) -> bytes:  # noqa: ANN001
    """`length` bytes of `file` from byte `offset` (fewer at its end): every read of a
    file's ends goes through here (tests count the bytes read)."""
    file.seek(offset)
    return file.read(length)


def _bytes_at(file, head: bytes, offset: int, length: int) -> bytes:  # noqa: ANN001
    """`length` bytes of `file` from `offset`: from `head` (its first bytes, read
    already) when they hold them, else read."""
    if offset + length <= len(head):
        return head[offset:offset + length]
    return _read_at(file, offset, length)


def _pcap_last(file, size: int, whole: bytes | None,  # noqa: ANN001
               magic: bytes) -> float | None:
    """The last record's time of a pcap file of `size` bytes (`whole`: its bytes, when
    read whole), its end read in windows widening from _WINDOW to the bound."""
    order, nano = _PCAP_ORDERS[magic]
    if size < 24 + 16:
        return None
    bound = _CHAIN * (_MAX_CAPLEN + 16)
    window, start, tail = _WINDOW, size, b""
    while True:
        # Widened: only the bytes before those read already are read.
        wider = max(24, size - min(window, bound))
        tail = (whole[wider:start] if whole is not None
                else _read_at(file, wider, start - wider)) + tail
        start = wider
        if len(tail) != size - start:
            return None
        found = set()
        for off in _records_ending_at(tail, len(tail), order, nano):
            if _chained(tail, off, start, order, nano, _CHAIN - 1):
                seconds, fraction = struct.unpack_from(order + "II", tail, off)
                found.add(seconds + fraction / (1e9 if nano else 1e6))
        if found or start == 24 or window >= bound:
            return found.pop() if len(found) == 1 else None
        window *= 2


def _chained(tail: bytes, off: int, start: int, order: str, nano: bool, depth: int) -> bool:
    """Whether `depth` records end one after another at `off` of `tail` (which starts at
    file offset `start`), or fewer reaching back to the file header's end."""
    if off + start == 24 or depth == 0:
        return True
    return any(_chained(tail, before, start, order, nano, depth - 1)
               for before in _records_ending_at(tail, off, order, nano))


def _records_ending_at(tail: bytes, end: int, order: str, nano: bool) -> list[int]:
    """Offsets in `tail` of the record headers whose record ends exactly at `end`: a
    caplen of 1 or more reaching there, no more than the wire length, a valid fraction
    of a second (zeros in a packet's payload make no record)."""
    dtype = np.dtype(order + "u4")
    low = max(0, end - _MAX_CAPLEN - 16)
    window = memoryview(tail)[low:end]
    found = []
    for align in range(4):
        words = np.frombuffer(window, dtype, (len(window) - align) // 4, align)
        offsets = low + align + 4 * np.arange(max(0, len(words) - 3), dtype=np.int64)
        caplen = words[2:len(words) - 1].astype(np.int64)
        for off in offsets[caplen == end - offsets - 16].tolist():
            _sec, fraction, caplen_, wirelen = struct.unpack_from(order + "IIII", tail, off)
            if 0 < caplen_ <= min(wirelen, _MAX_CAPLEN) and fraction < (1e9 if nano else 1e6):
                found.append(off)
    return found


def _pcapng_last(file, size: int, head: bytes) -> float | None:  # noqa: ANN001
    order = next((order for order in "<>"
                  if struct.unpack_from(order + "I", head, 8)[0] == BYTE_ORDER_MAGIC), None)
    if order is None:
        return None
    interfaces = _interfaces(head, order)
    end = size
    for _ in range(_BLOCKS_BACK):
        if end < 12:
            return None
        (length,) = struct.unpack(order + "I", _bytes_at(file, head, end - 4, 4))
        if length < 12 or length % 4 or length > end:
            return None
        block = _bytes_at(file, head, end - length, min(length, 20))
        kind, again = struct.unpack_from(order + "II", block)
        if again != length or kind == SHB_TYPE:
            return None
        if kind == EPB_TYPE:
            if len(block) < 20:
                return None
            interface, high, low = struct.unpack_from(order + "III", block, 8)
            if interface >= len(interfaces):
                return None
            about = interfaces[interface]
            return about.ts_offset + ((high << 32) | low) / about.ticks_per_second
        end -= length
    return None


def _interfaces(head: bytes, order: str) -> list[Interface]:
    """The first section's Interface Description Blocks in the file's first bytes."""
    interfaces = []
    off = struct.unpack_from(order + "I", head, 4)[0]
    while off + 12 <= len(head):
        kind, length = struct.unpack_from(order + "II", head, off)
        if length < 12 or off + length > len(head) or kind == SHB_TYPE:
            break
        if kind == IDB_TYPE:
            interfaces.append(read_interface(head, off, length, order, 0)[0])
        off += length
    return interfaces
