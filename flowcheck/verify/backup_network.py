"""The sessions' connections against the configured backup network
(control_off_backup_network): one finding per root cause, not per host outside.

A connection leaves the network through one of its ends, and each end outside has a
cause of its own (Europa 2064895, "Backup To Network Card" not followed):

- "announced": the listener announced an address outside the network (DATA_LISTEN /
  MOVER_LISTEN reply) other than the one the control connection reached it at: its data
  interface setting, not name resolution (trial 19 D9, a multi-homed agent announcing
  its other NIC);
- "reached": the connector reached its peer at an address outside (the agent's name
  resolving to its other NIC on the media server);
- "source": the connector sent from an address outside although the session shows it
  at one inside (a route's `src`, a weak-host-model Windows server): its source address
  or interface binding;
- "no_address": the host shows no address inside the network at all in its session:
  give it one (or --backup-network is wrong).

The connector's end outside on a connection whose responder's end is outside too follows
from the responder's (its route to that address leaves by the other interface) when it
has an address inside: that finding names it. A callback between the control
connection's addresses shares the control connection's causes (the agent calls back the
address the control connection came from).
"""

from __future__ import annotations

import ipaddress
from dataclasses import field

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frames_words
from flowcheck.model import Announcement, Connection, Session, connection_ends
from flowcheck.sessions import listener_host
from flowcheck.sessions.data_ends import opened_ends
from flowcheck.sessions.local import ip_version
from flowcheck.verify.addresses import mismatched
from flowcheck.verify.context import Context, opening_frames, session_uids
from flowcheck.verify.end_roles import role_ends
from flowcheck.verify.shared import listened_at

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Networks = tuple[Network, ...]
_ROLE = {"media": "media server", "agent": "agent"}
_BE = "Backup Exec: \"Backup To Network Card\""


@fields_dataclass(slots=True)
class _Cause:
    """One root cause: its kind and host (the address outside), the host's role, the
    connections it took outside, the announcements that named it, and the other ends
    outside that followed from it (host -> (role, its address inside))."""

    kind: str
    host: str
    role: str | None
    found: list[tuple[Session, Connection]] = field(default_factory=list)
    announced: list[Announcement] = field(default_factory=list)
    followers: dict[str, tuple[str | None, tuple[str, str]]] = field(default_factory=dict)
    # The host's address inside the network as the session shows it: (address, where).
    inside: tuple[str, str] | None = None


def check_backup_network(ctx: Context) -> None:
    """control_off_backup_network, one per root cause (module docstring); nothing when
    no backup_network is configured. A side-traffic session's connections are not
    counted (verify.hosts.mark_side_traffic). With several networks (a dual-stack NIC's
    IPv4 network and IPv6 prefix) an address is inside when it is in any of them."""
    network = ctx.config.backup_network
    if not network:
        return
    causes: dict[tuple[str, str], _Cause] = {}
    for session in ctx.sessions:
        if session.id in ctx.side:
            continue
        control_keys: list[tuple[str, str]] = []
        for uid in session_uids(session):
            conn = ctx.by_uid[uid]
            if conn.uid == session.callback_uid and _control_pair(ctx, session, conn):
                keys = control_keys
                for key in keys:
                    causes[key].found.append((session, conn))
            else:
                keys = _add_causes(ctx, session, conn, network, causes)
            if conn.uid == session.control_uid:
                control_keys = keys
    for cause in causes.values():
        _report(ctx, cause, network)


def _control_pair(ctx: Context, session: Session, conn: Connection) -> bool:
    """Does `conn` run between the control connection's two addresses?"""
    control = ctx.by_uid[session.control_uid]
    return {conn.orig_h, conn.resp_h} == {control.orig_h, control.resp_h}


