"""The unit the sources hand to the decoder: a chunk of packet records, located in bulk.

Sources never hand over single packets: per-packet Python work is what makes a reader
slow. A batch is a buffer plus parallel numpy arrays describing the records in it, in
the capture set's merged (time) order.
"""

from __future__ import annotations

import numpy as np

from flowcheck.fields_dataclass import fields_dataclass

# libpcap LINKTYPE_* values the decoder understands (docs/formats.md).
LINKTYPE_NULL = 0  # BSD loopback, host byte order AF_ value
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # raw IPv4/IPv6
LINKTYPE_LOOP = 108  # OpenBSD loopback, network byte order AF_ value
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

# The read chunk (bytes of a file read at a time; a batch covers at most one). Each batch
# costs a fixed part of the tracking (its numpy calls: about 40% of the 1 GB bench
# capture's at 8 MiB), so larger chunks pay until the two or three chunk buffers alive
# at once (tracked, held for the seam, read ahead: seams.py) weigh: bench (a), 1 GB, by
# callgrind and peak RSS: 8 MiB 3,035 M instructions, 68 MB; 12 MiB 2,871 M, 82 MB;
# 16 MiB 2,765 M, 96 MB (bench/README.md, 2026-12-04 14:15; by wall time too, 15:29).
CHUNK_BYTES = 16 << 20


@fields_dataclass(slots=True)
class PacketBatch:
    """Records of one chunk. Arrays are parallel, one entry per packet.

    buf      the bytes the offsets point into (a chunk of one file, or a merged copy)
    frame0   1-based frame number of the first packet (merged order across files)
    ts       float64 seconds since the epoch
    data_off int64 offset of each packet's captured bytes in buf
    caplen   int32 captured length
    wirelen  int32 original length on the wire
    linktype int32 LINKTYPE_* of each packet (pcapng interfaces can differ)
    capture  the file each packet came from, as an index into the capture set's
             `captures` list: one int when the whole batch comes from one file (the
             usual case, no per-packet array), else an int32 array per packet
    interface int32 interface of each packet (pcapng; across sections), None for pcap and
             for files merged by time
    frames   int64 frame number of each packet, when they do not simply run on from
             frame0: a single pcapng file read in time order across its interfaces, or
             holding blocks Wireshark numbers as frames (custom blocks); else None
    identity int64 the capture tool's identity of each packet (Records.identity), None
             when no packet of the batch has one
    epoch    int64 clock epoch of each packet (Records.epoch: the capture host's clock
             stepped back on all its streams at once before it), None: all in epoch 0
    """

    buf: bytes | bytearray | memoryview
    frame0: int
    ts: np.ndarray
    data_off: np.ndarray
    caplen: np.ndarray
    wirelen: np.ndarray
    linktype: np.ndarray
    capture: int | np.ndarray = 0
    interface: np.ndarray | None = None
    frames: np.ndarray | None = None
    identity: np.ndarray | None = None
    epoch: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def frame_numbers(self, rows: np.ndarray) -> np.ndarray:
        """The frame numbers (int64) of the packets at rows (positions in the batch)."""
        if self.frames is None:
            return rows.astype(np.int64) + self.frame0
        return self.frames[rows]

    def capture_of(self, rows: np.ndarray) -> np.ndarray:
        """The file (int32 index into `captures`) of each packet at rows (positions in the
        batch)."""
        if isinstance(self.capture, int | np.integer):
            return np.full(rows.shape[0], self.capture, np.int32)
        return self.capture[rows]

    def rows(self, start: int, stop: int) -> PacketBatch:
        """The batch's records start..stop, views of its arrays (same buffer)."""
        part = slice(start, stop)
        return PacketBatch(
            self.buf, self.frame0 + start, self.ts[part], self.data_off[part],
            self.caplen[part], self.wirelen[part], self.linktype[part],
            self.capture if isinstance(self.capture, int | np.integer) else self.capture[part],
            *(None if (a := getattr(self, name)) is None else a[part]
              for name in ("interface", "frames", "identity", "epoch")))

    def frame_number(self, row: int) -> int:
        """The frame number of the packet at row."""
        return self.frame0 + row if self.frames is None else int(self.frames[row])
