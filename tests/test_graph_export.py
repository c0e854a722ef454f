"""The connection graph and its three export formats, read back by independent parsers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest

from flowcheck.config import build_config
from flowcheck.errors import UsageError
from flowcheck.graph import build_graph
from flowcheck.model import Announcement, Connection, NdmpStream
from flowcheck.profiles import load_profile
from flowcheck.report.graph_export import render_dot, write_graph
from flowcheck.sessions import build_sessions
from flowcheck.verify import check_all

M, A = "10.77.0.1", "10.77.0.2"


def _lab_graph() -> nx.MultiDiGraph:
    config = build_config({"media_range": "5001-5100", "agent_range": "6001-6100",
                           "profile": "ndmp"})
    control = Connection("Cc", M, 5001, A, 10000, 0.0, last_ts=9.0, syn_frames=[1],
                         synack_frames=[2], established=True, conn_state="SF")
    data = Connection("Cd", A, 6001, M, 5002, 2.0, last_ts=5.0, syn_frames=[10],
                      synack_frames=[11], established=True, conn_state="SF", orig_bytes=900)
    stray = Connection("Cx", "10.0.0.9", 40000, M, 22, 1.0, syn_frames=[5], conn_state="S0")
    stream = NdmpStream("Cc", 4, announcements=[
        Announcement("Cc", M, 5002, 8, 1.5, "NDMP_DATA_CONNECT", "mover")])
    connections = [control, data, stray]
    profile = load_profile("ndmp")
    sessions = build_sessions(connections, [stream], config, profile)
    check_all(connections, [stream], sessions, config, profile)
    return build_graph(connections, sessions)


def test_graph_nodes_and_edges() -> None:
    graph = _lab_graph()
    hosts = {n: d for n, d in graph.nodes(data=True) if d["kind"] == "host"}
    assert hosts[M]["role"] == "media_server" and hosts[A]["role"] == "remote_agent"
    assert hosts["10.0.0.9"]["role"] == "other"
    edges = {d["uid"]: (u, v, d) for u, v, d in graph.edges(data=True)
             if d["kind"] == "connection"}
    assert set(edges) == {"Cc", "Cd", "Cx"}
    orig, resp, data = edges["Cd"]
    assert (orig, resp) == (f"{A}:6001", f"{M}:5002")
    assert (data["role"], data["step"], data["session"], data["bytes"]) == ("data", 3, "S1", 900)
    assert edges["Cc"][2]["step"] == 1 and edges["Cx"][2]["role"] == "other"
    assert graph.has_edge(M, f"{M}:5002")  # endpoint hangs off its host


def test_graphml_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "g.graphml"
    write_graph(_lab_graph(), path)
    ET.parse(path)  # well-formed XML
    back = nx.read_graphml(path, force_multigraph=True)
    uids = {d.get("uid") for _, _, d in back.edges(data=True)} - {None}
    assert uids == {"Cc", "Cd", "Cx"}


def test_graphml_edge_ids_are_unique(tmp_path: Path) -> None:
    """GraphML names each edge by its id attribute: every host-endpoint edge was
    id="port" (newuser65 ring: 10 alike), which Gephi and yEd may merge. A connection's
    edge is its uid, an endpoint's edge "port:ENDPOINT"."""
    path = tmp_path / "g.graphml"
    write_graph(_lab_graph(), path)
    edges = ET.parse(path).getroot().iter("{http://graphml.graphdrawing.org/xmlns}edge")
    ids = [(edge.get("source"), edge.get("target"), edge.get("id")) for edge in edges]
    assert len({i for *_, i in ids}) == len(ids)
    assert {(f"{A}:6001", f"{M}:5002", "Cd"), (M, f"{M}:5002", f"port:{M}:5002")} <= set(ids)
    back = nx.read_graphml(path, force_multigraph=True)
    assert back.number_of_edges() == len(ids)


# XML 1.0's Nmtoken production (NameChar+), the type of GraphML's node and edge ids
# (graphml.xsd), over the characters an address, a port and a uid hold.
_NMTOKEN = re.compile(r"[A-Za-z0-9._:\-\u00b7\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u037d"
                      r"\u037f-\u1fff\u200c-\u200d\u203f-\u2040\u2070-\u218f"
                      r"\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd]+")


def test_graphml_ids_are_nmtokens_with_ipv6_endpoints(tmp_path: Path) -> None:
    """An IPv6 endpoint's node and its port edge were "[fd00::1]:10000" and
    "port:[fd00::1]:10000": brackets are no NMTOKEN characters, so a validating GraphML
    reader refuses them. Every id, node and edge, must match the production, and stay
    unique; the node's label keeps the endpoint as the reports write it."""
    config = build_config({"profile": "ndmp"})
    m6, a6 = "fd00::1", "fd00::2"
    control = Connection("Cc", m6, 5001, a6, 10000, 0.0, last_ts=9.0, syn_frames=[1],
                         synack_frames=[2], established=True, conn_state="SF")
    other = Connection("Co", M, 5001, A, 10000, 1.0, last_ts=9.0, syn_frames=[3],
                       synack_frames=[4], established=True, conn_state="SF")
    connections = [control, other]
    profile = load_profile("ndmp")
    sessions = build_sessions(connections, [], config, profile)
    check_all(connections, [], sessions, config, profile)
    path = tmp_path / "g.graphml"
    write_graph(build_graph(connections, sessions), path)
    root = ET.parse(path).getroot()
    ns = "{http://graphml.graphdrawing.org/xmlns}"
    nodes = [node.get("id") for node in root.iter(f"{ns}node")]
    edges = [edge.get("id") for edge in root.iter(f"{ns}edge")]
    for name in [*nodes, *edges]:
        assert _NMTOKEN.fullmatch(name), name
    assert len(set(nodes)) == len(nodes) == 8 and len(set(edges)) == len(edges) == 6
    assert {"fd00::1_5001", "fd00::2_10000", f"{M}:5001"} <= set(nodes)
    assert {"port:fd00::1_5001", f"port:{M}:5001", "Cc", "Co"} <= set(edges)
    back = nx.read_graphml(path, force_multigraph=True)
    assert back.nodes["fd00::2_10000"]["label"] == "[fd00::2]:10000"


