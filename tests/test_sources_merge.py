"""Capture sets (ring buffers, overlapping files, directories) and chunk boundaries."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from capture_factory import (
    pcap_bytes,
    tcp_packet,
    write_pcap,
    write_pcap_gz,
    write_pcapng,
)

from flowcheck.sources import iter_batches

T0 = 1_700_000_000.0


def packet(n: int, size: int = 0) -> bytes:
    return tcp_packet("10.77.0.2", "10.77.0.1", 6001, 5001, "A", seq=n,
                      payload=bytes([n % 251]) * (size or n % 97))


def read_all(inputs: list, **options: object) -> tuple[list[tuple[int, float, bytes]], object]:
    reader = iter_batches(inputs, **options)  # type: ignore[arg-type]
    out = []
    for batch in reader:
        view = memoryview(batch.buf)
        for n in range(len(batch)):
            start, length = int(batch.data_off[n]), int(batch.caplen[n])
            out.append((batch.frame0 + n, float(batch.ts[n]), bytes(view[start:start + length])))
    return out, reader


def reference_merge(files: list[list[tuple[float, bytes]]]) -> list[tuple[float, bytes]]:
    """Stable merge by timestamp: ties keep the order of the files as given, then position."""
    tagged = [(ts, file_index, position, data) for file_index, records in enumerate(files)
              for position, (ts, data) in enumerate(records)]
    tagged.sort(key=lambda item: (item[0], item[1], item[2]))
    return [(ts, data) for ts, _f, _p, data in tagged]


def test_ring_buffer_files_given_in_reverse_order(tmp_path: Path) -> None:
    parts = [[(T0 + part * 10 + n * 0.1, packet(part * 100 + n)) for n in range(30)]
             for part in range(3)]
    paths = [write_pcap(tmp_path / f"ring_{n}.pcap", part) for n, part in enumerate(parts)]
    merged, reader = read_all([str(p) for p in reversed(paths)], chunk_size=512)
    expected = [record for part in parts for record in part]
    assert [data for _f, _ts, data in merged] == [data for _ts, data in expected]
    assert [frame for frame, _ts, _d in merged] == list(range(1, 91))
    assert [info.path for info in reader.captures] == [str(p) for p in paths]
    assert [info.packets for info in reader.captures] == [30, 30, 30]


def test_overlapping_files_merge_by_timestamp_stably(tmp_path: Path) -> None:
    generator = random.Random(7)
    files = []
    for file_index in range(3):
        stamps = sorted(T0 + generator.randrange(0, 400) * 0.01 for _ in range(120))
        files.append([(ts, packet(file_index * 1000 + n)) for n, ts in enumerate(stamps)])
    paths = [write_pcap(tmp_path / f"f{n}.pcap", records) for n, records in enumerate(files)]
    expected = reference_merge(files)
    for chunk_size in (64, 1000, 8 << 20):
        merged, _ = read_all([str(p) for p in paths], chunk_size=chunk_size)
        assert [data for _f, _ts, data in merged] == [data for _ts, data in expected]
        assert [ts for _f, ts, _d in merged] == [pytest.approx(ts) for ts, _d in expected]


def test_same_timestamps_keep_input_order(tmp_path: Path) -> None:
    first = [(T0, packet(n)) for n in range(20)]
    second = [(T0, packet(100 + n)) for n in range(20)]
    paths = [write_pcap(tmp_path / "a.pcap", first), write_pcap(tmp_path / "b.pcap", second)]
    merged, _ = read_all([str(p) for p in paths], chunk_size=100)
    assert [data for _f, _ts, data in merged] == [d for _t, d in first + second]


def test_mixed_formats_in_one_set(tmp_path: Path) -> None:
    first = [(T0 + n, packet(n)) for n in range(0, 20, 2)]
    second = [(T0 + n, packet(n)) for n in range(1, 20, 2)]
    paths = [write_pcap_gz(tmp_path / "a.pcap.gz", first, nanosecond=True),
             write_pcapng(tmp_path / "b.pcapng", [1], [(0, ts, d) for ts, d in second])]
    merged, reader = read_all([str(p) for p in paths], chunk_size=256)
    assert [data for _f, _ts, data in merged] == [packet(n) for n in range(20)]
    assert sorted(info.format for info in reader.captures) == ["pcap.gz", "pcapng"]


def test_directory_reads_capture_files_only(tmp_path: Path) -> None:
    parts = [[(T0 + part * 5 + n, packet(part * 10 + n)) for n in range(5)] for part in range(2)]
    write_pcap(tmp_path / "z-first.dump", parts[0])  # names do not decide: magic and time do
    write_pcapng(tmp_path / "a-second", [1], [(0, ts, d) for ts, d in parts[1]])
    (tmp_path / "flowcheck.toml").write_text("ndmp_port = 10000\n")
    (tmp_path / "expected.json").write_text("{}")
    (tmp_path / "empty.pcap").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    merged, reader = read_all([str(tmp_path)])
    assert [data for _f, _ts, data in merged] == [d for part in parts for _t, d in part]
    assert len(reader.captures) == 2


def test_file_with_timestamps_out_of_order_keeps_its_order(tmp_path: Path) -> None:
    records = [(T0 + 1, packet(1)), (T0 + 3, packet(2)), (T0 + 2, packet(3)), (T0 + 4, packet(4))]
    path = write_pcap(tmp_path / "a.pcap", records)
    merged, _ = read_all([str(path)])
    assert [data for _f, _ts, data in merged] == [d for _t, d in records]
    assert [ts for _f, ts, _d in merged] == [T0 + 1, T0 + 3, T0 + 2, T0 + 4]


@pytest.mark.parametrize("writer", ["pcap", "pcap_be_ns", "pcapng", "pcapng_gz"])
def test_chunk_boundaries_do_not_change_results(tmp_path: Path, writer: str) -> None:
    generator = random.Random(3)
    records = [(T0 + n * 0.001, packet(n, size=generator.choice([1, 60, 1460, 9000])))
               for n in range(150)]
    if writer == "pcap":
        path = write_pcap(tmp_path / "c.pcap", records)
    elif writer == "pcap_be_ns":
        path = write_pcap(tmp_path / "c.pcap", records, big_endian=True, nanosecond=True)
    elif writer == "pcapng":
        path = write_pcapng(tmp_path / "c.pcapng", [1, 1],
                            [(n % 2, ts, d) for n, (ts, d) in enumerate(records)])
    else:
        path = tmp_path / "c.pcapng.gz"
        import gzip

        from capture_factory import pcapng_bytes
        path.write_bytes(gzip.compress(pcapng_bytes([1], [(0, ts, d) for ts, d in records])))
    whole, _ = read_all([str(path)], chunk_size=1 << 24)
    assert [data for _f, _ts, data in whole] == [d for _t, d in records]
    for chunk_size in (1, 7, 100, 4096):
        chunked, reader = read_all([str(path)], chunk_size=chunk_size)
        assert chunked == whole, chunk_size
        assert not reader.captures[0].truncated


def test_large_records_across_many_tiny_chunks(tmp_path: Path) -> None:
    records = [(T0 + n, bytes([n]) * 200_000) for n in range(3)]
    path = tmp_path / "big.pcap"
    path.write_bytes(pcap_bytes(records))
    merged, _ = read_all([str(path)], chunk_size=4096)
    assert [data for _f, _ts, data in merged] == [d for _t, d in records]


@pytest.mark.parametrize("chunk_size", [256, 1 << 20])
def test_a_shifted_file_merges_at_its_shifted_times(tmp_path: Path, chunk_size: int) -> None:
    """shifts: a file read on another capture point's clock (flowcheck.connections.points):
    its times moved, its packets merged where the moved times put them, its head too."""
    first = [(T0 + n * 0.1, packet(n)) for n in range(20)]
    late = [(T0 + 65.0 + n * 0.1 + 0.05, packet(100 + n)) for n in range(20)]
    paths = [write_pcap(tmp_path / "media.pcap", first), write_pcap(tmp_path / "agent.pcap", late)]
    merged, reader = read_all([str(p) for p in paths], chunk_size=chunk_size,
                              shifts={1: -65.0})
    expected = reference_merge([first, [(ts - 65.0, data) for ts, data in late]])
    assert [data for _f, _ts, data in merged] == [data for _ts, data in expected]
    assert [ts for _f, ts, _d in merged] == pytest.approx([ts for ts, _d in expected])
    assert [data for _f, _ts, data in merged][:2] == [packet(0), packet(100)]
    assert reader.input_positions == [0, 1] and reader.reopenable
    heads = list(reader.heads(1 << 20))
    assert [h.capture for h in heads] == [0, 1]
    assert float(heads[1].ts[0]) == pytest.approx(T0 + 0.05)
