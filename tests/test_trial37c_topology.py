"""Field check 37c: the path changes while a job runs (captures/trial37c-topology).

The router's link to the agent went down (or its ARP entry for the agent failed) and the
media server closed the data connection after its 30 s timeout: it read "the media
server closed it mid-transfer while the agent was still sending ... see its NDMP service
log", beside the router's ICMP unreachables for the agent. A clone took the agent's
address and reset the connection in its name while the real agent went on sending: it
read "reset by both ends". The whole results are regress expectations; here the words.
"""

from __future__ import annotations

from pathlib import Path

from stored import folder_analysis

from flowcheck.model import Severity
from flowcheck.pipeline import Analysis

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "trial37c-topology"


def _analysis(name: str) -> Analysis:
    return folder_analysis(FOLDER, name)


def _error(name: str):
    [error] = [f for f in _analysis(name).findings if f.severity is Severity.ERROR]
    return error


def test_a_close_after_the_router_reported_the_agent_unreachable_is_its_timeout() -> None:
    for name, icmp in (("router-link-down-media.pcap.gz", "ICMP network unreachables"),
                       ("agent-stops-answering-arp-media.pcap.gz", "ICMP host unreachables")):
        error = _error(name)
        assert error.code == "data_reset", name
        assert f"the router 10.77.0.254 reported the agent 10.77.1.2 unreachable with {icmp}" \
            in error.message, name
        assert "was still sending" not in error.message, name
        assert error.fix.startswith("Check the path from 10.77.0.254 to 10.77.1.2"), name
        assert "NDMP service log" not in error.fix, name


def test_data_after_a_reset_in_the_agents_name_is_another_hosts_reset() -> None:
    error = _error("duplicate-agent-address-media.pcap.gz")
    assert error.code == "data_reset"
    assert "But 10.77.1.2 went on sending data on it after the RST in its name" in \
        error.message
    assert "a duplicate IP address" in error.message
    assert error.fix.startswith("Look for another host using 10.77.1.2's address")


def test_full_size_resends_after_delivered_data_name_a_shrunk_path_mtu() -> None:
    error = _error("mtu-lowered-mid-job-agent.pcap.gz")
    assert error.code == "data_stalled"
    message = " ".join(error.message.split())
    assert "a path whose MTU shrank mid-transfer" in message
    assert "as the control connection's NOTIFY_DATA_HALTED (frame 822) did" in message
    assert "fragmentation needed" in error.fix
