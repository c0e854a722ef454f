"""An announced data address that is not the listener's and whose data connection failed
(field check trial 35 D1).

A listener announces in DATA_LISTEN / MOVER_LISTEN its own address; one that is not the
address the control connection reached it at (flowcheck.verify.addresses.mismatched) and
to which the data connection failed in any way is the fault: unanswered (no host there,
or one the connector cannot reach), or answered by a host (refused with a RST or an ICMP
error, opened and then reset before any data) that is not the listener the control
connection reached: another host of the network, often another NDMP agent whose address
the agent announces (its data interface / preferred network set to an address not its
own, its host name resolving to another host). The refusal or reset by that host is
evidence, not the cause: it read data_refused, "on 10.77.0.13 find what holds TCP port
6001", and data_aborted, "reset by ... the agent 10.77.0.21", sending the administrator
to the wrong host's port.

Kept as the connection's own failure: an announced address the connector reaches from
an address of its own on that network (flowcheck.verify.announced_kind.own_address_on_it:
another interface of the listener, trial 19 D3) or that the configuration gives the
listener behind a NAT (flowcheck.verify.nat_listener.configured_listener, trial 31 D1),
unless the address is another NDMP agent's of this capture (a session's control
connection reached it); an announced address the listener sent from itself in a
connection of its sessions with the connector (its callback, another data connection:
_listener_sent_from), its own second interface whose firewall rejected the connection
(review of trial 35 D1: it read "10.79.0.2 is not the agent ... but another host");
and a CONNECT request's endpoint that a host answered (a three-way job's other agent may
listen there: flowcheck.verify.addresses._maybe_other_agent).
"""

from __future__ import annotations

from flowcheck.model import Announcement, Connection, Session, endpoint
from flowcheck.ndmp.collector import ANNOUNCERS
from flowcheck.verify.addresses import mismatched, report_mismatch
from flowcheck.verify.announced_kind import own_address_on_it, special
from flowcheck.verify.context import Context, session_uids
from flowcheck.verify.details import failure_words
from flowcheck.verify.evidence import judged
from flowcheck.verify.nat_listener import configured_listener
from flowcheck.verify.stack_own import own_other_version


def wrong_address(ctx: Context, session: Session, attempts: list[Connection]
                  ) -> Announcement | None:
    """The session's announcement of the endpoint these failed attempts (to one
    endpoint, in capture order) went to, when its address is the fault (see the module
    docstring); None otherwise."""
    first = attempts[0]
    ann = mismatched(ctx, session, first.resp_h, first.resp_p)
    if ann is None or special(ann.ip):
        return ann
    if (ann.message, False) in ANNOUNCERS and judged(ctx, first) != "unanswered":
        return None  # a three-way job's other agent may refuse it: data_refused's
    if _agent_sessions(ctx, session, ann.ip):
        return ann
    # An IPv4 address announced over an IPv6 control connection, as NDMP v4 must, that
    # the capture or configuration proves the listener's own: the connection's own
    # failure (field check 46; verify.stack_own).
    if own_other_version(ctx, session, ann, attempts) is not None:
        return None
    # Its own address: the refusal or reset is its own (review 25b). Not for SYNs left
    # unanswered: an address the listener sends from behind a NAT (the merged captures of
    # both sides show it) may still be one the connector cannot reach (trial 26).
    if any(judged(ctx, c) != "unanswered" for c in attempts) \
            and _listener_sent_from(ctx, session, ann, attempts):
        return None
    if own_address_on_it(ctx, session, first, ann) is not None \
            or configured_listener(ctx, session, ann) is not None:
        return None
    return ann


def report_wrong_address(ctx: Context, session: Session, attempts: list[Connection]
                         ) -> bool:
    """announced_address_mismatch for failed attempts to one endpoint whose announced
    address is the fault (wrong_address), naming the host that answered; False (nothing
    reported) when the address is not the fault."""
    ann = wrong_address(ctx, session, attempts)
    if ann is None:
        return False
    if special(ann.ip):
        report_mismatch(ctx, session, ann, attempts)
        return True
    answered = [c for c in attempts if judged(ctx, c) != "unanswered"]
    what = None
    if answered:
        conn = answered[0]
        tries = f" ({len(attempts)} attempts)" if len(attempts) > 1 else ""
        what = (f"data connection to {endpoint(ann.ip, ann.port)} "
                f"({conn.uid}) was {failure_words(conn)}{tries}")
    words, proven = other_host_words(ctx, session, ann.ip)
    report_mismatch(ctx, session, ann, attempts, answered_what=what, other_host=words,
                    other_proven=proven)
    return True


def other_host_words(ctx: Context, session: Session, ip: str) -> tuple[str, bool]:
    """Which host the announced address is: "another NDMP agent of this capture
    (sessions S1, S2 reached it on its NDMP port 10000)", "another remote agent as
    configured (remote_agents), though no session of this capture reached it", "a media
    server ...", or "another host, not one of this capture's NDMP agents ..."; and
    whether it is proven another than the listener (False for the last: an unknown host
    may be an interface of the listener itself, review 25b)."""
    seen = _agent_sessions(ctx, session, ip)
    if seen:
        ids = ", ".join(s.id for s in seen)
        ports = sorted({ctx.by_uid[s.control_uid].resp_p for s in seen})
        return (f"another NDMP agent of this capture (session{'s' if len(seen) > 1 else ''} "
                f"{ids} reached it on its NDMP port {', '.join(map(str, ports))})", True)
    if ip in ctx.config.remote_agents:
        return ("another remote agent as configured (remote_agents), though no session "
                "of this capture reached it", True)
    if ctx.host_role(ip) == "media":
        return "a media server (configured, or seen opening control connections)", True
    return ("another host, not one of this capture's NDMP agents (or another interface of "
            "the agent, on which its data service does not listen)", False)


def _agent_sessions(ctx: Context, session: Session, ip: str) -> list[Session]:
    """The other sessions whose control connection reached an NDMP agent at ip."""
    control = ctx.by_uid[session.control_uid]
    if ip in (control.orig_h, control.resp_h):
        return []
    return [s for s in ctx.sessions if s is not session
            and ctx.by_uid[s.control_uid].resp_h == ip]


def _listener_sent_from(ctx: Context, session: Session, ann: Announcement,
                        attempts: list[Connection]) -> bool:
    """Whether the listener sent packets from ann.ip in a connection (other than the
    failed attempts) of a session between the same two control addresses: a callback or
    data connection it opened from there, or one it answered there (a SYN-ACK). Such an
    address is the listener's own, not another host's."""
    control = ctx.by_uid[session.control_uid]
    listener, connector = ((control.resp_h, control.orig_h) if ann.listener == "data"
                           else (control.orig_h, control.resp_h))
    skip = {c.uid for c in attempts}
    for other in ctx.sessions:
        mine = ctx.by_uid[other.control_uid]
        if {mine.orig_h, mine.resp_h} != {listener, connector}:
            continue
        for uid in session_uids(other):
            conn = ctx.by_uid.get(uid)
            if conn is None or uid in skip:
                continue
            if conn.orig_h == ann.ip and conn.resp_h == connector:
                return True
            if conn.resp_h == ann.ip and conn.orig_h == connector and conn.synack_frames:
                return True
    return False
