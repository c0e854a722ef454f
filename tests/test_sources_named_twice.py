"""A file named twice (a directory and one of its files, overlapping globs, a hard link)
is read once: its packets count once and it is listed once (trial 18 D10: read twice,
its packets were counted twice and called copies by capture_duplicates)."""

from __future__ import annotations

import os
from pathlib import Path

from capture_factory import tcp_packet, write_pcap

from flowcheck.sources import iter_batches

T0 = 1_700_000_000.0


def ring(folder: Path) -> list[Path]:
    folder.mkdir()
    files = []
    for part in range(3):
        packets = [(T0 + part + n * 0.1, tcp_packet("10.0.0.1", "10.0.0.2", 40000, 10000,
                                                    seq=part * 10 + n, payload=b"x"))
                   for n in range(5)]
        files.append(write_pcap(folder / f"r.pcap{part}", packets))
    return files


def read(inputs: list[str]) -> tuple[int, list[str]]:
    reader = iter_batches(inputs)
    packets = sum(len(batch) for batch in reader)
    return packets, [info.path for info in reader.captures]


def test_a_directory_and_one_of_its_files(tmp_path: Path) -> None:
    files = ring(tmp_path / "ring")
    packets, paths = read([str(tmp_path / "ring"), str(files[1])])
    assert packets == 15
    assert sorted(paths) == sorted(str(path) for path in files)


def test_a_file_named_twice_and_a_hard_link(tmp_path: Path) -> None:
    files = ring(tmp_path / "ring")
    os.link(files[0], tmp_path / "copy.pcap")
    packets, paths = read([str(files[0]), str(tmp_path / "copy.pcap"), str(files[0]),
                           str(files[2])])
    assert packets == 10
    assert paths == [str(files[0]), str(files[2])]  # the first name given is kept


def test_the_same_directory_twice(tmp_path: Path) -> None:
    ring(tmp_path / "ring")
    packets, paths = read([str(tmp_path / "ring"), str(tmp_path / "ring") + "/"])
    assert packets == 15 and len(paths) == 3
