"""A session whose control connection opened in a ring buffer's hole (new-user trial 12,
D1: a night of good jobs failed with port_outside_agent_range on background HTTP).

The ring is built from captures/ndmjob/v4-backup.pcap (plain NDMP v4, ndmp profile):
file r.pcap holds background traffic between the two hosts a minute before the job (an
idle connection to a port in the agent range, an HTTP fetch to port 8080), r.pcap1 (the
job's start: control connection opening, DATA_CONNECT, the data connection's SYN) is
missing, r.pcap2 holds the rest of the job and two HTTP connections already open. The
session may adopt the data connection running across the hole, but neither a connection
whose SYN the capture holds from before the hole nor one to a port outside the ranges.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from pathlib import Path

import pytest
from scapy.all import IP, TCP, Ether, Packet, Raw
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

NDMJOB = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
MEDIA, AGENT = "10.77.0.1", "10.77.0.2"
# v4-backup: frames 1-1000 hold the control connection's opening, its DATA_CONNECT
# (frame 11) and the data connection 6015 -> 5014's SYN (frame 12); the data runs on.
HOLE = 1000


def _tcp(template: Packet, src: tuple[str, int], dst: tuple[str, int], flags: str,
         ts: Decimal, seq: int = 1, ack: int = 1, payload: bytes = b"") -> Packet:
    ether = template[Ether]
    macs = (ether.src, ether.dst) if src[0] == template[IP].src else (ether.dst, ether.src)
    packet = Ether(src=macs[0], dst=macs[1]) / IP(src=src[0], dst=dst[0]) / TCP(
        sport=src[1], dport=dst[1], flags=flags, seq=seq, ack=ack if "A" in flags else 0)
    if payload:
        packet = packet / Raw(payload)
    packet.time = ts
    return packet


def _fetch(template: Packet, port: int, ts: Decimal, *, syn: bool) -> list[Packet]:
    """An HTTP fetch from the media server to the agent's port 8080 (its handshake only
    when `syn`), request, reply and FIN exchange within 10 ms."""
    media, web = (MEDIA, port), (AGENT, 8080)
    step = Decimal("0.001")
    packets = [_tcp(template, media, web, "S", ts, seq=0),
               _tcp(template, web, media, "SA", ts + step, seq=0, ack=1),
               _tcp(template, media, web, "A", ts + 2 * step)] if syn else []
    return [*packets,
            _tcp(template, media, web, "PA", ts + 3 * step, payload=b"GET / HTTP/1.0\r\n\r\n"),
            _tcp(template, web, media, "PA", ts + 4 * step, ack=19, payload=b"x" * 100),
            _tcp(template, media, web, "FA", ts + 5 * step, seq=19, ack=101),
            _tcp(template, web, media, "FA", ts + 6 * step, seq=101, ack=20),
            _tcp(template, media, web, "A", ts + 7 * step, seq=20, ack=102)]


@functools.cache
def _job() -> tuple[Packet, ...]:
    """v4-backup's packets, read by scapy once a module (1.1 CPU-s a read); no test
    changes them (each makes its packets anew and slices a list of these)."""
    return tuple(read_packets(str(NDMJOB / "v4-backup.pcap")))


@pytest.fixture(scope="module")
def ring_with_hole(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    """_ring_with_hole's analysis, made once for the tests that read it (read only)."""
    return _ring_with_hole(tmp_path_factory.mktemp("ring-with-hole"))


def _ring_with_hole(tmp_path: Path) -> Analysis:
    job = list(_job())
    start = Decimal(str(job[0].time))
    idle = [_tcp(job[0], (MEDIA, 5055), (AGENT, 6050), "S", start - 60, seq=0),
            _tcp(job[0], (AGENT, 6050), (MEDIA, 5055), "SA", start - 60 + Decimal("0.001"),
                 seq=0, ack=1),
            _tcp(job[0], (MEDIA, 5055), (AGENT, 6050), "A", start - 60 + Decimal("0.002"))]
    before = [*idle, *_fetch(job[0], 5060, start - 55, syn=True)]
    resumed = Decimal(str(job[HOLE].time))
    # Two fetches already open: one first seen by its request, one by its reply (read as
    # 8080 -> 5071: with no SYN the direction is a guess, and 5071 is in the media range).
    after = sorted([*job[HOLE:], *_fetch(job[0], 5070, resumed, syn=False),
                    *_fetch(job[0], 5071, resumed + 1, syn=False)[1:]], key=lambda p: p.time)
    ring = tmp_path / "ring"
    ring.mkdir()
    write_packets(str(ring / "r.pcap"), before)
    write_packets(str(ring / "r.pcap2"), after)  # r.pcap1, the job's start, is missing
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    return analyze(read_traffic([str(ring)], config), config)


def test_session_opened_in_a_ring_hole_adopts_only_what_could_be_its_own(
        ring_with_hole: Analysis) -> None:
    analysis = ring_with_hole
    codes = [f.code for f in analysis.findings]
    assert "capture_ring_gap" in codes
    assert "port_outside_agent_range" not in codes and analysis.verdict != "fail", codes
    [session] = analysis.sessions
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    adopted = [{by_uid[u].orig_p, by_uid[u].resp_p} for u in session.data_connections]
    # The data connection running across the hole (its direction guessed: no SYN), not
    # the idle connection whose SYN precedes the hole (ports in both ranges) nor the
    # HTTP connections to 8080.
    assert adopted == [{6015, 5014}]
    others = [{by_uid[f.uid].orig_p, by_uid[f.uid].resp_p} for f in analysis.findings
              if f.code == "unannounced_connection" and f.uid]
    assert len(others) == 3 and all(ports & {6050, 8080} for ports in others), others


def test_session_opened_in_a_ring_hole_is_said_to_have_opened_there(
        ring_with_hole: Analysis) -> None:
    analysis = ring_with_hole
    [mid] = [f for f in analysis.findings if f.code == "capture_started_mid_session"]
    assert "opened in the gap between ring files r.pcap and r.pcap2" in mid.message
    assert "capture started" not in mid.message
    # What was matched, counted (it said "data connections ... were matched" even for none).
    # Its steps are named as the table has them (trial 13, D8: no blanket "unknown").
    assert ("what came before that packet (its handshake, any announcement) is not in the "
            "capture, so the steps are judged on what followed it") in mid.message
    assert "; 1 data connection whose announcement the hole may hide" in mid.message
    assert mid.message.endswith("was matched to it by direction and ports.")
    [session] = analysis.sessions
    assert session.steps[1].detail.startswith(
        "announced in the gap between ring files r.pcap and r.pcap2")


def test_job_whose_end_is_in_a_ring_hole_is_not_said_to_outlast_the_capture(
        tmp_path: Path) -> None:
    # r.pcap: the job up to frame 1000 (DATA_START_BACKUP is frame 16); r.pcap1, the
    # rest with NOTIFY_DATA_HALTED, is missing; r.pcap2: an HTTP fetch 10 s later.
    job = list(_job())
    ring = tmp_path / "ring"
    ring.mkdir()
    write_packets(str(ring / "r.pcap"), job[:HOLE])
    write_packets(str(ring / "r.pcap2"), _fetch(job[0], 5070, Decimal(str(job[-1].time)) + 10,
                                         syn=True))
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    analysis = analyze(read_traffic([str(ring)], config), config)
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert early.message.startswith("The capture lacks the end of the backup")
    assert "before the gap between ring files r.pcap and r.pcap2" in early.message
    assert "capture stopped" not in early.message and "whole ring" in early.fix
