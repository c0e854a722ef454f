"""The real ndmjob captures, and factory files, read by flowcheck and by tshark alike."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import tshark_fork
from capture_factory import link_frame, tcp_packet, write_pcap, write_pcapng

from flowcheck.sources import iter_batches

CAPTURES = Path(__file__).parent.parent / "captures" / "ndmjob"
REAL = sorted(CAPTURES.glob("*.pcap"))

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


def tshark_fields(path: Path, *fields: str) -> list[list[str]]:
    return tshark_fork.fields(path, "", *fields)  # tshark started once (tshark_fork)


def ours(inputs: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, object]:
    reader = iter_batches(inputs)
    ts, caplen, wirelen = [], [], []
    for batch in reader:
        ts.append(batch.ts)
        caplen.append(batch.caplen)
        wirelen.append(batch.wirelen)
    return np.concatenate(ts), np.concatenate(caplen), np.concatenate(wirelen), reader


@needs_tshark
@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_real_capture_matches_tshark(path: Path) -> None:
    rows = tshark_fields(path, "frame.time_epoch", "frame.cap_len", "frame.len")
    ts, caplen, wirelen, reader = ours([str(path)])
    assert len(ts) == len(rows) > 0
    expected_ts = np.array([float(Decimal(row[0])) for row in rows])
    assert np.abs(ts - expected_ts).max() < 1e-6
    assert caplen.tolist() == [int(row[1]) for row in rows]
    assert wirelen.tolist() == [int(row[2]) for row in rows]
    info = reader.captures[0]
    assert (info.format, info.link_types, info.truncated) == ("pcap", ["EN10MB"], False)
    assert info.packets == len(rows) and info.bytes_read == path.stat().st_size


def test_real_capture_directory_is_one_set() -> None:
    ts, _caplen, _wirelen, reader = ours([str(CAPTURES)])
    # The README and flowcheck.toml next to the captures are not capture files.
    assert all(info.path.endswith(".pcap") for info in reader.captures)
    assert len(reader.captures) == len(REAL)
    assert len(ts) == sum(info.packets for info in reader.captures)
    # Each capture was made at a different time: the merged stream is in time order.
    assert np.all(np.diff(ts) >= 0)


@needs_tshark
def test_factory_pcapng_reads_the_same_in_tshark(tmp_path: Path) -> None:
    base = [(1_700_000_000.25 + n * 0.5,
             tcp_packet("10.77.0.1", "10.77.0.2", 5001 + n, 10000, "S", seq=n))
            for n in range(4)]
    packets = [(n % 2, ts, data if n % 2 == 0 else link_frame(data[14:], link="sll"))
               for n, (ts, data) in enumerate(base)]
    path = write_pcapng(tmp_path / "x.pcapng", [1, 113], packets, big_endian=True, tsresol=9)
    rows = tshark_fields(path, "frame.time_epoch", "tcp.srcport", "frame.interface_id")
    assert [int(row[1]) for row in rows] == [5001, 5002, 5003, 5004]
    assert [int(row[2]) for row in rows] == [0, 1, 0, 1]
    ts, caplen, _wirelen, reader = ours([str(path)])
    assert np.abs(ts - np.array([float(row[0]) for row in rows])).max() < 1e-6
    assert caplen.tolist() == [len(data) for _i, _ts, data in packets]
    assert reader.captures[0].link_types == ["EN10MB", "LINUX_SLL"]


@needs_tshark
def test_factory_pcap_reads_the_same_in_tshark(tmp_path: Path) -> None:
    records = [(1_700_000_000.000001 + n, tcp_packet("10.0.0.1", "10.0.0.2", 7, 9, "A"))
               for n in range(3)]
    path = write_pcap(tmp_path / "x.pcap", records, nanosecond=True, big_endian=True)
    rows = tshark_fields(path, "frame.time_epoch")
    assert [row[0] for row in rows] == ["1700000000.000001000", "1700000001.000001000",
                                        "1700000002.000001000"]
