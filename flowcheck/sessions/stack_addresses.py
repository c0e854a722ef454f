"""A dual-stack host's address of the other IP version, as a session or the configuration
proves it (field check 46).

Dual-stack hosts run the NDMP control connection over IPv6 and, NDMP v4's NDMP_ADDR_TCP
holding IPv4 only, the callback and the data connections over their IPv4 addresses (trial
28 D4). No NAT turns one IP version into the other, so an address of the other version
than a host's control address is that host's own when:

- the session's callback runs from it (the agent's end: its SYN left from there) or to it
  (the job engine's end, the media server's), whatever its outcome: the session's
  callback, tied by flowcheck.sessions.matching or .callback_elsewhere;
- a data connection of the session opened at it (the listener answered there) or from
  it (the connector's end of one that opened);
- the configuration names the host's role by one address of each version alone
  (media_servers = ["10.77.0.1", "fd77::1"]: one dual-stack host; with two of a version
  the pairs cannot be told).

Sessions whose control connection shows the same address on a side have the same host
there: what one proves, the others share (two jobs from one media server).

Used by flowcheck.sessions.callback_elsewhere (a callback between the IPv4 addresses of a
session whose control connection runs over IPv6, beside another job's connections from
the same media server) and by verify (announced addresses, answers in a one-direction
capture, agent_not_seen).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Literal, NamedTuple

from flowcheck.config import Config
from flowcheck.model import Connection, Session
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.local import other_version, same_host

Side = Literal["media", "agent"]

__all__ = ["AddressProof", "Side", "config_pair", "host_addresses", "address_proofs",
           "session_proof"]


def config_pair(configured: Collection[str], host: str) -> str | None:
    """The address of the other IP version that the configuration's list of a role
    (media_servers or remote_agents) pairs with `host`: the list holds `host` and exactly
    one address of each version (one dual-stack host). None otherwise."""
    if not any(same_host(host, address) for address in configured):
        return None
    others = [a for a in configured if other_version(a, host)]
    mine = [a for a in configured if not other_version(a, host)]
    return others[0] if len(others) == 1 and len(mine) == 1 else None


def _opened(conn: Connection) -> bool:
    """Did the connection open (the listener answered at its address)?"""
    return connection_outcome(conn) == "established"


def _listeners(session: Session) -> dict[str, str]:
    """Data connection uid -> who listens at its responder: "data" (the agent) or "mover"
    (the media server)."""
    found = {a.used_by: a.listener for a in session.announced if a.used_by}
    found.update(session.port_listener)
    return found


def _side_of(listener: str | None, end: Literal["orig", "resp"]) -> Side | None:
    """Which host a data connection's end is: the responder is the listener's."""
    if listener is None:
        return None
    listens: Side = "agent" if listener == "data" else "media"
    if end == "resp":
        return listens
    return "media" if listens == "agent" else "agent"


def session_proof(session: Session, by_uid: Mapping[str, Connection], side: Side,
                  skip: Collection[str] = ()
                  ) -> Iterable[tuple[str, Connection, Literal["callback", "data"]]]:
    """(address, connection, how) for each end on `side` of the session's callback and
    data connections that proves an address the host's own (see the module docstring),
    in the session's order: the callback first; `how` is "callback" or "data". skip:
    connection uids left out (the failed attempts whose address is in question)."""
    if session.callback_uid is not None and session.callback_uid not in skip:
        callback = by_uid.get(session.callback_uid)
        if callback is not None:
            yield (callback.orig_h if side == "agent" else callback.resp_h), callback, "callback"
    listeners = _listeners(session)
    for uid in session.data_connections:
        conn = by_uid.get(uid)
        if conn is None or uid in skip or not _opened(conn):
            continue
        listener = listeners.get(uid)
        if _side_of(listener, "resp") == side:
            yield conn.resp_h, conn, "data"
        if _side_of(listener, "orig") == side:
            yield conn.orig_h, conn, "data"


def _control_host(session: Session, side: Side) -> str:
    return session.remote_agent if side == "agent" else session.media_server


class AddressProof(NamedTuple):
    """An address proven a host's own (its other IP version's; not the host a capture
    was taken on: flowcheck.verify.capture_host_proof.CaptureHostProof): address; how:
    "callback" or "data" (session_proof) or "config" (config_pair); conn: the callback or
    data connection (None for "config"); session: the session it is of (None for
    "config")."""

    address: str
    how: Literal["callback", "data", "config"]
    conn: Connection | None
    session: Session | None


def address_proofs(session: Session, sessions: Sequence[Session],
                   by_uid: Mapping[str, Connection], config: Config, side: Side,
                   skip: Collection[str] = ()) -> Iterator[AddressProof]:
    """The proofs that an address is the own of the session's host on `side` (its control
    address there): session_proof's for this session and each with the same control
    address on that side, in the order of `sessions`, then the configuration's pair
    (config_pair). skip: connection uids left out (session_proof)."""
    host = _control_host(session, side)
    for other in sessions:
        if other is not session and _control_host(other, side) != host:
            continue
        for address, conn, how in session_proof(other, by_uid, side, skip):
            yield AddressProof(address, how, conn, other)
    configured = config.remote_agents if side == "agent" else config.media_servers
    paired = config_pair(configured, host)
    if paired is not None:
        yield AddressProof(paired, "config", None, None)


def host_addresses(session: Session, sessions: Sequence[Session],
                   by_uid: Mapping[str, Connection], config: Config, side: Side) -> set[str]:
    """The addresses of the session's host on `side`: its control address, and the
    addresses of the other IP version that this session, a session with the same control
    address on that side, or the configuration (config_pair) prove the host's own
    (address_proofs)."""
    host = _control_host(session, side)
    return {host} | {proof.address for proof in address_proofs(session, sessions, by_uid,
                                                               config, side)
                     if other_version(proof.address, host)}
