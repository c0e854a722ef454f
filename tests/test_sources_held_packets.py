"""A pcapng with a silent interface (`dumpcap -i eth0 -i eth1`, one idle; a pktmon file's
many silent interfaces): its packets are held back while the silent one may still send
earlier ones (sources.interface_order), and their bytes are copied once, not in front
of every next chunk (sources.held_packets; 30 CPU-s and 520 MB for 50,000 packets
before). Counted in bytes copied against the packets' bytes, never timed. In a set,
the held packets keep their files' frame numbers (sources.frame_files), against tshark.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tshark_fork
from capture_factory import _ticks, epb, idb, shb

from flowcheck.sources import CaptureSetReader, reader
from flowcheck.sources.inputs import resolve_inputs
from flowcheck.sources.interface_order import InterfaceOrder

PACKETS = 600
SIZE = 1000  # captured bytes of each packet


def _read(path: Path, chunk_size: int, monkeypatch: pytest.MonkeyPatch, *,
          marked: bool = True) -> tuple[list[int], list[int], InterfaceOrder]:
    """Every packet's interface and time (microseconds), in the order handed on, and the
    file's InterfaceOrder (to count what it copied); marked: each packet's first byte is
    its interface (`_file`), checked."""
    orders: list[InterfaceOrder] = []

    class Counted(InterfaceOrder):
        def __init__(self) -> None:
            super().__init__()
            orders.append(self)

    monkeypatch.setattr(reader, "InterfaceOrder", Counted)
    capture = reader.CaptureFile(resolve_inputs([str(path)])[0], chunk_size, read_ahead=False)
    interfaces: list[int] = []
    stamps: list[int] = []
    for buf, records in capture.chunks():
        assert records.interface is not None
        data = np.frombuffer(buf, np.uint8)
        for at, interface in zip(records.data_off.tolist(), records.interface.tolist(),
                                 strict=True):
            assert not marked or data[at] == interface  # each packet's own bytes
        interfaces += records.interface.tolist()
        stamps += np.round(records.ts * 1e6).astype(np.int64).tolist()  # microseconds
    [order] = orders
    return interfaces, stamps, order


def _file(tmp_path: Path, interfaces: int, packets: list[tuple[int, float]]) -> Path:
    path = tmp_path / "silent.pcapng"
    path.write_bytes(shb() + b"".join(idb(1) for _ in range(interfaces)) + b"".join(
        epb(interface, ts, bytes([interface]) * SIZE) for interface, ts in packets))
    return path


@pytest.mark.parametrize("chunk_size", [2048, 16384])
def test_packets_held_for_a_silent_interface_are_copied_once(
        tmp_path: Path, chunk_size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Held to the end of the file for 7 silent interfaces (at most SILENT_PACKETS
    packets read), handed on in the file's order, each packet's bytes copied about once
    (a part of a large read buffer copied out, then joined), not once per chunk read
    after it: about PACKETS / 2 times at 2 KiB chunks before."""
    path = _file(tmp_path, 8, [(0, 1.0 + n / 1000) for n in range(PACKETS)])
    interfaces, stamps, order = _read(path, chunk_size, monkeypatch)
    assert interfaces == [0] * PACKETS
    assert stamps == [_ticks(1.0 + n / 1000, 1_000_000) for n in range(PACKETS)]
    assert 0 < order.copied <= 2 * PACKETS * (SIZE + 64)


