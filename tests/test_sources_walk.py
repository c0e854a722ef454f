"""The pcap record walk against a plain reference walk, buffer by buffer.

PcapParser follows the caplen chain fast (unchecked Python steps while whole records
surely fit, guessed repeating sizes checked in bulk, absurd caplens found afterwards in
bulk); the reference follows it one record at a time with every check. On random record
streams (regular runs, irregular sizes, an absurd caplen, a cut end), both byte orders,
cut into random chunks as the reader does, every buffer must give the same offsets, the
same consumed bytes, error offset and missing bytes.
"""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest

from flowcheck.sources.pcap import MIN_MAX_CAPLEN, PcapParser


def reference(buf: bytes, off: int, order: str, limit: int) -> tuple[list[int], int, int | None]:
    offsets = []
    while off + 16 <= len(buf):
        caplen = struct.unpack_from(order + "I", buf, off + 8)[0]
        if caplen > limit:
            return offsets, off, off
        end = off + 16 + caplen
        if end > len(buf):
            break
        offsets.append(off)
        off = end
    return offsets, off, None


def stream(rng: random.Random, order: str, records: int) -> bytes:
    parts = [struct.pack(order + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    count = 0
    while count < records:
        if rng.random() < 0.5:  # a bulk run: a repeating pattern of sizes
            pattern = [rng.choice((1514, 66, 1448, 9000, 54)) for _ in range(rng.randint(1, 5))]
            sizes = pattern * rng.randint(1, 400)
        else:  # irregular traffic
            sizes = [rng.randint(0, 3000) for _ in range(rng.randint(1, 300))]
        for caplen in sizes:
            parts.append(struct.pack(order + "IIII", 1_700_000_000 + count, 0, caplen, caplen))
            parts.append(bytes([count % 256]) * caplen)
            count += 1
    return b"".join(parts)


def corrupt(rng: random.Random, data: bytes, order: str) -> bytes:
    """An absurd caplen at a random record (sometimes one that stays inside the file)."""
    offsets = reference(data, 24, order, MIN_MAX_CAPLEN)[0]
    at = rng.choice(offsets)
    absurd = rng.choice((MIN_MAX_CAPLEN + 1, 1 << 31, rng.randint(MIN_MAX_CAPLEN, 1 << 22)))
    out = bytearray(data)
    struct.pack_into(order + "I", out, at + 8, absurd)
    return bytes(out)


def check_file(data: bytes, order: str, rng: random.Random,
               parser: PcapParser | None = None) -> int:
    """Feed data to a PcapParser (a new one by default) in random chunks as the reader
    does; compare every buffer with the reference. The number of buffers compared."""
    parser = parser or PcapParser()
    base, pos, carry, buffers = 0, 0, b"", 0
    while True:
        piece = data[pos:pos + rng.choice((100, 5000, 70_000, 300_000, 1 << 20, 3 << 20))]
        pos += len(piece)
        buf = memoryview(np.frombuffer(carry + piece, np.uint8))
        located = parser.locate(buf, base)
        start = 24 if base == 0 and len(buf) >= 24 else 0
        if base == 0 and len(buf) < 24:
            assert located.consumed == 0
        else:
            offsets, off, bad = reference(bytes(buf), start, order, parser.max_caplen)
            assert (located.records.data_off - 16).tolist() == offsets
            assert located.consumed == off
            assert located.error_offset == (None if bad is None else base + bad)
            if bad is None and off + 16 <= len(buf):
                caplen = struct.unpack_from(order + "I", buf, off + 8)[0]
                assert located.missing == off + 16 + caplen - len(buf)
            else:
                assert located.missing == 0
            if offsets:
                caplens = [struct.unpack_from(order + "I", buf, o + 8)[0] for o in offsets]
                assert located.records.caplen.tolist() == caplens
            buffers += 1
            if bad is not None:
                return buffers
        base += located.consumed
        carry = bytes(buf[located.consumed:])
        if not piece:
            return buffers


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("seed", range(6))
def test_walk_matches_the_reference(order: str, seed: int) -> None:
    rng = random.Random(seed * 2 + (order == ">"))
    data = stream(rng, order, 20_000)
    if seed % 3 == 1:
        data = corrupt(rng, data, order)
    if seed % 2:
        data = data[:rng.randint(len(data) // 2, len(data) - 1)]  # cut anywhere
    assert check_file(data, order, rng) > 3


def test_no_record_is_walked_with_per_record_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The buffer's last records (within four maximal records of its end: 1 MB of each
    8 MB chunk at tcpdump's snaplen) are walked as fast as the rest and checked in bulk,
    not one at a time with every check (3.5 times the cost per record)."""
    import flowcheck.sources.pcap as pcap

    def one_by_one(*_args: object) -> None:
        raise AssertionError("records walked one by one")

    monkeypatch.setattr(pcap, "walk_one_by_one", one_by_one)
    rng = random.Random(3)
    data = stream(rng, "<", 20_000)
    assert check_file(data[:len(data) - 700], "<", rng) > 3
