"""Field check 40: the readings added after field checks 37c to 39, pushed where they
should not go (captures/trial40-rules). The whole results are regress expectations;
here the words.
"""

from __future__ import annotations

from pathlib import Path

from stored import errors, stored_analysis

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "trial40-rules"


def _words(text: str) -> str:
    return " ".join(text.split())


def test_a_paused_source_behind_an_idle_timeout_is_said_beside_a_restart() -> None:
    [error] = errors(stored_analysis(FOLDER / "paused-source-agent-firewall-idle.pcap.gz"))
    assert error.code == "control_reset"
    message = _words(error.message)
    assert "Either its host stopped" in message
    assert ("or it paused sending (a slow source) longer than an idle timeout that dropped "
            "both connections' state: its own host firewall's") in message
    fix = _words(error.fix)
    assert "the data connection sat idle as long (29 s): raise the TCP idle timeout" in fix
    assert "the agent's own firewall" in fix


def test_a_router_that_keeps_the_ttl_keeps_the_icmp_fix() -> None:
    [error] = errors(stored_analysis(FOLDER / "ttl-keeping-router-mtu-hole.pcap"))
    assert error.code == "data_stalled"
    message = _words(error.message)
    assert "most likely an MTU mismatch on the network segment" in message
    assert "A firewall that routes without lowering the TTL (a Cisco ASA by default)" in message
    fix = _words(error.fix)
    assert "If a firewall that keeps the TTL routes between them: let ICMP" in fix
    assert "clamp the TCP MSS" in fix


def test_udp_on_wireguards_port_is_not_said_to_be_a_tunnel() -> None:
    [finding] = stored_analysis(FOLDER / "syslog-on-udp-51820.pcap").findings
    assert finding.code == "no_control_session"
    assert "WireGuard's port: if it is that encrypted tunnel" in _words(finding.message)
    assert finding.fix.startswith("If that is a VPN tunnel: capture")


def test_two_capture_points_count_a_segment_once_for_the_black_hole() -> None:
    [error] = [e for e in errors(stored_analysis(FOLDER / "router-mtu-hole-two-points.pcap"))
               if e.code == "data_stalled"]
    message = _words(error.message)
    mtu = message.index("only full-size segments were lost: a path MTU black hole")
    assert "dropped the connection's state" not in message[:mtu]
    assert error.fix.startswith("Let ICMP 'fragmentation needed'")


def test_a_tape_open_tried_again_with_success_fails_nothing() -> None:
    analysis = stored_analysis(FOLDER / "tape-busy-retry-succeeds.pcap")
    assert analysis.verdict == "pass"
    [busy] = [f for f in analysis.findings if f.code == "ndmp_error_reply"
              and f.message.startswith("TAPE_OPEN")]
    assert str(busy.severity) == "warning"
    assert busy.fix.startswith("Nothing to fix for this job: a later TAPE_OPEN")


def test_data_that_stopped_while_the_agent_answered_polls_is_its_service() -> None:
    [error] = errors(stored_analysis(FOLDER / "stopped-source-agent-answers-polls.pcap.gz"))
    assert error.code == "control_closed"
    message = _words(error.message)
    assert ("(its last packet at +61.785s; the data connection 10.77.0.2:6031 -> "
            "10.77.0.1:5058 had carried 1,781,760 B, every byte acknowledged, its last data "
            "at +3.726s") in message
    assert "its NDMP service stopped sending data" in message
    assert "restarted" not in message
    assert "why it sent no data for 71.3 s while it still answered" in error.fix
