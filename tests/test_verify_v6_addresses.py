"""Announced addresses beside IPv6 (new-user trial 28): D4 an IPv4 address announced beside
a control connection over IPv6 and reached over IPv6 at the same port was "a NAT rewrote
the address" with a fix NDMP cannot carry out; D6 IPv4-mapped addresses in IPv6 headers
were not the announced IPv4 endpoint; D8 a DATA_LISTEN reply of an address type
flowcheck cannot read hid the data connections that followed ("no data moved").

Real captures of the trial's lab (flowcheck's lab peers over IPv6 sockets) and its
rewrites, in captures/lab-trial28-addresses (README.md there).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy_files import read_packets, write_packets

from flowcheck.cli.main import run

STORED = Path(__file__).resolve().parent.parent / "captures" / "lab-trial28-addresses"
RANGES = ["--media-range", "5001-5100", "--agent-range", "6001-6100"]


def _analyze(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    run(["analyze", str(path), "--format", "json", *RANGES, *extra])
    return json.loads(capsys.readouterr().out)


def _errors(report: dict) -> list[str]:
    return sorted(f["code"] for f in report["findings"] if f["severity"] == "error")


def _step(report: dict, number: int) -> dict:
    return report["sessions"][0]["steps"][number - 1]


def _said(report: dict) -> str:
    return json.dumps([report["findings"], report["sessions"]])


def test_ipv4_announced_reached_over_ipv6_is_the_data_connection(
        capsys: pytest.CaptureFixture[str]) -> None:
    """D4: every connection over IPv6, the DATA_LISTEN replies carrying the agent's IPv4
    address (all NDMP_ADDR_TCP can hold): a job that worked, no NAT."""
    report = _analyze(STORED / "allv6-wire.pcap.gz", capsys)
    assert report["verdict"] == "pass" and _errors(report) == []
    step = _step(report, 4)
    assert step["status"] == "ok"
    assert ("C3 reached port 6001 over IPv6 at fd77::2, the agent's control connection "
            "address: DATA_LISTEN (frame 21) announced 10.77.0.2:6001, and NDMP v4 TCP "
            "addresses are IPv4 only") in step["detail"]
    assert "NAT" not in step["detail"].replace("no NAT", "")
    assert [a["used_by"] for a in report["sessions"][0]["announced"]] == ["C3", "C4"]


def _passes_with_handshake_lost(name: str, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> dict:
    """The JSON report of NAME.pcap.gz without frames 22-24 (the first data connection's
    handshake, lost by the sniffer), checked to read PASS with capture_loss, neither
    capture_filtered nor unannounced_connection, the DATA_LISTENs used by C3 and C4."""
    packets = read_packets(str(STORED / f"{name}.pcap.gz"))
    path = tmp_path / "lost-data-handshake.pcap"
    write_packets(str(path), packets[:21] + packets[24:])
    report = _analyze(path, capsys)
    assert report["verdict"] == "pass"
    codes = {f["code"] for f in report["findings"]}
    assert "capture_filtered" not in codes and "unannounced_connection" not in codes
    assert "capture_loss" in codes
    assert [a["used_by"] for a in report["sessions"][0]["announced"]] == ["C3", "C4"]
    return report


def test_ipv4_announced_reached_over_ipv6_with_its_handshake_lost(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """newuser58: allv6-wire with the first data connection's handshake lost by the
    sniffer (frames 22-24: its first packet captured is the agent's data): the data
    connection of DATA_LISTEN (frame 21), sniffer loss, PASS; it read INCONCLUSIVE,
    capture_filtered "no captured connection reached it" and unannounced_connection. Its
    listener is the originator: fd77::2 and the bytes from the agent, as with IPv4."""
    report = _passes_with_handshake_lost("allv6-wire", tmp_path, capsys)
    assert ("C3 reached port 6001 over IPv6 at fd77::2, the agent's control connection "
            "address") in _step(report, 4)["detail"]
    assert "400,000 B agent -> media server (backup)" in _step(report, 5)["detail"]


def test_ipv4_data_beside_ipv6_control_with_its_handshake_lost(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """newuser58: dualstack-v6ctl-v4data (control over IPv6, callback and data over IPv4)
    with the first data connection's handshake lost by the sniffer (frames 22-24): its
    peer is the media server's IPv4 address, no session's control address, so it is
    the connector as for a connection whose opening the capture holds: PASS with
    capture_loss, the callback tied; it read INCONCLUSIVE, the callback and the data
    connection both unannounced_connection, and capture_filtered."""
    report = _passes_with_handshake_lost("dualstack-v6ctl-v4data", tmp_path, capsys)
    assert _step(report, 2)["status"] == "ok"
    assert "400,000 B agent -> media server (backup)" in _step(report, 5)["detail"]


def test_ipv4_announced_reached_over_ipv6_and_dropped(
        capsys: pytest.CaptureFixture[str]) -> None:
    """D4: the agent's nft drops the IPv6 data SYNs: data_unanswered alone, words of the
    IP versions, not "a NAT rewrote it"."""
    report = _analyze(STORED / "v6-data-dropped.pcap", capsys)
    assert _errors(report) == ["data_unanswered"]
    said = _said(report)
    assert "NAT rewrote" not in said and "translation" not in said
    dropped = next(f for f in report["findings"] if f["code"] == "data_unanswered")
    assert "tried over IPv6 at fd77::2" in dropped["message"]
    assert "NDMP v4 TCP addresses are IPv4 only" in dropped["message"]


def test_ipv4_announced_reached_over_ipv6_and_refused(
        capsys: pytest.CaptureFixture[str]) -> None:
    """D4: refused with ICMPv6 port unreachable: data_refused leads, no NAT story."""
    report = _analyze(STORED / "v6-data-portunreach.pcap", capsys)
    assert _errors(report) == ["data_refused", "data_refused"]
    assert "NAT rewrote" not in _said(report)


def test_ipv4_data_dropped_beside_ipv6_control_is_not_another_nic(
        capsys: pytest.CaptureFixture[str]) -> None:
    """D4: control over IPv6, data over IPv4 as announced, the agent drops IPv4 SYNs to
    its data ports: the agent's IPv4 address, not "another interface", and no fix asking
    it to announce its IPv6 address."""
    report = _analyze(STORED / "dualstack-v4data-dropped.pcap", capsys)
    assert _errors(report) == ["data_unanswered"]
    dropped = next(f for f in report["findings"] if f["code"] == "data_unanswered")
    assert "10.77.0.2 is the agent's IPv4 address" in dropped["message"]
    assert "another interface" not in dropped["message"]
    assert "announce fd77::2 instead" not in dropped["fix"]
    assert "NDMP v4 cannot announce fd77::2" in dropped["fix"]


def test_ipv4_announced_unreachable_beside_ipv6_control(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """D4: the IPv4 address announced beside an IPv6 control connection unanswered from an
    address of another network: the address is the fault, but the fix cannot be "announce
    fd77::2" (NDMP v4 cannot carry it)."""
    packets = read_packets(str(STORED / "dualstack-v4data-dropped.pcap"))
    for packet in packets:
        if IP in packet and TCP in packet and packet[IP].src == "10.77.0.1" and \
                packet[TCP].dport in range(6001, 6101):
            packet[IP].src = "10.99.0.1"  # another network: not the agent's LAN
            del packet[IP].chksum, packet[TCP].chksum
    path = tmp_path / "v4-announced-unreachable.pcap"
    write_packets(str(path), packets)
    report = _analyze(path, capsys)
    found = next(f for f in report["findings"] if f["code"] == "announced_address_mismatch")
    assert "announced its IPv4 address, as it must (NDMP v4 TCP addresses are IPv4 only)" \
        in found["message"]
    assert "NAT" not in found["message"]
    assert "it cannot announce fd77::2" in found["fix"]
    assert "reaches it on (fd77::2)" not in found["fix"]


def test_ipv4_data_left_out_beside_ipv6_control_is_not_another_interface(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """D4: the dual-stack job captured without its IPv4 data connections (IPv6 and the
    callback kept): the capture left out IPv4, not "another interface", and no fix asking
    the agent to announce fd77::2."""
    packets = [p for p in read_packets(str(STORED / "dualstack-v6ctl-v4data.pcap.gz"))
               if IP not in p or (TCP in p and 5001 in (p[TCP].sport, p[TCP].dport))]
    path = tmp_path / "no-ipv4-data.pcap"
    write_packets(str(path), packets)
    report = _analyze(path, capsys)
    filtered = next(f for f in report["findings"] if f["code"] == "capture_filtered")
    assert ("10.77.0.2:6001, the agent's IPv4 address beside a control connection over IPv6 "
            "(fd77::2; NDMP v4 TCP addresses are IPv4 only)") in filtered["message"]
    assert "announce fd77::2" not in filtered["fix"]
    assert "another interface" not in _step(report, 4)["detail"]


def test_ipv4_mapped_addresses_on_the_wire_reach_the_announced_endpoint(
        capsys: pytest.CaptureFixture[str]) -> None:
    """D6: callback and data between ::ffff:10.77.0.1 and ::ffff:10.77.0.2 (IPv6 headers)
    after DATA_LISTEN announced 10.77.0.2: the announced endpoint, as the original
    capture with IPv4 headers (PASS); it was INCONCLUSIVE, "the capture leaves out
    connections"."""
    report = _analyze(STORED / "mapped-on-wire.pcap.gz", capsys)
    assert report["verdict"] == "pass", _said(report)
    session = report["sessions"][0]
    assert session["data_connections"] == ["C3", "C4"]
    assert [a["used_by"] for a in session["announced"]] == ["C3", "C4"]
    assert "reached DATA_LISTEN (frame 21)'s endpoint" in _step(report, 4)["detail"]


def test_unknown_address_type_does_not_hide_the_data_connections(
        capsys: pytest.CaptureFixture[str]) -> None:
    """D8: both DATA_LISTEN replies of allv6-wire with address type 4 (NDMP defines 0-3;
    a vendor's IPv6 extension): the announcements are there and the data moved; it
    was step_missing, "no data connection opened, so no data moved" and "capture the
    whole job from its start"."""
    report = _analyze(STORED / "v6-addrtype-4.pcap.gz", capsys)
    assert report["verdict"] == "pass", _said(report)
    assert [_step(report, n)["status"] for n in (3, 4, 5)] == ["ok", "ok", "ok"]
    assert ("DATA_LISTEN replies (frames 21, 250) answered NDMP_NO_ERR with address type 4, "
            "which flowcheck cannot read") in _step(report, 3)["detail"]
    assert "C3 matched by direction and ports" in _step(report, 4)["detail"]
    assert "400,000 B agent -> media server" in _step(report, 5)["detail"]
    codes = [f["code"] for f in report["findings"]]
    assert "unannounced_connection" not in codes and "step_missing" not in codes
    undecodable = next(f for f in report["findings"] if f["code"] == "ndmp_undecodable")
    assert "address type 4, which flowcheck cannot read" in undecodable["message"]


def test_an_unspecified_announcement_over_ipv6_claims_no_dual_stack() -> None:
    """0.0.0.0 announced beside an IPv6 control connection says "where the control
    connection came from", nothing of IPv4 addresses (an IPv6-only agent announces it:
    the re-check of trial 28, N3); a real IPv4 address keeps the IPv4-only reading."""
    from flowcheck.model import Announcement, Connection
    from flowcheck.verify.announced_kind import other_version_words

    conn = Connection(uid="C3", orig_h="fd77::1", orig_p=5002, resp_h="fd77::2",
                      resp_p=6001, ts=1.0, last_ts=2.0)
    unspecified = Announcement(control_uid="C1", ip="0.0.0.0", port=6001, frame=22, ts=0.5,
                               message="NDMP_DATA_LISTEN", listener="data", used_by="C3")
    words = other_version_words(unspecified, conn)
    assert "dual-stack" not in words and "the unspecified address" in words
    ipv4 = Announcement(control_uid="C1", ip="10.77.0.2", port=6001, frame=22, ts=0.5,
                        message="NDMP_DATA_LISTEN", listener="data", used_by="C3")
    assert "IPv4 only (dual-stack hosts, no NAT)" in other_version_words(ipv4, conn)
