"""Resends their receiver never answered name the receiver host too: gone or unreachable
(powered off, link down, hung), and, on a capture taken on it, the host itself (its stack,
route, host firewall), not only a firewall or NAT device between the hosts.

Trial 11 D4 (captures/ndmjob-hostdown): the agent 10.77.1.2 lost its link mid-job. On the
agent's own capture (v4-ifdown-back-agent) the media server's polls and data FIN arrive
after the link came back and are never answered (the agent lost its route); on the media
server's (v4-ifdown-stop-media) its FIN and polls go unanswered. data_stalled blamed only
"a firewall or NAT device between them". Which host a capture was taken on the TTLs show
behind a router (flowcheck.verify.ttl.capture_host): said plainly then. The readings that
show the receiver answered (ACKs lost on the way) or got smaller packets (a path MTU black
hole) stay as they were (tests/test_verify_pmtu.py, tests/test_verify_control_stalled.py).
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def _stalled(folder: str, name: str, code: str) -> Finding:
    config = build_config(load_file(CAPTURES / folder / f"{name}.toml"))
    capture = next((CAPTURES / folder).glob(f"{name}.pcap*"))
    analysis = analyze(read_traffic([str(capture)], config), config)
    [finding] = [f for f in analysis.findings if f.code == code]
    return finding


def test_on_the_agents_own_capture_the_agent_is_named_plainly() -> None:
    """Captured on the agent (its packets TTL 64, the media server's 63 behind the
    router): the resends reached it and it never answered, said as a fact, the host
    alone in the fix."""
    finding = _stalled("ndmjob-hostdown", "v4-ifdown-back-agent", "data_stalled")
    assert ("This capture was taken on 10.77.1.2 (or on its network segment: 10.77.1.2's "
            "packets arrive with TTL 64, an initial value, and 10.77.0.1's with 63: a router "
            "between them): the "
            "resends reached it and it never answered: the cause is on 10.77.1.2 (its TCP "
            "stack, its route back to 10.77.0.1, its host firewall, or the host hung), not a "
            "device between them.") in finding.message
    assert "If this capture was taken on" not in finding.message
    assert "went down or became unreachable" not in finding.message
    assert finding.fix.startswith("Look on the agent 10.77.1.2, where this capture was taken")
    assert "firewalls" not in finding.fix


def test_on_the_media_servers_capture_the_agent_host_stays_a_possibility() -> None:
    finding = _stalled("ndmjob-hostdown", "v4-ifdown-stop-media", "data_stalled")
    assert "Or the agent 10.77.1.2 itself went down or became unreachable (powered off, " \
           "its link down, hung" in finding.message
    assert ("This capture was taken on 10.77.0.1 (or on its network segment: 10.77.0.1's "
            "packets arrive with TTL 64, an initial value, and 10.77.1.2's with 63: a router "
            "between them): a capture on "
            "10.77.1.2 shows whether the resends reach it.") in finding.message
    assert "If this capture was taken on" not in finding.message
    assert finding.fix.startswith("Check that the agent 10.77.1.2 is up and reachable from "
                                  "10.77.0.1")
    assert "Else see the session and event logs of the firewalls" in finding.fix


def test_on_one_segment_the_ttls_tell_nothing() -> None:
    """Both hosts on one bridge (TTL 64 each way): which host the capture was taken on is
    unknown, said as a condition (as before TTLs were read)."""
    finding = _stalled("ndmjob-firewall", "v4-restore-midjob-drop-at-agent", "data_stalled")
    assert "If this capture was taken on 10.77.0.2 itself, the resends reached it and it " \
           "never answered: the cause is on 10.77.0.2 (its TCP stack, its route back to " \
           "10.77.0.1, its host firewall, or the host hung)" in finding.message
    assert finding.fix.startswith("Check that the agent 10.77.0.2 is up")


def test_idle_timeout_reading_comes_first() -> None:
    finding = _stalled("ndmjob-idle", "idle-drop-restore-media", "control_stalled")
    assert "here after its idle timeout" in finding.message
    assert "Or the agent 10.77.1.2 itself went down" in finding.message
    assert finding.fix.startswith("Raise the TCP idle timeout")
    assert "Check that the agent 10.77.1.2 is up" in finding.fix


def test_mtu_black_hole_with_smaller_packets_passing_names_no_host() -> None:
    finding = _stalled("ndmjob-pmtu", "v4-pmtu-blackhole-at-agent", "data_stalled")
    assert "path MTU black hole" in finding.message
    assert "went down or became unreachable" not in finding.message
