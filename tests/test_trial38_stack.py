"""Field check 38: host TCP/IP stack settings and transports (captures/trial38-stack).

Jumbo frames across a switch without them: a job that failed read PASS because the
agent's NOTIFY_DATA_HALTED SUCCESSFUL, which came after the media server had closed the
data connection without the lost bytes, cancelled the stall; and the black hole's
reading blamed blocked ICMP between hosts with no router between them. A WireGuard
capture's outer interface read as a host resolving its neighbour. The whole results are
regress expectations; here the words.
"""

from __future__ import annotations

from pathlib import Path

from stored import errors, folder_analysis

from flowcheck.model import Severity
from flowcheck.pipeline import Analysis

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "trial38-stack"


def _analysis(name: str) -> Analysis:
    return folder_analysis(FOLDER, name)


def _words(finding) -> str:
    return " ".join(finding.message.split())


def test_a_successful_halt_after_the_receiver_closed_without_the_bytes_is_no_pass() -> None:
    analysis = _analysis("jumbo-switch-1500-halt-after-media.pcap")
    [error] = [f for f in analysis.findings if f.severity is Severity.ERROR]
    assert error.code == "data_stalled"
    words = _words(error)
    assert "62,636 B the agent 10.77.0.2 sent never reached the media server" in words
    assert ("The media server closed the data connection without them (FIN, frame 65); the "
            "NOTIFY_DATA_HALTED SUCCESSFUL that came after (frame 69) says only that "
            "10.77.0.2 had handed its data to its TCP stack") in words
    assert error.frames == [36, 65, 69]
    assert [s.steps[4].status for s in analysis.sessions] == ["failed"]  # step 5


def test_full_size_segments_lost_between_hosts_on_one_segment_name_the_switch() -> None:
    for name in ("jumbo-switch-1500-halt-after-media.pcap", "jumbo-switch-1500-agent.pcap.gz"):
        [error] = [f for f in _analysis(name).findings if f.severity is Severity.ERROR]
        words = _words(error)
        assert "no router that lowers the TTL between them" in words, name
        assert "switch port or bridge with a smaller MTU" in words, name
        assert "RFC 2923" not in words, name
        assert "every switch port and bridge between them the same MTU" in error.fix, name


def test_a_wireguard_capture_is_an_encrypted_tunnel_not_a_host_resolving() -> None:
    [finding] = _analysis("wireguard-outer-media.pcap.gz").findings
    assert finding.code == "no_control_session"
    words = _words(finding)
    assert "on port 51820, WireGuard's port: if it is that encrypted tunnel" in words
    assert "resolving a neighbour's address" not in words
    assert finding.fix.startswith("If that is a VPN tunnel: capture where the job's packets "
                                  "are not yet encrypted: on the tunnel's inner interface")
    assert "--remote-agent" not in finding.fix


def test_full_size_resends_never_delivered_on_one_segment_lead_with_the_mtu() -> None:
    [error] = errors(_analysis("jumbo-switch-1500-agent.pcap.gz"))
    words = _words(error)
    mtu = words.index("an MTU mismatch on the network segment both hosts are on")
    assert mtu < words.index("Otherwise, a firewall or NAT device between them"), words
    assert error.fix.startswith("Give 10.77.0.1's and 10.77.0.2's interfaces")
    assert "If the MTU is not it: see the session and event logs" in error.fix
