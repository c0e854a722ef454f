"""A capture file still being written (tcpdump or dumpcap writing it) is read up to the
size it had when flowcheck saw it, at full speed, and its last record, cut there, is a
`capture_truncated` that says the file was still growing (trial 18 D1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from capture_factory import pcap_bytes, pcapng_bytes, tcp_packet

from flowcheck.sources import iter_batches, truncation_findings
from flowcheck.sources import reader as reader_module
from flowcheck.sources.byte_source import ByteSource

T0 = 1_700_000_000.0
PACKET = tcp_packet("10.0.0.1", "10.0.0.2", 40000, 10000, payload=b"x" * 200)


@pytest.fixture(autouse=True)
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read ahead as on the 2-core machines (the read-ahead thread did the 1-byte reads)."""
    monkeypatch.setattr(reader_module, "usable_cores", lambda: 2)


def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every read the byte sources return."""
    sizes: list[int] = []
    original = ByteSource.readinto

    def counted(self: ByteSource, target: memoryview) -> int:
        count = original(self, target)
        sizes.append(count)
        return count

    monkeypatch.setattr(ByteSource, "readinto", counted)
    return sizes


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_growing_file_is_read_to_its_size_at_start(tmp_path: Path, fmt: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    packets = [(T0 + n * 0.001, PACKET) for n in range(400)]
    if fmt == "pcap":
        whole = pcap_bytes(packets)
    else:
        whole = pcapng_bytes([1], [(0, ts, data) for ts, data in packets])
    seen = len(whole) // 2 + 7  # cut inside a record, as a writer's buffer flush leaves it
    path = tmp_path / f"growing.{fmt}"
    path.write_bytes(whole[:seen])
    reads = count_reads(monkeypatch)
    reader = iter_batches([str(path)], chunk_size=4096)
    with path.open("ab") as writer:  # the sniffer goes on writing after flowcheck looked
        writer.write(whole[seen:])
    packets_read = sum(len(batch) for batch in reader)
    info = reader.captures[0]
    assert 0 < packets_read == info.packets < len(packets)
    assert info.truncated and info.bytes_read == seen
    assert "still being written" in (info.error or "")
    # Whole chunks, never the byte-at-a-time reads past the size first seen.
    assert sum(1 for size in reads if 0 < size < 64) <= 2
    [finding] = truncation_findings(reader.captures)
    assert finding.code == "capture_truncated"
    assert "still being written" in finding.message
    assert "once the capture has stopped," in finding.fix
