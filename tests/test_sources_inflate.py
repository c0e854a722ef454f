"""flowcheck.sources.inflate: gzip streams inflated in large steps, with gzip.GzipFile's
results (the stdlib's reader is the reference) on members, padding, cuts and corruption."""

from __future__ import annotations

import gzip
import io
import random
import zlib
from collections.abc import Callable

import pytest

from flowcheck.sources.inflate import INPUT_STEP, GzipInflater


def _payload(size: int, seed: int) -> bytes:
    """Half random, half repetitive: stored and Huffman-coded blocks both."""
    rng = random.Random(seed)
    noise = rng.randbytes(size // 2)
    return noise + (b"pcap record " * (size // 24 + 1))[:size - len(noise)]


def _reader(data: bytes, piece: int | None = None) -> Callable[[int], bytes]:
    """read_some over data: up to n bytes, or at most `piece` (a slow pipe)."""
    stream = io.BytesIO(data)
    return lambda n: stream.read(min(n, piece) if piece else n)


def _inflate_all(read_some: Callable[[int], bytes], size: int) -> bytes:
    inflater, out = GzipInflater(read_some), bytearray()
    target = memoryview(bytearray(size))
    while count := inflater.readinto1(target):
        out += target[:count]
    return bytes(out)


@pytest.mark.parametrize("target", [1, 7, 4096, 1 << 20, 8 << 20])
@pytest.mark.parametrize("piece", [None, 1, 3000])
def test_members_and_padding_inflate_as_gzip_reads_them(target: int, piece: int | None) -> None:
    members = [gzip.compress(_payload(size, seed), compresslevel=level)
               for size, seed, level in ((30_000, 1, 1), (0, 2, 6), (7_000, 3, 9))]
    data = members[0] + members[1] + b"\0" * 5 + members[2] + b"\0" * 3
    expected = gzip.GzipFile(fileobj=io.BytesIO(data)).read()
    assert _inflate_all(_reader(data, piece), target) == expected


@pytest.mark.parametrize("cut", [1, 5, 11, 500, 40_000, -8, -4, -1])
def test_a_cut_member_gives_its_inflated_bytes_then_eoferror(cut: int) -> None:
    whole = _payload(100_000, 5)
    data = gzip.compress(whole, compresslevel=1)
    inflater, out = GzipInflater(_reader(data[:cut])), bytearray()
    target = memoryview(bytearray(8192))
    with pytest.raises(EOFError):
        while count := inflater.readinto1(target):
            out += target[:count]
    assert whole.startswith(out)
    with pytest.raises((EOFError, gzip.BadGzipFile)):  # gzip.GzipFile: a cut magic "bad"
        gzip.GzipFile(fileobj=io.BytesIO(data[:cut])).read()


def test_a_wrong_trailer_is_corrupt() -> None:
    data = bytearray(gzip.compress(_payload(50_000, 6)))
    data[-6] ^= 0xFF  # the CRC-32
    with pytest.raises(zlib.error, match="incorrect data check"):
        _inflate_all(_reader(bytes(data)), 1 << 16)


@pytest.mark.parametrize("tail", [b"x", b"PK\x03\x04", b"\0\0\x1f"])
def test_bytes_after_a_member_that_are_no_member_are_refused(tail: bytes) -> None:
    data = gzip.compress(_payload(10_000, 7)) + tail
    with pytest.raises(gzip.BadGzipFile, match="Not a gzipped file"):
        _inflate_all(_reader(data), 1 << 16)
    with pytest.raises((gzip.BadGzipFile, EOFError)):
        gzip.GzipFile(fileobj=io.BytesIO(data)).read()


def test_input_is_read_in_large_steps() -> None:
    """The point of the module: a few reads (and zlib calls) per megabyte, not one per
    128 KB as gzip.GzipFile, each of which waits for the GIL behind the parser."""
    data = gzip.compress(random.Random(8).randbytes(6 << 20), compresslevel=1)
    reads: list[int] = []
    source = io.BytesIO(data)

    def read_some(n: int) -> bytes:
        reads.append(n)
        return source.read(n)

    inflated = _inflate_all(read_some, 8 << 20)
    assert len(inflated) == 6 << 20
    assert set(reads) == {INPUT_STEP}
    assert len(reads) <= len(data) // INPUT_STEP + 2
