"""A capture on the agent whose job stopped at the callback: "the agent never sent the
callback SYN out of this interface" (nu67b, newuser67 item 2) only where the capture
shows it (review64g; captures/lab-review64g and its README).

In both captures the callback's SYNs left the agent and a router dropped them; each,
taken on the agent's interface ar (TTLs: the agent's 64, the media server's 63), holds the
control connection alone. otherif-agent: the callback left by the agent's other
interface. filtered-agent: tcpdump 'port 10000', written as pcap, the filter unrecorded.
Both read "no SYN of the callback left it, so neither the media server's firewall nor a
router between them is the cause", the fix "a connect that ... timed out with no SYN in
this capture is its own firewall's output rule".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import analyze, read_traffic

CASES = Path(__file__).resolve().parent.parent / "captures" / "lab-review64g"


@pytest.fixture(scope="module")
def missing() -> dict[str, Finding]:
    out = {}
    for name in ("otherif-agent", "filtered-agent"):
        config = build_config(load_file(CASES / f"{name}.toml"))
        analysis = analyze(read_traffic([str(CASES / f"{name}.pcap")], config), config)
        [out[name]] = [f for f in analysis.findings if f.code == "step_missing"]
    return out


def test_no_router_is_ruled_out_by_a_capture_of_one_interface(missing) -> None:  # noqa: ANN001
    finding = missing["otherif-agent"]
    assert "This capture was taken on the agent 10.64.2.2" in finding.message
    assert "no SYN of the callback left it" not in finding.message
    assert "the SYN left by another interface of the agent's (its route to 10.64.1.1 " \
           "through another network card; this capture, of one interface, does not see " \
           "it), none left the agent and neither the media server's firewall nor a " \
           "router between them is the cause" in finding.message
    assert "a route that sends it out of another interface of the agent's " \
           "(`ip route get 10.64.1.1` on the agent names it)" in finding.fix


def test_a_capture_of_the_ndmp_port_alone_may_be_filtered(missing) -> None:  # noqa: ANN001
    finding = missing["filtered-agent"]
    assert "no SYN of the callback is in it, so, unless a capture filter kept only the " \
           "NDMP port 10000 (tcpdump 'port 10000': this capture holds nothing else, no " \
           "ARP, ICMP or UDP" in finding.message
    assert finding.fix.startswith("If this capture was filtered to the NDMP port "
                                  "(tcpdump 'port 10000'), capture again without a filter; "
                                  "else read the agent 10.64.2.2's log")


def test_the_media_servers_firewall_is_not_ruled_out_by_a_capture_of_one_port() -> None:
    """filtered-media: the media server's own input chain dropped the callback, the
    capture on it filtered 'port 10000' (pcap): it read "no SYN of the callback reached
    it, so the media server's firewall is not the cause" (trial 26 D6's reading, kept by
    nu67b for a job stopped there)."""
    config = build_config(load_file(CASES / "filtered-media.toml"))
    analysis = analyze(read_traffic([str(CASES / "filtered-media.pcap")], config), config)
    [finding] = [f for f in analysis.findings if f.code == "step_missing"]
    assert "This capture was taken on the media server 10.64.1.1" in finding.message
    assert "no SYN of the callback reached it" not in finding.message
    assert "no SYN of the callback is in it, so, unless a capture filter kept only the " \
           "NDMP port 10000" in finding.message
    assert finding.fix.startswith("If this capture was filtered to the NDMP port "
                                  "(tcpdump 'port 10000'), capture again without a filter; "
                                  "else allow TCP from 10.64.2.2 to 10.64.1.1")
