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
# A pcap file's magic as its first four bytes -> (byte order, nanosecond timestamps).
_PCAP_ORDERS = {struct.pack(order + "I", magic): (order, magic == MAGIC_NSEC)
                for order in "<>" for magic in (MAGIC_USEC, MAGIC_NSEC)}


def last_record_ts(path: str) -> float | None:
    """Seconds since the epoch of the last record of the capture file at `path` (the
    last written, whatever its time), None when it cannot be told from the file's ends
    (see the module's docstring) or the file has no packet. Raises nothing."""
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            head = file.read(min(size, _HEAD_BYTES))
            if len(head) >= 24 and head[:4] in _PCAP_ORDERS:
                return _pcap_last(file, size, head)
            if len(head) >= 28 and head[:4] == PCAPNG_SECTION:
                return _pcapng_last(file, size, head)
    except OSError:
        return None
    return None


def _pcap_last(file, size: int, head: bytes) -> float | None:  # noqa: ANN001
    order, nano = _PCAP_ORDERS[head[:4]]
    if size < 24 + 16:
        return None
    start = max(24, size - _CHAIN * (_MAX_CAPLEN + 16))
    file.seek(start)
    tail = file.read(size - start)
    if len(tail) != size - start:
        return None
    found = set()
    for off in _records_ending_at(tail, len(tail), order, nano):
        if _chained(tail, off, start, order, nano, _CHAIN - 1):
            seconds, fraction = struct.unpack_from(order + "II", tail, off)
            found.add(seconds + fraction / (1e9 if nano else 1e6))
    return found.pop() if len(found) == 1 else None


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
        file.seek(end - 4)
        (length,) = struct.unpack(order + "I", file.read(4))
        if length < 12 or length % 4 or length > end:
            return None
        file.seek(end - length)
        block = file.read(min(length, 20))
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
