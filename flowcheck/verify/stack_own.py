"""An announced IPv4 address proven the listener's own beside an IPv6 control connection
(field check 46).

Over an IPv6 control connection every NDMP v4 announcement is IPv4 (NDMP_ADDR_TCP holds
IPv4 only: trial 28 D4), so an announced address of the other IP version than the
listener's control address is no fault by itself. When the capture or the configuration
proves it the listener's own (flowcheck.sessions.stack_addresses: its callback came from
it, a data connection of the session or of another session between the same hosts opened
at it, or the configuration names the listener's role by that address and its control
address alone), a failed data connection to it is judged by its TCP outcome, as in
IPv4 (data_refused, data_unanswered, handshake_incomplete), not put on the address
(announced_address_mismatch read "make the agent announce an IPv4 address of its own"
of the agent's own address, though a router or the agent's own port refused it). Without
such proof the address stays the fault.
"""

from __future__ import annotations

from collections.abc import Collection

from flowcheck.frame_names import frame_text
from flowcheck.model import Announcement, Connection, Session, endpoint
from flowcheck.sessions.local import ip_version, other_version, same_host
from flowcheck.sessions.stack_addresses import AddressProof, Side, address_proofs
from flowcheck.verify.announced_kind import special
from flowcheck.verify.context import Context


def _side(ann: Announcement) -> Side:
    """The announcing listener's host: the agent for DATA_LISTEN, the media server for
    MOVER_LISTEN."""
    return "agent" if ann.listener == "data" else "media"


def _listener_host(ctx: Context, session: Session, ann: Announcement) -> str:
    """The control connection's address of the announcement's listener (the agent for
    DATA_LISTEN's endpoint: the connection's responder; the media server's mover: its
    originator)."""
    control = ctx.by_uid[session.control_uid]
    return control.resp_h if ann.listener == "data" else control.orig_h


def own_other_version(ctx: Context, session: Session, ann: Announcement,
                      attempts: Collection[Connection] = ()) -> str | None:
    """Words that prove ann.ip the listener's own address of the other IP version than
    its control address ("its callback C2 came from it", "the data connection C4 to it
    opened", "the configuration names the agent by 10.77.1.2 and fd77:1::2 alone
    (remote_agents)"); None when ann.ip is of the control address's version, 0.0.0.0 or
    loopback, or nothing proves it. attempts: the failed connections to it, no proof
    of themselves."""
    side = _side(ann)
    host = _listener_host(ctx, session, ann)
    if special(ann.ip) is not None or not other_version(ann.ip, host):
        return None
    skip = {c.uid for c in attempts}
    proofs = address_proofs(session, ctx.host_sessions(session, side), ctx.by_uid, ctx.config,
                            side, skip)
    proof = next((proof for proof in proofs if same_host(proof.address, ann.ip)), None)
    return None if proof is None else _proof_words(proof, session, side, host)


def _proof_words(proof: AddressProof, session: Session, side: Side, host: str) -> str:
    """"its callback C2 came from it", "the data connection C4 of session S2 to it
    opened", "the configuration names the agent by 10.77.1.2 and fd77:1::2 alone
    (remote_agents): one dual-stack host", for the proof address_proofs found of an address
    of the session's listener on `side` (host: its control address)."""
    if proof.conn is None:
        key = "remote_agents" if side == "agent" else "media_servers"
        return (f"the configuration names the {'agent' if side == 'agent' else 'media server'}"
                f" by {proof.address} and {host} alone ({key}): one dual-stack host")
    conn, other = proof.conn, proof.session
    whose = "" if other is None or other is session else f" of session {other.id}"
    if proof.how == "callback":
        way = "came from it" if side == "agent" else "went to it"
        return f"{'its' if not whose else 'the'} callback {conn.uid}{whose} {way}"
    way = "to it" if same_host(conn.resp_h, proof.address) else "from it"
    return f"the data connection {conn.uid}{whose} {way} opened"


def own_note(ctx: Context, session: Session, ann: Announcement,
             attempts: Collection[Connection]) -> tuple[str, str] | None:
    """(words, fix note) a failed data connection's finding adds when own_other_version
    proves the announced address the listener's: why the address is no fault, and that
    the rules must name the IPv4 addresses. None without such proof."""
    proof = own_other_version(ctx, session, ann, attempts)
    if proof is None:
        return None
    listener = "the agent" if ann.listener == "data" else "the media server"
    host = _listener_host(ctx, session, ann)
    return (f" {ann.ip} is {listener}'s own IPv4 address ({proof}): the control connection "
            f"reached {listener} over IPv6 at {host}, and NDMP v4 TCP addresses are IPv4 "
            f"only, so {listener} announced it ({ann.message.removeprefix('NDMP_')}, "
            f"{frame_text(ann.frame)}); the address is not the fault.",
            f" NDMP v4 cannot announce {host} (an IPv6 address): the data connections run "
            "over IPv4, so the rules must name the hosts' IPv4 addresses too.")


def stands_for_control(ctx: Context, session: Session, ann: Announcement) -> bool:
    """Is ann the unspecified address 0.0.0.0 announced over an IPv6 control connection?
    NDMP v4 can announce no IPv6 address, and the peers that do this mean "the control
    connection's address" by it (captures/lab-trial28-dualstack/v6-announce-any)."""
    return (special(ann.ip) == "unspecified"
            and ip_version(_listener_host(ctx, session, ann)) == 6)


def unseen_no_evidence(ctx: Context, session: Session, ann: Announcement) -> bool:
    """Is a data connection to ann that a capture lacking the connector's direction does
    not hold no evidence against the address (announced_address_mismatch)? So for 0.0.0.0
    over an IPv6 control connection (stands_for_control) and for an IPv4 address proven
    the listener's own (own_other_version): the connection may have gone to the
    listener, in the direction the capture lacks (field check 46: "the attempt stays on
    its own host, off the wire" of a media server whose packets the capture held none
    of)."""
    return stands_for_control(ctx, session, ann) \
        or own_other_version(ctx, session, ann) is not None


def stand_in(ctx: Context, session: Session, ann: Announcement) -> tuple[str, str]:
    """(the endpoint a connection to ann goes to, a note for the announcing words): for
    an announcement stands_for_control accepts, ("[fd77::2]:6001", " (over IPv6 the
    control connection's address fd77::2 stands for it)"); else (ann's endpoint,
    "")."""
    if not stands_for_control(ctx, session, ann):
        return endpoint(ann.ip, ann.port), ""
    host = _listener_host(ctx, session, ann)
    return (endpoint(host, ann.port),
            f" (over IPv6 the control connection's address {host} stands for it)")


def stood_in_host(ctx: Context, session: Session, ann: Announcement) -> str:
    """The address a connection to ann goes to, as stand_in's endpoint names it."""
    return _listener_host(ctx, session, ann) if stands_for_control(ctx, session, ann) \
        else ann.ip
