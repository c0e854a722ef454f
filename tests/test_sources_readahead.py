"""Read-ahead: a regular file's next chunk is read in a background thread.

The batches and CaptureInfo must be exactly those of reading on demand (stored
captures, cut and corrupt ones, gzip), the thread must be gone however the reading
ends, and pipes are never read ahead.
"""

from __future__ import annotations

import functools
import gzip
import os
import struct
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from capture_factory import pcap_bytes, tcp_packet

from flowcheck.sources import iter_batches
from flowcheck.sources import reader as reader_module
from flowcheck.sources.byte_source import ByteSource

ROOT = Path(__file__).resolve().parent.parent
STORED = sorted(p for p in (ROOT / "captures").rglob("*") if p.suffix in (".pcap", ".pcapng"))
CORPUS = sorted(p for p in (ROOT / "tests" / "data" / "tcpdump-tests").iterdir()
                if p.suffix in (".pcap", ".pcapng"))
THREAD_NAME = "flowcheck-read-ahead"
T0 = 1_700_000_000.0


@pytest.fixture(autouse=True)
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read ahead as on the 2-core machines flowcheck is built for, whatever this one
    has (one core turns it off: test_no_read_ahead_on_one_core)."""
    monkeypatch.setattr(reader_module, "usable_cores", lambda: 2)


def read_ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]


def snapshot(inputs: list, **options: object) -> tuple[list[tuple], list[dict]]:
    """Every batch as plain values (packet bytes included) and the CaptureInfo list."""
    reader = iter_batches(inputs, **options)  # type: ignore[arg-type]
    batches = []
    for batch in reader:
        data = memoryview(batch.buf)
        packets = [bytes(data[off:off + length]) for off, length
                   in zip(batch.data_off.tolist(), batch.caplen.tolist(), strict=True)]
        capture = batch.capture if isinstance(batch.capture, int) else batch.capture.tolist()
        batches.append((batch.frame0, batch.ts.tolist(), batch.caplen.tolist(),
                        batch.wirelen.tolist(), batch.linktype.tolist(), capture, packets))
    return batches, [asdict(info) for info in reader.captures]


def same_either_way(inputs: list, chunk_size: int) -> tuple[list[tuple], list[dict]]:
    ahead = snapshot(inputs, chunk_size=chunk_size)
    on_demand = snapshot(inputs, chunk_size=chunk_size, read_ahead=False)
    assert ahead == on_demand
    assert not read_ahead_threads()
    return ahead


def records(count: int) -> list[tuple[float, bytes]]:
    """count packets of irregular sizes (0-1,399 bytes of payload)."""
    return _records()[:count]


@functools.cache
def _records() -> list[tuple[float, bytes]]:
    header = tcp_packet("10.0.0.1", "10.0.0.2", 5001, 10000, "A")  # built once: scapy is slow
    return [(T0 + n / 1000, header + bytes([n % 251]) * (n * 7 % 1400)) for n in range(4000)]


# Split at 4,096 bytes (a chunk's read and hand-over some 9,000 times each way, most of
# this file's time), the captures under SPLIT_BELOW bytes: the six larger ones (17 of the
# 38 MB: the ndmjob backups and a firewall monitor's capture, plain Ethernet pcaps as
# many smaller ones) walked no branch of flowcheck the smaller ones' splits do not
# (branch coverage of this test's 4,096 case, session 51: 3,448 arcs either way; under
# 500 KB, two arcs fewer). Every capture is still read whole at 8 MiB.
SPLIT_BELOW = 1_000_000


@pytest.mark.parametrize("chunk_size", [4096, 8 << 20])
def test_stored_captures_read_the_same_with_and_without_read_ahead(chunk_size: int) -> None:
    for path in STORED:
        if chunk_size == 4096 and path.stat().st_size >= SPLIT_BELOW:
            continue
        batches, _infos = same_either_way([str(path)], chunk_size)
        assert batches, path


def test_tcpdump_corpus_reads_the_same_with_and_without_read_ahead() -> None:
    # Every link type, both byte orders, ns timestamps, pcapng block types, cut files.
    packets = 0
    for path in CORPUS:
        _batches, infos = same_either_way([str(path)], 2048)
        packets += infos[0]["packets"]
    assert packets > 10_000


def test_a_capture_set_reads_the_same_with_and_without_read_ahead() -> None:
    ndmjob = sorted(p for p in STORED if p.parent.name == "ndmjob")[:3]
    batches, infos = same_either_way([str(p) for p in ndmjob], 4096)
    assert len(infos) == 3 and sum(len(b[1]) for b in batches) == sum(
        info["packets"] for info in infos)


@pytest.mark.parametrize("cut", ["header", "record", "data"])
def test_cut_files_read_the_same(tmp_path: Path, cut: str) -> None:
    whole = pcap_bytes(records(3000))
    at = {"header": 10, "record": len(whole) // 2 + 3, "data": len(whole) - 100}[cut]
    path = tmp_path / "cut.pcap"
    path.write_bytes(whole[:at])
    if cut == "header":
        with pytest.raises(Exception, match="header"):
            snapshot([str(path)], read_ahead=False)
        with pytest.raises(Exception, match="header"):
            snapshot([str(path)])
        assert not read_ahead_threads()
        return
    for chunk_size in (1000, 64 << 10, 8 << 20):
        _batches, infos = same_either_way([str(path)], chunk_size)
        assert infos[0]["truncated"] and 0 < infos[0]["packets"] < 3000


def test_absurd_caplen_reads_the_same(tmp_path: Path) -> None:
    whole = bytearray(pcap_bytes(records(3000)))
    offset = 24
    for _ in range(2000):  # the 2001st record header gets an absurd caplen
        offset += 16 + struct.unpack_from("<I", whole, offset + 8)[0]
    struct.pack_into("<I", whole, offset + 8, 1 << 30)
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(bytes(whole))
    for chunk_size in (1000, 64 << 10, 8 << 20):
        _batches, infos = same_either_way([str(path)], chunk_size)
        assert infos[0]["packets"] == 2000 and infos[0]["error_offset"] == offset


@pytest.mark.parametrize("damage", ["cut", "corrupt"])
def test_gzip_errors_read_the_same(tmp_path: Path, damage: str) -> None:
    compressed = bytearray(gzip.compress(pcap_bytes(records(4000)), compresslevel=1))
    if damage == "cut":
        compressed = compressed[:len(compressed) * 2 // 3]
    else:  # a wrong CRC in the trailer: found only once everything was inflated
        compressed[-8] ^= 0xFF
    path = tmp_path / "damaged.pcap.gz"
    path.write_bytes(bytes(compressed))
    for chunk_size in (1000, 64 << 10):
        _batches, infos = same_either_way([str(path)], chunk_size)
        assert infos[0]["truncated"] and "compressed data" in infos[0]["error"]
        assert 0 < infos[0]["packets"] <= 4000


def test_the_next_chunk_is_read_ahead_and_the_thread_ends(tmp_path: Path) -> None:
    path = tmp_path / "a.pcap"
    path.write_bytes(pcap_bytes(records(2000)))
    reader = iter(iter_batches([str(path)], chunk_size=64 << 10))
    next(reader)
    assert len(read_ahead_threads()) == 1  # reading ahead while the batch is worked on
    assert sum(1 for _ in reader) > 10
    assert not read_ahead_threads()
    reader = iter(iter_batches([str(path)], chunk_size=64 << 10, read_ahead=False))
    next(reader)
    assert not read_ahead_threads()
    reader.close()  # type: ignore[attr-defined]


def test_a_file_read_whole_by_its_first_read_starts_no_thread(tmp_path: Path) -> None:
    """A file shorter than its chunk (and than reader.ONE_READ_BELOW): the first read
    takes it whole, so nothing is read ahead; the same batches either way."""
    path = tmp_path / "a.pcap"
    path.write_bytes(pcap_bytes(records(200)))
    size = path.stat().st_size
    assert size < reader_module.ONE_READ_BELOW
    for chunk_size in (size + 1, 64 << 20):
        reader = iter(iter_batches([str(path)], chunk_size=chunk_size))
        next(reader)
        assert not read_ahead_threads()
        reader.close()  # type: ignore[attr-defined]
        batches, _infos = same_either_way([str(path)], chunk_size)
        assert sum(len(batch[1]) for batch in batches) == 200
    reader = iter(iter_batches([str(path)], chunk_size=size))  # one byte short: two reads
    next(reader)
    assert len(read_ahead_threads()) == 1
    reader.close()  # type: ignore[attr-defined]
    assert not read_ahead_threads()


def test_closing_early_ends_the_thread(tmp_path: Path) -> None:
    paths = []
    for number in range(3):
        path = tmp_path / f"{number}.pcap"
        path.write_bytes(pcap_bytes([(ts + number * 10, data) for ts, data in records(2000)]))
        paths.append(str(path))
    reader = iter(iter_batches(paths, chunk_size=64 << 10))
    next(reader)
    next(reader)
    assert read_ahead_threads()
    reader.close()  # type: ignore[attr-defined]
    assert not read_ahead_threads()


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_an_exception_in_the_consumer_ends_the_thread(tmp_path: Path,
                                                      error: type[BaseException]) -> None:
    path = tmp_path / "a.pcap"
    path.write_bytes(pcap_bytes(records(2000)))
    reader = iter_batches([str(path)], chunk_size=64 << 10)

    def consume() -> None:
        for number, _batch in enumerate(reader):
            if number == 3:
                raise error("stop")

    with pytest.raises(error):
        consume()
    assert not read_ahead_threads()


def test_a_read_error_in_the_thread_reaches_the_reader(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An OSError of the background read is raised to the caller, after the batches read
    before it, as on demand."""
    path = tmp_path / "a.pcap"
    path.write_bytes(pcap_bytes(records(2000)))
    readinto = ByteSource.readinto
    calls = {"count": 0}

    def failing(self: ByteSource, target: memoryview) -> int:
        calls["count"] += 1
        if calls["count"] == 5:  # the first read is the probe of the first timestamp
            raise OSError(5, "Input/output error")
        return readinto(self, target)

    monkeypatch.setattr(ByteSource, "readinto", failing)
    seen = {}
    for read_ahead in (False, True):
        calls["count"] = 0
        batches = []
        with pytest.raises(OSError, match="Input/output"):
            for batch in iter_batches([str(path)], chunk_size=64 << 10, read_ahead=read_ahead):
                batches.append(batch.ts.tolist())
        seen[read_ahead] = batches
        assert not read_ahead_threads()
    assert len(seen[True]) == 3 and seen[True] == seen[False]


