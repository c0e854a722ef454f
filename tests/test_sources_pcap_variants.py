"""pcap variants with longer record headers (editcap -F modpcap, suse6_3pcap, rh6_1pcap,
nokiapcap): read packet for packet as the standard file they were written from, told
from the standard format by their first records, and never a standard file taken for one.

Trial 13 (D7): the nokiapcap and rh6_1pcap copies of a good job were read as a corrupt
standard pcap (2 and 1 bogus packets, an inconclusive verdict), the modpcap and
suse6_3pcap copies refused as "not a pcap or pcapng file".
"""

from __future__ import annotations

import gzip
import random
import struct
import subprocess
from pathlib import Path

import pytest
import tshark_fork
from capture_factory import pcap_bytes, pcap_variant_bytes, tcp_packet

from flowcheck.errors import InputError
from flowcheck.sources import iter_batches
from flowcheck.sources.pcap_variants import STANDARD, pcap_layout

ROOT = Path(__file__).resolve().parent.parent
STORED = ROOT / "captures" / "ndmjob" / "v4-backup.pcap"  # 2163 packets
CORPUS = ROOT / "tests" / "data" / "tcpdump-tests"
T0 = 1_700_000_000.0
# editcap -F name: the bytes each record header has beyond the standard 16, the magic
VARIANTS = {"modpcap": (8, True), "suse6_3pcap": (12, True), "rh6_1pcap": (8, False),
            "nokiapcap": (4, False)}


def packets_of(inputs: list, **options: object) -> tuple[list[tuple], object]:
    """(ts, captured bytes, wire length, link type) of every packet, and the reader."""
    reader = iter_batches(inputs, **options)  # type: ignore[arg-type]
    packets = []
    for batch in reader:
        view = memoryview(batch.buf)
        for n in range(len(batch)):
            start, length = int(batch.data_off[n]), int(batch.caplen[n])
            packets.append((float(batch.ts[n]), bytes(view[start:start + length]),
                            int(batch.wirelen[n]), int(batch.linktype[n])))
    return packets, reader


def make_packets(count: int = 12, start: float = T0) -> list[tuple[float, bytes]]:
    return [(start + n * 0.125 + n * 1e-6,
             tcp_packet("10.77.0.1", "10.77.1.2", 5001, 10000, "PA", seq=n,
                        payload=b"v" * (n * 13 % 200)))
            for n in range(count)]


@pytest.fixture(scope="module")
def standard() -> list[tuple]:
    return packets_of([str(STORED)])[0]


@pytest.mark.parametrize("chunk_size", [8 << 20, 100])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_editcap_variant_reads_as_the_standard_file(tmp_path: Path, standard: list[tuple],
                                                   name: str, chunk_size: int) -> None:
    """Written by Wireshark's editcap, read by tshark: every packet as in the standard
    file (chunks of 100 bytes: the layout is chosen only once enough records are in)."""
    variant = tmp_path / f"v4-backup.{name}"
    subprocess.run(["editcap", "-F", name, str(STORED), str(variant)], check=True,
                   capture_output=True)
    frames = tshark_fork.fields(variant, "", "frame.number")  # tshark started once
    assert len(frames) == len(standard) == 2163
    packets, reader = packets_of([str(variant)], chunk_size=chunk_size, read_ahead=False)
    info = reader.captures[0]
    assert (info.format, info.truncated, info.error) == (name, False, None)
    assert packets == standard


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("big_endian", [False, True])
def test_variant_in_either_byte_order(tmp_path: Path, name: str, big_endian: bool) -> None:
    extra, modified_magic = VARIANTS[name]
    written = make_packets()
    path = tmp_path / f"capture.{name}"
    path.write_bytes(pcap_variant_bytes(written, bytes(range(extra)),
                                        modified_magic=modified_magic, big_endian=big_endian))
    packets, reader = packets_of([str(path)])
    assert reader.captures[0].format == name
    assert [(data, wirelen) for _ts, data, wirelen, _link in packets] == [
        (data, len(data)) for _ts, data in written]
    assert [round(ts, 6) for ts, *_rest in packets] == [round(ts, 6) for ts, _data in written]


def test_gzipped_variant(tmp_path: Path) -> None:
    written = make_packets()
    path = tmp_path / "capture.nokia.pcap.gz"
    path.write_bytes(gzip.compress(pcap_variant_bytes(written, b"\0" * 4,
                                                      modified_magic=False)))
    packets, reader = packets_of([str(path)])
    assert reader.captures[0].format == "nokiapcap.gz"
    assert [data for _ts, data, *_rest in packets] == [data for _ts, data in written]


def test_variant_copy_beside_a_standard_capture_is_read_whole(tmp_path: Path) -> None:
    """Trial 13's directory of a good capture and a Nokia copy: the copy's 2 bogus packets
    were merged in silently (a truncated file, the clock 'stepped back' 86386782 s)."""
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "a.pcap").write_bytes(pcap_bytes(make_packets()))
    (folder / "b.nokia").write_bytes(pcap_variant_bytes(make_packets(start=T0 + 60),
                                                        b"\0" * 4, modified_magic=False))
    packets, reader = packets_of([str(folder)])
    assert [(c.format, c.packets, c.truncated) for c in reader.captures] == [
        ("pcap", 12, False), ("nokiapcap", 12, False)]
    assert len(packets) == 24


