"""An agent behind a NAT, read from its callback: announced_address_mismatch's NAT case.

An agent the media server reaches at one address (the control connection's, a NAT's
destination translation to the agent) that calls the job engine back from a third
address, neither that one nor the one it announced, through a router (its packets
arrive with a TTL below every initial value: RFC 791 3.1), most likely sits behind a NAT
that forwards the first address to it and gives its own connections the third (a source
NAT, "masquerade"). The announced address is then the agent's own inside address, which
the NAT leaves as it is inside the NDMP message (RFC 3022 section 4.1). The fix is the
NAT's (forward the agent range as well as the NDMP port) and the announcement's (the
address the media server reaches, which the agent does not own: its NAT setting, where
it has one, or an NDMP-aware gateway), not the agent's data interface / preferred
network, which can name only an address the agent has (newuser66 item 4:
E/nat-media.pcap read "set its data interface / preferred network" first and "10.66.2.2
is another host, not one of this capture's NDMP agents"). An agent with a second
interface on the media server's own segment calls back at an initial TTL: not this case.
"""

from __future__ import annotations

from flowcheck.model import Announcement, Connection, Session
from flowcheck.model.traffic import INITIAL_TTLS
from flowcheck.sessions.local import other_version
from flowcheck.verify.context import Context
from flowcheck.verify.ttl import ttl_word


def nat_callback(ctx: Context, session: Session, ann: Announcement, host: str
                 ) -> Connection | None:
    """The session's callback when it reads an agent behind a NAT (module docstring):
    ann is a DATA_LISTEN's whose address is not host (the agent's control address), and
    the callback came from a third address of the same IP version, its TTL and that of
    the agent's control replies both below any initial value. None otherwise."""
    if ann.listener != "data" or session.callback_uid is None:
        return None
    callback = ctx.by_uid.get(session.callback_uid)
    control = ctx.by_uid[session.control_uid]
    if callback is None or callback.orig_h in (host, ann.ip) \
            or other_version(callback.orig_h, host) or other_version(ann.ip, host):
        return None
    ttls = (callback.orig_ttl, control.resp_ttl)
    if any(t is None or t in INITIAL_TTLS for t in ttls):
        return None
    return callback


def nat_words(ann: Announcement, callback: Connection, host: str) -> str:
    """The cause's sentence: what the callback shows and which address ann.ip is."""
    word = ttl_word(callback.orig_h)
    return (f". The agent's callback ({callback.uid}) came from {callback.orig_h}, neither "
            f"{host} nor the announced {ann.ip}, through a router ({word} "
            f"{callback.orig_ttl}): most likely a NAT in front of the agent, which forwards "
            f"{host} to it and gives its own connections {callback.orig_h}. {ann.ip} is "
            "then the address the agent announced, its own behind that NAT, which the NAT "
            "does not translate inside the NDMP message")


def nat_fix(ctx: Context, ann: Announcement, callback: Connection, host: str,
            connector: str) -> str:
    """The fix when nat_callback found the NAT: the NAT's forward and the announcement
    first, a route without NAT as the other way; the data interface / preferred network
    left out (the agent does not own host)."""
    data = ctx.ranges("agent")
    port = ctx.config.ndmp_port
    return (f"On the NAT in front of the agent (it forwards {host}'s NDMP port {port} to "
            f"the agent and shows the agent's connections as {callback.orig_h}), forward "
            f"{host}'s ports {data} to {ann.ip} as well, and make the data connection go "
            f"to {host}: an NDMP-aware gateway that rewrites the address inside "
            f"DATA_LISTEN replies, or the agent's own setting for the address it announces "
            f"behind a NAT, where it has one; or connect {connector} and the agent without "
            f"NAT (a route to {ann.ip}, allowed on any firewall between). The agent's data "
            f"interface / preferred network cannot name {host}: that address is the NAT's, "
            "not the agent's. Opening firewall ports for the data range alone does not "
            "help.")