def test_pipes_are_never_read_ahead(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    data = pcap_bytes(records(50))
    with os.fdopen(read_end, "rb", buffering=0) as stream:
        os.write(write_end, data)  # fits in the pipe's buffer; the writer stays open
        reader = iter(iter_batches([stream], chunk_size=1 << 20))
        batch = next(reader)  # available bytes are handed on without waiting for more
        assert len(batch) == 50
        assert not read_ahead_threads()
        os.close(write_end)
        assert sum(len(b) for b in reader) == 0
    assert np.array_equal(batch.caplen, [len(d) for _ts, d in records(50)])


ONE_CORE = """
import os, sys, threading
os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
from flowcheck.sources import iter_batches
from flowcheck.sources import reader as reader_module
reader = iter(iter_batches([sys.argv[1]], chunk_size=65536))
next(reader)
print(sum(t.name == "flowcheck-read-ahead" for t in threading.enumerate()))
"""


def test_no_read_ahead_on_one_core(tmp_path: Path) -> None:
    """With one usable CPU a second thread cannot overlap anything: read on demand."""
    path = tmp_path / "a.pcap"
    path.write_bytes(pcap_bytes(records(2000)))
    result = subprocess.run([sys.executable, "-c", ONE_CORE, str(path)], capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "0"


@pytest.mark.parametrize("read_ahead", [True, False])
def test_chunk_buffers_are_allocated_alike(tmp_path: Path, read_ahead: bool) -> None:
    """Every chunk buffer is one size, whatever the partial record carried into
    it: the allocator then reuses a freed buffer's memory for the next one. (A buffer of
    exactly the carried bytes plus the chunk fitted no freed one as soon as a carry was
    longer than the one before: the 1 GB benchmark's peak RSS rose by 15-25 MB.)"""
    path = tmp_path / "a.pcap"
    path.write_bytes(pcap_bytes(records(4000)))
    sizes = [batch.buf.obj.nbytes for batch in  # type: ignore[union-attr]
             iter_batches([str(path)], chunk_size=64 << 10, read_ahead=read_ahead)]
    assert len(sizes) > 20
    assert len(set(sizes)) == 1, sorted(set(sizes))
