"""The bodies of `connections` and `analyze`, without typer: flowcheck.cli.traffic
declares the commands' options for typer and calls these; flowcheck.cli.direct calls
them for the common command lines, without loading typer at all.

Thin: read, call the pipeline, hand the result to a report, return the exit code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from flowcheck.cli.output import make_console, report_output
from flowcheck.cli.settings import (
    OutputFormat,
    check_captures,
    refuse_stdout,
    stderr_is_terminal,
)
from flowcheck.errors import ExitStatus, verdict_status
from flowcheck.heap import give_back

if TYPE_CHECKING:
    from flowcheck.config import Config
    from flowcheck.pipeline import Traffic
    from flowcheck.traffic import Analysis


def read(captures: list[str], config: Config) -> Traffic:
    """The capture set's traffic (progress bar on a terminal), its records frozen for
    the garbage collector (flowcheck.exiting.read_once) and held to the process's end
    (flowcheck.exiting.keep_to_exit). One-shot commands only: `live`
    rebuilds its reports from running traffic."""
    from flowcheck.exiting import keep_to_exit, read_once
    from flowcheck.pipeline import check_links_read, read_traffic

    with read_once():  # run() unfreezes when the command is done
        traffic = read_traffic(check_captures(captures), config,
                               progress=stderr_is_terminal())
    keep_to_exit(traffic)  # not freed when the command returns (run() lets it go)
    check_links_read(traffic)  # every packet on a link type not read: exit 3
    return traffic


def write_traffic_json(traffic: Traffic) -> None:
    """The traffic document (docs/json.md) on standard output, its connections streamed:
    `connections` and `ndmp` with --format json."""
    from flowcheck.report.json_doc import traffic_document, write_json

    with report_output():
        write_json(traffic_document(traffic, streamed=True), sys.stdout)


def connections(captures: list[str], config: Config, output: OutputFormat = OutputFormat.table,
                packet_filter: str | None = None) -> int:
    """`connections`: the connection table or the traffic document (flowcheck.cli.traffic,
    the command's help)."""
    from flowcheck.pipeline import label_connections
    from flowcheck.report.since import time_base

    selected = None
    if packet_filter:
        from flowcheck.connections.filter import compile_filter

        selected = compile_filter(packet_filter)  # before reading: a bad filter is exit 2
    # The contract's JSON has `ndmp` and the decode findings for every traffic command;
    # tapping only the control connections costs little.
    traffic = read(captures, config)
    # role/session as analyze gives them, on all connections before the filter: a
    # script reading either command's JSON gets the same answer (docs/json.md).
    label_connections(traffic, config)
    give_back()  # what making the records and the sessions freed (flowcheck.heap)
    before_filter = None
    # The table's +N s origin: the whole capture set's (analyze's), kept through the filter.
    first = None if output is OutputFormat.json else \
        time_base(traffic.connections, traffic.clock_step)
    if selected is not None:
        before_filter = len(traffic.connections)
        traffic.connections = [c for c in traffic.connections if selected(c)]
    if output is OutputFormat.json:
        write_traffic_json(traffic)
    else:
        from flowcheck.frame_names import naming, traffic_names
        from flowcheck.report.connections import render_captures, render_connections

        console = make_console()
        render_captures(traffic.captures, console)
        with naming(traffic_names(traffic)):  # a set's frames by file (frame_names)
            render_connections(traffic.connections, console, before_filter=before_filter,
                               packets=sum(capture.packets for capture in traffic.captures),
                               first=first, folded=None if selected is not None
                               else traffic.folded)
    return ExitStatus.OK


def analyze(captures: list[str], config: Config, output: OutputFormat = OutputFormat.table,
            graph: Path | None = None, html: Path | None = None,
            mermaid: Path | None = None, ladder: bool | None = None,
            all_sessions: bool = False) -> int:
    """`analyze`: the verification's report or document (flowcheck.cli.traffic, the
    command's help)."""
    from flowcheck.pipeline import analyze as run_analysis

    for option, path, example in (("--graph", graph, "graph.graphml"),
                                  ("--html", html, "report.html"),
                                  ("--mermaid", mermaid, "sessions.md")):
        refuse_stdout(path, option, f"give a file name ({option} {example})")
    if graph is not None:
        from flowcheck.report.graph_export import check_graph_path

        check_graph_path(graph)  # an unknown extension is a usage error, before reading
    traffic = read(captures, config)
    analysis = run_analysis(traffic, config)
    give_back()  # what making the records and the checks freed (flowcheck.heap)
    from flowcheck.frame_names import naming, traffic_names

    with naming(traffic_names(traffic)):  # a set's frames by file (frame_names)
        _write_reports(analysis, config, output, graph, html, mermaid, ladder, all_sessions)
    return verdict_status(analysis.verdict)


def _write_reports(analysis: Analysis, config: Config, output: OutputFormat,
                   graph: Path | None, html: Path | None, mermaid: Path | None,
                   ladder: bool | None, all_sessions: bool) -> None:
    """analyze's reports: the graph, HTML and Mermaid files asked for, then the text
    report or the JSON document on standard output."""
    if graph is not None:
        from flowcheck.graph import build_graph
        from flowcheck.report.graph_export import write_graph

        write_graph(build_graph(analysis.traffic.connections, analysis.sessions,
                                analysis.findings, analysis.verdict,
                                media_servers=config.media_servers,
                                remote_agents=config.remote_agents), graph)
    if html is not None:
        from flowcheck.report.html import write_html

        write_html(analysis, html)
    if mermaid is not None:
        from flowcheck.report.mermaid import write_mermaid

        write_mermaid(analysis, mermaid)
    if output is OutputFormat.json:
        from flowcheck.report.json_doc import analysis_document, write_json

        with report_output():
            write_json(analysis_document(analysis, streamed=True), sys.stdout)
    else:
        from flowcheck.report.analyze import render_analysis

        render_analysis(analysis, make_console(), ladder=ladder, all_sessions=all_sessions)
