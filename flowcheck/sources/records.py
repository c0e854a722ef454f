"""The records a format parser located in one buffer, as parallel numpy arrays."""

from __future__ import annotations

import numpy as np

from flowcheck.fields_dataclass import fields_dataclass


@fields_dataclass(slots=True)
class Records:
    """Located records of one buffer; the arrays are parallel, one entry per packet."""

    ts: np.ndarray  # float64
    data_off: np.ndarray  # int64, offset of the packet bytes in the buffer
    caplen: np.ndarray  # int32
    wirelen: np.ndarray  # int32
    linktype: np.ndarray  # int32
    # int32 interface of each packet (pcapng, numbered across sections); None for pcap
    interface: np.ndarray | None = None
    # int64 0-based place of each packet among the file's records as Wireshark numbers
    # them (pcapng: custom and a few other blocks are records too); None: the records
    # follow one another in the file with nothing numbered between them
    position: np.ndarray | None = None
    # int64 the capture tool's own identity of each packet, the same for its copies
    # (pktmon's PktGroupId and PktNumber: flowcheck.sources.host_tools), -1 for a packet
    # without one; None when no packet has one
    identity: np.ndarray | None = None
    # int64 clock epoch of each packet (sources.clock_epochs): how many times the
    # capture host's clock stepped back before it; None: every packet in epoch 0
    epoch: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def slice(self, start: int, stop: int) -> Records:
        return self.take(slice(start, stop))  # numpy views, as before

    def take(self, rows: np.ndarray | slice) -> Records:
        """The records at rows (an index array, in that order, or a slice: views)."""
        interface = None if self.interface is None else self.interface[rows]
        position = None if self.position is None else self.position[rows]
        identity = None if self.identity is None else self.identity[rows]
        epoch = None if self.epoch is None else self.epoch[rows]
        return Records(self.ts[rows], self.data_off[rows], self.caplen[rows],
                       self.wirelen[rows], self.linktype[rows], interface, position, identity,
                       epoch)


def empty_records() -> Records:
    return Records(np.empty(0, np.float64), np.empty(0, np.int64), np.empty(0, np.int32),
                   np.empty(0, np.int32), np.empty(0, np.int32))


@fields_dataclass(slots=True)
class Located:
    """What a parser found in a buffer.

    consumed  bytes of the buffer fully parsed (the rest is carried to the next chunk)
    error     why parsing must stop for good (absurd length), with the file offset
    missing   bytes still to come to complete the record cut at the end, when known
    next_file another capture file's header starts at `consumed` (files joined with
              `cat`): the reader goes on with a parser of its own for it
    numbered_blocks  non-packet blocks in the buffer that Wireshark numbers as frames
    """

    records: Records
    consumed: int
    error: str | None = None
    error_offset: int | None = None
    missing: int = 0
    next_file: bool = False
    # records Wireshark numbers that are not packets (pcapng custom blocks, ...): with
    # them, records.position says where the packets are among the numbered records
    numbered_blocks: int = 0


class FormatError(Exception):
    """The bytes are not the format the parser expected (bad header, bad magic)."""


def u32_view(buf: bytes | bytearray | memoryview, big_endian: bool) -> np.ndarray:
    """A uint32 view starting at every byte of buf (stride 1), to gather unaligned fields."""
    size = len(buf)
    if size < 4:
        return np.empty(0, np.uint32)
    dtype = np.dtype(">u4" if big_endian else "<u4")
    return np.ndarray(shape=(size - 3,), dtype=dtype, buffer=buf, offset=0, strides=(1,))