def _add_causes(ctx: Context, session: Session, conn: Connection, network: Networks,
                causes: dict[tuple[str, str], _Cause]) -> list[tuple[str, str]]:
    """The causes that took `conn` outside the network, added to `causes` (the
    originator's end first); their keys."""
    # Who opened it: its originator, unless the sniffer lost the handshake and the
    # listener's packet came first (newuser58: "The agent reached the media server").
    (orig_h, _), (resp_h, resp_p) = opened_ends(conn, session)
    orig_out, resp_out = not _in(orig_h, network), not _in(resp_h, network)
    roles = {host: which for which, (host, _) in role_ends(ctx, conn, session)}
    new: list[_Cause] = []
    ann = mismatched(ctx, session, resp_h, resp_p) if resp_out else None
    if resp_out:
        role = roles.get(resp_h)
        inside = _inside(ctx, session, role, network)
        kind = ("announced" if ann is not None and ann.message.endswith("_LISTEN") else
                "no_address" if role == "media" and inside is None else "reached")
        new.append(_Cause(kind, resp_h, role, inside=inside))
    if orig_out:
        role = roles.get(orig_h)
        inside = _inside(ctx, session, role, network)
        if resp_out and inside is not None:
            # Its route to the responder's address outside: that cause's consequence.
            new[0].followers[orig_h] = (role, inside)
        else:
            new.insert(0, _Cause("source" if inside is not None else "no_address",
                                 orig_h, role, inside=inside))
    keys = []
    for made in new:
        key = (made.kind, made.host)
        cause = causes.setdefault(key, made)
        if cause is not made:
            for host, follower in made.followers.items():
                cause.followers.setdefault(host, follower)
        cause.found.append((session, conn))
        if made.kind == "announced" and ann is not None and \
                all(a.frame != ann.frame for a in cause.announced):
            cause.announced.append(ann)
        keys.append(key)
    return keys


def _inside(ctx: Context, session: Session, role: str | None, network: Networks
            ) -> tuple[str, str] | None:
    """(address, which connections show it) of the host of `role` ("media", "agent")
    inside the network, as the session's connections show it; None when none does (or
    the role is unknown)."""
    if role is None:
        return None
    for uid in session_uids(session):
        conn = ctx.by_uid[uid]
        for which, (host, _) in role_ends(ctx, conn, session):
            if which == role and _in(host, network):
                return host, _which(session, conn)
    return None


def _which(session: Session, conn: Connection) -> str:
    if conn.uid == session.control_uid:
        return "its control connection's"
    return "the callback's" if conn.uid == session.callback_uid else "its data connections'"


def _report(ctx: Context, cause: _Cause, networks: Networks) -> None:
    """The finding of one cause."""
    network = _Named(networks, cause.host)
    found = cause.found
    sessions = list(dict.fromkeys(session.id for session, _ in found))
    session, first = found[0]
    what = (f"the {first.role} connection {connection_ends(first)}" if len(found) == 1 else
            f"{len(found)} connections of {len(sessions)} session"
            f"{'s' if len(sessions) > 1 else ''} ({', '.join(sessions[:5])}"
            f"{', ...' if len(sessions) > 5 else ''}; the first: "
            f"{connection_ends(first)})")
    runs = "runs" if len(found) == 1 else "run"
    message, fix = _WORDS[cause.kind](ctx, session, cause, network, what, runs)
    announced = [a.frame for a in cause.announced]
    ctx.add("control_off_backup_network", message + _followers(cause, network), fix,
            session=session if len(sessions) == 1 else None,
            conn=first if len(found) == 1 else None,
            ts=min([first.ts, *(a.ts for a in cause.announced)]),
            frames=(announced[:3] + [f for _, c in found[:3] for f in opening_frames(c)])[:6])


def _followers(cause: _Cause, network: _Named) -> str:
    """" The media server's end 10.78.0.1 follows from that ..." for the other ends
    outside that followed from the cause (each has an address inside)."""
    words = [f" The {_ROLE.get(role or '', 'other host')}'s end {host} follows from that: "
             f"its route to {cause.host} leaves by that interface, though it has "
             f"{inside[0]} inside {network} ({inside[1]} address)."
             for host, (role, inside) in cause.followers.items() if host != cause.host]
    return "".join(words)


