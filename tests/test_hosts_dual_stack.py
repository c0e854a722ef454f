"""Hosts configured by their IPv4 addresses, the job seen over IPv6 (new-user trial 28, D14).

The most common reason on a dual-stack network: the names resolve to IPv6 first. The
words said "other hosts than the ones meant, or NAT"; a NAT does not turn IPv4 hosts into
IPv6 ones. Real capture: captures/lab-trial28-dualstack/v6-announce-any.
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab-trial28-dualstack"


def _analyze(name: str, **settings: object) -> Analysis:
    config = build_config({**load_file(LAB / f"{name}.toml"), **settings})
    return analyze(read_traffic([str(LAB / f"{name}.pcap.gz")], config), config)


def test_ipv6_session_of_hosts_configured_by_ipv4_reads_as_dual_stack() -> None:
    analysis = _analyze("v6-announce-any")
    assert analysis.verdict == "pass"
    media, agent = [f for f in analysis.findings if f.code == "host_not_configured"]
    assert ("fd77::1 is most likely the IPv6 address of the dual-stack media server "
            "10.77.0.1") in media.message
    assert "fd77::2 is most likely the IPv6 address of the dual-stack remote agent " \
           "10.77.0.2" in agent.message
    for finding in (media, agent):
        assert "other hosts than the ones meant" not in finding.message
        assert "(NAT)" not in finding.message
    assert media.fix.startswith("If fd77::1 is the IPv6 address of the media server 10.77.0.1, "
                                "add fd77::1 with --media-server")
    [seen] = [f for f in analysis.findings if f.code == "agent_not_seen"]
    assert "the IPv6 address of a dual-stack agent" in seen.message


def test_same_ip_version_keeps_the_other_hosts_reading() -> None:
    analysis = _analyze("v6-announce-any", media_servers=["fd77::9"], remote_agents=["fd77::8"])
    for finding in (f for f in analysis.findings if f.code == "host_not_configured"):
        assert "other hosts than the ones meant" in finding.message
        assert "dual-stack" not in finding.message


def test_a_host_seen_under_both_ip_versions_is_dual_stack_not_nat() -> None:
    """Control over IPv6, the callback to the configured IPv4 address: fd77::1 is the
    IPv6 address of the dual-stack media server, never "a NAT translated some of its
    connections" (re-check of trial 28, N4: two texts disagreed)."""
    from flowcheck.config import build_config, load_file
    from flowcheck.pipeline import analyze, read_traffic

    folder = Path(__file__).resolve().parent.parent / "captures" / "lab-trial28-addresses"
    config = build_config({**load_file(folder / "dualstack-v6ctl-v4data.toml"),
                           "media_servers": ["10.77.0.1"], "remote_agents": ["10.77.0.2"]})
    analysis = analyze(read_traffic([str(folder / "dualstack-v6ctl-v4data.pcap.gz")], config),
                       config)
    texts = [f.message for f in analysis.findings if f.code == "host_not_configured"]
    assert texts and all("a NAT translated" not in t for t in texts), texts
    assert any("fd77::1 is most likely the IPv6 address of the dual-stack media server "
               "10.77.0.1" in t for t in texts), texts
