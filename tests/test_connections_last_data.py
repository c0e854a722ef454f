"""Each side's last data packet (Connection.orig_last_data / resp_last_data: frame and
time of its last segment with payload, not a capture copy), and its first
(orig_first_data / resp_first_data), on every path of the tracker
(the reference `fast=False`, the bulk path, the short-connection pass, parked between
batches), against tshark on a generated capture whose receiver ACKs after the sender's
last data, on trial 31's capture cut mid-transfer (its last packet the media server's
ACK, or the agent's data), and on the ndmjob lab's three backups (2 MB each: the bulk
path)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import tshark_fork
from test_connections_acked_unseen import run, short_everywhere  # noqa: F401 (fixture)
from test_connections_ttl import segment
from test_connections_util import ACK, FIN, PSH, SYN, write_pcap

from flowcheck.model import Connection

ROOT = Path(__file__).resolve().parent.parent
M, A = "10.77.0.1", "10.77.1.2"


def tshark_data_frames(path: Path) -> tuple[dict[tuple[str, int, int], int],
                                              dict[tuple[str, int, int], int]]:
    """By (source address, port, destination port: one side of one connection where
    two connections share an endpoint): the frame of its last TCP segment with payload,
    and of its first, as tshark reads the capture (one run for both)."""
    last: dict[tuple[str, int, int], int] = {}
    first: dict[tuple[str, int, int], int] = {}
    for frame, src, port, to in tshark_fork.fields(path, "tcp.len > 0", "frame.number", "ip.src",
                                                   "tcp.srcport", "tcp.dstport"):
        last[(src, int(port), int(to))] = int(frame)
        first.setdefault((src, int(port), int(to)), int(frame))
    return last, first


def frames(found: dict[tuple[str, int, int], tuple[int, float] | None]
           ) -> dict[tuple[str, int, int], int]:
    """The frames of `sides`' answer, its sides without data left out."""
    return {k: v[0] for k, v in found.items() if v is not None}


def sides(conns: list[Connection], first: bool = False
          ) -> dict[tuple[str, int, int], tuple[int, float] | None]:
    """By (address, port, peer's port): each side's last data packet (its first with `first`) as the
    tracker kept it."""
    if first:
        return {**{(c.orig_h, c.orig_p, c.resp_p): c.orig_first_data for c in conns},
                **{(c.resp_h, c.resp_p, c.orig_p): c.resp_first_data for c in conns}}
    return {**{(c.orig_h, c.orig_p, c.resp_p): c.orig_last_data for c in conns},
            **{(c.resp_h, c.resp_p, c.orig_p): c.resp_last_data for c in conns}}


def acked_after_data(path: Path) -> Path:
    """A opens to M; M sends 40 segments of 100 B, then A ACKs twice more, one
    connection closes (FIN both ways) and another stays open; A sends 10 B once, early."""
    packets = []
    for port, close in ((6001, True), (6002, False)):
        packets += [segment(A, M, port, 5001, 100, 0, SYN, 64),
                    segment(M, A, 5001, port, 900, 101, SYN | ACK, 63),
                    segment(A, M, port, 5001, 101, 901, ACK, 64),
                    segment(A, M, port, 5001, 101, 901, PSH | ACK, 64, data=10)]
        for i in range(40):
            packets += [segment(M, A, 5001, port, 901 + 100 * i, 111, PSH | ACK, 63,
                                data=100),
                        segment(A, M, port, 5001, 111, 1001 + 100 * i, ACK, 64)]
        packets += [segment(A, M, port, 5001, 111, 4901, ACK, 64),
                    segment(A, M, port, 5001, 111, 4901, ACK, 64)]
        if close:
            packets += [segment(M, A, 5001, port, 4901, 111, FIN | ACK, 63),
                        segment(A, M, port, 5001, 111, 4902, FIN | ACK, 64),
                        segment(M, A, 5001, port, 4902, 112, ACK, 63)]
    return write_pcap(path, 1, packets)


def test_the_last_data_packet_on_every_path(tmp_path: Path,
                                            short_everywhere: None) -> None:  # noqa: F811
    path = acked_after_data(tmp_path / "acked.pcap")
    expected, expected_first = tshark_data_frames(path)
    reference, _ = run(path, 100_000, fast=False)
    assert len(reference) == 2
    for c in reference:  # the receiver's ACKs came after: not its last data packet
        assert c.last_frame > c.resp_last_data[0] > c.orig_last_data[0]
    for chunk in (1, 3, 7, 20, 100_000):
        conns, _ = run(path, chunk, fast=True)
        assert sides(conns) == sides(reference), chunk
        assert sides(conns, first=True) == sides(reference, first=True), chunk
    assert frames(sides(reference)) == expected
    assert frames(sides(reference, first=True)) == expected_first


@pytest.mark.parametrize("name", ["trial31-cut/art-data-reset-cut.pcap.gz",
                                  "trial31-cut/art-good-cut.pcap.gz",
                                  "ndmjob/v4-three-resources.pcap"])
def test_the_last_data_packet_of_a_stored_capture(
        name: str, tmp_path: Path, short_everywhere: None) -> None:  # noqa: F811
    stored = ROOT / "captures" / name
    path = stored
    if name.endswith(".gz"):
        path = tmp_path / "capture.pcap"  # pcapng stored: pcap for read_batches
        subprocess.run(["editcap", "-F", "pcap", str(stored), str(path)], check=True,
                       capture_output=True)
    expected, expected_first = tshark_data_frames(path)
    reference, _ = run(path, 100_000, fast=False)
    assert frames(sides(reference)) == expected
    assert frames(sides(reference, first=True)) == expected_first
    # Batches of five packets on the trial 31 cuts; v4-three-resources' 6.5 MB in them
    # was 5 s of batches' fixed work, its transfers parked between batches at 64 too.
    for chunk in (5, 64, 100_000) if name.endswith(".gz") else (64, 100_000):
        conns = run(path, chunk, fast=True)[0]
        assert sides(conns) == sides(reference), chunk
        assert sides(conns, first=True) == sides(reference, first=True), chunk
