"""data_reset reads the RST's IP TTL (flowcheck.verify.ttl): a RST whose TTL differs from
its side's own packets' came from a device between the hosts in that side's name.

Trial 12, D4: a router rejected a backup's data connection with TCP resets (nftables
"reject with tcp reset"); the media server's capture showed the RST in the agent's name
with TTL 64, the agent's own packets arriving with 63, and flowcheck said "reset by the
agent". captures/ndmjob-routerreset/data-reset-by-router-media.pcap.gz.
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def _analyze(folder: str, name: str) -> Analysis:
    config = build_config(load_file(CAPTURES / folder / f"{name}.toml"))
    capture = next((CAPTURES / folder).glob(f"{name}.pcap*"))
    return analyze(read_traffic([str(capture)], config), config)


def test_a_router_s_reset_in_the_agent_s_name_is_a_device_s() -> None:
    analysis = _analyze("ndmjob-routerreset", "data-reset-by-router-media")
    [reset] = [f for f in analysis.findings if f.code == "data_reset"]
    assert "reset by a device between them, in the name of the agent 10.77.1.3" in reset.message
    assert "its TTL 64, where the agent 10.77.1.3's own packets arrive with 63" in reset.message
    assert reset.fix.startswith("Look for the firewall, NAT or IPS between")


def test_a_host_s_own_reset_is_not_read_as_a_device_s() -> None:
    # The DMA SIGINTed: the media server's own RST (its own TTL), then its control FIN.
    analysis = _analyze("ndmjob-kill", "dma-sigint-media")
    [reset] = [f for f in analysis.findings if f.code == "data_reset"]
    assert "device between them" not in reset.message
    assert "reset by the media server 10.77.0.1" in reset.message
