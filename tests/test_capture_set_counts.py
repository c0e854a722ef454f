"""A capture set of several files: each file's skipped-packet counts on its own entry of
`captures`, the totals in `capture_summary` (issue 11, item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from capture_factory import link_frame, tcp_packet, write_pcap

from flowcheck.cli.main import run
from flowcheck.connections.counts import CaptureCounts
from flowcheck.decode import FRAGMENT, NON_TCP, TCP, UNDECODABLE
from flowcheck.model import CaptureInfo

T0 = 1_700_000_000.0
M, A = "10.77.0.1", "10.77.0.2"


def _udp() -> bytes:
    from scapy.layers.inet import IP, UDP
    return link_frame(bytes(IP(src=M, dst=A) / UDP(sport=53, dport=53) / b"abcd"))


def _fragment(offset: int) -> bytes:
    from scapy.layers.inet import IP
    return link_frame(bytes(IP(src=M, dst=A, proto=6, flags="MF", frag=offset) / (b"f" * 24)))


def _cut_tcp() -> bytes:
    return tcp_packet(M, A, 5001, 6001, "A", payload=b"x" * 20)[:14 + 20 + 12]


def _tcp(n: int) -> bytes:
    return tcp_packet(A, M, 6001, 5001, "A", seq=n, payload=b"d" * 10)


# Per file: (non_tcp, fragments, undecodable), chosen so that no two files match.
FILES = {
    "udp": ([_udp(), _udp(), _tcp(1)], (2, 0, 0)),
    "frag": ([_fragment(0), _fragment(3), _fragment(6), _tcp(2), _udp()], (1, 3, 0)),
    "cut": ([_cut_tcp(), _tcp(3), _tcp(4), _tcp(5)], (0, 0, 1)),
}


@pytest.mark.parametrize("timing", ["interleaved", "consecutive"])
def test_each_file_gets_its_own_counts(tmp_path: Path, timing: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    paths = {}
    for number, (name, (packets, _counts)) in enumerate(FILES.items()):
        # interleaved: the merge mixes the files in one batch (a per-packet file index);
        # consecutive: a ring buffer, each batch from one file.
        times = ([T0 + n + number * 0.3 for n in range(len(packets))] if timing == "interleaved"
                 else [T0 + number * 100 + n for n in range(len(packets))])
        paths[name] = write_pcap(tmp_path / f"{name}.pcap", list(zip(times, packets,
                                                                    strict=True)))
    # Given in reverse: `captures` is in time order, the counts must follow the files.
    assert run(["connections", "--format", "json",
                *[str(p) for p in reversed(paths.values())]]) == 0
    document = json.loads(capsys.readouterr().out)
    by_path = {c["path"]: (c["non_tcp"], c["fragments"], c["undecodable"])
               for c in document["captures"]}
    assert by_path == {str(paths[name]): counts for name, (_p, counts) in FILES.items()}
    assert document["capture_summary"] == {
        "files": 3, "packets": 12, "non_tcp": 3, "fragments": 3, "undecodable": 1,
        "snap_cut": 0, "truncated": 0, "unreadable": 0}


def test_table_shows_each_file_and_the_total(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    paths = [write_pcap(tmp_path / f"{name}.pcap",
                        [(T0 + number * 100 + n, p) for n, p in enumerate(packets)])
             for number, (name, (packets, _c)) in enumerate(FILES.items())]
    assert run(["connections", *[str(p) for p in paths]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("udp.pcap" in line and "2 non-TCP" in line and "fragments" not in line
               for line in lines)
    assert any("cut.pcap" in line and "1 undecodable" in line and "non-TCP" not in line
               for line in lines)
    assert any(line.startswith("3 files: 12 packets") and "3 non-TCP skipped" in line
               and "3 IP fragments" in line for line in lines)


def test_counts_by_capture_index_from_an_int_or_an_array() -> None:
    counts = CaptureCounts()
    counts.add(1, np.array([TCP, NON_TCP, NON_TCP, UNDECODABLE], np.uint8))
    counts.add(np.array([0, 2, 2, 1], np.int32),
               np.array([FRAGMENT, NON_TCP, TCP, FRAGMENT], np.uint8))
    counts.add(0, np.empty(0, np.uint8))
    infos = [CaptureInfo(path=str(n)) for n in range(4)]
    counts.fill(infos)
    assert [(i.non_tcp, i.fragments, i.undecodable) for i in infos] == [
        (0, 1, 0), (2, 1, 1), (1, 0, 0), (0, 0, 0)]
