"""Announced data addresses against the address the control connection reached.

An agent (or mover) announces in DATA_LISTEN / MOVER_LISTEN the address its peer must
connect to. When that is not the address the control connection reached on the same
host (a multi-homed host announcing another interface, or a NAT that translated the
control connection but not the address inside the NDMP message: NDMP carries addresses
in its payload, RFC 3022 section 4.1 / NDMP v4 section 3.8), the peer connects to an
address that cannot work, or reaches the port under another address.
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Allows, Announcement, Connection, Finding, Session, endpoint
from flowcheck.ndmp.collector import ANNOUNCERS
from flowcheck.sessions import listener_host
from flowcheck.sessions.classify import connector_host
from flowcheck.sessions.local import other_version
from flowcheck.verify.allow_rules import capitalised
from flowcheck.verify.announced_kind import loopback_attempts, special, special_fix, special_message
from flowcheck.verify.arrival import marked_both_ends
from flowcheck.verify.capture_host import proven_host
from flowcheck.verify.context import Context, opening_frames
from flowcheck.verify.evidence import is_open, judged
from flowcheck.verify.forwarded import announce_and_forward_fix, forward_allows
from flowcheck.verify.nat_callback import nat_callback, nat_fix, nat_words
from flowcheck.verify.shared import agent_kind, listened_at
from flowcheck.verify.ttl import ttl_word


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
    """What makes the listener announce the address its peer reaches it on; with an
    IPv6 control address, an IPv4 one (NDMP v4 cannot carry IPv6: trial 28 D4)."""
    if ":" in host:
        return (f"Make {listener} announce an IPv4 address of its own that {connector} "
                f"reaches (NDMP v4 TCP addresses are IPv4 only: it cannot announce {host}, "
                "the IPv6 address the control connection reached): set its data interface "
                "/ preferred network (Backup Exec: the agent's preferred network, \"Backup "
                "To Network Card\"; NDMP filers: the NDMP preferred interface), or give "
                f"{connector} a route to the announced address.")
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
                    attempts: list[Connection], *, answered_what: str | None = None,
                    other_host: str = "", other_proven: bool = True) -> None:
    """The connector's SYNs to the announced address went unanswered (or it never
    tried): the address, not a firewall rule, is the fault. An unspecified (0.0.0.0) or
    loopback address leads the connector to itself (flowcheck.verify.announced_kind):
    any outcome of its attempts, a refusal by its own stack too, is the address's.
    answered_what: what another host at the announced address did with the connection
    ("data connection to 10.77.0.13:6001 (C11) was refused: ...": it refused or
    reset it; flowcheck.verify.other_host), other_host: which host that address is;
    other_proven: whether that host is known to be another than the listener (else it
    may be an interface of the listener's own, and the fix says what to do then too)."""
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
    if other_version(ann.ip, host):
        # No NAT turns IPv4 into IPv6: NDMP v4 can announce nothing else (trial 28 D4).
        cause = (f"{listener} reached over IPv6 announced its IPv4 address, as it must "
                 "(NDMP v4 TCP addresses are IPv4 only), and that address is not one "
                 f"{connector} reaches")
    else:
        cause = (f"{listener} announces an interface {connector} cannot reach (a "
                 "multi-homed host announcing another interface), or a NAT between them "
                 "translated the control connection's address but not the address inside "
                 "the NDMP message")
    if answered_what is not None:
        _report_answered(ctx, session, ann, attempts, answered_what, other_host,
                         other_proven)
        return
    own = _own_callback(ctx, session, ann)
    if own is not None:
        # The agent's own address: it called the job engine back from it (trial 37b D4).
        # No connection to `host` on the data range is in the capture: whether the device
        # forwards that too it cannot show (it said "of the NDMP port alone").
        cause += (f". {ann.ip} is {listener}'s own address: its callback ({own.uid}) came "
                  f"from it, so {connector} reaches it at {host} through a port forward "
                  "or NAT of the NDMP port (whether it forwards the agent range too, this "
                  "capture does not show)")
    nat = None if own is not None or (other_host and other_proven) \
        else nat_callback(ctx, session, ann, host)
    if nat is not None:
        cause = ("a NAT between them translated the control connection's address but not "
                 "the address inside the NDMP message" + nat_words(ann, nat, host))
    elif other_host and own is None:
        cause += f". {ann.ip} is {other_host}"
    other = _maybe_other_agent(ctx, session, ann)
    fix = (_fix(listener, connector, host) if other is None
           else f"{_address_fix(listener, connector, host)}{other[1]}")
    allows = other[2] if other is not None else None
    if nat is not None and other is None:
        fix = nat_fix(ctx, ann, nat, host, connector)
    if own is not None:
        attempt = attempts[0] if attempts else None
        fix = announce_and_forward_fix(ctx, session, ann, attempt, (listener, connector, host))
        allows = forward_allows(ctx, session, ann, attempt)
    ctx.add("announced_address_mismatch",
            f"{op} ({frame_text(ann.frame)}) announced {where} for the data connection, but the "
            f"control connection reached {listener} at {host}; {what}. "
            f"{'Either the' if other else 'The'} announced address is the fault: {cause}."
            f"{other[0] if other else ''}", fix,
            session=session, conn=attempts[0] if attempts else None, frames=frames,
            ts=ann.ts, cause="data", allows=allows)


def _own_callback(ctx: Context, session: Session, ann: Announcement) -> Connection | None:
    """The session's callback when it came from the announced address of an agent that
    the control connection reached at another address (a DATA_LISTEN of the agent's):
    the address is the agent's own, and the control address a port forward's or NAT's
    in front of it (field check trial 37b: "another host, not one of this capture's NDMP
    agents ... opening firewall ports does not help", where a route to it did help)."""
    if ann.listener != "data" or session.callback_uid is None:
        return None
    callback = ctx.by_uid.get(session.callback_uid)
    return callback if callback is not None and callback.orig_h == ann.ip else None


def _report_answered(ctx: Context, session: Session, ann: Announcement,
                     attempts: list[Connection], what: str, other_host: str,
                     other_proven: bool) -> None:
    """report_mismatch for an announced address another host answered (refused, or
    opened and reset): that host's answer is the evidence, the address the cause
    (field check trial 35 D1: it read data_refused, "on 10.77.0.13 find what holds TCP
    port 6001", the other agent's port)."""
    listener, connector, host = _parties(ctx, session, ann.listener)
    op = ann.message.removeprefix("NDMP_")
    ctx.add("announced_address_mismatch",
            f"{op} ({frame_text(ann.frame)}) announced {endpoint(ann.ip, ann.port)} for the data "
            f"connection, but the control connection reached {listener} at {host}; "
            f"{connector}'s {what}. The announced address is the fault: {ann.ip} is not "
            f"{listener} at {host} but {other_host}; its answer is evidence, not the cause. "
            f"{capitalised(listener)} announces an address not its own: its data interface "
            "/ preferred network set to another host's address, or its host name resolving "
            "to another host (a wrong hosts file entry or DNS record, a configuration "
            "copied from another host).",
            f"{_address_fix(listener, connector, host)} Nothing needs changing on "
            f"{ann.ip}: its answer on port {ann.port} is not the job's fault, and opening "
            "firewall ports for the data range does not help." if other_proven else
            f"{_address_fix(listener, connector, host)} If {ann.ip} is an interface of "
            f"{listener} itself, its answer on port {ann.port} is the fault instead: "
            f"allow {connector}'s connections to the data range on that interface's "
            "firewall, or have the data service listen on it.",
            session=session, conn=attempts[0],
            frames=[ann.frame] + [f for c in attempts for f in _failure_frames(c)],
            ts=ann.ts, cause="data")


def _failure_frames(conn: Connection) -> list[int]:
    """The opening's frames and the RSTs, FINs and ICMP errors that ended it."""
    return sorted({*opening_frames(conn), *conn.rst_frames, *conn.fin_frames,
                   *conn.icmp_frames})


def _maybe_other_agent(ctx: Context, session: Session, ann: Announcement
                       ) -> tuple[str, str, Allows] | None:
    """(words, fix, what the fix's rule is for: Finding.allows, the announced host named
    as an agent) for a CONNECT request's announced host that no role is known for
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
    return words, fix, Allows((connector, ann.ip), agents=(ann.ip,))


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
                    if a.ip == announced_ip and a.used_by == uid), None) or next(
            (a for a in session.announced
             if a.ip == announced_ip and a.port == conn.resp_p), None)
        if ann is None:
            continue
        listener, connector, host = _parties(ctx, session, ann.listener)
        outcome = judged(ctx, conn)
        failure = failures.get(uid)
        works = (is_open(outcome) or outcome == "unknown") and failure is None
        side, side_words = _capture_side(ctx, session, ann.listener, conn)
        fix = _translated_fix(ctx, session, ann, side, failure)
        if works:
            ctx.add("announced_address_mismatch",
                    f"{ann.message.removeprefix('NDMP_')} ({frame_text(ann.frame)}) announced "
                    f"{endpoint(ann.ip, ann.port)}, but the control connection reached "
                    f"{listener} at {host}; {connector}'s data connection ({conn.uid}) "
                    f"reached port {ann.port} under the same address {host} the control "
                    f"connection arrived at, and opened: the job's connection worked "
                    f"through a NAT that translates {ann.ip} to {host} (this connection "
                    f"was matched to the announcement by its port).{side_words}",
                    fix, session=session, conn=conn,
                    frames=[ann.frame, *opening_frames(conn)], ts=ann.ts, cause=None)
            continue
        how = f"it failed: {outcome.replace('_', ' ')}"
        if failure is not None:
            how += f", reported as {failure.code}"
        ctx.add("announced_address_mismatch",
                f"{ann.message.removeprefix('NDMP_')} ({frame_text(ann.frame)}) announced "
                f"{endpoint(ann.ip, ann.port)}, but the control connection reached "
                f"{listener} at {host}; {connector} reached port {ann.port} at {host} "
                f"instead ({conn.uid}; {how}): a NAT rewrote the address, so this "
                f"connection was matched to the announcement by its port.{side_words}",
                fix, session=session, conn=conn,
                frames=[ann.frame, *opening_frames(conn)], ts=ann.ts, cause="data",
                reading="carries_refusal" if failure is not None
                and failure.code.endswith("_refused") else "",
                allows=failure.allows if failure is not None else None)


def _capture_side(ctx: Context, session: Session, listener_kind: str,
                  conn: Connection) -> tuple[str, str]:
    """Which side of a NAT the capture of an address-matched data connection (conn) was
    taken on, by the TTLs or the Linux cooked marks (flowcheck.verify.capture_host.
    proven_host): ("listener", words) on the
    listener's, where a NAT in front of it shows the control and the data connection
    under its inside address (trial 26 D1: the agent announcing its public address, the
    standard setup); ("connector", words) on the connector's, which then opened the
    control connection to that address itself, or a merged capture holding the
    connector's own (connector_leaving); ("", "") when they do not tell."""
    control = ctx.by_uid[session.control_uid]
    listener_host, connector_host = ((control.resp_h, control.orig_h) if listener_kind == "data"
                                     else (control.orig_h, control.resp_h))
    found = proven_host(ctx, listener_host, connector_host)
    listener, connector, _ = _parties(ctx, session, listener_kind)
    if found is None and connector_leaving(ctx, control, conn, connector_host):
        ttl = ttl_word(connector_host) + ("" if control.orig_ttl is None
                                          else f", {control.orig_ttl}")
        return "connector", (
            f" This capture holds {connector.rsplit(' ', 1)[0]}'s own capture (its Linux "
            f"cooked headers mark the SYNs of the control connection and of {conn.uid} "
            f"each captured leaving {connector_host} (outgoing) and again arriving at "
            f"{listener_host}, the host it was addressed to, at one {ttl}: two hosts' "
            "captures merged, no router between them): "
            f"{connector} opened its control connection to {listener_host} itself, and a "
            "translation of its own (a capture on it sees its packets after its NAT "
            "rules) sent the data connection there.")
    if found is None:
        return "", (f" This capture does not show which address {connector} uses for "
                    f"{listener}: the announced one (a NAT in front of {listener} "
                    f"translating both connections) or {listener_host} (a NAT that "
                    "rewrote the data connection only).")
    name = listener  # "the agent", "the media server"
    if found.host == listener_host:
        return "listener", (
            f" This capture was taken on {name}'s side "
            f"({found.words}), where a NAT in front of {name} "
            "shows every connection under the inside address it translates to: if "
            f"{connector} addresses {name} at the announced address, the NAT translated "
            "the control connection and the data connection alike, and the announcement "
            f"is the right one ({name.removeprefix('the ')} behind a NAT announcing its public "
            "address). One capture point on this side cannot show which address "
            f"{connector} uses, so the mismatch stays an error until that is checked.")
    return "connector", (
        f" This capture was taken on {connector.rsplit(' ', 1)[0]}'s "
        f"side ({found.words}): {connector} opened its control "
        f"connection to {listener_host} itself, and a translation of its own (the capture "
        "sees its packets after its NAT rules) sent the data connection there.")


def connector_leaving(ctx: Context, control: Connection, conn: Connection,
                      connector_addr: str) -> bool:
    """Whether a merged Linux cooked capture holds the connector's own capture of both
    connections: the connector opened the control connection and the data connection,
    and the SYNs of each are marked captured leaving it and arriving at the host they
    were addressed to at one TTL, none at another or arriving elsewhere (Connection.
    orig_syn_ways SENT | ARRIVED: verify.arrival.marked_both_ends), with no copy in the set
    at another TTL than its original and no capture of one host's several interfaces
    (Context.routed_points, interface_copies). The part marked leaving was taken on the
    connector, which sees its packets after its own NAT rules, as a capture on it alone
    does (lab matrix seed 120 run 19: both hosts' `tcpdump -i any` merged, the media
    server's own DNAT, read "This capture does not show which address the media server
    10.77.0.1 uses for the agent")."""
    return (control.orig_h == connector_addr and conn.orig_h == connector_addr
            and marked_both_ends(ctx, control) and marked_both_ends(ctx, conn))


def _translated_fix(ctx: Context, session: Session, ann: Announcement, side: str,
                    failure: Finding | None) -> str:
    """The fix of an address-matched data connection: the listener must announce the
    address its peer opens the control connection to. Only a capture on the connector's
    side shows which that is; elsewhere both readings are given (trial 26 D1: telling an
    agent behind a NAT to announce its inside address breaks a working job)."""
    listener, connector, host = _parties(ctx, session, ann.listener)
    then = "" if failure is None else \
        f" The connection that reached the port failed as well ({failure.code}): {failure.fix}"
    if side == "connector":
        return _address_fix(listener, connector, host) + then
    name = listener  # "the agent", "the media server"
    if ann.listener == "data":
        full, short = (f"{connector} opens its control connection to", "it opens it to")
        forwarded = (f"{ctx.ranges('agent')} as well as port {ctx.config.ndmp_port}")
    else:
        full, short = (f"{connector} sees the control connection come from",
                       "it sees it come from")
        forwarded = ctx.ranges("media")
    keep = (f"{full} {ann.ip} (a NAT in front of {name} translates it to {host}), the "
            f"announcement is right: keep it, and keep the NAT forwarding {ann.ip}'s "
            f"{forwarded} to {host}.")
    change = (f"{host}, make {listener} announce {host}: set its data interface / "
              "preferred network (Backup Exec: the agent's preferred network, \"Backup To "
              "Network Card\"; NDMP filers: the NDMP preferred interface), so the job does "
              "not depend on a translation of the data connection.")
    parts = ([f"If {keep}", f"If {short} {change}"] if side == "listener"
             else [f"If {full} {change}", f"If {short} {keep.removeprefix(full + ' ')}"])
    # A capture on the connector sees its packets after its own NAT rules (lab matrix
    # seed 117 run 6: the DNAT on the media server itself, its capture in the set).
    where = (f"The job's settings ({name}'s address in it) show which address it uses, "
             f"and so does a capture on {connector} unless its own NAT rules translate it "
             "(a capture there sees its packets after them; its NAT table shows them).")
    return " ".join([*parts, where]) + then
