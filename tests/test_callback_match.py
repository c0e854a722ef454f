"""A connection open before the capture (no SYN in it) whose keepalive falls in a job's
window must not take the job's callback or data connection from the one whose opening
the capture holds (review56e: a 10.77.0.2:7000 -> 10.77.0.1:5050 keepalive added to
captures/lab/clean-3-resources.pcap read FAIL port_outside_agent_range, the capture
blamed for "losing" its handshake). The stored lab case is
captures/callbackmatch/keepalive-beside-job.pcap (flowcheck regress); these edit the
lab's clean capture with scapy to put the keepalive exactly where it hurts."""

from __future__ import annotations

import subprocess
from decimal import Decimal
from pathlib import Path

from lab_edits import analyze_lab, lab_packets, write
from scapy.all import IP, TCP, Ether, Packet

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

NAME = "clean-3-resources"


def _keepalive(template: Packet, src: tuple[str, int], dst: tuple[str, int],
               ts: Decimal) -> list[Packet]:
    """A keepalive probe src -> dst (one byte below the next sequence number, no data)
    and its ACK, of a connection opened long before the capture."""
    probe = Ether(src=template[Ether].src, dst=template[Ether].dst) / IP(
        src=src[0], dst=dst[0]) / TCP(sport=src[1], dport=dst[1], flags="A",
                                      seq=100_000, ack=200_001, window=502)
    answer = Ether(src=template[Ether].dst, dst=template[Ether].src) / IP(
        src=dst[0], dst=src[0]) / TCP(sport=dst[1], dport=src[1], flags="A",
                                      seq=200_001, ack=100_001, window=502)
    probe.time, answer.time = ts, ts + Decimal("0.00001")
    return [probe, answer]


def _handshake(before: Packet, agent: tuple[str, int], media: tuple[str, int]
               ) -> list[Packet]:
    """A handshake agent -> media (SYN, SYN-ACK, ACK, 10 us apart) just after `before`,
    whose MAC addresses it takes (the first packet's direction for agent -> media)."""
    ts = Decimal(str(before.time)) + Decimal("0.000001")
    packets = []
    for index, (flag, src, dst, seq, ack) in enumerate((("S", agent, media, 1000, 0),
                                                        ("SA", media, agent, 5000, 1001),
                                                        ("A", agent, media, 1001, 5001))):
        mac = (before[Ether].src, before[Ether].dst)[::1 if src == agent else -1]
        packet = Ether(src=mac[0], dst=mac[1]) / IP(src=src[0], dst=dst[0]) / TCP(
            sport=src[1], dport=dst[1], flags=flag, seq=seq, ack=ack)
        packet.time = ts + Decimal(index) / 100000
        packets.append(packet)
    return packets


def _with_keepalive(tmp_path: Path, after_frame: int, src: tuple[str, int],
                    dst: tuple[str, int], name: str) -> Analysis:
    """clean-3-resources with a keepalive exchange after frame `after_frame` (1-based)."""
    packets = lab_packets(NAME)
    before = packets[after_frame - 1]
    ts = Decimal(str(before.time)) + Decimal("0.000001")
    keep = _keepalive(before, src, dst, ts)
    return analyze_lab(write(tmp_path, name, [*packets[:after_frame], *keep,
                                              *packets[after_frame:]]), NAME)


def _assert_the_lab_callback(analysis: Analysis) -> None:
    """The one session's callback is the lab job's own, 6077 -> 5001."""
    [session] = analysis.sessions
    callback = next(c for c in analysis.traffic.connections if c.uid == session.callback_uid)
    assert (callback.orig_p, callback.resp_p) == (6077, 5001), callback


def test_keepalive_does_not_take_the_callback(tmp_path: Path) -> None:
    # After the control connection's first messages (frame 6), before the callback's SYN.
    analysis = _with_keepalive(tmp_path, 6, ("10.77.0.2", 7000), ("10.77.0.1", 5050),
                               "callback")
    _assert_the_lab_callback(analysis)
    assert analysis.verdict == "pass", [f.code for f in analysis.findings]
    codes = {f.code for f in analysis.findings}
    assert "port_outside_agent_range" not in codes and "capture_loss" not in codes, codes


