"""Every graph form names a host's role as the ladder does (new-user trial 28, D15).

A dual-stack job (control over IPv6, callback and data over IPv4): the DOT, GraphML and
node-link JSON called the hosts' IPv4 addresses "other" while Mermaid and the HTML named
them media server and remote agent. Real capture: captures/lab-trial19-callback.
"""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.graph import build_graph
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.graph_export import render_dot
from flowcheck.report.ladder_build import build_ladders

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def _analyze(folder: str, name: str, **settings: object) -> Analysis:
    config = build_config({**load_file(CAPTURES / folder / f"{name}.toml"), **settings})
    return analyze(read_traffic([str(CAPTURES / folder / f"{name}.pcap.gz")], config), config)


def _graph_roles(analysis: Analysis) -> dict[str, set[str]]:
    config = analysis.config
    graph = build_graph(analysis.traffic.connections, analysis.sessions, analysis.findings,
                        analysis.verdict, media_servers=config.media_servers,
                        remote_agents=config.remote_agents)
    return {node: {role.replace("_", " ") for role in str(data["role"]).split(",")}
            for node, data in graph.nodes(data=True) if data["kind"] == "host"}


def _lane_roles(analysis: Analysis) -> dict[str, set[str]]:
    roles: dict[str, set[str]] = {}
    for ladder in build_ladders(analysis):
        for lane in ladder.lanes:
            roles.setdefault(lane.host, set()).add(lane.role)
    return roles


def test_dual_stack_hosts_ipv4_addresses_keep_their_roles() -> None:
    analysis = _analyze("lab-trial19-callback", "v6-dualstack")
    roles = _graph_roles(analysis)
    assert roles["10.77.0.1"] == {"media server"} and roles["10.77.0.2"] == {"remote agent"}
    assert roles["fd77::1"] == {"media server"} and roles["fd77::2"] == {"remote agent"}
    config = analysis.config
    dot = render_dot(build_graph(analysis.traffic.connections, analysis.sessions,
                                 media_servers=config.media_servers,
                                 remote_agents=config.remote_agents))
    assert "(other)" not in dot and 'label="10.77.0.1 (media server)"' in dot


def test_graph_and_ladder_agree_on_every_host() -> None:
    for folder, name, settings in (
            ("lab-trial19-callback", "v6-dualstack", {}),
            ("lab-trial19-callback", "n2-nat-vip-announced", {}),
            ("lab-trial19-callback", "mh3-jobengine-other-nic", {}),
            ("lab-trial28-dualstack", "happy-eyeballs-v6-rst", {}),
            ("lab-trial28-dualstack", "callback-fallback-v6-rst",
             {"media_servers": ["10.77.0.1", "fd77::1"]})):
        analysis = _analyze(folder, name, **settings)
        graph, lanes = _graph_roles(analysis), _lane_roles(analysis)
        for host, roles in lanes.items():
            named = roles - {"host"}
            assert graph[host] == (named or {"other"}), (name, host, graph[host], roles)


def test_a_host_that_is_its_own_agent_has_both_roles() -> None:
    """A media server backing itself up (one host both ends of its session, as a loopback
    lab job): the graph names both roles, as before lane_role (review of trial 28 D15)."""
    from flowcheck.model import Connection, Session

    control = Connection(uid="C1", orig_h="10.0.0.5", orig_p=5001, resp_h="10.0.0.5",
                         resp_p=10000, ts=0.0, last_ts=1.0, session="S1", role="control")
    session = Session(id="S1", control_uid="C1", media_server="10.0.0.5",
                      remote_agent="10.0.0.5", version=4, kind="backup")
    graph = build_graph([control], [session])
    assert set(str(graph.nodes["10.0.0.5"]["role"]).split(",")) == {"media_server",
                                                                       "remote_agent"}
