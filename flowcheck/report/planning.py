"""Outputs of `flowcheck firewall` and `flowcheck plan`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcheck.config import Config, format_ranges
from flowcheck.rules import describe_path, required_paths

if TYPE_CHECKING:
    from rich.console import Console

    from flowcheck.plan import Plan

TARGET_TITLES = {"nft": "nftables", "iptables": "iptables",
                 "powershell": "PowerShell (New-NetFirewallRule)",
                 "netsh": "netsh advfirewall"}


def render_firewall(rules: dict[str, dict[str, list[str]]], config: Config,
                    console: Console) -> None:
    console.print("[bold]Connections the sequence needs[/] (and their return traffic):")
    for path in required_paths(config):
        console.print(f"  - {describe_path(path)}", highlight=False)
    for target, per_host in rules.items():
        console.rule(TARGET_TITLES[target])
        for host_role, lines in per_host.items():
            console.print(f"[bold]# on the {host_role}[/]")
            for line in lines:
                console.print(line, highlight=False, markup=False, soft_wrap=True)


def render_plan(plan: Plan, config: Config, console: Console) -> None:
    verdict = "[green]fits[/]" if plan.fits else "[red]does not fit[/]"
    console.print(f"{plan.resources} resources per job: {verdict}")
    console.print(f"  media range {format_ranges(config.media_range)}: {plan.media_ports} "
                  f"ports, {plan.media_per_job} per job (one per resource + job engine)")
    console.print(f"  agent range {format_ranges(config.agent_range)}: {plan.agent_ports} "
                  f"ports, {plan.agent_per_job} per job (one per resource)")
    if plan.shared_ports:
        console.print(f"  [yellow]the ranges share {plan.shared_ports} ports[/]: they should "
                      "not overlap (the TechNote); both sides then draw from one pool")
    console.print(f"  jobs that can start within one {plan.hold_seconds:g}-second hold "
                  f"period: {plan.jobs_per_hold}")
    if not plan.fits:
        console.print(f"  widen the media range to at least {plan.media_per_job} ports and "
                      f"the agent range to at least {plan.agent_per_job} ports")
