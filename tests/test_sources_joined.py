"""Capture files joined with `cat` (ring files, as a file or on standard input): each
file's header where a record should be starts the next file, read on with its own byte
order, time resolution and link type (trial 18 D9: it was read as a corrupt record,
"stop tcpdump cleanly", and the rest of the capture was lost)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from capture_factory import pcap_bytes, pcapng_bytes, tcp_packet

from flowcheck.sources import iter_batches, truncation_findings

T0 = 1_700_000_000.0


def packets(start: int, count: int, link: str = "ether") -> list[tuple[float, bytes]]:
    return [(T0 + (start + n) * 0.25,
             tcp_packet("10.0.0.1", "10.0.0.2", 40000, 10000, seq=start + n,
                        payload=bytes([start + n]) * (20 + n), link=link))
            for n in range(count)]


def joined_files() -> tuple[bytes, list[tuple[float, int]]]:
    """Four files of four packets each, joined: pcap little-endian microseconds on
    Ethernet, pcap big-endian nanoseconds on raw IP, pcapng, pcap again. The expected
    (time, link type) of every packet."""
    parts = [
        (pcap_bytes(packets(0, 4)), 1),
        (pcap_bytes(packets(4, 4, "raw"), 101, big_endian=True, nanosecond=True), 101),
        (pcapng_bytes([1], [(0, ts, data) for ts, data in packets(8, 4)]), 1),
        (pcap_bytes(packets(12, 4)), 1),
    ]
    expected = [(T0 + n * 0.25, linktype) for n in range(16) for linktype in
                [parts[n // 4][1]]]
    return b"".join(data for data, _ in parts), expected


def read_all(inputs: list, **options: object) -> tuple[list[tuple[float, int]], object]:
    reader = iter_batches(inputs, **options)  # type: ignore[arg-type]
    seen: list[tuple[float, int]] = []
    for batch in reader:
        seen += zip(batch.ts.tolist(), batch.linktype.tolist(), strict=True)
    return seen, reader


def test_joined_files_are_read_on(tmp_path: Path) -> None:
    data, expected = joined_files()
    path = tmp_path / "catted.pcap"
    path.write_bytes(data)
    seen, reader = read_all([str(path)])
    assert [(round(ts, 6), link) for ts, link in seen] == expected
    [info] = reader.captures  # type: ignore[attr-defined]
    assert info.packets == 16 and not info.truncated and info.error is None
    assert info.format == "pcap" and info.link_types == ["EN10MB", "RAW"]
    assert info.bytes_read == len(data)
    assert truncation_findings([info]) == []


@pytest.mark.parametrize("chunk_size", range(16, 420, 7))
def test_a_joined_header_at_any_chunk_boundary(tmp_path: Path, chunk_size: int) -> None:
    data, expected = joined_files()
    path = tmp_path / "catted.pcap"
    path.write_bytes(data)
    seen, reader = read_all([str(path)], chunk_size=chunk_size)
    assert [(round(ts, 6), link) for ts, link in seen] == expected
    assert not reader.captures[0].truncated  # type: ignore[attr-defined]


def test_joined_pcapng_then_pcap(tmp_path: Path) -> None:
    first = pcapng_bytes([1], [(0, ts, data) for ts, data in packets(0, 3)])
    path = tmp_path / "catted.pcapng"
    path.write_bytes(first + pcap_bytes(packets(3, 3)))
    seen, reader = read_all([str(path)])
    assert len(seen) == 6 and not reader.captures[0].truncated  # type: ignore[attr-defined]


def test_joined_files_on_a_pipe() -> None:
    data, expected = joined_files()
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with os.fdopen(write_fd, "wb") as pipe:
            for start in range(0, len(data), 100):  # dribbled, as `cat a b |` may send it
                pipe.write(data[start:start + 100])
                pipe.flush()

    writer = threading.Thread(target=feed)
    writer.start()
    with os.fdopen(read_fd, "rb", buffering=0) as stream:
        seen, reader = read_all([stream])
    writer.join()
    assert [(round(ts, 6), link) for ts, link in seen] == expected
    assert not reader.captures[0].truncated  # type: ignore[attr-defined]
