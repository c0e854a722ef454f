"""The form of `--help`: each command's summary, its exit codes, and arguments named as
the user types them (trial 20, D18).

typer shows an argument's Python type after its name (`CAPTURE... <list[str]>`) and
writes the usage line's required arguments in braces (`{CAPTURE...}...`); click cuts
every summary in `flowcheck --help` to the first 61 columns ("(Zeek's..."). Commands
registered with `command_settings` get a summary that fits, an epilog with their exit
codes (docs/cli.md, "Exit codes") and FlowcheckCommand's plain argument names.
No `from __future__ import annotations` here: typer reads annotations at run time.
"""

import textwrap
from collections.abc import Iterable
from typing import Any

import typer
from typer.core import TyperCommand

# One line each in `flowcheck --help`, on an 80-column terminal too (at most 61
# characters: click's width 78, less the indent and the longest command name).
SUMMARIES = {
    "connections": "Connection table: one row per TCP connection",
    "ndmp": "NDMP messages per control connection, announced endpoints",
    "analyze": "Verify the backup traffic: steps, findings, fixes, verdict",
    "crosscheck": "Compare the NDMP decode with Wireshark's dissector",
    "live": "Sniff an interface and verify while the job runs",
    "regress": "Stored captures against their expected results",
    "firewall": "Firewall rules that let the documented sequence through",
    "plan": "Can the port ranges carry the jobs? (needs --resources N)",
    "docs": "Show a page of the documentation (the output points to them)",
}

_COMMON = ("2 usage or configuration error, 3 input unreadable (missing, empty, unknown "
           "format, permission), 4 internal error (a bug), 130 interrupted")
_NO_INPUT = "2 usage or configuration error, 4 internal error (a bug)"
EXIT_CODES = {
    "connections": f"0 success; {_COMMON}.",
    "ndmp": f"0 success; {_COMMON}.",
    "analyze": f"0 pass, 1 fail (an error found), 5 inconclusive (the capture cannot show "
               f"whether a step worked); {_COMMON}.",
    "crosscheck": "0 the two decodes agree, 1 differences found; 2 usage or configuration "
                  "error, 3 input unreadable (missing, empty, unknown format, permission; "
                  "tshark cannot read it or is not installed), 4 internal error (a bug), 130 "
                  "interrupted.",
    "live": "0 pass, 1 fail (an error found), 5 inconclusive; stopped with Ctrl-C or "
            "SIGTERM, the verdict's code all the same; 2 usage or configuration error "
            "(--write or --html file not writable too), 3 interface missing or no "
            "permission to sniff, 4 internal error (a bug).",
    "regress": "0 every case as expected, 1 expectations changed; 2 usage error, a "
               "case's configuration is wrong or an expected result that cannot be "
               "written, 3 a path missing, no capture found, a capture unreadable or a "
               "case that cannot be judged, 4 internal error (a bug), 130 interrupted.",
    "firewall": f"0 success; {_NO_INPUT}.",
    "plan": f"0 the ranges carry the jobs, 1 they do not; {_NO_INPUT}.",
    "docs": "0 success; 2 no such page or section, 3 no copy of the documentation installed or "
            "the page cannot be read, 4 internal error (a bug).",
}

APP_EPILOG = ("Exit codes: 0 success or verdict pass; 1 verdict fail (analyze, live), "
              "expectations changed (regress), differences found (crosscheck), ranges too "
              "small (plan); 2 usage or configuration error; 3 input unreadable; 4 internal "
              "error (a bug); 5 verdict inconclusive (analyze, live); 130 interrupted. "
              "'flowcheck COMMAND --help' gives each command's options.")


def flag(parameter: str) -> str:
    """A configuration parameter's flag: `port_hold` -> `--port-hold`."""
    return "--" + parameter.replace("_", "-")


def command_settings(name: str, unused: Iterable[str] = ()) -> dict[str, Any]:
    """`app.command(**...)` for the command `name`: its summary, its exit codes and
    FlowcheckCommand. `unused`: configuration parameters accepted (the contract: every
    command takes them all, one configuration file serves them all) but left out of its
    help because they change nothing in its output (see options.with_config)."""
    epilog = f"Exit codes: {EXIT_CODES[name]}"
    flags = [flag(parameter) for parameter in unused]
    if flags:
        # Wrapped here, never inside a flag ("--retransmission-" / "timeout"): click
        # leaves a paragraph that starts with \b as it is.
        accepted = textwrap.fill(
            "Also accepted, changing nothing here (one configuration file serves every "
            f"command): {', '.join(flags)}.", width=74, break_on_hyphens=False)
        epilog = f"\b\n{accepted}\n\n{epilog}"
    return {"name": name, "cls": FlowcheckCommand, "short_help": SUMMARIES[name],
            "epilog": epilog}


def _argument_name(param: Any) -> str:
    """An argument as the usage line and the Arguments section show it: `CAPTURE...`,
    `CAPTURE`, `[DIR|FILE]...` (click's plain style, typer's types left out)."""
    name = param.metavar or param.name.upper()
    if not param.required:
        name = f"[{name}]"
    return name + ("..." if param.nargs != 1 else "")


class FlowcheckCommand(TyperCommand):
    """A typer command whose help names its arguments without their Python types."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                pieces.append(_argument_name(param))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def format_options(self, ctx: typer.Context, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((_argument_name(param), record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
