"""A RST's TTL against its side's own packets' when the route changed mid-connection.

A host's packets reach the capture point with one TTL while the route stays; a route
that changes mid-connection (one router more or less: trial 37c D2) changes it for all
its later packets, its own RST included. Comparing a RST with the side's first packet's
TTL then read the host's own RST as a device's (forged in its name) and a device's
RST that happened to carry the first packet's TTL as the host's. Each side's last packet's
TTL before its first RST (SideEvidence.ttl_before_rst) is kept on every path of the
tracker, and verify.ttl.reset_ttls compares the RST with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pcap_records import read_records, write_records
from test_connections_acked_unseen import run, short_everywhere  # noqa: F401 (fixture)
from test_connections_ttl import segment
from test_connections_util import ACK, FIN, PSH, RST, SYN, write_pcap

from flowcheck.config import build_config, load_file
from flowcheck.model import Connection, Severity
from flowcheck.pipeline import analyze, read_traffic

ROOT = Path(__file__).resolve().parent.parent
M, A = "10.77.0.1", "10.77.1.2"


def handshake(port: int, ttl: int) -> list[bytes]:
    """M's connection from `port` to A's 7000: SYN (TTL 64), A's SYN-ACK (`ttl`), ACK."""
    return [segment(M, A, port, 7000, 100, 0, SYN, 64),
            segment(A, M, 7000, port, 900, 101, SYN | ACK, ttl),
            segment(M, A, port, 7000, 101, 901, ACK, 64)]


def route_change_capture(path: Path, connections: int = 12) -> Path:
    """M (TTL 64) sends A (63 at first: one router) data; A's ACKs after the third
    segment arrive with 62 (its route gained a router); each connection ends with a RST
    in A's name: A's own (62) for i % 3 == 0, a device's with A's first TTL (63) for
    i % 3 == 1; for i % 3 == 2 the RST is A's first packet (a capture joined late)."""
    packets = []
    for i in range(connections):
        port, late = 6001 + i, i % 3 == 2
        if not late:
            packets += handshake(port, 63)
        for k in range(6):
            packets.append(segment(M, A, port, 7000, 101 + 100 * k, 901, PSH | ACK, 64,
                                   data=100))
            if not late:
                packets.append(segment(A, M, 7000, port, 901, 201 + 100 * k, ACK,
                                       63 if k < 3 else 62))
        packets.append(segment(A, M, 7000, port, 901, 0, RST, (62, 63, 63)[i % 3]))
    return write_pcap(path, 1, packets)


def every_path(path: Path, chunks: tuple[int, ...] = (1, 2, 3, 7, 20, 100_000)
               ) -> list[Connection]:
    """The per-packet path's records of `path`, after asserting that the fast paths give
    the same at every chunk size (the project's path equality)."""
    reference, _ = run(path, 100_000, fast=False)
    for chunk in chunks:
        fast, _ = run(path, chunk, fast=True)
        assert fast == reference, chunk
    return reference


def test_the_ttl_before_a_reset_on_every_path(tmp_path: Path,
                                              short_everywhere: None) -> None:  # noqa: F811
    reference = every_path(route_change_capture(tmp_path / "route.pcap"))
    assert len(reference) == 12
    for i, c in enumerate(reference):
        agent = c.evidence("orig" if c.orig_h == A else "resp")
        expected = ((62, 62, 63), (63, 62, 63), (63, None, None))[i % 3]
        assert (agent.rst_ttl, agent.ttl_before_rst, c.resp_ttl) == expected, i
        assert c.evidence("orig" if c.orig_h == M else "resp").ttl_before_rst is None, i


def moved_capture(path: Path, connections: int = 12) -> Path:
    """As route_change_capture, each connection closed by FINs, no RST: A's ACKs from the
    fourth on arrive with 62 (i % 3 == 0), the fourth and fifth only (i % 3 == 1: the
    route came back), or all with 63 (i % 3 == 2)."""
    packets = []
    for i in range(connections):
        port = 6001 + i
        ttls = ([63] * 3 + [62] * 4, [63] * 3 + [62] * 2 + [63] * 2, [63] * 7)[i % 3]
        packets += handshake(port, ttls[0])
        for k in range(5):
            packets += [segment(M, A, port, 7000, 101 + 100 * k, 901, PSH | ACK, 64, data=100),
                        segment(A, M, 7000, port, 901, 201 + 100 * k, ACK, ttls[k + 1])]
        packets += [segment(M, A, port, 7000, 601, 901, FIN | ACK, 64),
                    segment(A, M, 7000, port, 901, 602, FIN | ACK, ttls[6]),
                    segment(M, A, port, 7000, 602, 902, ACK, 64)]
    return write_pcap(path, 1, packets)


