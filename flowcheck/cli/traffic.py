"""Commands that read traffic: connections, ndmp, analyze, crosscheck.

Thin: validate, call the pipeline, hand the result to a report, return the exit code.
No `from __future__ import annotations` here: typer reads these annotations at run time.
"""

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flowcheck.cli.commands import read, write_traffic_json
from flowcheck.cli.helptext import command_settings
from flowcheck.cli.options import Captures, Format, OutputFormat, with_config
from flowcheck.cli.output import make_console, report_output
from flowcheck.errors import ExitStatus, UsageError

if TYPE_CHECKING:  # not loaded to register the commands (their --help)
    from flowcheck.config import Config

Filter = Annotated[str | None, typer.Option(
    "--filter", metavar="EXPR",
    help="Select connections: host IP, net CIDR, port N, portrange A-B, with src/dst, "
         "tcp/ip/ip6, and/or/not, parentheses. Example: 'host 10.0.0.5 and not port "
         "22'. Given once: join conditions in the one expression.")]
GraphFile = Annotated[Path | None, typer.Option(
    "--graph", metavar="FILE", dir_okay=False,
    help="Write the connection graph: .graphml, .dot/.gv or .json (node-link).")]
HtmlFile = Annotated[Path | None, typer.Option(
    "--html", metavar="FILE", dir_okay=False, help="Write a self-contained HTML report.")]
MermaidFile = Annotated[Path | None, typer.Option(
    "--mermaid", metavar="FILE", dir_okay=False,
    help="Write each session's sequence as a Mermaid sequence diagram (GitHub, GitLab).")]
Ladder = Annotated[bool | None, typer.Option(
    "--ladder/--no-ladder",
    help="Draw each session's sequence in the table report [default: when the terminal "
         "is wide enough].")]
AllSessions = Annotated[bool, typer.Option(
    "--all-sessions",
    help="Show the steps of every session. By default a capture of more than 10 sessions "
         "shows them for the failing and inconclusive ones and lists the others one line "
         "each.")]


def connections(captures: Captures, config: "Config", output: Format = OutputFormat.table,
                packet_filter: Filter = None) -> int:
    """Connection table: one row per TCP connection (Zeek's conn.log vocabulary)."""
    from flowcheck.cli import commands

    return commands.connections(captures, config, output, packet_filter)


def ndmp(captures: Captures, config: "Config", output: Format = OutputFormat.table) -> int:
    """NDMP messages of each control connection, with announced data endpoints."""
    from flowcheck.pipeline import label_connections

    traffic = read(captures, config)
    label_connections(traffic, config)  # role, session and used_by, as in analyze
    if output is OutputFormat.json:
        write_traffic_json(traffic)
    else:
        from flowcheck.frame_names import naming, traffic_names
        from flowcheck.report.connections import render_captures
        from flowcheck.report.ndmp import render_ndmp

        console = make_console()
        render_captures(traffic.captures, console)
        with naming(traffic_names(traffic)):  # a set's frames by file (frame_names)
            render_ndmp(traffic.streams, traffic.findings, console,
                        connections=traffic.connections)
    return ExitStatus.OK


def analyze(captures: Captures, config: "Config", output: Format = OutputFormat.table,
            graph: GraphFile = None, html: HtmlFile = None, mermaid: MermaidFile = None,
            ladder: Ladder = None, all_sessions: AllSessions = False) -> int:
    """Full verification: sessions, the profile's steps, findings with fixes, verdict."""
    from flowcheck.cli import commands

    return commands.analyze(captures, config, output, graph, html, mermaid, ladder,
                            all_sessions)


def crosscheck(capture: Annotated[str, typer.Argument(
        metavar="CAPTURE", help="One pcap/pcapng file (optionally gzipped): tshark reads "
                                "it a second time. Merge a ring or several files into "
                                "one first (mergecap -w).")], config: "Config",
               output: Format = OutputFormat.table) -> int:
    """Compare flowcheck's NDMP decode with Wireshark's dissector (via pyshark)."""
    from flowcheck.ndmp.crosscheck import crosscheck as run_crosscheck

    if capture == "-":
        raise UsageError("crosscheck -: standard input cannot be read twice (tshark reads "
                         "the capture a second time): save it to a file first "
                         "(cat > capture.pcap) and crosscheck that")
    if Path(capture).is_dir():
        # A directory (a ring): tshark reads one file.
        raise UsageError("crosscheck takes one capture file (tshark reads it a second "
                         "time): merge a ring's files or several captures into one first, "
                         "`mergecap -w merged.pcapng FILES` (Wireshark), and crosscheck that")
    from flowcheck.pipeline import label_connections, tunnel_ports

    traffic = read([capture], config)
    label_connections(traffic, config)  # roles and sessions, as `connections` gives them
    # tshark decodes every view of a connection the analysis keeps once (a tunnel's copy,
    # the far side of a NAT): all of them are compared.
    result = run_crosscheck(capture, traffic.streams + traffic.folded_streams,
                            traffic.connections + traffic.folded,
                            cut=any(info.truncated for info in traffic.captures),
                            ports=tunnel_ports(config))
    if output is OutputFormat.json:
        from flowcheck.report.json_doc import traffic_document, write_json

        document = traffic_document(traffic, streamed=True)
        document["crosscheck"] = result.as_dict()
        with report_output():
            write_json(document, sys.stdout)
    else:
        from flowcheck.report.ndmp import render_crosscheck

        render_crosscheck(result, make_console())
    return ExitStatus.FAIL if result.differences else ExitStatus.OK


# Configuration parameters the table, the decode and the crosscheck never read (only
# analyze's and live's checks do: verify.backup_network, capacity, stale_tuple,
# late_job ...): accepted, not listed (newuser55; as firewall's and plan's, cli.setup).
UNREAD = ("backup_network", "port_hold", "resources")


def register(app: typer.Typer) -> None:
    for command in (connections, ndmp, analyze, crosscheck):
        unused = () if command is analyze else UNREAD
        app.command(**command_settings(command.__name__, unused))(
            with_config(command, unused))
