"""Outputs of `flowcheck firewall` and `flowcheck plan`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcheck.config import Config, format_ranges
from flowcheck.plan import holds_port
from flowcheck.rules import (
    ICMPV6_COMMENT,
    ORDER_COMMENT,
    RETURN_COMMENT,
    describe_path,
    ipv6_hosts,
    ipv6_rules,
    required_paths,
    return_rules,
    setup_rules,
)

if TYPE_CHECKING:
    from rich.console import Console

    from flowcheck.plan import Plan

TARGET_TITLES = {"nft": "nftables", "iptables": "iptables",
                 "powershell": "PowerShell (New-NetFirewallRule)",
                 "netsh": "netsh advfirewall"}


def render_firewall(rules: dict[str, dict[str, list[str]]], config: Config,
                    console: Console, forward: dict[str, list[str]] | None = None) -> None:
    """Per target, the rules per host, then (`forward`: target -> lines) those for a
    firewall or router between the hosts; comments on lines of their own (nft: over the
    commands that create its table and chains, and firewalld's equivalents after each
    host's rules, firewall_notes)."""
    from flowcheck.firewall_notes import FORWARD_STATE_COMMENT, SETUP_COMMENT, firewalld_lines

    # Every line a comment or a command: the whole output pasted into a shell runs the
    # commands alone (new-user trial: pasted, the heading lines failed as commands).
    console.print("[bold]# Connections the sequence needs[/] (and their return traffic):")
    for path in required_paths(config):
        console.print(f"#   - {describe_path(path)}", highlight=False, markup=False,
                      soft_wrap=True)
    for target, per_host in rules.items():
        console.print(f"# {'─' * 8} {TARGET_TITLES[target]} {'─' * 8}", highlight=False,
                      markup=False)
        returns = len(return_rules(target, config))
        basics = len(ipv6_rules(target, config))
        # The Windows firewalls get the IPv6 comment alone (their built-in rules).
        ipv6 = [ICMPV6_COMMENT[target]] if basics or (
            ipv6_hosts(config) and target not in ("nft", "iptables")) else []
        setup = len(setup_rules(target))
        console.print(ORDER_COMMENT[target], highlight=False, markup=False, soft_wrap=True)
        if setup:
            console.print(SETUP_COMMENT, highlight=False, markup=False, soft_wrap=True)
        for host_role, lines in per_host.items():
            console.print(f"[bold]# on the {host_role}[/]")
            paths = lines[setup:len(lines) - returns - basics]
            ends = lines[setup + len(paths):]
            firewalld = firewalld_lines(config, host_role) if target == "nft" else []
            # The comment on a line of its own: each rule line stays a runnable command.
            for line in [*lines[:setup], *paths, *ipv6, *ends[:basics],
                         RETURN_COMMENT[target], *ends[basics:], *firewalld]:
                console.print(line, highlight=False, markup=False, soft_wrap=True)
        if (forward or {}).get(target):
            # "listed last": nft and iptables insert each rule at the head, so the return
            # rules end first in the chain; accepts alone, their order matters not.
            console.print("[bold]# on a firewall or router between them (its forward chain; "
                          "the return-traffic rules listed last)[/]")
            console.print(FORWARD_STATE_COMMENT, highlight=False, markup=False,
                          soft_wrap=True)
            for line in forward[target]:  # type: ignore[index]
                console.print(line, highlight=False, markup=False, soft_wrap=True)


def render_plan(plan: Plan, config: Config, console: Console) -> None:
    verdict = "[green]fits[/]" if plan.fits else "[red]does not fit[/]"
    console.print(f"{plan.resources} resources per job: {verdict}")
    ranges = {"media": format_ranges(config.media_range),
              "agent": format_ranges(config.agent_range)}
    why = {"media": _media_why(plan),
           "agent": "one per resource + the callback's source" if plan.callback_source_port
           else "one per resource",
           "media+agent": "both sides draw from it"}
    for pool in plan.pools:
        title = (f"{pool.name} range {ranges[pool.name]}" if pool.name in ranges
                 else f"the two ranges together ({plan.shared_ports} ports shared)")
        held = {"media": config.media_range, "agent": config.agent_range,
                "media+agent": config.media_range + config.agent_range}[pool.name]
        left_out = (f" (the NDMP port {config.ndmp_port} left out)"
                    if holds_port(held, config.ndmp_port) else "")
        console.print(f"  {title}: {pool.ports} {_ports(pool.ports)}{left_out}, "
                      f"{pool.per_job} per job "
                      f"({why[pool.name]}): {_jobs(pool.jobs)}"
                      + (f", [red]{pool.shortfall} {_ports(pool.shortfall)} short[/]"
                         if pool.shortfall else ""), highlight=False)
    if plan.shared_ports:
        console.print(f"  [yellow]the ranges share {plan.shared_ports} ports[/]"
                      f"{_shared_why(config, ranges)}", highlight=False)
    hold = f"{plan.hold_seconds:g} s"
    console.print(f"  jobs at once: {plan.jobs_per_hold} (a job's ports stay held {hold} after "
                  f"it ends, so every job started within {hold} of another's end counts: "
                  "back-to-back jobs need ports of their own; \"fits\" is for one job)")
    for pool in plan.short:
        if pool.name in ranges:
            console.print(f"  widen the {pool.name} range by {pool.shortfall} "
                          f"{_ports(pool.shortfall)}, to at least {pool.per_job}")
        else:
            console.print(f"  give the two ranges separate ports, or together "
                          f"{pool.shortfall} more (at least {pool.per_job})")


def _shared_why(config: Config, ranges: dict[str, str]) -> str:
    """Why the ranges overlap, after "the ranges share N ports": a range left at
    flowcheck's default (1025-65535) holds any other range's ports above 1024, so the
    overlap is the default's, not the configuration's (newuser55: `plan --media-range
    5001-5010` said "they should not overlap" with no word of the default agent range)."""
    unset = config.default_ranges()
    if len(unset) == 2:
        return (f": both ranges are flowcheck's default {ranges['media']} (--media-range "
                "and --agent-range not set), so they are one pool; set the ranges "
                "configured in Backup Exec or on the DMA and NDMP servers")
    if unset:
        which, other = unset[0], "agent" if unset[0] == "media" else "media"
        return (f": the {which} range is flowcheck's default {ranges[which]} (--{which}-range "
                f"not set), which holds the {other} range's ports above 1024; set "
                f"--{which}-range to the range configured for the "
                f"{'media server' if which == 'media' else 'remote agent'} to see whether "
                "the two overlap")
    return ": they should not overlap (the TechNote); both sides then draw from one pool"


def _media_why(plan: Plan) -> str:
    """What a job binds in the media range, as `analyze` judges it (trial 20, D8)."""
    if not plan.job_engine_port:
        return "one per resource + control connection; this profile has no job engine port"
    if not plan.control_port:
        return "one per resource + job engine, the control connection's port"
    return "one per resource + job engine + control connection"


def _ports(n: int) -> str:
    return "port" if n == 1 else "ports"


def _jobs(n: int) -> str:
    return "no job fits" if n == 0 else "1 concurrent job" if n == 1 else f"{n} concurrent jobs"
