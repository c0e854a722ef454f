"""no_control_session beside judged sessions: TLS on an agent's NDMP port, no job read.

With no session at all, every connection to the NDMP port carrying TLS makes
no_control_session a warning (flowcheck.verify.no_session): it is either the job's own
control connection, encrypted, or another program's, and the verdict is inconclusive.
The same connections in a capture set that also holds another, readable job (two files
given together, a folder, a night's capture) were only an ndmp_undecodable warning, and
the other job's pass became the set's (review56d: trial23-other-protocol/tls-on-ndmp-port
and field55's tls-start-dual-stack-control-acks-dropped, inconclusive alone, passed
beside ndmjob's v4 backup). Here each such group (one originator, responder and port,
TLS only, no NDMP server answering it) whose responder may be an agent (a configured
one, a session's, or nothing tells: other_protocol.not_agent) gets its own
no_control_session warning, so the set's verdict is inconclusive as the file's alone
is; the judged sessions keep their own readings.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowcheck.config import Config
from flowcheck.findings import make_finding
from flowcheck.model import Connection, Finding, NdmpStream, Session, Severity, endpoint
from flowcheck.verify.other_protocol import (
    asked_ndmp_servers,
    encrypted_only,
    not_agent,
    other_protocol_groups,
)


def unjudged_tls(findings: list[Finding], connections: list[Connection],
                 streams: list[NdmpStream], config: Config,
                 sessions: Sequence[Session]) -> list[Finding]:
    """The findings with a no_control_session warning (uid: the group's first
    connection; frames: each connection's first) per TLS group on an agent's NDMP port
    beside judged sessions (see the module's words); unchanged with no session (then
    verify.no_session speaks), or with a no_control_session already."""
    if not sessions or any(f.code == "no_control_session" for f in findings):
        return findings
    judged = [s.id for s in sessions if not s.side]
    added = []
    for (orig, resp, port), group in other_protocol_groups(connections, streams).items():
        one = {(orig, resp, port): group}
        if not encrypted_only(one) or asked_ndmp_servers(one, streams) or \
                not_agent(resp, config, sessions):
            continue
        conns = [conn for conn, _ in group]
        count = f"the {len(conns)} connections" if len(conns) > 1 else "the connection"
        beside = (f"beside the session{'s' if len(judged) > 1 else ''} judged "
                  f"({', '.join(judged)})" if judged else "beside the sessions")
        added.append(make_finding(
            "no_control_session",
            f"No NDMP control connection flowcheck can read for {orig} -> "
            f"{endpoint(resp, port)}: {count} to the NDMP port there carried TLS, not NDMP "
            f"(ndmp_undecodable), {beside}. TLS there is either a job's NDMP control "
            "connection, encrypted (an NDMP server that secures its control connections "
            "with TLS, as NetApp ONTAP can), or another program's (Webmin's HTTPS on "
            f"{port}): flowcheck reads no NDMP inside TLS, so if it is a job's, that job "
            "cannot be judged, whatever the other sessions' readings.",
            "If that is a job's control connection, capture a run of the job with TLS off "
            "for the NDMP server's control connections (its messages announce the data "
            "connections flowcheck checks them against), or judge the data connections' "
            f"TCP outcomes alone with `flowcheck connections`. If it is not, see which "
            f"program listens on TCP {port} on {resp} (ndmp_undecodable).",
            severity=Severity.WARNING, uid=conns[0].uid, ts=conns[0].ts,
            frames=[conn.first_frame for conn in conns]))
    return [*findings, *added]
