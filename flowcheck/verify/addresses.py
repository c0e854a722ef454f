"""Announced data addresses against the address the control connection reached.

An agent (or mover) announces in DATA_LISTEN / MOVER_LISTEN the address its peer must
connect to. When that is not the address the control connection reached on the same
host (a multi-homed host announcing another interface, or a NAT that translated the
control connection but not the address inside the NDMP message: NDMP carries addresses
in its payload, RFC 3022 section 4.1 / NDMP v4 section 3.8), the peer connects to an
address that cannot work, or reaches the port under another address.
"""

from __future__ import annotations

from flowcheck.model import Announcement, Connection, Finding, Session, endpoint
from flowcheck.ndmp.collector import ANNOUNCERS
from flowcheck.sessions import listener_host
from flowcheck.sessions.classify import connector_host
from flowcheck.verify.announced_kind import loopback_attempts, special, special_fix, special_message
from flowcheck.verify.context import Context, opening_frames
from flowcheck.verify.evidence import is_open, judged
from flowcheck.verify.shared import agent_kind, listened_at


def mismatched(ctx: Context, session: Session, ip: str, port: int) -> Announcement | None:
    """The session's announcement of ip:port when ip is not the listener's control
    address: in a three-way job the address the DMA's control connection reached the
    NDMP server whose LISTEN reply (in another session) named the endpoint."""
    control = ctx.by_uid[session.control_uid]
    return next((a for a in session.announced if (a.ip, a.port) == (ip, port)
                 and a.ip != (listened_at(ctx, session, a) or listener_host(a, control))),
                None)


def _parties(ctx: Context, session: Session, listener: str) -> tuple[str, str, str]:
    """(listener words, connector words, control address of the listener); listener:
    "data" (the agent listens) or "mover" (the media server does)."""
    control = ctx.by_uid[session.control_uid]
    host = control.resp_h if listener == "data" else control.orig_h
    if listener == "data":
        return "the agent", f"the media server {control.orig_h}", host
    return "the media server", f"the agent {control.resp_h}", host


def _fix(listener: str, connector: str, host: str, failure: Finding | None = None) -> str:
    """The address fix; with the failure finding of the connection that reached the port
    under the control address (a NAT), that finding's fix too: there a firewall rule
    does help, so the words that say it does not are left out."""
    address = _address_fix(listener, connector, host)
    if failure is None:
        return f"{address} Opening firewall ports for the data range does not help."
    return (f"{address} The connection that reached the port failed as well "
            f"({failure.code}): {failure.fix}")


def _address_fix(listener: str, connector: str, host: str) -> str:
    """What makes the listener announce the address its peer reaches it on."""
    return (f"Make {listener} announce the address {connector} reaches it on ({host}): "
            "set its data interface / preferred network (Backup Exec: the agent's "
            "preferred network, \"Backup To Network Card\"; NDMP filers: the NDMP "
            "preferred interface). If a NAT sits between them, NDMP needs NDMP-aware "
            "translation (a gateway that rewrites the address inside DATA_LISTEN / "
            "MOVER_LISTEN replies), or connect them without NAT.")


def elsewhere(ctx: Context, session: Session, conn: Connection, rule: str
              ) -> tuple[str, str] | None:
    """(words, fix) for a failed data connection matched by direction and ports (its
    announcement cut or lost) that went to an address neither a session nor the
    configuration gives the hosts: likely the unseen announcement named an address that
    is not the listener's control address, as announced_address_mismatch reports when
    it can read it. rule: the failure's own firewall fix, kept (the address may be
    right and the port blocked). None for any other connection."""
    listener_kind = session.port_listener.get(conn.uid)
    if listener_kind is None or conn.resp_h in ctx.media_hosts | ctx.agent_hosts:
        return None
    listener, connector, host = _parties(ctx, session, listener_kind)
    words = (f" It went to {conn.resp_h}, not to the address the control connection "
             f"reached {listener} at ({host}): the announcement the capture cannot show "
             f"most likely named {conn.resp_h}, an interface {connector} cannot reach (a "
             "multi-homed host announcing another interface), or a NAT between them "
             "translated the control connection's address but not the address inside the "
             "NDMP message.")
    fix = (f"{_address_fix(listener, connector, host)} If {conn.resp_h} is the address "
           f"to use, {rule}.")
    return words, fix


