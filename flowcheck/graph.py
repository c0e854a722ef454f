"""The connection graph: hosts and their endpoints as nodes, connections as edges.

Host nodes are the IP addresses; endpoint nodes are "ip:port" and hang off their host
with a "port" edge (key "port:ip:port", an IPv6 endpoint's "port:fd00::1_10000": graph_id).
Every TCP connection is a "connection" edge
(key: its uid; the keys are the GraphML edge ids, so unique) from the originator's
endpoint to the responder's, carrying uid, role, step, conn_state, bytes, session and
outcome (established, unanswered, refused, handshake_incomplete, aborted: reset by its
originator after the SYN-ACK, midstream), and the error and warning findings about it
(`findings`, their codes; `severity`, the worst; a session's finding that names no
connection goes on its control connection): a job failed by an NDMP error reply shows,
though each of its connections opened. The graph's own `verdict` is the analysis's.
Attribute values are str/int/float only, so every export format can hold them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import networkx as nx

from flowcheck.model import Connection, Finding, Session, endpoint
from flowcheck.sessions import connection_outcome
from flowcheck.sessions.host_roles import lane_role


def build_graph(connections: list[Connection], sessions: list[Session],
                findings: list[Finding] | None = None, verdict: str = "", *,
                media_servers: Collection[str] = (),
                remote_agents: Collection[str] = ()) -> nx.MultiDiGraph:
    """The graph of `connections`, each edge with its step in `sessions` and the
    `findings` about it; `verdict` as a graph attribute when given. A host's role is the
    one each session's ladder gives it (lane_role, with the configured media_servers and
    remote_agents), so every drawing names it alike (trial 28 D15)."""
    graph = nx.MultiDiGraph(name="flowcheck")
    if verdict:
        graph.graph["verdict"] = verdict
    codes = _codes_by_connection(findings or [], sessions)
    host_roles: dict[str, set[str]] = {}
    step_of: dict[str, int] = {}
    members: dict[str, list[Connection]] = {}
    for conn in connections:
        if conn.session is not None:
            members.setdefault(conn.session, []).append(conn)
    by_uid = {conn.uid: conn for conn in connections}
    for session in sessions:
        callback = by_uid.get(session.callback_uid) if session.callback_uid else None
        # The session's own two ends keep their roles, both when they are one host (a
        # media server backing itself up); the other hosts take the ladder's.
        host_roles.setdefault(session.media_server, set()).add("media_server")
        host_roles.setdefault(session.remote_agent, set()).add("remote_agent")
        hosts = {h for conn in members.get(session.id, ()) for h in (conn.orig_h, conn.resp_h)}
        for host in hosts - {session.media_server, session.remote_agent}:
            role = lane_role(host, session, callback, media_servers, remote_agents)
            if role != "host":
                host_roles.setdefault(host, set()).add(role.replace(" ", "_"))
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
                       outcome=connection_outcome(conn),
                       findings=",".join(codes.get(conn.uid, {})),
                       severity=_worst(codes.get(conn.uid, {}).values()))
    return graph


def _codes_by_connection(findings: list[Finding],
                         sessions: list[Session]) -> dict[str, dict[str, str]]:
    """uid -> {code: severity} of the error and warning findings about it, in the
    findings' order; one naming only its session counts for the control connection."""
    control = {session.id: session.control_uid for session in sessions}
    out: dict[str, dict[str, str]] = {}
    for finding in findings:
        severity = str(finding.severity)
        uid = finding.uid or control.get(finding.session or "")
        if uid and severity in ("error", "warning"):
            codes = out.setdefault(uid, {})
            if codes.get(finding.code) != "error":
                codes[finding.code] = severity
    return out


def _worst(severities: Iterable[str]) -> str:
    found = set(severities)
    return "error" if "error" in found else "warning" if "warning" in found else ""


def _add_endpoint(graph: nx.MultiDiGraph, host: str, port: int,
                  host_roles: dict[str, set[str]]) -> str:
    if host not in graph:
        role = ",".join(sorted(host_roles.get(host, set()))) or "other"
        graph.add_node(host, kind="host", role=role, label=host)
    node = endpoint(host, port)
    if node not in graph:
        graph.add_node(node, kind="endpoint", host=host, port=port, label=node)
        # The key is the edge's GraphML id, which must be unique: "port" on each one made
        # ten alike on one ring capture (newuser65), and Gephi or yEd may merge them.
        graph.add_edge(host, node, key=f"port:{graph_id(node)}", kind="port")
    return node


def graph_id(name: str) -> str:
    """A node's name as a GraphML id, which must be an XML NMTOKEN (GraphML's schema:
    letters, digits, ".", "-", "_", ":"): an IPv6 endpoint "[fd00::1]:10000" becomes
    "fd00::1_10000" (brackets are no NMTOKEN characters; "_" is in no address, so no two
    names meet); a host address or an IPv4 endpoint stays as it is. Any other character
    outside the production (an address's "%zone") is written "-XX-", its code point in
    hex."""
    if name.startswith("[") and "]:" in name:
        host, port = name[1:].rsplit("]:", 1)
        name = f"{host}_{port}"
    return "".join(c if c.isascii() and (c.isalnum() or c in "._:-") else f"-{ord(c):x}-"
                   for c in name)
