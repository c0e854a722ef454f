"""One capture file read in fixed-size chunks: records located in bulk per chunk.

A chunk is the carried-over partial record of the previous chunk plus the next
chunk_size bytes. Memory therefore stays at about one chunk per open file (two with
read-ahead, readahead.py), whatever the file size. Each chunk gets a fresh,
uninitialised buffer: zero-filling a bytearray costs about as much as the read itself,
and a buffer is never reused because batches handed on may still point into it.
(Memory-mapping the file instead was measured slower: page faults, and gathers from
cold, 4 KiB-paged memory.) Files joined with `cat`: the rest of a buffer after the next
file's header is parsed in place by that file's parser, and the records of both go on
in one chunk (joined_chunks.py).
"""

from __future__ import annotations

import select
from collections.abc import Generator, Iterator

import numpy as np

from flowcheck.arrays import distinct
from flowcheck.errors import InputError
from flowcheck.model import CaptureInfo
from flowcheck.sources.byte_source import ByteSource, CompressedStreamError
from flowcheck.sources.inputs import InputSpec, describe_magic, format_of
from flowcheck.sources.interface_order import InterfaceOrder
from flowcheck.sources.joined_chunks import Located, joined_chunks
from flowcheck.sources.pcap import PcapParser
from flowcheck.sources.pcap_variants import pcap_layout, pcap_parser
from flowcheck.sources.pcapng import HOST_ORDER, MAX_BLOCK_LENGTH, PcapngParser
from flowcheck.sources.readahead import ReadAhead, Reads, usable_cores
from flowcheck.sources.records import FormatError, Records
from flowcheck.sources.walk_ahead import WalkAhead

PROBE_CHUNK = 64 << 10
# glibc serves allocations above its mmap threshold (128 KiB at first) with fresh,
# zero-filled pages, and returns memory to the system as soon as the heap's free top
# exceeds twice that threshold. Freeing an mmap-served block raises both thresholds to
# its size (glibc's dynamic threshold, man mallopt). The chunk buffers would raise them
# step by step as their sizes grow, each step page-faulting a chunk in again; one block
# this large, freed before the first chunk, raises them once, and the buffers and the
# decode's temporaries are recycled from the heap from the start. Measured (medians of
# 8 runs): 1,500-5,000 fewer page faults, about 4% of the in-process time on the 1 GB
# benchmark capture and 15% on a 156 MB one, for about 8 MB more peak RSS (freed heap
# memory is kept for reuse instead of returned).
# Once per process; without glibc the block is simply allocated and freed.
ALLOCATOR_PRIMER = 31 << 20  # below glibc's 32 MiB cap on the dynamic threshold
_allocator_primed = False
# A second process walks a pcap or pcapng file's records ahead (walk_ahead.py) when the
# file holds at least this many, as estimated from its first chunk: the child is ready
# about 50 ms after it starts, and the main process walks by itself until then.
WALK_AHEAD_MIN_RECORDS = 100_000
# A file shorter than its chunk is read whole by its first read, and the read after it
# only finds its end: a read-ahead thread would overlap nothing, and its start, hand-overs
# and join cost about 0.5-1 ms of CPU, up to a tenth of a small capture's whole
# analysis (data-port-dropped's: 7.4-9.0 ms read on demand, 7.9-10.3 read ahead). Below
# this size too, so no file the walk ahead could take (WALK_AHEAD_MIN_RECORDS records of
# at least 16 bytes each) loses its thread whatever the chunk size.
ONE_READ_BELOW = 1 << 20


def _prime_allocator() -> None:
    global _allocator_primed
    if not _allocator_primed:
        _allocator_primed = True
        np.empty(ALLOCATOR_PRIMER, np.uint8)  # freed at once, never touched: no memory used


