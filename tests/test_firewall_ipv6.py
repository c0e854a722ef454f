"""Trial 28 D3: `flowcheck firewall`'s rules for IPv6 hosts, applied as printed on hosts
whose input and output policies drop, dropped neighbour discovery (conntrack does not
track it): the media server's solicitations for the agent went unanswered and the job
failed with "No route to host". The rules now carry the ICMPv6 an IPv6 host needs
(RFC 4890: neighbour discovery, MLD, the errors TCP acts on), for nft and ip6tables,
and the Windows targets a comment. tests/test_firewall_applied.py applies them in a lab
without permanent neighbours."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from flowcheck.cli.main import run
from flowcheck.config import build_config
from flowcheck.report.planning import render_firewall
from flowcheck.rules import forward_rules, rules_for

V6 = ["--media-server", "fd77::1", "--remote-agent", "fd77::2"]
V4 = ["--media-server", "10.77.0.1", "--remote-agent", "10.77.0.2"]


def _rules(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert run(["firewall", "--format", "json", *argv]) == 0
    return json.loads(capsys.readouterr().out)["rules"]


@pytest.mark.parametrize("role", ["media server", "remote agent"])
def test_ipv6_hosts_get_neighbour_discovery_in_and_out(
        role: str, capsys: pytest.CaptureFixture[str]) -> None:
    rules = _rules(V6, capsys)
    nft = rules["nft"][role]
    [inbound] = [line for line in nft if " input icmpv6 type " in line]
    [outbound] = [line for line in nft if " output icmpv6 type " in line]
    for kind in ("nd-neighbor-solicit", "nd-neighbor-advert"):
        assert kind in inbound and kind in outbound
    assert "packet-too-big" in inbound and "nd-router-advert" in inbound
    assert "mld2-listener-report" in outbound
    # Before the return-traffic rules, which still end the list (docs/json.md).
    assert nft[-1] == "nft insert rule inet filter output ct state established,related accept"
    ip6 = rules["iptables"][role]
    for chain in ("INPUT", "OUTPUT"):
        for kind in ("neighbour-solicitation", "neighbour-advertisement"):
            assert f"ip6tables -I {chain} -p icmpv6 --icmpv6-type {kind} -j ACCEPT" in ip6
    assert "ip6tables -I INPUT -p icmpv6 --icmpv6-type packet-too-big -j ACCEPT" in ip6


def test_ipv4_hosts_get_no_icmpv6_rule(capsys: pytest.CaptureFixture[str]) -> None:
    rules = _rules(V4, capsys)
    assert not any("icmpv6" in line for target in rules.values()
                   for lines in target.values() for line in lines)


def test_no_host_given_nft_rules_carry_neighbour_discovery() -> None:
    """No address: the nft rules match both versions (an `inet` table), so IPv6 too;
    and so do iptables' (new-user trial: IPv4's only, silently), with ip6tables."""
    config = build_config({})
    assert any("nd-neighbor-solicit" in line for line in rules_for("nft", config)["remote agent"])
    assert any(line.startswith("ip6tables ") and "neighbour-solicitation" in line
               for line in rules_for("iptables", config)["remote agent"])


def test_the_text_says_why_and_windows_keeps_its_core_networking_rules() -> None:
    config = build_config({"media_servers": ["fd77::1"], "remote_agents": ["fd77::2"]})
    rules = {target: rules_for(target, config) for target in ("nft", "netsh")}
    console = Console(width=400, record=True, color_system=None)
    render_firewall(rules, config, console, {"nft": forward_rules("nft", config)})
    lines = console.export_text().splitlines()
    why = [i for i, line in enumerate(lines) if line.startswith("# IPv6: neighbour discovery")]
    assert len(why) == 2  # one per host
    assert "conntrack does not track neighbour discovery" in lines[why[0]]
    assert " input icmpv6 type " in lines[why[0] + 1]
    assert sum("Core Networking" in line for line in lines) == 2