def _announced(ctx: Context, session: Session, cause: _Cause, network: _Named,
               what: str, runs: str) -> tuple[str, str]:
    """The listener announced an address outside (the data interface setting)."""
    role = _ROLE.get(cause.role or "", "listener")
    anns = cause.announced
    ops = sorted({a.message.removeprefix("NDMP_") for a in anns})
    frames = frames_words([a.frame for a in anns[:5]], ranges=False,
                          plural=len(anns) > 1) + (", ..." if len(anns) > 5 else "")
    control = ctx.by_uid[session.control_uid]
    at = listened_at(ctx, session, anns[0]) or listener_host(anns[0], control)
    inside = _in(at, network.networks)
    message = (f"The {role} announced {cause.host}, outside the backup network {network}, "
               f"for its data connections ({' and '.join(ops)} "
               f"repl{'ies' if len(anns) > 1 else 'y'}, "
               f"{frames}), although the control connection reached it at {at}"
               f"{', inside it' if inside else ''}: {what} {runs} outside the network.")
    target = f"its address in {network}" + (f" ({at}, the one the control connection "
                                            "reached)" if inside else "")
    fix = (f"Make the {role} announce {target}: set its data interface / preferred network "
           f"for NDMP ({_BE}, the agent's preferred network; NDMP filers: the NDMP "
           "preferred interface), or correct --backup-network.")
    return message, fix


def _reached(ctx: Context, session: Session, cause: _Cause, network: _Named,
             what: str, runs: str) -> tuple[str, str]:
    """The connector reached its peer at an address outside."""
    own = f" ({cause.inside[0]}, {cause.inside[1]} address)" if cause.inside else ""
    if cause.role == "media":
        return (f"The agent reached the media server at {cause.host}, outside the backup "
                f"network {network}: {what} {runs} outside it.",
                f"Make the agent reach the media server at its address in {network}{own} "
                "(the address the job engine names, or the media server's name as the "
                "agent resolves it), or route that traffic through the backup network.")
    if cause.role == "agent":
        message = (f"The media server reached the agent at {cause.host}, outside the "
                   f"backup network {network}: {what} {runs} outside it.")
    else:
        message = (f"The host {cause.host} is outside the backup network {network}: "
                   f"{what} {runs} outside it.")
    return message, (f"Make the agent's name resolve to its address in {network}{own} on "
                     f"the media server ({_BE} / \"Use any available network interface\" "
                     "off), or route that traffic through the backup network.")


def _source(ctx: Context, session: Session, cause: _Cause, network: _Named,
            what: str, runs: str) -> tuple[str, str]:
    """The connector sent from an address outside though it has one inside."""
    role = _ROLE.get(cause.role or "", "host")
    address, where = cause.inside or ("", "")
    message = (f"The {role} sent from {cause.host}, outside the backup network {network}, "
               f"although it has {address} inside it ({where}): {what} {runs} outside it "
               f"with only the {role}'s end outside: the {role}'s source address is off the "
               "network, not the address it reached.")
    fix = (f"Make the {role} send from its address in {network} ({address}): its source "
           "address / interface binding for that traffic (the route's src or an `ip rule`, "
           "the NIC's metric: a Windows server sends from the interface its route takes; "
           f"{_BE}), or correct --backup-network.")
    return message, fix


def _no_address(ctx: Context, session: Session, cause: _Cause, network: _Named,
                what: str, runs: str) -> tuple[str, str]:
    """The host shows no address inside the network in its session."""
    role = _ROLE.get(cause.role or "", "host")
    message = (f"The {role} {cause.host} is outside the backup network {network}: {what} "
               f"{runs} outside it.")
    if cause.role == "media":
        return message, (f"Give the media server {cause.host} an address in {network} and "
                         f"make the backup use that interface ({_BE}), or correct "
                         "--backup-network.")
    return message, (f"Make the agent's name resolve to its address in {network} on the "
                     f"media server ({_BE} / \"Use any available network interface\" off), "
                     "or route that traffic through the backup network.")


_WORDS = {"announced": _announced, "reached": _reached, "source": _source,
          "no_address": _no_address}


def _in(host: str, networks: Networks) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


@fields_dataclass(frozen=True, slots=True)
class _Named:
    """The backup network as a finding about `host` names it: the configured networks of
    the host's IP version ("10.77.0.0/24" for an IPv4 host when fd77::/64 is given too),
    all of them when none is of its version."""

    networks: Networks
    host: str

    def __str__(self) -> str:
        version = ip_version(self.host, default=0)
        own = [n for n in self.networks if n.version == version] or list(self.networks)
        return " or ".join(map(str, own))
