"""no_control_session: a capture without an NDMP control connection to judge.

Why there is none, as far as the capture tells: TLS on the NDMP port (the job's own
control connection encrypted, or another program's), another protocol there, nothing on
that port, or nothing at all; and a capture whose every connection is its opening only,
never answered (flowcheck.verify.openings_only: a firewall's drop capture). Written by
flowcheck.verify.links.check_links when no session was found.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowcheck.model import Connection, Severity
from flowcheck.verify.context import Context
from flowcheck.verify.openings_only import one_other_port, opening_only, openings_words
from flowcheck.verify.other_protocol import (
    Group,
    asked_ndmp_servers,
    encrypted_only,
    other_protocol_groups,
    other_protocol_words,
)

# Where to capture the job, no host named as the one to go to instead: nothing of a
# capture without the job's control connection says where it was taken, and it may have
# been on the media server (words64: "capture on the media server's interface toward
# the agent" was said whatever the capture point).
WHERE = ("capture where the job's traffic passes, on the media server's or the agent's "
         "interface toward the other, while the job starts")


def no_control_session(ctx: Context,
                       piece: tuple[int, list[Connection]] | None = None) -> None:
    """no_control_session: an error when the capture holds TCP connections and none is
    an NDMP control connection (the wrong port or capture point); a warning when it holds
    no TCP connection at all (a live sniffer that saw nothing, a capture of other
    traffic): nothing of the job to judge, so the verdict is inconclusive. piece: (index,
    connections) of a piece of the set to read alone (sources.pieces: its connections,
    its name in the words; pieces_without_session), not the whole set; TLS alone there
    says nothing (its TLS groups are verify.unjudged_tls's beside the sessions judged).
    A piece's finding is dated by its first connection (ts):
    verify.capture_filter.explain_missing_control reads that piece alone by it."""
    port = ctx.config.ndmp_port
    fix = f"Check --ndmp-port (the agent's NDMP port, {port} here) and {WHERE}."
    connections, streams = ctx.connections, ctx.streams
    where, when = "the capture", None
    if piece is not None:
        index, connections = piece
        uids = {c.uid for c in connections}
        streams = [s for s in streams if s.uid in uids]
        where = ctx.pieces.words(index)
        when = min((c.ts for c in connections), default=None)
    groups = other_protocol_groups(connections, streams)
    servers = asked_ndmp_servers(groups, streams)  # another protocol's clients asked
    other = other_protocol_words(groups, servers)
    if encrypted_only(groups) and not servers and piece is not None:
        return
    if encrypted_only(groups) and not servers:  # the job's control connection, encrypted?
        ctx.add("no_control_session",
                f"No NDMP control connection flowcheck can read in the capture: {other}. TLS "
                "there is either the job's NDMP control connection, encrypted (an NDMP "
                "server that secures its control connections with TLS, as NetApp ONTAP "
                "can), or another program's (Webmin's HTTPS on 10000): flowcheck reads no "
                "NDMP inside TLS, neither the job's steps nor the endpoints it announces, so "
                "the job cannot be judged.",
                "If that is the job's control connection, capture a run of the job with TLS "
                "off for the NDMP server's control connections (its messages announce the "
                "data connections flowcheck checks them against), or judge the data "
                "connections' TCP outcomes alone with `flowcheck connections`"
                + _unnamed_hosts(groups, ctx) + ". If it is not, "
                + fix[:1].lower() + fix[1:],
                severity=Severity.WARNING)
        return
    if other:  # trial 23 D1: HTTP on the NDMP port is no NDMP control connection
        ctx.add("no_control_session",
                f"No NDMP control connection in {where}: {other}; none of the "
                f"{len(connections)} TCP connections is an NDMP control connection.",
                fix + ("" if servers else f" If the job ran to that host, another program "
                              f"holds port {port} there (see ndmp_undecodable)."), ts=when)
        return
    if connections and all(map(opening_only, connections)):
        given = [r for which in ("media", "agent") if f"{which}_range" in ctx.config.explicit
                 for r in getattr(ctx.config, f"{which}_range")]
        other_port = one_other_port(connections, port, given)
        lead = ("" if other_port is None else
                f"If the agent's NDMP port is {other_port} (every SYN in {where} goes to "
                "that one port, resent as an unanswered control connection's are), "
                f"analyze the capture again with --ndmp-port {other_port}: its SYNs then read "
                "as the control connection's, unanswered. ")
        ctx.add("no_control_session",
                f"No NDMP control connection in {where}: {_none_of(len(connections), port)}"
                f" its opening only, never answered ({openings_words(connections)})"
                ". A firewall's capture of the packets it dropped looks like this (a Cisco "
                "ASA's `capture ... type asp-drop`, a Palo Alto's drop stage), as does a "
                "capture filtered to SYNs: if it is one, that device dropped these openings.",
                lead + "If this is a firewall's drop capture, allow these "
                "connections on that device (its access rules or security policy) and their "
                "return traffic, and give its other captures with it (inside and outside, or "
                "the receive and transmit stages) to see the whole job. Else, "
                + (f"c{fix[1:]}" if other_port is None else WHERE + "."), ts=when)
        return
    if connections:
        ctx.add("no_control_session",
                f"No NDMP control connection in {where}: none of the "
                f"{len(connections)} TCP connections goes to the NDMP port {port}.", fix,
                ts=when)
        return
    ctx.add("no_control_session",
            "No NDMP control connection in the capture: it holds no TCP connection at all, "
            "so nothing of the job can be judged (the sniffer saw none of its traffic: the "
            "wrong interface, a filter, or stopped before the job started).", fix,
            severity=Severity.WARNING)


def pieces_without_session(ctx: Context) -> None:
    """no_control_session for each piece of a set of files apart in time (sources.pieces)
    that holds TCP connections and no session's control connection, read as that piece
    alone reads (no_control_session): beside another file's judged job, a firewall's
    capture of SYNs alone or a capture of another program's traffic read PASS
    (mergedone: trial36 pa-data-drop-stage-drop, trial23 webmin-only, review54g
    hosts-only-unrelated-upload beside ndmjob's v4 backup; each FAIL alone). A piece
    without TCP is verify.unjudged_files's. A piece that holds a connection a session took
    (Connection.session: its data connection, opened after the sniffer was restarted) holds
    that session (review58f: ndmjob's v4 backup's data connection in a file an hour after
    its control connection's read "none of the 1 TCP connections goes to the NDMP port"
    there, step 3 naming it the job's)."""
    if len(ctx.pieces) < 2 or not ctx.sessions:
        return
    holding = {ctx.pieces.of(ctx.by_uid[s.control_uid].ts) for s in ctx.sessions}
    for piece, conns in enumerate(in_pieces(ctx)):
        if conns and piece not in holding and all(c.session is None for c in conns):
            no_control_session(ctx, (piece, list(conns)))


def in_pieces(ctx: Context) -> Sequence[Sequence[Connection]]:
    """ctx's connections per piece of the set, in piece order (the census's, of the same
    connections and pieces: verify.census.Census.in_pieces, placed once per analysis;
    grouped here when no census was taken)."""
    if ctx.census is not None:
        return ctx.census.in_pieces
    return ctx.pieces.group(ctx.connections, lambda conn: conn.ts)


def _unnamed_hosts(groups: dict[tuple[str, str, int], Group], ctx: Context) -> str:
    """For TLS on the NDMP port between hosts the configuration does not name as media
    server and agent: how flowcheck could take it for the job's (sessions.tls_start);
    "" when every group's hosts are named (then no connection between them fitted a
    job's)."""
    unnamed = [(orig, resp) for orig, resp, _ in groups
               if orig not in ctx.config.media_servers or resp not in ctx.config.remote_agents]
    if not unnamed:
        return ""
    orig, resp = unnamed[0]
    return (f", or name its hosts (--media-server {orig} --remote-agent {resp}): TLS from a "
            "connection's first byte between the configured media server and agent is read "
            "as the job's control connection when connections that fit the job's callback "
            "or data connections open between them while it lasts")


def _none_of(count: int, port: int) -> str:
    if count == 1:
        return f"its one TCP connection does not go to the NDMP port {port} and is"
    return f"none of the {count} TCP connections goes to the NDMP port {port}, and each is"
