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

import numpy as np
import pytest

from flowcheck.sources.pcapng import EPB_TYPE, PcapngParser
from flowcheck.sources.records import Located


class ReferenceParser(PcapngParser):
    """The EPB run walked one block at a time, every field tested before the next."""

    def _epb_run(self, buf: bytes | bytearray | memoryview, off: int,
                 base: int = 0) -> tuple[list[int], int]:
        offsets: list[int] = []
        while off + 12 <= len(buf):
            block_type, length = struct.unpack_from(self.order + "II", buf, off)
            if block_type != EPB_TYPE or length < 32 or length % 4 or off + length > len(buf):
                break
            offsets.append(off)
            off += length
        return offsets, off


def block(order: str, block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(order + "II", block_type, length) + body + struct.pack(order + "I", length)


def section(order: str) -> bytes:
    return block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def interface(order: str, snaplen: int) -> bytes:
    return block(order, 1, struct.pack(order + "HHI", 1, 0, snaplen) + b"\0" * 4)


def enhanced(order: str, iface: int, count: int, caplen: int) -> bytes:
    return block(order, EPB_TYPE, struct.pack(order + "5I", iface, 0, 1_700_000_000 + count,
                                              caplen, caplen + 4) + bytes([count % 256]) * caplen)


def stream(rng: random.Random, order: str, packets: int) -> bytes:
    parts = [section(order), interface(order, 65535), interface(order, 1600)]
    count = 0
    while count < packets:
        roll = rng.random()
        if roll < 0.02:  # another section (its own interfaces)
            parts += [section(order), interface(order, 65535)]
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
                parts.append(enhanced(order, 0, count, min(caplen, 1600)))
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
    for name in ("ts", "data_off", "caplen", "wirelen", "linktype"):
        assert getattr(mine.records, name).tolist() == getattr(theirs.records, name).tolist()
    assert (mine.consumed, mine.error, mine.error_offset, mine.missing) == (
        theirs.consumed, theirs.error, theirs.error_offset, theirs.missing)


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