def report_mismatch(ctx: Context, session: Session, ann: Announcement,
                    attempts: list[Connection]) -> None:
    """The connector's SYNs to the announced address went unanswered (or it never
    tried): the address, not a firewall rule, is the fault. An unspecified (0.0.0.0) or
    loopback address leads the connector to itself (flowcheck.verify.announced_kind):
    any outcome of its attempts, a refusal by its own stack too, is the address's."""
    listener, connector, host = _parties(ctx, session, ann.listener)
    if special(ann.ip):
        tried = attempts or loopback_attempts(ctx, ann)
        ctx.add("announced_address_mismatch",
                special_message(ann, listener, connector, host,
                                [(c, judged(ctx, c)) for c in tried]),
                special_fix(ann.ip, listener, connector, host), session=session,
                conn=tried[0] if tried else None,
                frames=[ann.frame] + [f for c in tried for f in opening_frames(c)],
                ts=ann.ts, cause="data")
        return
    op = ann.message.removeprefix("NDMP_")
    where = endpoint(ann.ip, ann.port)
    if attempts:
        tries = f" ({len(attempts)} attempts)" if len(attempts) > 1 else ""
        what = (f"{connector} sent its SYNs to {where} and got no answer{tries}")
        frames = [ann.frame] + [f for c in attempts for f in opening_frames(c)]
    else:
        what = f"no connection to {where} was seen"
        frames = [ann.frame]
    other = _maybe_other_agent(ctx, session, ann)
    ctx.add("announced_address_mismatch",
            f"{op} (frame {ann.frame}) announced {where} for the data connection, but the "
            f"control connection reached {listener} at {host}; {what}. "
            f"{'Either the' if other else 'The'} announced "
            f"address is the fault: {listener} announces an interface {connector} cannot "
            "reach (a multi-homed host announcing another interface), or a NAT between "
            "them translated the control connection's address but not the address inside "
            f"the NDMP message.{other[0] if other else ''}",
            _fix(listener, connector, host) if other is None
            else f"{_address_fix(listener, connector, host)}{other[1]}",
            session=session, conn=attempts[0] if attempts else None, frames=frames,
            ts=ann.ts, cause="data")


def _maybe_other_agent(ctx: Context, session: Session, ann: Announcement
                       ) -> tuple[str, str] | None:
    """(words, fix) for a CONNECT request's announced host that no role is known for
    (neither configured nor seen: Context.host_role): it may as well be the other NDMP
    server of a three-way job (a tape agent's mover for DATA_CONNECT) whose control
    connection from the DMA is off this capture's path; then the address is right and a
    firewall drops the connection, so the fix must not rule a firewall rule out (trial 27
    D1). None for any other announcement."""
    if (ann.message, False) not in ANNOUNCERS or special(ann.ip) \
            or ctx.host_role(ann.ip) is not None:
        return None
    control = ctx.by_uid[session.control_uid]
    connector = connector_host(ann, control)
    agent = agent_kind(ann)
    where = endpoint(ann.ip, ann.port)
    words = (f" Or {ann.ip} is another host, the {agent} of a three-way job (the DMA "
             f"{control.orig_h} drives it on a control connection of its own, which this "
             "capture does not hold): then the address is right and a firewall drops the "
             "connection.")
    fix = (f" If {ann.ip} is the {agent} of a three-way job, allow TCP from {connector} to "
           f"{where} inbound on {ann.ip}, outbound on {connector} and on any firewall "
           f"between them; name it with --remote-agent {ann.ip} (remote_agents) and "
           "flowcheck judges the connection as that job's.")
    return words, fix


def check_address_matched(ctx: Context, session: Session,
                          failures: dict[str, Finding] | None = None) -> None:
    """Data connections that reached an announced port under the listener's control
    address (sessions matched them by port): a NAT rewrote the address. failures: the
    finding already reported on such a connection (data_unanswered, data_refused,
    handshake_incomplete, data_aborted) by its uid; the mismatch names it and adds its
    fix to the address fix."""
    failures = failures or {}
    for uid, announced_ip in session.address_matched:
        conn = ctx.by_uid[uid]
        ann = next((a for a in session.announced
                    if a.ip == announced_ip and a.port == conn.resp_p), None)
        if ann is None:
            continue
        listener, connector, host = _parties(ctx, session, ann.listener)
        outcome = judged(ctx, conn)
        failure = failures.get(uid)
        works = (is_open(outcome) or outcome == "unknown") and failure is None
        how = ("it opened: the job works only while that translation stays in place"
               if works else f"it failed: {outcome.replace('_', ' ')}")
        if failure is not None:
            how += f", reported as {failure.code}"
        ctx.add("announced_address_mismatch",
                f"{ann.message.removeprefix('NDMP_')} (frame {ann.frame}) announced "
                f"{endpoint(ann.ip, ann.port)}, but the control connection reached "
                f"{listener} at {host}; {connector} reached port {ann.port} at {host} "
                f"instead ({conn.uid}; {how}): a NAT rewrote the address, so this "
                "connection was matched to the announcement by its port.",
                _fix(listener, connector, host, failure), session=session, conn=conn,
                frames=[ann.frame, *opening_frames(conn)],
                ts=ann.ts, cause=None if works else "data")
