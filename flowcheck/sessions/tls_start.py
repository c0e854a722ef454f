"""A control connection in TLS from its first byte: the job's, on proof only.

An NDMP server may secure its control connections from the start, the TLS handshake
before its greeting (NetApp ONTAP's secure control connection can), so the capture holds
TLS records only (flowcheck.ndmp.stream: a "tls" problem at the direction's first byte,
NdmpStream.tls_from), exactly as it holds another program's TLS on the same port
(Webmin's HTTPS listens on 10000 by default): sessions.other_protocol reads both as
"TLS", no session. Such a connection is taken as the job's control connection (a
session, whose data connections are matched by direction and ports as those of a
session secured in band: match_reason "encrypted", flowcheck.sessions.by_ports) only on
proof that it is NDMP's:
- its originator is a configured media server and its responder a configured remote
  agent (Config.media_servers, Config.remote_agents: an unconfigured pair proves
  nothing), and
- while it lasts (from its first packet to its last, to the capture's end when the
  capture did not see it close), a connection between those two hosts (each by its
  control address, or by the address of the other IP version the configuration pairs
  with it: a dual-stack host's callback and data over IPv4) opens that no
  readable session explains (role "other" after the sessions were built without it) and
  that fits one of the job's: from the media server to a port in the agent range (a
  data connection, profile connector "media_server" or "listener"), or from the agent to
  a port in the media range (a data connection, connector "remote_agent" or
  "listener"; the callback, profile callback "connection"); neither end the NDMP port,
  and the range configured, not left at its default 1025-65535 (which any connection
  between the hosts fits: RDP beside Webmin's HTTPS proves nothing).
Otherwise it stays another protocol: no session (no_control_session, ndmp_undecodable).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable

from flowcheck.config import Config
from flowcheck.model import Connection, NdmpStream
from flowcheck.profiles import Profile
from flowcheck.sessions.classify import end_of, seen_closing
from flowcheck.sessions.file_order import END, TIME_ORDER, FileOrder
from flowcheck.sessions.other_protocol import other_protocol
from flowcheck.sessions.stack_addresses import config_pair


def tls_from_start(conn: Connection, stream: NdmpStream | None, config: Config) -> bool:
    """Is conn a connection to the NDMP port from a configured media server to a
    configured remote agent, in TLS from its first byte (NdmpStream.tls_from, not one
    NDMP message decoded, sessions.other_protocol reads it as TLS)?"""
    return (stream is not None and bool(stream.tls_from) and not stream.messages
            and conn.resp_p == config.ndmp_port
            and conn.orig_h in config.media_servers and conn.resp_h in config.remote_agents
            and other_protocol(conn, stream) == "TLS")


def fits_job(conn: Connection, control: Connection, config: Config, profile: Profile,
             order: FileOrder = TIME_ORDER) -> bool:
    """Could conn be a data connection or the callback of control's job: between its two
    hosts, opened while it lasts (in the capture's order: order.later), the way and to
    the range the profile says (module docstring)?"""
    if config.ndmp_port in (conn.orig_p, conn.resp_p) or conn.uid == control.uid:
        return False
    if not order.later(conn.first_frame, conn.ts, control.first_frame, control.ts) or (
            seen_closing(control) and not order.later(
                control.last_frame, end_of(control), conn.first_frame, conn.ts)):
        return False
    media, agent = _addresses(config.media_servers, control.orig_h), \
        _addresses(config.remote_agents, control.resp_h)
    # A range holding every port above 1024 (left at its default, or set to it:
    # Config.wide_ranges) fits any connection between the hosts (an RDP or WinRM
    # session beside Webmin's HTTPS): no evidence.
    if conn.orig_h in media and conn.resp_h in agent:
        return profile.connector in ("media_server", "listener") \
            and "agent" not in config.wide_ranges() and config.in_agent_range(conn.resp_p)
    if conn.orig_h in agent and conn.resp_h in media:
        return (profile.connector in ("remote_agent", "listener")
                or profile.callback == "connection") \
            and "media" not in config.wide_ranges() and config.in_media_range(conn.resp_p)
    return False


def _addresses(configured: tuple[str, ...], host: str) -> set[str]:
    """host, and its address of the other IP version when the configuration's list of
    its role pairs them (sessions.stack_addresses.config_pair: one dual-stack host, its
    control connection over IPv6, its callback and data over IPv4)."""
    pair = config_pair(configured, host)
    return {host} if pair is None else {host, pair}


def proven_tls_starts(candidates: Iterable[Connection], connections: Iterable[Connection],
                      config: Config, profile: Profile, order: FileOrder = TIME_ORDER
                      ) -> set[str]:
    """The uids of the candidates (tls_from_start) that a connection no session explains
    (role "other") fits as their job's (fits_job): those are NDMP's control connections.
    connections: every connection of the capture, in any order (each host pair's are
    put in the capture's order here; the set found does not depend on it). order: how
    the capture orders its events (flowcheck.sessions.file_order): a clock set back
    after the control connection opened stamps its job's connections before it
    (review58d: field48-tls-start's capture stepped back 2 s before its callback read no
    session, INCONCLUSIVE, by plain timestamps)."""
    # By pair of hosts, in the capture's order (its frames, else by clock epoch and
    # time): a candidate looks at the connections between its hosts opened while it
    # lasted, not at every connection (thousands of TLS connections beside thousands of
    # others stayed quadratic).
    between: dict[frozenset[str], list[Connection]] = {}
    for conn in connections:
        if conn.role == "other":
            between.setdefault(frozenset((conn.orig_h, conn.resp_h)), []).append(conn)
    starts: dict[frozenset[str], list[tuple[float, ...]]] = {}
    for pair, conns in between.items():
        conns.sort(key=lambda c: order.place(c.first_frame, c.ts))
        starts[pair] = [order.place(c.first_frame, c.ts) for c in conns]
    proven = set()
    for control in candidates:
        media = _addresses(config.media_servers, control.orig_h)
        agent = _addresses(config.remote_agents, control.resp_h)
        low = order.place(control.first_frame, control.ts)
        high = order.place(control.last_frame, end_of(control)) if seen_closing(control) \
            else (float("inf"),) if order.frames else END
        for pair in {frozenset((m, a)) for m in media for a in agent}:
            conns, keys = between.get(pair, []), starts.get(pair, [])
            while_open = conns[bisect_left(keys, low):bisect_right(keys, high)]
            if any(fits_job(conn, control, config, profile, order) for conn in while_open):
                proven.add(control.uid)
                break
    return proven
