"""The pcapng block walk against a plain reference walk, buffer by buffer.

PcapngParser follows runs of Enhanced Packet Blocks through a 32-bit view of the buffer
without a test per block, and tests the blocks afterwards in bulk; the reference walks
them one block at a time with every test (the parser as it was before). On random block
streams (EPB runs, other blocks among them, several sections and interfaces, corrupt
lengths, a cut end), both byte orders, cut into random chunks as the reader does, every
buffer must give the same records, consumed bytes, error and missing bytes.
"""

from __future__ import annotations

import random
import struct
import tracemalloc

import numpy as np
import pytest

from flowcheck.sources import pcapng
from flowcheck.sources.pcapng import EPB_TYPE, PcapngParser
from flowcheck.sources.pcapng_scan import SCAN_REST, EpbScan
from flowcheck.sources.records import Located


class ReferenceParser(PcapngParser):
    """Every block read alone (PcapngParser._block: an unpack and every test per block,
    the parser as it was before runs were walked in bulk)."""

    def _epb_run(self, buf: bytes | bytearray | memoryview, off: int,
                 base: int = 0) -> tuple[list[int], int]:
        return [], off


def block(order: str, block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(order + "II", block_type, length) + body + struct.pack(order + "I", length)


def section(order: str) -> bytes:
    return block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def interface(order: str, snaplen: int, options: bytes = b"") -> bytes:
    return block(order, 1, struct.pack(order + "HHI", 1, 0, snaplen) + options + b"\0" * 4)


def nanosecond_interface(order: str) -> bytes:
    """An interface in nanoseconds (if_tsresol 9) whose clock is 3 s off (if_tsoffset)."""
    return interface(order, 1600, struct.pack(order + "HH", 9, 1) + b"\x09\0\0\0"
                     + struct.pack(order + "HHq", 14, 8, 3))


def enhanced(order: str, iface: int, count: int, caplen: int,
             payload: bytes | None = None) -> bytes:
    data = bytes([count % 256]) * caplen if payload is None else payload
    ticks = (1_700_000_000 + count) * (10**9 if iface == 1 else 10**6) + count * 7919
    return block(order, EPB_TYPE, struct.pack(order + "5I", iface, ticks >> 32,
                                              ticks & 0xFFFFFFFF, len(data), len(data) + 4)
                 + data)


def decoys(rng: random.Random, order: str, count: int) -> bytes:
    """A payload holding whole blocks that look like EPBs at 4-byte boundaries (a
    capture of a pcapng file's transfer), some followed by a lone EPB type word."""
    parts = [enhanced(order, 0, count + n, rng.randint(0, 40)) for n in range(rng.randint(1, 4))]
    if rng.random() < 0.5:
        parts.append(struct.pack(order + "II", EPB_TYPE, rng.choice((0, 32, 1 << 20))))
    return b"".join(parts)


def stream(rng: random.Random, order: str, packets: int) -> bytes:
    parts = [section(order), interface(order, 65535), nanosecond_interface(order)]
    count = 0
    while count < packets:
        roll = rng.random()
        if roll < 0.02:  # another section (its own interfaces)
            parts += [section(order), interface(order, 65535), nanosecond_interface(order)]
        elif roll < 0.1:  # blocks that are not EPBs: statistics, name resolution, custom
            parts.append(block(order, rng.choice((5, 4, 0xBAD, 0x40000BAD)),
                               bytes(rng.randint(0, 40))))
        elif roll < 0.13:  # a Simple Packet Block
            caplen = rng.randint(0, 200)
            parts.append(block(order, 3, struct.pack(order + "I", caplen) + bytes(caplen)))
        else:  # a run of EPBs, regular or irregular sizes
            sizes = ([rng.choice((1514, 66, 9000))] * rng.randint(1, 300) if rng.random() < 0.5
                     else [rng.randint(0, 3000) for _ in range(rng.randint(1, 300))])
            for caplen in sizes:
                iface = int(rng.random() < 0.1)
                payload = decoys(rng, order, count) if rng.random() < 0.05 else None
                parts.append(enhanced(order, iface, count, min(caplen, 1600), payload))
                count += 1
    return b"".join(parts)


def corrupt(rng: random.Random, data: bytes, order: str) -> bytes:
    """One block's length field (or its trailing copy, or an EPB's caplen) made wrong."""
    offsets, off = [], 0
    while off < len(data):
        offsets.append(off)
        off += struct.unpack_from(order + "I", data, off + 4)[0]
    at = rng.choice(offsets[3:])
    length = struct.unpack_from(order + "I", data, at + 4)[0]
    out = bytearray(data)
    kind = rng.choice(("zero", "odd", "wild", "huge", "trailer", "caplen"))
    if kind == "trailer":
        struct.pack_into(order + "I", out, at + length - 4, length + 4)
    elif kind == "caplen":
        struct.pack_into(order + "I", out, at + 20, length)
    else:
        value = {"zero": 0, "odd": length + 2, "huge": 1 << 31,
                 "wild": rng.randint(12, 1 << 22) & ~3}[kind]
        struct.pack_into(order + "I", out, at + 4, value)
    return bytes(out)


def same(mine: Located, theirs: Located) -> None:
    for name in ("ts", "data_off", "caplen", "wirelen", "linktype", "interface", "position",
                 "identity"):
        ours, reference = getattr(mine.records, name), getattr(theirs.records, name)
        assert (ours is None) == (reference is None), name
        if ours is not None:
            assert ours.dtype == reference.dtype and ours.tolist() == reference.tolist(), name
    assert (mine.consumed, mine.error, mine.error_offset, mine.missing,
            mine.numbered_blocks, mine.next_file) == (
        theirs.consumed, theirs.error, theirs.error_offset, theirs.missing,
        theirs.numbered_blocks, theirs.next_file)


def check_file(data: bytes, rng: random.Random, parser: PcapngParser | None = None) -> int:
    """Feed data to both parsers (the tested one new by default) in the same random
    chunks; compare every buffer. The number of packets located."""
    parser, reference = parser or PcapngParser(), ReferenceParser()
    base, pos, carry, packets = 0, 0, b"", 0
    while True:
        piece = data[pos:pos + rng.choice((100, 5000, 70_000, 300_000, 1 << 20))]
        pos += len(piece)
        buf = memoryview(np.frombuffer(carry + piece, np.uint8))
        located = parser.locate(buf, base)
        same(located, reference.locate(bytes(buf), base))
        packets += len(located.records)
        if located.error is not None or not piece:
            return packets
        base += located.consumed
        carry = bytes(buf[located.consumed:])


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("seed", range(8))
def test_block_walk_matches_the_reference(order: str, seed: int) -> None:
    rng = random.Random(seed * 2 + (order == ">"))
    data = stream(rng, order, 15_000)
    if seed % 4 == 1:
        data = corrupt(rng, data, order)
    if seed % 2:
        data = data[:rng.randint(len(data) // 2, len(data) - 1)]  # cut anywhere
    assert check_file(data, rng) > 1000


def test_zero_length_block_in_a_run_stops_it_with_the_error() -> None:
    order = "<"
    data = bytearray(section(order) + interface(order, 65535)
                     + b"".join(enhanced(order, 0, n, 100) for n in range(50)))
    at = len(section(order) + interface(order, 65535)) + 20 * len(enhanced(order, 0, 0, 100))
    struct.pack_into("<I", data, at + 4, 0)
    located = PcapngParser().locate(memoryview(bytes(data)), 0)
    assert len(located.records) == 20
    assert located.error_offset == at and "invalid length" in (located.error or "")


def test_sections_of_both_byte_orders_in_one_buffer() -> None:
    """The words scanned are read in the section's byte order: a section of the other
    order in the same buffer is scanned again (not with the first section's words)."""
    rng = random.Random(5)
    data = b"".join(section(order) + interface(order, 65535)
                    + b"".join(enhanced(order, 0, n, rng.randint(0, 300)) for n in range(400))
                    for order in ("<", ">", "<"))
    parser = BlocksCounted()
    mine, theirs = parser.locate(data, 0), ReferenceParser().locate(data, 0)
    same(mine, theirs)
    assert len(mine.records) == 1200 and mine.error is None
    assert parser.blocks == 6  # the section and interface blocks alone: no EPB one by one


def test_sections_of_a_byte_order_share_one_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each scan reads the buffer's words from its first run on: a scan per section would
    cost a buffer of many small sections (a hostile file, or files joined with cat) the
    whole buffer per section (80,000 sections of 104 bytes: 94 s against 21 s walked
    block by block). Sections of one byte order share the buffer's scan, so a buffer
    is scanned once per byte order, with the same records."""
    built: list[int] = []

    class Counted(EpbScan):
        def __init__(self, words: np.ndarray, first: int, size: int) -> None:
            built.append(first)
            super().__init__(words, first, size)

    monkeypatch.setattr(pcapng, "EpbScan", Counted)
    rng = random.Random(7)
    orders = "<" * 100 + "<>" * 50
    data = b"".join(section(order) + interface(order, 65535)
                    + b"".join(enhanced(order, 0, n, rng.randint(0, 100)) for n in range(3))
                    for order in orders)
    mine = PcapngParser().locate(data, 0)
    same(mine, ReferenceParser().locate(data, 0))
    assert len(mine.records) == 3 * len(orders) and mine.error is None
    assert len(built) == 2  # one per byte order


@pytest.mark.parametrize("order", ["<", ">"])
def test_payloads_of_words_equal_to_the_epb_type_cost_the_scan_no_memory(order: str) -> None:
    """Every payload word equal to the EPB type (an array of 32-bit 6s being backed up) is
    a candidate of the scan until its length is tested: a scan of the whole buffer at
    once held about 40 bytes of temporaries a word (132 MiB for a 16 MiB chunk, the
    block-by-block walk 2.8 MiB). The scan goes by slices: its peak is a slice's, and
    every slice's blocks are found (none read one at a time)."""
    data = section(order) + interface(order, 65535) + b"".join(
        enhanced(order, 0, n, 0, struct.pack(order + "I", EPB_TYPE) * 250)
        for n in range((4 << 20) // 1032))
    parser = BlocksCounted()
    tracemalloc.start()
    try:
        located = parser.locate(data, 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    same(located, ReferenceParser().locate(data, 0))
    assert len(located.records) == (4 << 20) // 1032 and located.error is None
    assert peak < len(data)  # a slice's 2.3 MB; the whole-buffer scan's 34.7 MB
    assert parser.blocks == 2  # the section and interface blocks alone


class BlocksCounted(PcapngParser):
    """Counts the blocks read one at a time (PcapngParser._block)."""

    blocks = 0

    def _block(self, buf: bytes | bytearray | memoryview, off: int, base: int,
               pieces: list[np.ndarray]) -> int | None:
        self.blocks += 1
        return super()._block(buf, off, base, pieces)


def test_a_decoy_reaching_into_the_next_block_is_passed_over() -> None:
    """A payload word that looks like an EPB whose length ends inside the next block,
    where that block's payload holds the same length (a whole-looking decoy across two
    real blocks), and a real block whose trailing length is wrong: the run follows the
    real chain and stops at the wrong block with the reference's error."""
    order = "<"
    head = section(order) + interface(order, 65535)
    first = enhanced(order, 0, 0, 64, struct.pack("<II", EPB_TYPE, 120) + bytes(56))
    # The decoy starts 28 bytes into `first` (96 bytes long): its trailer, 116 bytes on,
    # is 20 bytes into the next block's payload.
    second = enhanced(order, 0, 1, 64, bytes(20) + struct.pack("<I", 120) + bytes(40))
    rest = b"".join(enhanced(order, 0, n, 80) for n in range(2, 40))
    data = head + first + second + rest
    same(PcapngParser().locate(data, 0), ReferenceParser().locate(data, 0))
    assert len(PcapngParser().locate(data, 0).records) == 40
    broken = bytearray(data)
    at = len(head + first + second) + 5 * len(enhanced(order, 0, 0, 80))
    struct.pack_into("<I", broken, at + len(enhanced(order, 0, 0, 80)) - 4, 12)
    mine = PcapngParser().locate(bytes(broken), 0)
    same(mine, ReferenceParser().locate(bytes(broken), 0))
    assert len(mine.records) == 7 and mine.error_offset == at


def test_jumbo_blocks_then_small_ones() -> None:
    """Buffers of large blocks are walked by the length chain, of small ones by the scan:
    the same records either way, across the switch."""
    order = "<"
    rng = random.Random(9)
    data = (section(order) + interface(order, 65535)
            + b"".join(enhanced(order, 0, n, rng.choice((9000, 8000, 66))) for n in range(300))
            + b"".join(enhanced(order, 0, n, rng.randint(0, 200)) for n in range(3000))
            + b"".join(enhanced(order, 0, n, 9000) for n in range(300)))
    assert check_file(data, rng) == 3600


def test_payloads_full_of_look_alikes_give_the_scan_up_for_a_while() -> None:
    """A capture of pcapng files being copied: every block's payload holds whole-looking
    blocks, each a Python step of the scan; after such a buffer the next ones are walked
    by the length chain (SCAN_REST), with the same records."""
    order = "<"
    rng = random.Random(11)
    data = section(order) + interface(order, 65535) + b"".join(
        enhanced(order, 0, n, 0, decoys(rng, order, n)) for n in range(2000))
    parser = PcapngParser()
    located = parser.locate(data, 0)
    same(located, ReferenceParser().locate(data, 0))
    assert len(located.records) == 2000 and parser._scan_rest == SCAN_REST
    assert check_file(data + b"".join(enhanced(order, 0, n, 100) for n in range(3000)),
                      rng) == 5000
