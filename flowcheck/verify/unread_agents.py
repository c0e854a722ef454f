"""agent_not_seen's words for a configured agent whose NDMP port the capture holds
connections to that no session reads (lab matrix seed 112 run 7).

A connection to the agent's NDMP port that reads as another protocol
(flowcheck.sessions.other_protocol, verify.other_protocol: ndmp_undecodable) is no
session, so the agent has no judged job; but the capture is not without a connection
to it. A job's control connection in TLS from its first byte whose job went no further
(its handshake stalled: nothing else of the job to prove it the job's,
flowcheck.sessions.tls_start) reads so. The note says the connection is there and not
read, and the fix does not say the job "never reached the network at this capture
point".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flowcheck.model import Connection, connection_ends

__all__ = ["unread_fix", "unread_note"]


def unread_note(unread: Mapping[str, Sequence[Connection]]) -> str:
    """" The capture holds C1 (10.77.0.1:5059 -> 10.77.1.3:10000) to the NDMP port of
    10.77.1.3, which no session reads: it did not read as NDMP (ndmp_undecodable says
    what it carried), as a job's control connection in TLS from its first byte does when
    nothing else of the job proves it the job's."; "" for none."""
    conns = [conn for found in unread.values() for conn in found]
    if not conns:
        return ""
    listed = ", ".join(f"{conn.uid} ({connection_ends(conn)})" for conn in conns[:3])
    more = f" and {len(conns) - 3} more" if len(conns) > 3 else ""
    hosts = " and ".join(unread)
    port = "port" if len(unread) == 1 else "ports"  # one each: the agents' own
    it = "it" if len(conns) == 1 else "they"
    return (f" The capture holds {listed}{more} to the NDMP {port} of {hosts}, which no "
            f"session reads: {it} did not read as NDMP (ndmp_undecodable says what "
            f"{it} carried: another program's, or a job's control connection in TLS from "
            "its first byte that nothing else of the job proves the job's).")


def unread_fix(either: str, one: bool, unread: Mapping[str, Sequence[Connection]]) -> str:
    """The fix when some of the agents have unread connections to their NDMP port: the
    job may be there, unread; not "it never reached the network at this capture
    point"."""
    hosts = " and ".join(unread)
    port = "port" if len(unread) == 1 else "ports"
    return (f"If a job with {either} ran while the capture ran, read the job's log for its "
            f"first error; its control connection may be the one to the NDMP {port} of "
            f"{hosts} (ndmp_undecodable: see its fix). Otherwise leave "
            f"{'it' if one else 'them'} out of --remote-agent for this capture.")