def test_keepalive_does_not_take_the_data_connection(tmp_path: Path) -> None:
    # A connection to the announced endpoint 10.77.0.2:6001, open before the capture
    # (an earlier job's still open), keepalive between DATA_LISTEN's reply (frame 21)
    # and the data connection's SYN (frame 22).
    analysis = _with_keepalive(tmp_path, 21, ("10.77.0.1", 5050), ("10.77.0.2", 6001),
                               "data")
    [session] = analysis.sessions
    data = [c for c in analysis.traffic.connections if c.uid in session.data_connections]
    assert [(c.orig_p, c.resp_p) for c in data] == [(5002, 6001), (5003, 6002),
                                                     (5004, 6003)], data
    assert all(c.syn_seen for c in data)
    assert "capture_loss" not in {f.code for f in analysis.findings}


def test_keepalive_taken_for_want_of_another_is_hedged(tmp_path: Path) -> None:
    # captures/callbackmatch/keepalive-beside-job without the real callback (port 5001):
    # the keepalive connection is the only candidate; what rests on it says so.
    stored = Path(__file__).resolve().parent.parent / "captures" / "callbackmatch"
    out = tmp_path / "no-callback.pcap"
    subprocess.run(["tcpdump", "-r", str(stored / "keepalive-beside-job.pcap"), "-w",
                    str(out), "not port 5001"], check=True, capture_output=True)
    settings = load_file(stored / "keepalive-beside-job.toml")
    config = build_config(settings)
    analysis = analyze(read_traffic([str(out)], config), config)
    [port] = [f for f in analysis.findings if f.code == "port_outside_agent_range"]
    assert "10.77.0.2:7000 -> 10.77.0.1:5050" in port.message
    assert ("taken as the callback for want of a connection into the media range whose "
            "opening") in port.message
    [loss] = [f.message for f in analysis.findings if f.code == "capture_loss"]
    assert "looks the same: if it is such a connection, no handshake was lost" in loss, loss


def test_callback_follows_the_vendor_message(tmp_path: Path) -> None:
    # Another connection from the agent into the media range, its SYN captured, opened
    # after the control connection but before the vendor message (frames 15-16) that
    # names the job engine: Backup Exec's callback follows that message (flow-model.md),
    # so the connection whose SYN follows it (frame 17) is the callback.
    packets = lab_packets(NAME)
    extra = _handshake(packets[5], ("10.77.0.2", 6050), ("10.77.0.1", 5060))
    analysis = analyze_lab(write(tmp_path, "early", [*packets[:6], *extra, *packets[6:]]),
                           NAME)
    _assert_the_lab_callback(analysis)


def test_lost_callback_handshake_keeps_the_callback_over_another_port(tmp_path: Path) -> None:
    # The callback's SYN and SYN-ACK (frames 17-18) lost by the sniffer, and an SSH
    # session from the agent to the media server opened, its handshake captured, after
    # the vendor message (frames 15-16): the callback in the media range is still the
    # callback (review56j: callbackmatch took the SSH session, port_outside_media_range;
    # the lab's capture is captures/callbackmatch/ssh-beside-lost-callback.pcap).
    packets = lab_packets(NAME)
    extra = _handshake(packets[15], ("10.77.0.2", 6013), ("10.77.0.1", 22))
    analysis = analyze_lab(write(tmp_path, "ssh", [*packets[:16], *extra, *packets[18:]]),
                           NAME)
    _assert_the_lab_callback(analysis)
    assert analysis.verdict == "pass", [(f.code, f.message) for f in analysis.findings]
    assert "port_outside_media_range" not in {f.code for f in analysis.findings}
    [loss] = [f.message for f in analysis.findings if f.code == "capture_loss"]
    assert "for want of a connection into the media range whose opening" in loss, loss