def test_a_route_change_without_reset_on_every_path(tmp_path: Path,
                                                    short_everywhere: None) -> None:  # noqa: F811
    """SideEvidence.ttl_moved: a side's TTL's latest change (its time, before, after)."""
    reference = every_path(moved_capture(tmp_path / "moved.pcap"))
    assert len(reference) == 12
    for i, c in enumerate(reference):
        moved = c.evidence("resp").ttl_moved
        expected = ((63, 62), (62, 63), None)[i % 3]
        assert (moved and moved[1:]) == expected and c.resp_ttl == 63, i
        if moved is not None:  # A's ACK of the fourth segment, or of the sixth
            assert c.ts < moved[0] < c.last_ts, i
        assert c.evidence("orig").ttl_moved is None and c.conn_state == "SF", i


def long_moved_capture(path: Path) -> Path:
    """Two long transfers from M (TTL 64), A's ACKs of each eighth segment arriving with
    63, 62 from the 300th segment on, 63 again from the 700th (the route changed and came
    back), and on the second with 62 from the 640th on (its last change)."""
    packets = []
    for port, changes in ((6001, ((300, 62), (700, 63))), (6002, ((640, 62),))):
        packets += handshake(port, 63)
        for k in range(1000):
            packets.append(segment(M, A, port, 7000, 101 + 100 * k, 901, PSH | ACK, 64,
                                   data=100))
            if k % 8 == 7:
                ttl = next((t for at, t in reversed(changes) if k >= at), 63)
                packets.append(segment(A, M, 7000, port, 901, 201 + 100 * k, ACK, ttl))
    return write_pcap(path, 1, packets)


def test_a_long_connections_route_change_on_every_path(tmp_path: Path) -> None:
    """SideEvidence.ttl_moved on the bulk path: its runs' changes within a batch and at
    a batch's first packet, as the per-packet path's."""
    reference = every_path(long_moved_capture(tmp_path / "long.pcap"),
                           (5, 17, 64, 1000, 100_000))
    assert [c.evidence("resp").ttl_moved[1:] for c in reference] == [(62, 63), (63, 62)]


FOLDER = ROOT / "captures" / "ndmjob-routerreset"
NAME = "data-reset-by-router-media"
AGENT_DATA = (b"\x0a\x4d\x01\x03", 6328)  # 10.77.1.3, its data connection's port


def _rerouted(tmp_path: Path, rst_ttl: int) -> Path:
    """The stored job with the agent's data packets from the 50th on arriving one router
    further (TTL 62, its first 63) and the RST in its name (frame 170) given rst_ttl."""
    linktype, records = read_records(FOLDER / f"{NAME}.pcap.gz")
    seen, edited = 0, []
    for frame, record in enumerate(records, start=1):
        data = record.data
        if data[26:30] == AGENT_DATA[0] and int.from_bytes(data[34:36]) == AGENT_DATA[1]:
            seen += 1
            ttl = rst_ttl if frame == 170 else 62 if seen >= 50 else data[22]
            data = data[:22] + bytes([ttl]) + data[23:]
        edited.append(type(record)(record.micros, record.wirelen, data))
    assert records[169].data[47] & 0x04 and records[169].data[22] == 64  # the RST, as stored
    return write_records(tmp_path / f"{NAME}-{rst_ttl}.pcap", linktype, edited)


@pytest.mark.parametrize(("rst_ttl", "device"), [(62, False), (63, True), (64, True)])
def test_a_reset_is_read_by_the_agents_ttl_just_before_it(tmp_path: Path, rst_ttl: int,
                                                          device: bool) -> None:
    config = build_config(load_file(FOLDER / f"{NAME}.toml"))
    analysis = analyze(read_traffic([str(_rerouted(tmp_path, rst_ttl))], config), config)
    [error] = [f for f in analysis.findings if f.severity is Severity.ERROR]
    assert error.code == "data_reset"
    message = " ".join(error.message.split())
    assert ("was reset by a device between them, in the name of the agent 10.77.1.3"
            in message) is device, message
    if device:
        assert (f"its TTL {rst_ttl}, where the agent 10.77.1.3's own packets arrive with 62"
                in message), message
    else:
        assert "its TTL" not in message, message
