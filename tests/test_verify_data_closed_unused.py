"""A data connection that opens and is closed before any data, by either side: a FIN, the
responder's RST, or RSTs from both ends (what a firewall or IPS that blocks an open
session does): `data_aborted`, step 5 failed. Before, only a reset by the originator
counted, and these passed while the job's other connections carried its data.

Built from captures/lab/clean-3-resources.pcap as test_verify_data_aborted's cases are:
the first data connection (frames 22-24: SYN, SYN-ACK, ACK; media server 10.77.0.1:5002
-> agent 10.77.0.2:6001) keeps its handshake, its data is taken out and what closes it
goes right after the ACK.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from scapy.all import IP, TCP, Packet
from scapy_files import write_packets
from test_verify_data_aborted import (
    ACK,
    SYN,
    SYNACK,
    _analyze,
    _codes,
    _errors,
    _is_first_data,
    _packets,
    _rst,
)


def _fin(template: Packet, *, seq: int, ack: int) -> Packet:
    packet = template.copy()
    packet[TCP].remove_payload()
    packet[TCP].flags, packet[TCP].seq, packet[TCP].ack = "FA", seq, ack
    del packet[IP].len, packet[IP].chksum, packet[TCP].chksum
    return packet


def _closed(tmp_path: Path, name: str,
            closers: Callable[[Packet, Packet], list[Packet]]) -> Path:
    """The capture with the first data connection cut to frames 22-24, then
    closers(SYN-ACK, ACK) 0.1 ms apart from 0.1 ms after the ACK."""
    packets = _packets()
    synack, ack = packets[SYNACK - 1], packets[ACK - 1]
    added = closers(synack, ack)
    for number, packet in enumerate(added, 1):
        packet.time = ack.time + Decimal("0.0001") * number
    rest = [p for n, p in enumerate(packets, 1) if n > ACK and not _is_first_data(p)]
    path = tmp_path / f"{name}.pcap"
    write_packets(str(path), packets[:ACK] + added + rest)
    return path


def _agent_fin(synack: Packet, ack: Packet) -> list[Packet]:
    """The agent closes first (FIN), the media server answers with its own FIN."""
    agent_seq, media_seq = synack[TCP].seq + 1, ack[TCP].seq
    return [_fin(synack, seq=agent_seq, ack=media_seq),
            _fin(ack, seq=media_seq, ack=agent_seq + 1)]


def _agent_rst(synack: Packet, ack: Packet) -> list[Packet]:
    return [_rst(synack, seq=synack[TCP].seq + 1)]


def _both_rst(synack: Packet, ack: Packet) -> list[Packet]:
    return [_rst(ack, seq=ack[TCP].seq), _rst(synack, seq=synack[TCP].seq + 1)]


def test_closed_by_the_agents_fin_before_any_data_is_data_aborted(tmp_path: Path) -> None:
    analysis = _analyze(_closed(tmp_path, "agent-fin", _agent_fin))
    [finding] = _errors(analysis)
    assert analysis.verdict == "fail" and finding.code == "data_aborted", _codes(analysis)
    assert finding.uid == "C3" and finding.frames == [SYN, SYNACK, ACK + 1, ACK + 2]
    assert "and then was closed by the agent 10.77.0.2 (FIN, frame 25), before any data" \
        in finding.message
    assert "never flowed" in finding.message and "10.77.0.2 closed it itself" in \
        finding.message
    assert "the agent's log" in finding.fix
    steps = analysis.sessions[0].steps
    assert [s.status for s in steps][3:] == ["ok", "failed"]
    assert "opened, then closed by 10.77.0.2 (FIN, frame 25) before any data" in \
        steps[4].detail


def test_reset_by_the_agent_after_the_handshake_points_at_a_firewall_too(
        tmp_path: Path) -> None:
    analysis = _analyze(_closed(tmp_path, "agent-rst", _agent_rst))
    [finding] = _errors(analysis)
    assert finding.code == "data_aborted", _codes(analysis)
    assert ("and then was reset by the side it reached, the agent 10.77.0.2, 0.113 ms after "
            "the SYN-ACK (RST, frame 25), before any data") in finding.message
    assert "IPS" in finding.message and "the agent's log" in finding.fix
    assert "resets TCP to 10.77.0.2 port 6001 after the handshake" in finding.fix
    assert analysis.sessions[0].steps[4].status == "failed"


def test_resets_from_both_ends_read_as_a_device_between_them(tmp_path: Path) -> None:
    analysis = _analyze(_closed(tmp_path, "both-rst", _both_rst))
    [finding] = _errors(analysis)
    assert finding.code == "data_aborted", _codes(analysis)
    assert "reset from both ends" in finding.message
    assert "(RSTs, frames 25 (10.77.0.1), 26 (10.77.0.2))" in finding.message
    assert "firewall or IPS between 10.77.0.1 and 10.77.0.2" in finding.message
    assert finding.frames == [SYN, SYNACK, ACK + 1, ACK + 2]
    assert "opened, then reset by both ends (RST, frames 25, 26)" in \
        analysis.sessions[0].steps[4].detail


def test_ladder_draws_the_fin_that_closed_it_under_step_5(tmp_path: Path) -> None:
    from flowcheck.report.ladder_build import build_ladders

    (ladder,) = build_ladders(_analyze(_closed(tmp_path, "ladder-fin", _agent_fin)))
    [fin] = [a for a in ladder.arrows if a.uid == "C3" and a.kind == "fin"]
    assert (fin.label, fin.step, fin.status) == ("FIN (closed before any data)", 5, "failed")
    assert (fin.src, fin.dst, fin.frames) == ("10.77.0.2", "10.77.0.1", [25, 26])
    assert [m.code for m in fin.findings] == ["data_aborted"]


def test_a_callback_that_carries_nothing_and_closes_still_passes() -> None:
    """Backup Exec's callback carries no byte and ends with FINs: not a failure, and the
    second job's callback to the same job-engine port is still a port reused within the
    hold (the first callback did not fail)."""
    from test_verify_data_aborted import LAB

    from flowcheck.config import build_config, load_file
    from flowcheck.pipeline import analyze, read_traffic

    name = "port-reused-within-hold"
    config = build_config(load_file(LAB / f"{name}.toml"))
    analysis = analyze(read_traffic([str(LAB / f"{name}.pcap")], config), config)
    callbacks = [c for c in analysis.traffic.connections if c.role == "callback"]
    assert callbacks and all(not c.orig_bytes and not c.resp_bytes and c.fin_frames
                             for c in callbacks)
    assert analysis.verdict == "pass"
    assert _codes(analysis).count("port_reused_within_hold") == 3
