"""pcapng files: sections of either byte order, per-interface link types and clocks.

Packets come from Enhanced (6), Simple (3) and obsolete Packet (2) blocks. Interface
Statistics Blocks (5) give when the capture stopped (isb_endtime) and the packets the
capture tool counted as dropped (isb_ifdrop, isb_osdrop): dumpcap writes one per
interface as it stops. Every other block type (name resolution, decryption secrets,
custom) is skipped; those Wireshark shows as frames of their own (custom blocks, systemd
journal entries, sysdig events: NUMBERED_TYPES) still take their frame number, so the
packets' frame numbers are Wireshark's (Records.position). Runs
of Enhanced Packet Blocks are found without a Python step per block (the walk ahead's
chain, a scan of the buffer's words: pcapng_scan.py, or the chain of length fields for
large blocks) and tested in bulk, each block's 28-byte header read as one gathered item;
other blocks one at a time. Timestamps are converted in bulk per interface
(pcapng_rows.py).
"""

from __future__ import annotations

import struct
import sys

import numpy as np

from flowcheck.sources.host_tools import NO_IDENTITY, HostTool
from flowcheck.sources.pcap import (
    MIN_MAX_CAPLEN,
    PCAPNG_SECTION,
    capture_header_at,
    linktype_name,
)
from flowcheck.sources.pcapng_blocks import (
    OPT_SHB_USERAPPL,
    Interface,
    read_interface,
    read_options,
    read_statistics,
)
from flowcheck.sources.pcapng_rows import NUMBERED_MARK, SPB_MARK, records_of
from flowcheck.sources.pcapng_scan import SCAN_MAX_BLOCK, SCAN_REST, STEPS_PER_BLOCK, EpbScan
from flowcheck.sources.records import Located, Records, u32_view
from flowcheck.sources.walk_ahead import WalkAhead

SHB_TYPE = 0x0A0D0D0A
IDB_TYPE = 1
OPB_TYPE = 2
SPB_TYPE = 3
ISB_TYPE = 5
EPB_TYPE = 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
MAX_BLOCK_LENGTH = 64 << 20  # larger than any real block: taken as corruption
# Blocks tshark 4.0 numbers as frames besides packets: custom blocks (copyable and not),
# systemd Journal Export, sysdig events (checked one by one against tshark 4.0.17).
NUMBERED_TYPES = frozenset({0x00000BAD, 0x40000BAD, 0x00000009, 0x00000204, 0x00000216,
                            0x00000221})
HOST_ORDER = "<" if sys.byteorder == "little" else ">"
# Blocks walked without a test in one go (_epb_run_native): doubled while runs go on.
STRETCH_MIN, STRETCH_MAX = 64, 1 << 14
EPB_HEAD = 28  # bytes of an EPB's fixed fields: type, length, interface, time, lengths