def test_a_silent_interface_waking_with_earlier_packets_is_merged_by_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Interface 1 sends nothing for 400 packets, then 200 packets stamped among them
    (dumpcap writes its buffer late): all merged by time, the held bytes copied about
    once though released bit by bit (interleaved with the waking interface's)."""
    first = [(0, 1.0 + n / 1000) for n in range(400)]
    late = [(1, 1.0005 + 2 * n / 1000) for n in range(200)]
    path = _file(tmp_path, 2, first + late)
    interfaces, stamps, order = _read(path, 2048, monkeypatch)
    merged = sorted(first + late, key=lambda packet: packet[1])
    assert stamps == [_ticks(ts, 1_000_000) for _, ts in merged]
    assert interfaces == [interface for interface, _ in merged]
    assert order.copied <= 3 * len(merged) * (SIZE + 64)


def test_a_backup_beside_a_silent_interface_reads_as_the_pcap(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stored v4 backup merged by mergecap with an empty capture (its interface
    described, no packet): the same connections and NDMP messages as the pcap, every
    packet held to the end and copied about twice at 2 KiB chunks (1.2 GB copied, 540
    times the file, before)."""
    pcap = Path(__file__).resolve().parent.parent / "captures" / "ndmjob" / "v4-backup.pcap"
    empty, merged = tmp_path / "empty.pcap", tmp_path / "silent.pcapng"
    subprocess.run(["tshark", "-r", str(pcap), "-Y", "frame.number == 0", "-w", str(empty)],
                   check=True, capture_output=True)
    subprocess.run(["mergecap", "-I", "none", "-w", str(merged), str(pcap), str(empty)],
                   check=True, capture_output=True)

    def read(path: Path) -> dict:
        out = subprocess.run([sys.executable, "-m", "flowcheck", "connections", str(path),
                              "--format", "json"], capture_output=True, text=True)
        return json.loads(out.stdout)

    plain, silent = read(pcap), read(merged)
    assert silent["connections"] == plain["connections"]
    assert silent["ndmp"] == plain["ndmp"] and silent["ndmp"]
    interfaces, _, order = _read(merged, 2048, monkeypatch, marked=False)
    assert interfaces == [0] * 2163
    # copied out of each 2 KiB chunk's 128 KiB buffer, then into the chunk handed on
    assert 0 < order.copied <= 3 * pcap.stat().st_size


@pytest.mark.parametrize("chunk_size", [2048, 16384])
def test_a_set_names_held_packets_by_their_files_frames(tmp_path: Path, chunk_size: int) -> None:
    """A set of two pcapngs: one whose third interface wakes after 400 packets with 200
    stamped among them, one of two interfaces written in blocks of 60 (dumpcap). Read in
    small chunks, held packets are handed on from several buffers at once (joined, split
    by `ready`): each set frame is located (sources.frame_files) at the frame tshark shows
    in its file with the same time, and each file's frames are all named once."""
    first = [(n % 2, 1.0 + n / 1000) for n in range(400)]
    late = [(2, 1.0005 + 2 * n / 1000) for n in range(200)]
    woken = tmp_path / "woken.pcapng"
    woken.write_bytes(shb() + b"".join(idb(1) for _ in range(3)) + b"".join(
        epb(interface, ts, bytes([interface]) * SIZE) for interface, ts in first + late))
    blocks = tmp_path / "blocks.pcapng"
    blocks.write_bytes(shb() + idb(1) + idb(1) + b"".join(
        epb(interface, 1.00025 + (block * 120 + 2 * n + interface) / 2000, b"\x05" * 300)
        for block in range(5) for interface in (0, 1) for n in range(60)))
    paths = [woken, blocks]
    stamps = [{int(number): int(round(float(ts) * 1e6)) for number, ts in
               tshark_fork.fields(path, "", "frame.number", "frame.time_epoch")}
              for path in paths]
    capture_set = CaptureSetReader([str(path) for path in paths], chunk_size=chunk_size,
                                   read_ahead=False)
    read = [np.round(batch.ts * 1e6).astype(np.int64) for batch in capture_set]
    times = np.concatenate(read).tolist()
    assert capture_set.frame_files is not None
    named: list[set[int]] = [set(), set()]
    for frame, time in enumerate(times, start=1):
        located = capture_set.frame_files.locate(frame)
        assert located is not None, frame
        file = paths.index(Path(capture_set.captures[located[0]].path))
        assert stamps[file].get(located[1]) == time, (frame, located)
        named[file].add(located[1])
    assert named == [set(stamps[0]), set(stamps[1])]