class CaptureFile:
    """A member of the capture set; `chunks()` yields (buffer, records) and fills info."""

    def __init__(self, spec: InputSpec, chunk_size: int, *, read_ahead: bool = True) -> None:
        self.spec = spec
        self.chunk_size = max(1, chunk_size)
        self.read_ahead = read_ahead  # read the next chunk in the background (files only)
        self.info = CaptureInfo(path=spec.name, beside=list(spec.beside))
        self.raw_done = 0  # bytes of the file consumed so far, for progress
        self._sections: list[int] = []  # the section of each pcapng interface so far
        self._walk_ahead: WalkAhead | None = None

    def probe_first_ts(self) -> float | None:
        """Timestamp of the first packet (None if none), reading as little as possible.

        Only for reopenable files; errors found here are recorded in info.
        """
        probe = CaptureFile(self.spec, PROBE_CHUNK, read_ahead=False)
        first: float | None = None
        chunks = probe.chunks()
        try:
            for _buf, records in chunks:
                first = float(records.ts[0])
                break
        finally:
            chunks.close()
        if first is None:
            # Nothing to merge by: keep what the probe learnt (the file may be unreadable).
            for name in ("error", "error_offset", "format", "link_types", "truncated"):
                setattr(self.info, name, getattr(probe.info, name))
        return first

    def chunks(self) -> Generator[tuple[memoryview, Records], None, None]:
        try:
            source = ByteSource(self.spec)
        except InputError as exc:
            self.info.error = str(exc)
            return
        try:
            yield from self._read(source)
        finally:
            source.close()

    def _read(self, source: ByteSource) -> Iterator[tuple[memoryview, Records]]:
        _prime_allocator()
        info = self.info
        # A regular file never blocks: its next chunk is read in the background while
        # the consumer works on this one. Pipes and terminals are read on demand, so a
        # live capture's packets are handed on as soon as they arrive. A file read whole
        # by its first read has nothing to read ahead (ONE_READ_BELOW).
        size = source.remaining()
        one_read = size is not None and size < min(self.chunk_size, ONE_READ_BELOW)
        ahead = (self.read_ahead and not source.interactive and not one_read
                 and usable_cores() > 1)
        reads = ReadAhead(source) if ahead else Reads(source)
        # A pcapng file's interfaces merged by time (dumpcap writes them in blocks).
        order = InterfaceOrder()
        try:
            for buf, records in joined_chunks(self._chunks(source, reads, info),
                                              self.chunk_size, lambda: len(self._sections)):
                yield from order.feed(buf, records, self._sections)
            yield from order.flush()
        finally:
            self._end_walk_ahead()
            reads.close()

    def _start_walk_ahead(self, parser: PcapParser | PcapngParser, source: ByteSource,
                          reads: Reads, records: int, consumed: int) -> None:
        """Start a walk ahead of the parser (an uncompressed pcap file, or pcapng file in
        the host's byte order, read ahead, when the first chunk's records per byte
        promise enough records in the whole file), one per spare core: the files of a
        set are read together, merged by time."""
        size = self.spec.size
        pcapng = type(parser) is PcapngParser
        if (type(parser) is not PcapParser and not (pcapng and parser.order == HOST_ORDER)
                or self.spec.path is None or size is None
                or source.compressed or not isinstance(reads, ReadAhead) or not consumed
                or not hasattr(select, "poll")  # a pipe polled: POSIX
                or WalkAhead.running >= usable_cores() - 1
                or records * size < WALK_AHEAD_MIN_RECORDS * consumed):
            return
        try:
            if isinstance(parser, PcapngParser):
                self._walk_ahead = WalkAhead(str(self.spec.path), size, False,
                                             MAX_BLOCK_LENGTH, "pcapng")
            else:
                self._walk_ahead = WalkAhead(str(self.spec.path), size, parser.big_endian,
                                             parser.max_caplen)
        except OSError:
            return  # no process to spare: the parser walks alone
        parser.walk_ahead = self._walk_ahead

    def _end_walk_ahead(self) -> None:
        if self._walk_ahead is not None:
            self._walk_ahead.close()
            self._walk_ahead = None

    def _chunks(self, source: ByteSource, reads: Reads,
                info: CaptureInfo) -> Iterator[Located]:
        """The located records of each read chunk (joined_chunks.Located: those ending
        at another file's header are handed on with the next file's by joined_chunks)."""
        carry = b""
        base = 0  # file offset (decompressed) of the first byte of the next buffer
        parser: PcapParser | PcapngParser | None = None
        # Files joined with cat: the link types of those before, and the pcapng parser
        # that a later pcapng file goes on with (a new section, numbered after them).
        earlier: list[str] = []
        pcapng: PcapngParser | None = None
        carried: set[int] = set()  # pcapng interfaces with a packet in the file
        numbered = 0  # records Wireshark numbers (packets and a few other blocks) so far
        # The rest of the buffer after a joined file's header (that header first): read
        # in place, not carried into a new read (a copy of the rest at every file joined:
        # quadratic in a ring's many small files).
        resume: memoryview | None = None
        end_of_input = False
        reads.start(carry, 0, self.chunk_size)
        while True:
            if resume is not None:
                buf, resume = resume, None
            else:
                try:
                    buf, count = reads.result()
                except CompressedStreamError as exc:
                    buf, count = _holding(carry), 0
                    info.error, info.truncated = (f"{self.spec.shown}: compressed data corrupt "
                                                  f"or cut: {exc}", True)
                end_of_input = count == 0
                buf = buf[:len(carry) + count]
                self.raw_done = source.raw_position() or self.raw_done
            if parser is None:
                if len(buf) < 4 and not end_of_input:
                    carry = bytes(buf)  # a pipe gave fewer bytes than the magic
                    reads.start(carry, 0, self.chunk_size)
                    continue
                first_format = info.format
                try:
                    parser = self._make_parser(source, buf, end_of_input)
                except _TooEarly:
                    # A pcap variant's first records are not all here yet (pcap_variants).
                    carry = bytes(buf)
                    reads.start(carry, 0, self.chunk_size)
                    continue
                if parser is None:
                    return
                if base:  # a file joined after the first: the capture keeps its format
                    info.format = first_format
                if isinstance(parser, PcapngParser):
                    parser = pcapng = pcapng or parser
            try:
                located = parser.locate(buf, base)
            except FormatError as exc:
                info.error = f"{self.spec.shown}: {exc}"
                return
            info.link_types = earlier + [name for name in parser.link_types
                                         if name not in earlier]
            info.tick = _finest_tick(parser, info.tick)
            if isinstance(parser, PcapngParser):
                interface = located.records.interface
                if interface is not None and len(interface):
                    low = int(interface.min())  # nearly always one interface: no sort
                    carried.update([low] if low == interface.max() else
                                   distinct(interface).tolist())
                if parser.drops:
                    # Only interfaces with packets in the file: dumpcap on Windows with a
                    # loopback or Wi-Fi adapter ticked too counts their drops (trial 24 D4:
                    # "99.4% of the packets" lost in a capture of the job that lost none).
                    info.kernel_dropped = sum(dropped for index, dropped in parser.drops.items()
                                              if index in carried)
                info.stopped_at = parser.stopped_at
                info.tool = parser.tool.name
                info.application = parser.tool.application
                # The first interface's, as dumpcap writes one per interface sniffed.
                first = parser.interfaces[0] if parser.interfaces else None
                if first is not None:
                    info.capture_filter = first.capture_filter
                    info.interface = first.name
            records = located.records
            if isinstance(parser, PcapngParser):
                # Frame numbers as Wireshark gives them (custom blocks take one too).
                within = (np.arange(len(records), dtype=np.int64) if records.position is None
                          else records.position)
                records.position = within + numbered
                self._sections = [interface.section for interface in parser.interfaces]
            first = numbered  # the chunk's first record's place among the numbered
            numbered += len(records) + located.numbered_blocks
            if base == 0 and self._walk_ahead is None:
                self._start_walk_ahead(parser, source, reads, len(records), located.consumed)
            if located.next_file:
                carry, resume = b"", buf[located.consumed:]
            else:
                carry = bytes(buf[located.consumed:])
            if located.error is None and not end_of_input and resume is None:
                # The next read starts now, before this chunk's records are handed on.
                reads.start(carry, located.missing, self.chunk_size)
            if len(records) or located.next_file:
                info.packets += len(records)
                count_snap_cut(info, records.caplen, records.wirelen)
                yield buf, located.consumed, records, first, located.next_file
            base += located.consumed
            info.bytes_read = base
            if located.next_file:
                # Files joined with cat: the rest of the buffer starts with the next one's
                # header, read next (`resume`).
                earlier, parser = info.link_types, None
                self._end_walk_ahead()
                continue
            if located.error is not None:
                info.error, info.error_offset = located.error, located.error_offset
                if located.error_offset is not None:
                    start = base - located.consumed  # the buffer's first byte
                    info.error += text_mode_hint(buf[:located.error_offset - start])
                info.truncated = True
                return
            if end_of_input:
                if carry:
                    info.bytes_read = base + len(carry)
                    if base == 0:  # not even the file header: nothing could be read
                        info.error = f"{self._ends('file ends')} inside the file header"
                    else:
                        info.truncated = info.cut_tail = True
                        which = "a packet record" if info.packets else "its first packet record"
                        info.error = info.error or self._cut_error(source, base + len(carry),
                                                                   which)
                if info.truncated and info.error_offset is None:
                    info.error_offset = base  # where the last record began, cut or not
                return

    def _cut_error(self, source: ByteSource, size: int, which: str) -> str:
        """Why the file's last record is incomplete: cut, or still being written."""
        if source.grew():
            self.info.growing = True
            return (f"{self.spec.shown}: the file is still being written (it grew while "
                    f"flowcheck read it): read up to its size when flowcheck started, "
                    f"{size:,} bytes, which ends in the middle of {which}")
        return f"{self._ends()} in the middle of {which}"

    def _ends(self, file_ends: str = "the file ends") -> str:
        """`x.pcap: the file ends` (`file_ends`), or `standard input: ends` (not a file).
        Never a replace in the whole text: a name holding "the file" ("see the
        file/x.pcap") read "see the file/x.pcap: see file/x.pcap: file ends ..."
        (review54c)."""
        if self.spec.name == "-":
            return f"{self.spec.shown}: ends"
        return f"{self.spec.shown}: {file_ends}"

    def _make_parser(self, source: ByteSource, buf: memoryview,
                     end_of_input: bool) -> PcapParser | PcapngParser | None:
        """The parser for the file whose first bytes are buf; None if it cannot be read
        (info.error says why). Raises _TooEarly while more bytes are needed to choose."""
        info = self.info
        if not buf:
            # A .gz cut before its first inflated byte keeps the decompressor's error.
            empty = "empty" if self.spec.name == "-" else "empty file"
            info.error = info.error or (f"{self.spec.shown}: {empty}" if end_of_input
                                        else None)
            return None
        fmt = format_of(bytes(buf[:4]))
        if fmt is None:
            info.error = f"{self.spec.shown}: {describe_magic(bytes(buf[:64]), self.spec.name)}"
            return None
        parser: PcapParser | PcapngParser = PcapngParser()
        if fmt == "pcap":
            try:
                layout = pcap_layout(buf, end_of_input, self.spec.name,
                                     confirm_standard=not source.interactive)
            except FormatError as exc:
                info.error = f"{self.spec.shown}: {exc}"
                return None
            if layout is None:
                raise _TooEarly
            fmt, parser = layout.name, pcap_parser(layout)
        info.format = fmt + (".gz" if source.compressed else "")
        return parser


