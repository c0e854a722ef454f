"""The connection graph: hosts and their endpoints as nodes, connections as edges.

Host nodes are the IP addresses; endpoint nodes are "ip:port" and hang off their host
with a "port" edge. Every TCP connection is a "connection" edge from the originator's
endpoint to the responder's, carrying uid, role, step, conn_state, bytes, session and
outcome (established, unanswered, refused, handshake_incomplete, aborted: reset by its
originator after the SYN-ACK, midstream).
Attribute values are str/int/float only, so every export format can hold them.
"""

from __future__ import annotations

import networkx as nx

from flowcheck.model import Connection, Session, endpoint
from flowcheck.sessions import connection_outcome


def build_graph(connections: list[Connection], sessions: list[Session]) -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph(name="flowcheck")
    host_roles: dict[str, set[str]] = {}
    step_of: dict[str, int] = {}
    for session in sessions:
        host_roles.setdefault(session.media_server, set()).add("media_server")
        host_roles.setdefault(session.remote_agent, set()).add("remote_agent")
        for step in session.steps:
            for uid in step.uids:
                # The first step a connection serves (the control connection also carries
                # the announcement: it stays step 1).
                step_of.setdefault(uid, step.step)
    for conn in sorted(connections, key=lambda c: (c.ts, c.first_frame)):
        orig = _add_endpoint(graph, conn.orig_h, conn.orig_p, host_roles)
        resp = _add_endpoint(graph, conn.resp_h, conn.resp_p, host_roles)
        graph.add_edge(orig, resp, key=conn.uid, kind="connection", uid=conn.uid,
                       role=conn.role, step=step_of.get(conn.uid, 0),
                       conn_state=conn.conn_state, bytes=conn.orig_bytes + conn.resp_bytes,
                       orig_bytes=conn.orig_bytes, resp_bytes=conn.resp_bytes,
                       session=conn.session or "", ts=conn.ts,
                       outcome=connection_outcome(conn))
    return graph


def _add_endpoint(graph: nx.MultiDiGraph, host: str, port: int,
                  host_roles: dict[str, set[str]]) -> str:
    if host not in graph:
        role = ",".join(sorted(host_roles.get(host, set()))) or "other"
        graph.add_node(host, kind="host", role=role, label=host)
    node = endpoint(host, port)
    if node not in graph:
        graph.add_node(node, kind="endpoint", host=host, port=port, label=node)
        graph.add_edge(host, node, key="port", kind="port")
    return node