def test_node_link_json(tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    write_graph(_lab_graph(), path)
    data = json.loads(path.read_text())
    assert {link.get("uid") for link in data["links"]} >= {"Cc", "Cd", "Cx"}
    assert any(node["id"] == M for node in data["nodes"])


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz not installed")
def test_dot_parses_with_graphviz(tmp_path: Path) -> None:
    path = tmp_path / "g.dot"
    write_graph(_lab_graph(), path)
    subprocess.run(["dot", "-Tsvg", str(path), "-o", str(tmp_path / "g.svg")], check=True)


def test_dot_text() -> None:
    text = render_dot(_lab_graph())
    assert text.startswith("digraph flowcheck {") and text.rstrip().endswith("}")
    assert f'"{A}:6001" -> "{M}:5002"' in text
    assert text.count("{") == text.count("}")
    assert "Cd data step 3\\n" in text


def test_dot_label_byte_figure_separated() -> None:
    """A connection's bytes in its DOT label read as the report writes them, "2,037,760
    B" (review 61c: "2037760 B", the one byte figure of a drawing left unseparated)."""
    graph = _lab_graph()
    for _, _, data in graph.edges(data=True):
        if data.get("uid") == "Cd":
            data["bytes"] = 2037760
    assert "Cd data step 3\\nSF 2,037,760 B" in render_dot(graph)


@pytest.mark.parametrize("name", ["g.png", "graph"])
def test_unknown_extension_is_usage_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="extension"):
        write_graph(_lab_graph(), tmp_path / name)


def test_failed_connection_stands_out(tmp_path: Path) -> None:
    from flowcheck.config import build_config, load_file
    from flowcheck.graph import build_graph
    from flowcheck.pipeline import analyze, read_traffic
    from flowcheck.report.graph_export import write_graph

    lab = Path(__file__).resolve().parent.parent / "captures" / "lab"
    config = build_config(load_file(lab / "data-port-in-use.toml"))
    analysis = analyze(read_traffic([str(lab / "data-port-in-use.pcap")], config), config)
    graph = build_graph(analysis.traffic.connections, analysis.sessions)
    outcomes = {d["uid"]: d["outcome"] for _, _, d in graph.edges(data=True)
                if d["kind"] == "connection"}
    assert sorted(outcomes.values()).count("refused") == 1
    assert sorted(outcomes.values()).count("established") == len(outcomes) - 1
    dot = tmp_path / "g.dot"
    write_graph(graph, dot)
    [refused] = [line for line in dot.read_text().splitlines() if "REFUSED" in line]
    assert "color=red" in refused and "style=dashed" in refused


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz not installed")
def test_a_night_is_drawn_by_host_and_its_failures_stand_out(tmp_path: Path) -> None:
    """Trial 23 D12: a night's DOT had one node per ephemeral port: a 937 x 25,259 px
    strip where the failed connection could not be found by eye."""
    from flowcheck.config import load_file
    from flowcheck.pipeline import analyze, read_traffic

    night = Path(__file__).resolve().parent.parent / "captures" / "ndmjob-night"
    config = build_config(load_file(night / "night-datadrop.toml"))
    analysis = analyze(read_traffic([str(night / "night-datadrop.pcap.gz")], config), config)
    graph = build_graph(analysis.traffic.connections, analysis.sessions, analysis.findings,
                        analysis.verdict)
    connections = len(analysis.traffic.connections)
    assert "drawn by host" not in render_dot(graph)  # 40 connections: every endpoint
    text = render_dot(graph, detail_limit=connections - 1)
    assert f"flowcheck FAIL ({connections} connections, drawn by host)" in text
    hosts = {c.orig_h for c in analysis.traffic.connections} | {
        c.resp_h for c in analysis.traffic.connections}
    assert text.count("[shape=box") == len(hosts) and ":" not in text.split("->")[0][-30:]
    failed = [line for line in text.splitlines() if "FAILED" in line]
    errors = sorted({f.code for f in analysis.findings if str(f.severity) == "error"})
    assert errors and all(any(code in line for line in failed) for code in errors)
    assert failed and all("\\nS10" in line and "color=red" in line and "style=dashed" in line
                          for line in failed)
    counts = [int(line.split('label="')[1].split()[0]) for line in text.splitlines()
              if " -> " in line]
    assert sum(counts) == connections
    dot = tmp_path / "night.dot"
    dot.write_text(text)
    png = subprocess.run(["dot", "-Tpng", str(dot)], capture_output=True, check=True).stdout
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert height < 2000 and width < 2000, (width, height)
