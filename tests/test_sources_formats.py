"""Every capture format the sources read, checked field by field against what was written."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from capture_factory import (
    LINKTYPES,
    epb,
    idb,
    link_frame,
    opb,
    pcap_bytes,
    shb,
    spb,
    tcp_packet,
    write_pcap,
    write_pcap_gz,
    write_pcapng,
    write_pcapng_gz,
)

from flowcheck.sources import iter_batches

T0 = 1_700_000_000.0


def make_packets(count: int = 6, start: float = T0,
                 step: float = 0.25) -> list[tuple[float, bytes]]:
    return [(start + n * step + n * 1e-6,
             tcp_packet("10.77.0.1", "10.77.0.2", 5001, 10000, "PA", seq=n, payload=b"x" * n * 7))
            for n in range(count)]


def read_all(inputs: list, **options: object) -> tuple[list[dict], object]:
    """Every packet as a dict (frame, ts, bytes, caplen, wirelen, linktype), and the reader."""
    reader = iter_batches(inputs, **options)  # type: ignore[arg-type]
    packets = []
    for batch in reader:
        view = memoryview(batch.buf)
        for n in range(len(batch)):
            start, length = int(batch.data_off[n]), int(batch.caplen[n])
            packets.append({"frame": batch.frame0 + n, "ts": float(batch.ts[n]),
                            "data": bytes(view[start:start + length]),
                            "wirelen": int(batch.wirelen[n]),
                            "linktype": int(batch.linktype[n])})
    return packets, reader


def assert_same(packets: list[dict], expected: list[tuple[float, bytes]], linktype: int = 1,
                tolerance: float = 1e-6) -> None:
    assert [p["data"] for p in packets] == [data for _ts, data in expected]
    assert [p["frame"] for p in packets] == list(range(1, len(expected) + 1))
    assert np.allclose([p["ts"] for p in packets], [ts for ts, _data in expected],
                       rtol=0, atol=tolerance)
    assert all(p["linktype"] == linktype for p in packets)
    assert all(p["wirelen"] == len(p["data"]) for p in packets)


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("nanosecond", [False, True])
def test_pcap_byte_orders_and_resolutions(tmp_path: Path, big_endian: bool,
                                          nanosecond: bool) -> None:
    expected = make_packets()
    if nanosecond:
        expected = [(ts + 123e-9, data) for ts, data in expected]
    path = write_pcap(tmp_path / "a.pcap", expected, nanosecond=nanosecond, big_endian=big_endian)
    packets, reader = read_all([str(path)])
    assert_same(packets, expected, tolerance=1e-6 if not nanosecond else 5e-7)
    info = reader.captures[0]
    assert (info.format, info.link_types, info.packets, info.truncated) == (
        "pcap", ["EN10MB"], len(expected), False)
    assert info.bytes_read == path.stat().st_size


def test_nanosecond_fraction_is_not_read_as_microseconds(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "ns.pcap", [(T0 + 0.5, b"\x00" * 60)], nanosecond=True)
    packets, _ = read_all([str(path)])
    assert packets[0]["ts"] == pytest.approx(T0 + 0.5, abs=1e-6)


@pytest.mark.parametrize("link", sorted(LINKTYPES))
def test_link_types_named_per_capture(tmp_path: Path, link: str) -> None:
    data = tcp_packet("10.0.0.1", "10.0.0.2", 1, 2, link=link)
    path = write_pcap(tmp_path / "l.pcap", [(T0, data)], linktype=LINKTYPES[link])
    packets, reader = read_all([str(path)])
    assert packets[0]["linktype"] == LINKTYPES[link]
    names = {"null": "NULL", "ether": "EN10MB", "raw": "RAW", "loop": "LOOP",
             "sll": "LINUX_SLL", "sll2": "LINUX_SLL2"}
    assert reader.captures[0].link_types == [names[link]]


def test_unknown_link_type_keeps_records(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "u.pcap", make_packets(3), linktype=147)
    packets, reader = read_all([str(path)])
    assert len(packets) == 3 and {p["linktype"] for p in packets} == {147}
    assert reader.captures[0].link_types == ["USER0"]  # named as libpcap names it
    path = write_pcap(tmp_path / "n.pcap", make_packets(1), linktype=999)
    assert read_all([str(path)])[1].captures[0].link_types == ["LINKTYPE_999"]
    assert reader.captures[0].error is None


def test_snapped_packets_keep_wire_length(tmp_path: Path) -> None:
    data = [b"\x01" * 40, b"\x02" * 40]
    path = tmp_path / "snap.pcap"
    path.write_bytes(pcap_bytes([(T0, data[0]), (T0 + 1, data[1])], snaplen=40,
                                wirelens=[1514, 60]))
    packets, _ = read_all([str(path)])
    assert [(len(p["data"]), p["wirelen"]) for p in packets] == [(40, 1514), (40, 60)]


@pytest.mark.parametrize("big_endian", [False, True])
def test_pcapng_two_interfaces_of_different_link_types(tmp_path: Path, big_endian: bool) -> None:
    base = make_packets(6)
    packets_in = []
    for n, (ts, data) in enumerate(base):
        if n % 2:  # the second interface is Linux cooked v2: strip Ethernet, wrap again
            packets_in.append((1, ts, link_frame(data[14:], link="sll2")))
        else:
            packets_in.append((0, ts, data))
    path = write_pcapng(tmp_path / "two.pcapng", [1, 276], packets_in, big_endian=big_endian)
    packets, reader = read_all([str(path)])
    assert [p["data"] for p in packets] == [data for _i, _ts, data in packets_in]
    assert [p["linktype"] for p in packets] == [1, 276, 1, 276, 1, 276]
    assert np.allclose([p["ts"] for p in packets], [ts for _i, ts, _d in packets_in], atol=1e-6)
    info = reader.captures[0]
    assert (info.format, info.link_types) == ("pcapng", ["EN10MB", "LINUX_SLL2"])


@pytest.mark.parametrize("tsresol, tolerance", [(9, 1e-6), (3, 1e-3), (0x80 | 20, 1e-6),
                                                (0x80 | 10, 1e-3)])
def test_pcapng_timestamp_resolutions(tmp_path: Path, tsresol: int, tolerance: float) -> None:
    expected = make_packets(4)
    path = write_pcapng(tmp_path / "r.pcapng", [1], [(0, ts, d) for ts, d in expected],
                        tsresol=tsresol)
    packets, _ = read_all([str(path)])
    assert_same(packets, expected, tolerance=tolerance)


def test_pcapng_tsoffset_is_added(tmp_path: Path) -> None:
    expected = make_packets(3)
    path = write_pcapng(tmp_path / "o.pcapng", [1], [(0, ts, d) for ts, d in expected],
                        tsoffset=1_000_000_000)
    packets, _ = read_all([str(path)])
    assert_same(packets, expected)


def test_pcapng_simple_packet_blocks_take_previous_timestamp(tmp_path: Path) -> None:
    first, second, third = make_packets(3)
    content = (shb() + idb(1) + epb(0, first[0], first[1]) + b"".join(
        [spb(second[1]), spb(third[1])]))
    path = tmp_path / "spb.pcapng"
    path.write_bytes(content)
    packets, _ = read_all([str(path)])
    assert [p["data"] for p in packets] == [first[1], second[1], third[1]]
    assert [p["ts"] for p in packets] == [pytest.approx(first[0], abs=1e-6)] * 3


def test_pcapng_only_simple_packet_blocks(tmp_path: Path) -> None:
    expected = make_packets(3)
    path = write_pcapng(tmp_path / "s.pcapng", [1], [(0, ts, d) for ts, d in expected],
                        use_spb=True)
    packets, _ = read_all([str(path)])
    assert [p["data"] for p in packets] == [d for _ts, d in expected]
    assert len({p["ts"] for p in packets}) == 1


def test_pcapng_obsolete_packet_block_and_sections(tmp_path: Path) -> None:
    a, b, c = make_packets(3)
    # Section 1 little-endian with an OPB; section 2 big-endian, new interfaces.
    content = (shb("<") + idb(1, "<") + opb(0, a[0], a[1], "<")
               + shb(">") + idb(101, ">") + idb(1, ">") + epb(1, b[0], b[1], ">")
               + epb(0, c[0], c[1][14:], ">"))
    path = tmp_path / "sections.pcapng"
    path.write_bytes(content)
    packets, reader = read_all([str(path)])
    assert [p["data"] for p in packets] == [a[1], b[1], c[1][14:]]
    assert [p["linktype"] for p in packets] == [1, 1, 101]
    assert reader.captures[0].link_types == ["EN10MB", "RAW"]


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_gzip_compressed(tmp_path: Path, kind: str) -> None:
    expected = make_packets(5)
    if kind == "pcap":
        path = write_pcap_gz(tmp_path / "g.pcap.gz", expected)
    else:
        path = write_pcapng_gz(tmp_path / "g.pcapng.gz", [1], [(0, ts, d) for ts, d in expected])
    packets, reader = read_all([str(path)], chunk_size=64)
    assert_same(packets, expected)
    assert reader.captures[0].format == f"{kind}.gz"


def test_gzip_detected_by_magic_not_name(tmp_path: Path) -> None:
    expected = make_packets(2)
    path = tmp_path / "capture.bin"
    path.write_bytes(gzip.compress(pcap_bytes(expected)))
    packets, reader = read_all([str(path)])
    assert_same(packets, expected)
    assert reader.captures[0].format == "pcap.gz"


def test_open_binary_stream_is_read(tmp_path: Path) -> None:
    expected = make_packets(4)
    path = write_pcap(tmp_path / "s.pcap", expected)
    with open(path, "rb") as handle:
        packets, reader = read_all([handle])
    assert_same(packets, expected)
    assert reader.captures[0].packets == 4


def test_pipe_object_is_streamed(tmp_path: Path) -> None:
    expected = make_packets(8)
    path = write_pcapng(tmp_path / "p.pcapng", [1], [(0, ts, d) for ts, d in expected])
    process = subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE)
    try:
        packets, reader = read_all([process.stdout], chunk_size=50)
    finally:
        process.stdout.close()
        process.wait()
    assert_same(packets, expected)
    # A pipe's file object is named by its descriptor number (live's sniffer pipe too):
    # the capture's path says it was a stream, never "4".
    assert reader.captures[0].path == "<stream>"


STDIN_READER = """
import sys
from flowcheck.sources import iter_batches
reader = iter_batches(["-"])
print(sum(len(batch) for batch in reader), reader.captures[0].format, reader.captures[0].path)
"""


def test_standard_input_dash(tmp_path: Path) -> None:
    expected = make_packets(7)
    data = gzip.compress(pcap_bytes(expected, big_endian=True))
    result = subprocess.run([sys.executable, "-c", STDIN_READER], input=data,
                            capture_output=True, check=True, cwd=Path(__file__).parent.parent)
    assert result.stdout.decode().split() == ["7", "pcap.gz", "-"]



def _sized_packets(sizes: list[int]) -> list[tuple[float, bytes]]:
    """Packets of the given lengths, each starting with its own number (offsets show)."""
    return [(T0 + n * 1e-4, n.to_bytes(4, "big") + bytes([n % 251]) * (size - 4))
            for n, size in enumerate(sizes)]


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("chunk_size", [2 << 20, 8 << 20])
def test_pcap_walk_guesses_repeating_sizes_exactly(tmp_path: Path, big_endian: bool,
                                                   chunk_size: int) -> None:
    # Runs of repeating sizes (guessed and checked in bulk) broken by irregular stretches,
    # a single odd record inside a run and a pattern whose sizes share a low byte.
    rng = np.random.default_rng(7)
    sizes = ([1514] * 8 + [66]) * 1500 + [int(s) for s in rng.integers(60, 1515, 700)]
    sizes += ([1514] * 8 + [66]) * 400 + [1000] + ([1514] * 8 + [66]) * 400
    sizes += [60, 1514, 1514] * 1500 + [0x1EA, 0x2EA] * 1000 + [1514] * 2000
    expected = _sized_packets(sizes)
    path = tmp_path / "bulk.pcap"
    path.write_bytes(pcap_bytes(expected, big_endian=big_endian))
    packets, reader = read_all([str(path)], chunk_size=chunk_size)
    assert_same(packets, expected)
    assert reader.captures[0].packets == len(sizes) and not reader.captures[0].truncated


def test_absurd_caplen_jumping_out_of_the_buffer(tmp_path: Path) -> None:
    # Deep inside the unrolled walk, a caplen that points far past the buffer's end.
    expected = _sized_packets([1514] * 4000)
    whole = bytearray(pcap_bytes(expected))
    bad_offset = 24 + 1001 * (16 + 1514)
    whole[bad_offset + 8:bad_offset + 12] = (0x7FFFFFF0).to_bytes(4, "little")
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(bytes(whole))
    packets, reader = read_all([str(path)])
    assert len(packets) == 1001
    assert reader.captures[0].error_offset == bad_offset and reader.captures[0].truncated


@pytest.mark.parametrize("caplen", [0x50000, 0x7FFFFFF0])
def test_absurd_caplen_inside_a_guessed_run(tmp_path: Path, caplen: int) -> None:
    # The walk guesses the repeating sizes, the guess stops at the corrupt record, and the
    # record is then found absurd (whether its caplen jumps inside the buffer or past it).
    sizes = ([1514] * 8 + [66]) * 900
    expected = _sized_packets(sizes)
    whole = bytearray(pcap_bytes(expected))
    bad_index = 5000
    bad_offset = 24 + sum(16 + size for size in sizes[:bad_index])
    whole[bad_offset + 8:bad_offset + 12] = caplen.to_bytes(4, "little")
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(bytes(whole))
    packets, reader = read_all([str(path)])
    assert len(packets) == bad_index
    assert reader.captures[0].error_offset == bad_offset and reader.captures[0].truncated
