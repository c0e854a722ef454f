"""Commands that need no capture: firewall rules and range capacity."""

import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from flowcheck.cli.helptext import command_settings
from flowcheck.cli.options import Format, OutputFormat, with_config
from flowcheck.cli.output import make_console, report_output
from flowcheck.errors import ExitStatus, UsageError

if TYPE_CHECKING:  # not loaded to register the commands (their --help)
    from flowcheck.config import Config


class Target(StrEnum):
    nft = "nft"
    iptables = "iptables"
    powershell = "powershell"
    netsh = "netsh"


def firewall(config: "Config", output: Format = OutputFormat.table,
             target: Annotated[list[Target] | None, typer.Option(
                 "--target", metavar="nft|iptables|powershell|netsh",
                 help="Rule syntax (repeatable) [default: all].")] = None) -> int:
    """Firewall rules that let the documented sequence through, per host."""
    from flowcheck import __version__
    from flowcheck.rules import FORWARD_TARGETS, TARGETS, forward_rules, rules_for

    chosen = [str(t) for t in target] if target else list(TARGETS)
    rules = {name: rules_for(name, config) for name in chosen}
    _warn(config, default_range_warning(config), shared=True)
    # A firewall or router between the hosts: its forward chain (trial 17, D3).
    forward = {name: forward_rules(name, config) for name in chosen
               if name in FORWARD_TARGETS}
    if output is OutputFormat.json:
        from flowcheck.report.json_doc import write_json

        with report_output():
            write_json({"flowcheck": __version__, "config": config.as_dict(),
                        "rules": rules, "forward": forward}, sys.stdout)
    else:
        from flowcheck.report.planning import render_firewall

        render_firewall(rules, config, make_console(), forward)
    return ExitStatus.OK


def _warn(config: "Config", default: str, shared: bool = False) -> None:
    """The warnings on standard error, one line each: `default` (default_range_warning),
    a range holding the NDMP port, with `shared` a host both media server and agent
    (flowcheck.firewall_notes); output and exit code stay as they are."""
    from flowcheck.firewall_notes import ndmp_port_warning, shared_host_warning

    for warning in (default, ndmp_port_warning(config),
                    shared_host_warning(config) if shared else ""):
        if warning:
            print(f"flowcheck: warning: {warning}", file=sys.stderr)


def default_range_warning(config: "Config", what: str = "these rules open") -> str:
    """What `firewall` (and `plan`, `what` "the plan counts") says on standard error when
    a range is flowcheck's default (1025-65535: nearly every TCP port); "" when both are
    set."""
    from flowcheck.config import format_ranges

    unset = config.default_ranges()
    if not unset:
        return ""
    flags = " and ".join(f"--{which}-range" for which in unset)
    ranges = format_ranges(getattr(config, f"{unset[0]}_range"))
    return (f"{flags} not set: {what} flowcheck's default {ranges}, nearly "
            "every TCP port; set the ranges configured in Backup Exec (media server and "
            "remote agent TCP dynamic port ranges) or on the DMA and NDMP servers")


def plan(config: "Config", output: Format = OutputFormat.table) -> int:
    """Can the dynamic port ranges carry the jobs? (needs --resources N)"""
    from flowcheck import __version__
    from flowcheck.plan import make_plan

    if config.resources is None:
        raise UsageError("plan needs --resources N (or resources = N in the config file)")
    result = make_plan(config, config.resources)
    # A range left at the default overlaps any range given (new-user trial: "the ranges
    # share 10 ports" for --media-range alone, with no word of the default).
    _warn(config, default_range_warning(config, "the plan counts"))
    if output is OutputFormat.json:
        from flowcheck.report.json_doc import write_json

        with report_output():
            write_json({"flowcheck": __version__, "config": config.as_dict(),
                        "plan": result.as_dict()}, sys.stdout)
    else:
        from flowcheck.report.planning import render_plan

        render_plan(result, config, make_console())
    return ExitStatus.OK if result.fits else ExitStatus.FAIL


# Configuration parameters that change nothing in their output: accepted, not listed.
FIREWALL_UNUSED = ("backup_network", "port_hold", "resources", "retransmission_timeout",
                   "vxlan_port", "geneve_port")
PLAN_UNUSED = ("media_server", "remote_agent", "backup_network",
               "retransmission_timeout", "vxlan_port", "geneve_port")


def register(app: typer.Typer) -> None:
    app.command(**command_settings("firewall", FIREWALL_UNUSED))(
        with_config(firewall, FIREWALL_UNUSED))
    app.command(**command_settings("plan", PLAN_UNUSED))(with_config(plan, PLAN_UNUSED))