class BlockError(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class PcapngParser:
    """Locates the packets of a pcapng file, one buffer at a time (sans-IO)."""

    def __init__(self) -> None:
        self.order = "<"
        self.interfaces: list[Interface] = []  # every interface of every section so far
        self.section_base = 0  # index in self.interfaces of this section's interface 0
        self.section = 0  # sections begun before the current one
        self.link_types: list[str] = []
        self.last_ts = 0.0  # for Simple Packet Blocks, which carry no timestamp
        # From Interface Statistics Blocks: each isb_endtime read in the interface's units
        # and in microseconds (see stopped_at), and per interface (global index) the
        # drops its last block counted (they are totals).
        self._ends: list[tuple[float, float]] = []
        self.drops: dict[int, int] = {}
        self._missing = 0  # bytes still to come of the block cut at the buffer's end
        self.tool = HostTool()  # a Windows tool logging packets at several places of a host
        self._stretch = STRETCH_MIN
        self._numbered = 0  # NUMBERED_TYPES blocks in the buffer last located
        self.walk_ahead: WalkAhead | None = None  # another process walking ahead (reader.py)
        # The buffer being walked's EPB candidates, per byte order: kept across sections
        # of one order (a scan per section would cost the whole buffer each time).
        self._scans: dict[str, EpbScan] = {}
        self._block_bytes = 0.0  # mean bytes a block in the last buffer (scan or chain)
        self._scan_steps = 0  # the scans' Python steps in the buffer being walked
        self._scan_rest = 0  # buffers still to walk by the chain: look-alikes were many

    def locate(self, buf: bytes | bytearray | memoryview, base: int) -> Located:
        pieces: list[np.ndarray] = []
        try:
            off = self._walk(buf, base, pieces)
        except BlockError as exc:
            at = exc.offset - base
            # A pcap file joined with cat after this one. A pcapng one is a section this
            # walk reads itself: an error there is its section header's own (corrupt), and
            # handing it on as another file would have this parser read it again, for ever.
            if capture_header_at(buf, at) and bytes(buf[at:at + 4]) != PCAPNG_SECTION:
                return Located(self._gather(pieces), at, next_file=True,
                               numbered_blocks=self._numbered)
            return Located(self._gather(pieces), at, str(exc), exc.offset,
                           numbered_blocks=self._numbered)
        return Located(self._gather(pieces), off, missing=self._missing,
                       numbered_blocks=self._numbered)

    def _walk(self, buf: bytes | bytearray | memoryview, base: int,
              pieces: list[np.ndarray]) -> int:
        """Append (7, n) tables whose rows are iface, ts_high, ts_low, data_off, caplen,
        wirelen and identity (host_tools.HostTool.identities), one column per block."""
        off = 0
        size = len(buf)
        self._missing = 0
        self._scans = {}  # this buffer's EPB candidates, once scanned
        self._scan_steps = 0
        blocks = 0  # EPBs in runs
        while off + 12 <= size:
            # Runs of Enhanced Packet Blocks (nearly every block of a capture) are
            # found without a Python step per block and checked in bulk.
            offsets, off = self._epb_run(buf, off, base)
            if len(offsets):
                blocks += len(offsets)
                table, bad = self._epb_table(buf, offsets)
                pieces.append(table)
                if bad < len(offsets):
                    at = int(offsets[bad])
                    self._block(buf, at, base, pieces)  # raises the precise error
                    raise BlockError(f"packet block at byte offset {base + at} is "
                                     f"inconsistent: file corrupt", base + at)
            if off + 12 > size:
                break
            after = self._block(buf, off, base, pieces)
            if after is None:
                break
            off = after
        self._scans = {}
        if blocks:  # the next buffer's choice of run walk
            self._block_bytes = off / blocks
            self._scan_rest = (SCAN_REST if self._scan_steps * STEPS_PER_BLOCK > blocks
                               else max(self._scan_rest - 1, 0))
        self._scan_steps = 0
        return off

    def _epb_run(self, buf: bytes | bytearray | memoryview, off: int,
                 base: int) -> tuple[list[int] | np.ndarray, int]:
        """The offsets of the run of well-formed Enhanced Packet Blocks at off (type, a
        length of at least 32 and a multiple of 4, inside buf), and the offset after it;
        the chain from the walk ahead where it has it (walk_ahead.py)."""
        ahead = self.walk_ahead
        taken = ahead.take(base + off, base + len(buf)) if ahead is not None else None
        if taken is None:
            return self._epb_run_here(buf, off)
        chain, after, _bad, complete = taken
        at = chain - base  # blocks whole in buf, every length valid
        head = _heads(buf, self.order == ">", 8, at)  # (type, length) of each block
        not_epb = (head[:, 0] != EPB_TYPE) | (head[:, 1] < 32)
        if not_epb.any():
            good = int(np.argmax(not_epb))
            return at[:good], int(at[good])
        if complete:
            return at, after - base
        more, off = self._epb_run_here(buf, after - base)  # the walk ahead stopped here
        return np.concatenate((at, np.asarray(more, np.int64))), off

    def _epb_run_here(self, buf: bytes | bytearray | memoryview,
                      off: int) -> tuple[list[int] | np.ndarray, int]:
        """_epb_run walked in this process: by a scan of buf's words where blocks are small
        (pcapng_scan.py), else by the chain of lengths."""
        if not off & 3 and self._block_bytes <= SCAN_MAX_BLOCK and not self._scan_rest:
            if off + 12 > len(buf) or struct.unpack_from(self.order + "I", buf, off)[0] != EPB_TYPE:
                return [], off  # no run here (a section or interface block): no scan
            scan = self._scans.get(self.order)
            if scan is None:  # candidates from off on: later runs are further on
                size = len(buf)
                words = np.frombuffer(buf, ">u4" if self.order == ">" else "<u4",
                                      count=size >> 2)
                scan = self._scans[self.order] = EpbScan(words, off >> 2, size)
            steps = scan.steps
            found = scan.run(off >> 2)
            self._scan_steps += scan.steps - steps
            return found
        if self.order == HOST_ORDER and not off & 3:
            return self._epb_run_native(buf, off)
        head = struct.Struct(self.order + "II").unpack_from
        size = len(buf)
        offsets: list[int] = []
        append = offsets.append
        while off + 12 <= size:
            block_type, block_length = head(buf, off)
            if (block_type != EPB_TYPE or block_length < 32 or block_length & 3
                    or off + block_length > size):
                break
            append(off)
            off += block_length
        return offsets, off

    def _epb_run_native(self, buf: bytes | bytearray | memoryview,
                        off: int) -> tuple[list[int] | np.ndarray, int]:
        """_epb_run in the host's byte order: the block-length chain is followed through
        a 32-bit view of buf (blocks start on 4-byte boundaries), up to `_stretch`
        blocks without a test, and the blocks are tested afterwards in bulk.

        Why: one index per block instead of an unpack and four tests (about 2.5x faster
        a block; dumpcap and Wireshark write pcapng). Every block type has its length in
        the same place, so the chain walked past the block that ends the run is still
        the chain; that part is walked again by the next run.
        """
        size = len(buf)
        if off + 12 > size:
            return [], off
        walked = self._walk_chain(buf, off >> 2, (size - 12) >> 2)
        at = np.array(walked, np.int64) << 2
        inside = at + 12 <= size
        # (type, length) of each block walked; one past buf's end read at 0, then refused.
        head = _heads(buf, self.order == ">", 8, np.where(inside, at, 0))
        lengths = head[:, 1].astype(np.int64)
        bad = (~inside | (head[:, 0] != EPB_TYPE) | (lengths < 32) | (lengths & 3 != 0)
               | (at + lengths > size))
        good = int(np.argmax(bad)) if bad.any() else at.shape[0]
        # Runs cut short (blocks of other types, or the buffer's end) are followed by
        # shorter stretches, so little is walked twice; unbroken ones by longer ones.
        self._stretch = (min(self._stretch * 2, STRETCH_MAX) if good == at.shape[0]
                         else max(4, min(2 * good, STRETCH_MAX)))
        if not good:
            return [], off
        return at[:good], int(at[good - 1] + lengths[good - 1])

    def _walk_chain(self, buf: bytes | bytearray | memoryview, word: int,
                    stop: int) -> list[int]:
        """Word offsets of up to `_stretch` blocks from word, following each block's length
        field (no test but the end of buf: a length of 0 repeats the block, a wild one
        leaves buf; the caller's bulk test finds both)."""
        whole = memoryview(buf).cast("B")
        part = whole[:len(whole) & ~3]
        words = part.cast("I")
        walked: list[int] = []
        append = walked.append
        try:
            for _ in range(max(self._stretch >> 2, 1)):
                if word > stop:
                    break
                append(word)
                word += words[word + 1] >> 2
                append(word)
                word += words[word + 1] >> 2
                append(word)
                word += words[word + 1] >> 2
                append(word)
                word += words[word + 1] >> 2
        except IndexError:
            pass  # the chain left buf
        finally:
            for view in (words, part, whole):
                view.release()
        return walked

    def _epb_table(self, buf: bytes | bytearray | memoryview,
                   offsets: list[int] | np.ndarray) -> tuple[np.ndarray, int]:
        """The rows of a run of EPBs (offsets: each a block of type 6 and of a length of
        at least 32, whole in buf), up to the first inconsistent one, and its index
        (len(offsets) if none). Each block's 28-byte header is one gathered item."""
        starts = np.asarray(offsets, np.int64)
        head = _heads(buf, self.order == ">", EPB_HEAD, starts)  # 7 uint32 per block
        lengths = head[:, 1].astype(np.int64)
        local_id = head[:, 2]
        caplen = head[:, 5].astype(np.int64)
        section = self.interfaces[self.section_base:]
        limits = np.array([max(i.snaplen, MIN_MAX_CAPLEN) for i in section] or [-1], np.int64)
        known = local_id < len(section)
        limit = limits[np.where(known, local_id, 0)]
        trailer = u32_view(buf, self.order == ">")[starts + lengths - 4]
        bad = (trailer != lengths) | ~known | (caplen > lengths - 32) | (caplen > limit)
        first_bad = int(np.argmax(bad)) if bad.any() else len(starts)
        if first_bad < len(starts):
            starts, head, lengths, caplen = (starts[:first_bad], head[:first_bad],
                                             lengths[:first_bad], caplen[:first_bad])
        identity = self.tool.identities(buf, self.order, starts, lengths, caplen)
        table = np.empty((7, first_bad), np.int64)  # _gather's rows
        table[0] = head[:, 2]
        table[0] += self.section_base
        table[1:3] = head[:, 3:5].T  # timestamp, high and low 32 bits
        np.add(starts, 28, out=table[3])
        table[4] = caplen
        table[5] = head[:, 6]
        table[6] = NO_IDENTITY if identity is None else identity
        return table, first_bad

    def _block(self, buf: bytes | bytearray | memoryview, off: int, base: int,
               pieces: list[np.ndarray]) -> int | None:
        """Handle the block at off; the offset after it, or None if it is cut off."""
        unpack_from = struct.unpack_from
        size = len(buf)
        block_type = unpack_from(self.order + "I", buf, off)[0]
        if block_type == SHB_TYPE:
            self._set_byte_order(buf, off, base)  # the scan of that order (_scans)
        block_length = unpack_from(self.order + "I", buf, off + 4)[0]
        if block_length < 12 or block_length % 4 or block_length > MAX_BLOCK_LENGTH:
            raise BlockError(f"block at byte offset {base + off} has an invalid length "
                             f"of {block_length} bytes: file corrupt", base + off)
        end = off + block_length
        if end > size:
            self._missing = end - size
            return None
        if unpack_from(self.order + "I", buf, end - 4)[0] != block_length:
            raise BlockError(f"block at byte offset {base + off} has mismatched length "
                             f"fields: file corrupt", base + off)
        row = None
        if block_type == EPB_TYPE:
            if block_length < 32:
                raise BlockError(f"packet block at byte offset {base + off} is shorter than "
                                 f"its header: file corrupt", base + off)
            row = self._enhanced(buf, off, block_length, base)
        elif block_type == SPB_TYPE:
            row = self._simple(buf, off, block_length, base)
        elif block_type == OPB_TYPE:
            row = self._obsolete(buf, off, block_length, base)
        elif block_type == IDB_TYPE:
            self._interface(buf, off, block_length)
        elif block_type == ISB_TYPE and block_length >= 24:
            self._statistics(buf, off, block_length)
        elif block_type == SHB_TYPE:
            if self.interfaces:
                self.section += 1
            self.section_base = len(self.interfaces)
            for code, value in read_options(buf, off + 24, off + block_length - 4, self.order):
                if code == OPT_SHB_USERAPPL:
                    self.tool.see_application(value.decode(errors="replace").rstrip("\0"))
        elif block_type in NUMBERED_TYPES:
            row = (NUMBERED_MARK, 0, 0, 0, 0, 0, NO_IDENTITY)
        if row is not None:
            pieces.append(np.array(row, np.int64).reshape(7, 1))
        return end

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
                  base: int) -> tuple[int, int, int, int, int, int, int]:
        local_id, high, low, caplen, wirelen = struct.unpack_from(self.order + "5I", buf, off + 8)
        index = self._packet_interface(local_id, off, base)
        self._check_caplen(caplen, length - 32, index, off, base)
        identity = self.tool.identities(buf, self.order, np.array([off]), np.array([length]),
                                        np.array([caplen]))
        return (index, high, low, off + 28, caplen, wirelen,
                NO_IDENTITY if identity is None else int(identity[0]))

    def _obsolete(self, buf: bytes | bytearray | memoryview, off: int, length: int,
                  base: int) -> tuple[int, int, int, int, int, int, int]:
        local_id, _drops, high, low, caplen, wirelen = struct.unpack_from(
            self.order + "HH4I", buf, off + 8)
        index = self._packet_interface(local_id, off, base)
        self._check_caplen(caplen, length - 32, index, off, base)
        return index, high, low, off + 28, caplen, wirelen, NO_IDENTITY

    def _simple(self, buf: bytes | bytearray | memoryview, off: int, length: int,
                base: int) -> tuple[int, int, int, int, int, int, int]:
        index = self._packet_interface(0, off, base)
        wirelen = struct.unpack_from(self.order + "I", buf, off + 8)[0]
        snaplen = self.interfaces[index].snaplen
        caplen = min(wirelen, length - 16)
        if snaplen:
            caplen = min(caplen, snaplen)
        return SPB_MARK, index, 0, off + 12, caplen, wirelen, NO_IDENTITY

    def _interface(self, buf: bytes | bytearray | memoryview, off: int, length: int) -> None:
        interface, description = read_interface(buf, off, length, self.order, self.section)
        self.interfaces.append(interface)
        self.tool.see_interface(interface.name, description)
        name = linktype_name(interface.linktype)
        if name not in self.link_types:
            self.link_types.append(name)

    @property
    def stopped_at(self) -> float | None:
        """When the capture stopped (the latest isb_endtime), seconds since the epoch;
        None without one. The draft puts isb_endtime in the interface's units, but
        dumpcap 4.0 writes microseconds for a nanosecond interface: the reading within a
        day of the last packet is taken (none: ignored)."""
        found = [min(readings, key=lambda t: abs(t - self.last_ts)) for readings in self._ends]
        plausible = [t for t in found if abs(t - self.last_ts) < 86_400]
        return max(plausible) if plausible else None

    def _statistics(self, buf: bytes | bytearray | memoryview, off: int, length: int) -> None:
        """An Interface Statistics Block; one naming an interface the section never
        described is ignored."""
        local_id = struct.unpack_from(self.order + "I", buf, off + 8)[0]
        index = self.section_base + local_id
        if index >= len(self.interfaces):
            return
        statistics = read_statistics(buf, off, length, self.order, self.interfaces[index])
        if statistics.ends is not None:
            self._ends.append(statistics.ends)
        if statistics.drops is not None:
            self.drops[index] = statistics.drops

    def _gather(self, pieces: list[np.ndarray]) -> Records:
        records, self._numbered, self.last_ts = records_of(pieces, self.interfaces,
                                                           self.last_ts)
        return records


def _heads(buf: bytes | bytearray | memoryview, big_endian: bool, size: int,
           rows: np.ndarray) -> np.ndarray:
    """The first size // 4 words (uint32, in the section's byte order) of the blocks at
    byte offsets rows (each at most len(buf) - size): one gather of whole `size`-byte
    items through a view with an item at every byte, read as one row per block."""
    items = max(len(buf) - size + 1, 0)
    view = np.ndarray(shape=(items,), dtype=f"V{size}", buffer=buf, strides=(1,))
    return view[rows].view(">u4" if big_endian else "<u4").reshape(-1, size // 4)