class _TooEarly(Exception):
    """More of the file is needed to choose its parser."""


def _holding(data: bytes) -> memoryview:
    """A fresh buffer holding data (the carried bytes, when no more could be read)."""
    buf = memoryview(np.empty(len(data), np.uint8))
    buf[:] = data
    return buf


def text_mode_hint(read: bytes | bytearray | memoryview) -> str:
    """"; ... text (ASCII) mode ..." when every 0x0a byte of `read` (a damaged file's
    bytes before the damage, two at least) follows a 0x0d: an FTP transfer in text
    mode from Windows adds a 0x0d before each 0x0a, which shifts every record after the
    first such byte (trial 24 D10). In binary data about 1 in 256 would. "" otherwise."""
    data = bytes(read)
    newlines = data.count(b"\n")
    if newlines < 2 or data.count(b"\r\n") != newlines:
        return ""
    return ("; every 0x0a byte before it follows a 0x0d, as a transfer in text (ASCII) mode "
            "leaves a file: copy it again in binary mode (ftp: binary, or bin)")


def count_snap_cut(info: CaptureInfo, caplen: np.ndarray, wirelen: np.ndarray) -> None:
    """Add a chunk's records to info.snap_cut, snap_length and snap_shortest: those whose
    captured length (caplen, int array) is below their length on the wire (wirelen)."""
    cut = caplen < wirelen
    if cut.any():
        info.snap_cut += int(cut.sum())
        kept = caplen[cut]
        longest, shortest = int(kept.max()), int(kept.min())
        info.snap_length = max(info.snap_length or 0, longest)
        info.snap_shortest = (shortest if info.snap_shortest is None
                              else min(info.snap_shortest, shortest))


def _finest_tick(parser: object, known: float | None) -> float | None:
    """The finest timestamp unit (seconds) of the parser's records and `known`'s (a file
    joined after the first: CaptureInfo.tick): a pcap's fraction scale, a pcapng file's
    interfaces' ticks; None when neither says."""
    if isinstance(parser, PcapngParser):
        ticks = [1 / i.ticks_per_second for i in parser.interfaces if i.ticks_per_second > 0]
    else:
        scale = parser.frac_scale if isinstance(parser, PcapParser) else None
        ticks = [scale] if scale else []
    return min([*ticks, *([known] if known else [])], default=None)
