"""no_control_session says what a capture without readable TCP holds (trial 22 D5, D6;
trial 24 D6): a tunnel on a port flowcheck does not decode, records cut by the snap
length, an 802.11 link type, an MPLS pseudowire; not "the wrong interface, check
--ndmp-port" while the sniffer saw every packet of the job."""

from __future__ import annotations

import struct
from pathlib import Path

from test_connections_util import ACK, PSH, SYN, ethernet, ipv4, tcp, write_pcap

from flowcheck.config import Config
from flowcheck.decode.skipped import Skipped
from flowcheck.model import CaptureInfo, Finding, Severity
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.sources.capture_filter import VLAN_FILTER
from flowcheck.verify.capture_contents import explain_unreadable

MEDIA, AGENT = "10.77.0.1", "10.77.0.2"
VTEP1, VTEP2 = "10.9.0.1", "10.9.0.2"


def job() -> list[bytes]:
    """The media server's control connection to the agent: handshake and a request."""
    return [ipv4(MEDIA, AGENT, 6, tcp(5043, 10000, 100, 0, SYN)),
            ipv4(AGENT, MEDIA, 6, tcp(10000, 5043, 900, 101, SYN | ACK)),
            ipv4(MEDIA, AGENT, 6, tcp(5043, 10000, 101, 901, ACK)),
            ipv4(MEDIA, AGENT, 6, tcp(5043, 10000, 101, 901, PSH | ACK, b"\x80" + b"x" * 99)),
            ipv4(AGENT, MEDIA, 6, tcp(10000, 5043, 901, 201, ACK))]


def vxlan_frame(inner: bytes, port: int) -> bytes:
    vxlan = struct.pack("!II", 0x08000000, 42 << 8) + ethernet(inner, pad=False)
    udp = struct.pack("!HHHH", 50000, port, 8 + len(vxlan), 0) + vxlan
    return ethernet(ipv4(VTEP1, VTEP2, 17, udp))


def no_control_session(path: Path) -> Finding:
    analysis = analyze(read_traffic([str(path)], Config()), Config())
    (finding,) = [f for f in analysis.findings if f.code == "no_control_session"]
    assert analysis.verdict == "inconclusive"
    assert finding.severity is Severity.WARNING
    return finding


def test_vxlan_on_a_port_not_decoded_is_named(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "aci.pcap", 1, [vxlan_frame(p, 48879) for p in job()])
    finding = no_control_session(path)
    assert ("5 of its 5 packets are UDP between 10.9.0.1 and 10.9.0.2 on port 48879, with "
            "Ethernet frames inside: a tunnel (VXLAN, Geneve) on a port flowcheck does not "
            "decode?") in finding.message
    assert "wrong interface" not in finding.message
    assert "--ndmp-port" not in finding.fix
    assert "--vxlan-port 48879" in finding.fix


def test_records_cut_before_the_tcp_header_are_the_cause(tmp_path: Path) -> None:
    # VXLAN puts 50 bytes before the inner Ethernet: 90 bytes end inside the TCP header.
    path = write_pcap(tmp_path / "s90.pcap", 1, [(vxlan_frame(p, 4789), 90) for p in job()])
    finding = no_control_session(path)
    assert "5 of its 5 packets were cut at 90 bytes (the capture's snap length) before the " \
           "end of their TCP header (inside vxlan: " in finding.message
    assert "wrong interface" not in finding.message
    assert "tcpdump -s 0" in finding.fix and "--ndmp-port" not in finding.fix
    analysis = analyze(read_traffic([str(path)], Config()), Config())
    (info,) = [f for f in analysis.findings if f.code == "capture_undecodable_packets"]
    assert "(5 cut at 90 bytes by the snap length before the TCP header ends)" in info.message
    assert "unknown link type" not in info.message


def test_a_link_type_not_read_is_named(tmp_path: Path) -> None:
    # 802.11 data frames with LLC/SNAP: what Npcap's 802.11 mode and etl2pcapng write.
    header = struct.pack("<HH6s6s6sH", 0x0208, 0, b"\x02" * 6, b"\x04" * 6, b"\x06" * 6, 0)
    frames = [header + b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + p for p in job()]
    path = write_pcap(tmp_path / "wifi.pcap", 105, frames)
    finding = no_control_session(path)
    analysis = analyze(read_traffic([str(path)], Config()), Config())
    (info,) = [f for f in analysis.findings if f.code == "capture_undecodable_packets"]
    assert "(5 on a link type flowcheck does not read (IEEE802_11))" in info.message
    assert "snap length" not in info.message + info.fix
    assert "5 of its 5 packets are on link type IEEE802_11 (802.11 Wi-Fi frames), which " \
           "flowcheck does not read" in finding.message
    assert "tcpdump -s 0" not in finding.fix and "--ndmp-port" not in finding.fix
    assert "wired interface" in finding.fix


def test_an_mpls_pseudowire_is_named(tmp_path: Path) -> None:
    # Ethernet over MPLS: a transport label, the pseudowire label, no control word (with
    # one, the frames are read: test_mpls_pseudowire).
    labels = struct.pack("!II", (16 << 12) | 64, (17 << 12) | 0x100 | 64)
    frames = [ethernet(labels + ethernet(p, pad=False), 0x8847) for p in job()]
    finding = no_control_session(write_pcap(tmp_path / "eompls.pcap", 1, frames))
    assert "5 of its 5 packets are MPLS (ethertype 0x8847) whose payload is not IP: a " \
           "pseudowire" in finding.message
    assert "attachment circuit" in finding.fix


