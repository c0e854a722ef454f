"""Write the connection graph as GraphML, DOT or node-link JSON, by file extension.

DOT is written here (pydot is not a dependency): a digraph with hosts as boxes, the
endpoints clustered under their host, and one labelled edge per connection (its error
and warning codes in the label, red for an error), titled with the verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from flowcheck.errors import UsageError
from flowcheck.report.files import write_report_file

if TYPE_CHECKING:
    import networkx as nx

_FAILED_OUTCOMES = ("unanswered", "refused", "handshake_incomplete", "aborted")
_ROLE_COLOURS = {"control": "blue", "callback": "darkorange", "data": "darkgreen",
                 "other": "gray40"}


GRAPH_SUFFIXES = (".graphml", ".dot", ".gv", ".json")


def check_graph_path(path: str | Path) -> None:
    """UsageError for an extension write_graph cannot serve (checked before reading)."""
    suffix = Path(path).suffix.lower()
    if suffix not in GRAPH_SUFFIXES:
        raise UsageError(f"--graph {path}: unknown extension {suffix or '(none)'!r}; use "
                         ".graphml, .dot, .gv or .json")


def write_graph(graph: nx.MultiDiGraph, path: str | Path) -> None:
    import networkx as nx  # only when a graph is written: a heavy import

    check_graph_path(path)
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".graphml":
        text = "\n".join(nx.generate_graphml(graph)) + "\n"
    elif suffix == ".json":
        data = nx.node_link_data(graph, edges="links")
        text = json.dumps(data, indent=2, default=str) + "\n"
    else:
        text = render_dot(graph)
    write_report_file(target, text, "--graph")


def _quote(text: object) -> str:
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render_dot(graph: nx.MultiDiGraph) -> str:
    lines = ["digraph flowcheck {", "  rankdir=LR;", "  node [fontname=Helvetica];",
             "  edge [fontname=Helvetica, fontsize=10];"]
    verdict = graph.graph.get("verdict")
    if verdict:
        lines += [f"  label={_quote(f'flowcheck {str(verdict).upper()}')};", "  labelloc=t;",
                  "  fontname=Helvetica;"]
    hosts = [n for n, d in graph.nodes(data=True) if d.get("kind") == "host"]
    for index, host in enumerate(hosts):
        # "media server, remote agent": the role's words, not its attribute value
        role = str(graph.nodes[host].get("role", "other")).replace("_", " ").replace(",", ", ")
        lines.append(f"  subgraph cluster_{index} {{")
        lines.append(f"    label={_quote(f'{host} ({role})')};")
        lines.append(f"    {_quote(host)} [shape=box, style=bold];")
        for _, node, data in graph.out_edges(host, data=True):
            if data.get("kind") == "port":
                lines.append(f"    {_quote(node)} [shape=ellipse, "
                             f"label={_quote(graph.nodes[node].get('port', node))}];")
        lines.append("  }")
    for orig, resp, data in graph.edges(data=True):
        if data.get("kind") == "port":
            # The cluster shows the endpoint's host; a drawn host-port edge also ranked
            # the responder's ports beside the originator's, and graphviz put the
            # connections' labels over the other host's title (trial 20 D20).
            continue
        label = f"{data['uid']} {data['role']}"
        if data.get("step"):
            label += f" step {data['step']}"
        label += f"\n{data['conn_state']} {data['bytes']} B"
        colour = _ROLE_COLOURS.get(str(data.get("role")), "black")
        style = ""
        if data.get("outcome") in _FAILED_OUTCOMES:
            # A failed connection is what the reader looks for: make it stand out.
            label += f" {str(data['outcome']).upper()}"
            colour, style = "red", ", style=dashed, fontcolor=red"
        if data.get("findings"):
            # What failed on it, also when TCP did not (an NDMP error reply).
            label += "\n" + str(data["findings"]).replace(",", ", ")
            if data.get("severity") == "error":
                colour = "red"
                style = style or ", fontcolor=red"
            elif not style:
                style = ", fontcolor=darkgoldenrod"
        lines.append(f"  {_quote(orig)} -> {_quote(resp)} [label={_quote(label)}, "
                     f"color={colour}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
