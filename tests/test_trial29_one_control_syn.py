"""A control SYN with no answer that TCP never resent although the capture ran on (new-user
trial 29 D4): the same evidence as a lone data or callback SYN (trial 25 D4), so the same
status. TCP resends an unanswered SYN within its retransmission timeout; one SYN and then
silence means the sniffer lost the resends, or a RST or ICMP reject that stopped them (a
refusal: the agent's service not running), or the connector gave up at once: no
evidence of a drop, so step 1 is `unknown` and the verdict inconclusive, its detail saying
what could not be seen. Retried SYNs (captures/lab/control-dropped.pcap) stay a drop."""

from __future__ import annotations

import subprocess
from decimal import Decimal
from pathlib import Path

from capture_factory import isb
from lab_edits import LAB, analyze_lab, lab_packets, write
from scapy.all import IP, TCP, Ether, Packet

NAME = "control-dropped"  # frame 1: the media server's first SYN to the agent's NDMP port


def _pcapng_ended(tmp_path: Path, seconds_after: float) -> Path:
    """Frame 1 of the lab capture as dumpcap's pcapng, its statistics block saying the
    sniffer ran `seconds_after` seconds past it (isb_endtime)."""
    cut, out = tmp_path / "cut.pcap", tmp_path / "cut.pcapng"
    subprocess.run(["editcap", "-r", str(LAB / f"{NAME}.pcap"), str(cut), "1"],
                   check=True, capture_output=True)
    subprocess.run(["editcap", "-F", "pcapng", str(cut), str(out)], check=True,
                   capture_output=True)
    first = float(lab_packets(NAME, 1)[0].time)
    out.write_bytes(out.read_bytes() + isb(0, first + seconds_after, ifdrop=0))
    return out


def test_one_control_syn_then_10_s_of_capture_is_unknown(tmp_path: Path) -> None:
    analysis = analyze_lab(_pcapng_ended(tmp_path, 10.0), NAME)
    codes = {f.code for f in analysis.findings}
    assert analysis.verdict == "inconclusive"
    assert not codes & {"control_unanswered", "capture_ended_early"}
    step1 = analysis.sessions[0].steps[0]
    assert step1.status == "unknown"
    assert "never resent in the 10 s" in step1.detail
    assert "cannot be seen" in step1.detail and "connection refused" in step1.detail


def _ssh_exchange(template: Packet, start: Decimal) -> list[Packet]:
    """An SSH connection between the two lab hosts, each way, from `start` for 6 s: the
    sniffer demonstrably saw that path while TCP would have resent the SYN."""
    ether = Ether(src=template[Ether].src, dst=template[Ether].dst)
    back = Ether(src=template[Ether].dst, dst=template[Ether].src)
    out = []
    for i, (flags, fwd) in enumerate([("S", True), ("SA", False), ("A", True)]
                                     + [("PA", i % 2 == 0) for i in range(12)]):
        ip = IP(src="10.77.0.1", dst="10.77.0.2") if fwd else IP(src="10.77.0.2",
                                                                  dst="10.77.0.1")
        tcp = TCP(sport=40000 if fwd else 22, dport=22 if fwd else 40000, flags=flags,
                  seq=1000 + i * 10 if fwd else 9000 + i * 10, ack=0 if flags == "S" else 1)
        packet = (ether if fwd else back) / ip / tcp / (b"x" * 10 if "P" in flags else b"")
        packet.time = start + Decimal(i) * Decimal("0.5")
        out.append(packet)
    return out


def test_one_control_syn_beside_other_traffic_of_the_hosts_is_still_unknown(
        tmp_path: Path) -> None:
    """The same hosts' SSH traffic each way in the seconds after the SYN: the sniffer saw
    that path, yet a reject it missed (a refusal, not a drop) is as likely as anything,
    and the data connection's lone SYN beside its control traffic is unknown too."""
    [syn] = lab_packets(NAME, 1)
    packets = [syn, *_ssh_exchange(syn, syn.time + Decimal("0.2"))]
    analysis = analyze_lab(write(tmp_path, "ctl-lone-ssh", packets), NAME)
    assert analysis.verdict == "inconclusive"
    assert "control_unanswered" not in {f.code for f in analysis.findings}
    step1 = analysis.sessions[0].steps[0]
    assert step1.status == "unknown" and "never resent" in step1.detail


def test_control_syns_resent_and_never_answered_stay_a_drop() -> None:
    analysis = analyze_lab(LAB / f"{NAME}.pcap", NAME)
    assert analysis.verdict == "fail"
    [error] = [f for f in analysis.findings if f.severity.value == "error"]
    assert error.code == "control_unanswered"
    assert analysis.sessions[0].steps[0].status == "failed"


def test_new_connections_each_with_one_syn_are_the_dmas_retries_and_a_drop(
        tmp_path: Path) -> None:
    """Review of the fix: a DMA that tries again on a new connection (another source
    port) each time, every SYN sent once and none answered, retries as TCP would: the
    attempts prove no answer came, and stay control_unanswered (FAIL)."""
    [syn] = lab_packets(NAME, 1)
    attempts = []
    for i in range(4):
        attempt = syn.copy()
        attempt[TCP].sport = 5001 + i
        attempt[TCP].seq = 1000 + i
        attempt[TCP].chksum = None
        attempt.time = syn.time + Decimal(6 * i)
        attempts.append(attempt)
    ended = attempts[-1].time + Decimal(6)
    tail = _ssh_exchange(syn, ended - Decimal(6))  # the capture runs on past the last
    analysis = analyze_lab(write(tmp_path, "ctl-new-ports", [*attempts, *tail]), NAME)
    assert analysis.verdict == "fail"
    assert "control_unanswered" in {f.code for f in analysis.findings}