def test_other_traffic_keeps_the_usual_causes(tmp_path: Path) -> None:
    udp = struct.pack("!HHHH", 40000, 53, 8, 0)
    frames = [ethernet(ipv4("10.0.0.1", "10.0.0.53", 17, udp))] * 3
    finding = no_control_session(write_pcap(tmp_path / "dns.pcap", 1, frames))
    assert "3 of its 3 packets are UDP between 10.0.0.1 and 10.0.0.53 on port 53 (the " \
           "sniffer saw none of the job's traffic: the wrong interface" in finding.message
    assert "--ndmp-port" in finding.fix


def test_a_capture_filter_is_named_among_the_causes() -> None:
    # live on a VXLAN underlay with a filter that leaves the tunnel out (trial 22 D2).
    finding = Finding("no_control_session", Severity.WARNING, "No NDMP control connection.",
                      "Check --ndmp-port.")
    captures = [CaptureInfo("live", packets=0, capture_filter="tcp or icmp")]
    (explained,) = explain_unreadable([finding], captures, [], Skipped(), Config())
    # It keeps the NDMP port's TCP: what it can have left out is the tunnel.
    assert "the capture filter 'tcp or icmp' keeps TCP to and from the NDMP port 10000, " \
           "so it left the job out only if its packets were VLAN-tagged, inside a tunnel " \
           "(VXLAN, GRE)" in explained.message
    assert "--capture-filter \"\"" in explained.message


def test_live_default_filter_is_named_among_the_causes() -> None:
    finding = Finding("no_control_session", Severity.WARNING, "No NDMP control connection.",
                      "Check --ndmp-port.")
    captures = [CaptureInfo("live", packets=0, capture_filter=VLAN_FILTER)]
    (explained,) = explain_unreadable([finding], captures, [], Skipped(), Config())
    assert "live's default capture filter (TCP, ICMP and the tunnels flowcheck decodes) " \
           "left it out" in explained.message
    assert VLAN_FILTER not in explained.message


def test_the_note_under_the_verdict_points_at_the_finding(tmp_path: Path) -> None:
    """Trial 24 D6: the note under INCONCLUSIVE said "No error found ... capture the
    whole job ... with tcpdump -s 0", which a capture on link type 802.11 (or of a tunnel
    flowcheck does not read) does not cure; with no control connection it points at the
    finding that says what the capture holds and the fix."""
    from rich.console import Console

    from flowcheck.report.analyze import render_analysis
    from flowcheck.report.html import render_html

    path = write_pcap(tmp_path / "aci.pcap", 1, [vxlan_frame(p, 48879) for p in job()])
    analysis = analyze(read_traffic([str(path)], Config()), Config())
    console = Console(record=True, width=200, color_system=None)
    render_analysis(analysis, console)
    text = console.export_text()
    assert "tcpdump -s 0 and no port filter" not in text
    assert "Nothing of the job could be judged: no NDMP control connection could be " \
           "read (no_control_session says what the capture holds, and the fix)." in text
    assert "no_control_session says what the capture holds" in render_html(analysis)


def test_with_other_tcp_the_words_are_added_when_most_packets_are_a_tunnel(
        tmp_path: Path) -> None:
    """A capture on the underlay with the sniffer's own SSH session: TCP connections, none
    to the NDMP port, and most packets a tunnel flowcheck does not decode."""
    ssh = ethernet(ipv4("10.9.0.2", "10.9.0.9", 6, tcp(22, 50022, 1, 1, PSH | ACK, b"x")))
    frames = [ssh, *(vxlan_frame(p, 48879) for p in job())]
    analysis = analyze(read_traffic([str(write_pcap(tmp_path / "u.pcap", 1, frames))],
                                    Config()), Config())
    (finding,) = [f for f in analysis.findings if f.code == "no_control_session"]
    # The job may be in the tunnel: nothing judged, inconclusive (it was fail).
    assert finding.severity is Severity.WARNING and analysis.verdict == "inconclusive"
    assert finding.message.startswith("No NDMP control connection in the capture: none of "
                                      "the 1 TCP connections goes to the NDMP port 10000. "
                                      "5 of the 6 packets are UDP between 10.9.0.1 and "
                                      "10.9.0.2 on port 48879, with Ethernet frames inside")
    assert finding.fix.startswith("If the job's traffic travels in that tunnel, name its "
                                  "port: --vxlan-port 48879")


def test_one_packet_takes_the_singular(tmp_path: Path) -> None:
    udp = struct.pack("!HHHH", 40000, 53, 8, 0)
    frames = [ethernet(ipv4("10.0.0.1", "10.0.0.53", 17, udp)),
              ethernet(ipv4("10.0.0.1", "10.0.0.54", 1, b"\x08\x00" + b"\0" * 6))]
    finding = no_control_session(write_pcap(tmp_path / "two.pcap", 1, frames))
    assert ": 1 of its 2 packets is " in finding.message
