"""New-user trial 26, D9: a stalled data connection whose receiver the capture shows up
and reachable after the data stopped (captures/lab-trial26-words): its fix leads with
the devices that drop the flow, not "check that the peer is up".

ips-drop-media: the agent's LOG_MESSAGE on the control connection after the media
server's data FIN (the FIN resent unanswered). pmtu-agent: the media server's FIN on the
control connection 30 s after the agent's full-size resends began.
"""

from __future__ import annotations

from pathlib import Path

from stored import stored_analysis

from flowcheck.model import Finding

HERE = Path(__file__).resolve().parent.parent / "captures" / "lab-trial26-words"


def _stalled(name: str) -> Finding:
    analysis = stored_analysis(HERE / f"{name}.pcap")
    [finding] = [f for f in analysis.findings if f.code == "data_stalled"]
    return finding


def test_a_message_after_the_closers_fin_shows_the_agent_up() -> None:
    finding = _stalled("ips-drop-media")
    assert ("The agent 10.88.0.2 was still up and reachable after the data stopped: it sent "
            "LOG_MESSAGE on the control connection (frame 122)") in finding.message
    assert "itself went down" not in finding.message
    assert finding.fix.startswith("See the session and event logs of the firewalls")
    assert "Check that the agent" not in finding.fix


def test_the_receivers_control_fin_shows_it_up() -> None:
    finding = _stalled("pmtu-agent")
    assert ("The media server 10.77.0.1 was still up and reachable after the data stopped: "
            "its FIN on the control connection (frame 47) came through") in finding.message
    assert "itself went down" not in finding.message
    assert finding.fix.startswith("See the session and event logs of the firewalls")
    assert "Check that the media server" not in finding.fix
    assert "path MTU black hole" in finding.fix