@pytest.mark.parametrize("damage", ["absurd caplen", "fraction", "caplen over wirelen",
                                    "epoch timestamps"])
@pytest.mark.parametrize("record", [1, 2, 5])
def test_damaged_standard_file_is_not_taken_for_a_variant(tmp_path: Path, damage: str,
                                                          record: int) -> None:
    """A standard file whose first records are implausible (as tcpdump's fuzzed test
    files are) is still read as standard: no variant's reading fits it either."""
    start = 5.0 if damage == "epoch timestamps" else T0
    data = bytearray(pcap_bytes(make_packets(start=start)))
    offset = 24
    for _ in range(record):
        offset += 16 + struct.unpack_from("<I", data, offset + 8)[0]
    if damage == "absurd caplen":
        struct.pack_into("<I", data, offset + 8, 1 << 30)
    elif damage == "fraction":
        struct.pack_into("<I", data, offset + 4, 1_500_000)
    else:  # caplen over wirelen (the epoch file too: its timestamps fit a wrong reading)
        struct.pack_into("<I", data, offset + 12, 10)
    path = tmp_path / "damaged.pcap"
    path.write_bytes(bytes(data))
    assert pcap_layout(bytes(data), True) is STANDARD
    packets, reader = packets_of([str(path)])
    assert reader.captures[0].format == "pcap"
    read = record if damage == "absurd caplen" else 12
    assert [data for _ts, data, *_rest in packets] == [
        data for _ts, data in make_packets(start=start)][:read]


def test_random_standard_files_stay_standard() -> None:
    """Standard files of random sizes, each with one random header byte of its first
    eight records garbled: never read as a variant (fixed seed: no flakes)."""
    rng = random.Random(13)
    for _ in range(400):
        packets = [(T0 + rng.random() * 10, bytes(rng.randrange(256) for _ in range(size)))
                   for size in sorted(rng.choices(range(0, 300), k=rng.randint(2, 20)))]
        packets.sort()
        data = bytearray(pcap_bytes(packets))
        offsets, offset = [], 24
        while offset < len(data):
            offsets.append(offset)
            offset += 16 + struct.unpack_from("<I", data, offset + 8)[0]
        at = rng.choice(offsets[:8]) + rng.randrange(16)
        data[at] = rng.randrange(256)
        assert pcap_layout(bytes(data), True) is STANDARD


def test_no_tcpdump_corpus_file_is_taken_for_a_variant() -> None:
    """tcpdump's test captures (41 of the microsecond ones implausible as standard records in
    their first eight, fuzzed on purpose) all keep the standard layout."""
    checked = 0
    for path in sorted(CORPUS.iterdir()):
        head = path.read_bytes()[:1 << 20]
        if path.suffix == ".pcap" and head[:4] != b"\x0a\x0d\x0d\x0a":
            assert pcap_layout(head, True) is STANDARD, path.name
            checked += 1
    assert checked > 700


def test_modified_magic_fitting_neither_layout_names_the_conversion(tmp_path: Path) -> None:
    data = bytearray(pcap_bytes(make_packets()))  # 16-byte records under the magic a1b2cd34
    struct.pack_into("<I", data, 0, 0xA1B2CD34)
    path = tmp_path / "odd.pcap"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError) as caught:
        packets_of([str(path)])
    message = str(caught.value)
    assert "\n" not in message
    assert "a modified pcap (magic a1b2cd34)" in message
    assert f"`editcap -F pcap {path} {path}.pcap`" in message


def test_modified_pcap_with_a_clock_step_is_read_by_the_layout_that_reads_further(
        tmp_path: Path) -> None:
    """A step of two days after the fourth record: neither reading is plausible over eight
    records, the right one over four."""
    written = make_packets(4) + make_packets(8, start=T0 + 2 * 86_400)
    path = tmp_path / "stepped.modpcap"
    path.write_bytes(pcap_variant_bytes(written, b"\0" * 8, modified_magic=True))
    packets, reader = packets_of([str(path)])
    assert reader.captures[0].format == "modpcap"
    assert [data for _ts, data, *_rest in packets] == [data for _ts, data in written]


def test_modified_pcap_without_records_holds_no_packets(tmp_path: Path) -> None:
    """Read as an empty capture, as a standard one is (not 'fits neither layout')."""
    path = tmp_path / "empty.modpcap"
    path.write_bytes(pcap_variant_bytes([], b"", modified_magic=True))
    packets, reader = packets_of([str(path)])
    info = reader.captures[0]
    assert (packets, info.format, info.error) == ([], "modpcap", None)


def test_the_standard_layout_waits_for_enough_records_in_files_only() -> None:
    """A file's layout is chosen once RECORDS_JUDGED records are in (or the file ends); a
    pipe's first packets are handed on at once (a Nokia stream's first read must then
    hold its second record for it to be recognised)."""
    head = pcap_bytes(make_packets(3))
    assert pcap_layout(head, False) is None
    assert pcap_layout(head, True) is STANDARD
    assert pcap_layout(head, False, confirm_standard=False) is STANDARD
    nokia = pcap_variant_bytes(make_packets(3), b"\0" * 4, modified_magic=False)
    assert pcap_layout(nokia, False) is None  # its standard reading fails: wait for more
    assert pcap_layout(nokia, True).name == "nokiapcap"
