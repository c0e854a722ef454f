"""Write the connection graph as GraphML, DOT or node-link JSON, by file extension.

DOT is written here (pydot is not a dependency): a digraph with hosts as boxes, the
endpoints clustered under their host, and one labelled edge per connection (its error
and warning codes in the label, red for an error), titled with the verdict. A graph of
more than DOT_DETAIL_LIMIT connections (a night of jobs) is drawn by host instead: one
edge per pair of hosts, role and outcome, with its count, sessions and codes (trial 23
D12: one node per ephemeral port made a 937 x 25,259 px strip). GraphML and JSON always
hold every endpoint and connection.
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
# Connections above which the DOT drawing groups them by pair of hosts.
DOT_DETAIL_LIMIT = 60
# Session ids a grouped edge's label names before counting the rest.
_LABEL_SESSIONS = 6


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
        from flowcheck.graph import graph_id

        # GraphML's ids are NMTOKENs: an IPv6 endpoint's brackets are not (graph_id).
        named = nx.relabel_nodes(graph, {node: graph_id(node) for node in graph}, copy=True)
        text = "\n".join(nx.generate_graphml(named)) + "\n"
    elif suffix == ".json":
        data = nx.node_link_data(graph, edges="links")
        text = json.dumps(data, indent=2, default=str) + "\n"
    else:
        text = render_dot(graph)
    write_report_file(target, text, "--graph")


def _quote(text: object) -> str:
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _head(graph: nx.MultiDiGraph, title: str = "") -> list[str]:
    lines = ["digraph flowcheck {", "  rankdir=LR;", "  node [fontname=Helvetica];",
             "  edge [fontname=Helvetica, fontsize=10];"]
    verdict = graph.graph.get("verdict")
    if verdict or title:
        words = f"flowcheck {str(verdict).upper()}" if verdict else "flowcheck"
        lines += [f"  label={_quote(words + title)};", "  labelloc=t;", "  fontname=Helvetica;"]
    return lines


def _host_role(graph: nx.MultiDiGraph, host: str) -> str:
    """"media server, remote agent": the role's words, not its attribute value."""
    return str(graph.nodes[host].get("role", "other")).replace("_", " ").replace(",", ", ")


def render_dot(graph: nx.MultiDiGraph, detail_limit: int = DOT_DETAIL_LIMIT) -> str:
    """The DOT text: every endpoint and connection, or by host (render_dot_by_host)
    above detail_limit connections."""
    connections = sum(1 for *_, data in graph.edges(data=True)
                      if data.get("kind") == "connection")
    if connections > detail_limit:
        return render_dot_by_host(graph)
    lines = _head(graph)
    hosts = [n for n, d in graph.nodes(data=True) if d.get("kind") == "host"]
    for index, host in enumerate(hosts):
        role = _host_role(graph, host)
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
        label += f"\n{data['conn_state']} {data['bytes']:,} B"
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


def render_dot_by_host(graph: nx.MultiDiGraph) -> str:
    """Hosts as boxes; one edge per (originator host, responder host, role, failed or
    not) with its connection count, the sessions of the failed ones and the codes found
    on them; red with an error, dashed when its connections failed."""
    groups: dict[tuple[str, str, str, bool], list[dict]] = {}
    for orig, resp, data in graph.edges(data=True):
        if data.get("kind") != "connection":
            continue
        failed = data.get("outcome") in _FAILED_OUTCOMES or data.get("severity") == "error"
        key = (graph.nodes[orig]["host"], graph.nodes[resp]["host"], str(data.get("role")),
               failed)
        groups.setdefault(key, []).append(data)
    total = sum(len(edges) for edges in groups.values())
    lines = _head(graph, f" ({total} connections, drawn by host)")
    for host, data in graph.nodes(data=True):
        if data.get("kind") == "host":
            title = f"{host}\n({_host_role(graph, host)})"
            lines.append(f"  {_quote(host)} [shape=box, style=bold, label={_quote(title)}];")
    for (orig, resp, role, failed), edges in sorted(
            groups.items(), key=lambda item: (not item[0][3], item[0][0], item[0][1])):
        count = len(edges)
        label = f"{count} {role}" + (" FAILED" if failed else "")
        codes = sorted({code for e in edges for code in str(e.get("findings", "")).split(",")
                        if code})
        if codes:
            label += "\n" + ", ".join(codes)
        if failed:
            sessions = list(dict.fromkeys(
                str(e["session"]) for e in sorted(edges, key=lambda e: e.get("ts", 0.0))
                if e.get("session")))
            if sessions:
                label += "\n" + ", ".join(sessions[:_LABEL_SESSIONS]) + (
                    f" +{len(sessions) - _LABEL_SESSIONS}" if len(sessions) > _LABEL_SESSIONS
                    else "")
        error = any(e.get("severity") == "error" for e in edges)
        colour = "red" if failed or error else _ROLE_COLOURS.get(role, "black")
        style = (", style=dashed" if failed else "") + (", fontcolor=red" if error else "")
        lines.append(f"  {_quote(orig)} -> {_quote(resp)} [label={_quote(label)}, "
                     f"color={colour}, penwidth={1 + min(count, 100) ** 0.5 / 3:.1f}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
