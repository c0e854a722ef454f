"""Words for a callback tied under another address than the control connection's.

flowcheck.sessions.callback_elsewhere ties such a callback (Session.callback_elsewhere):
step 2 says which end differs and why it may (a NAT, another interface, IPv4 beside an
IPv6 control connection), and a failed one to another address of the media server than
the control connection came from names that as the cause: the job engine names an
address the agent cannot reach, most often its private one behind a NAT (trial 19, D5),
where opening the media range changes nothing.
"""

from __future__ import annotations

from flowcheck.config import format_ranges
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session
from flowcheck.sessions.callback_elsewhere import job_engine_message
from flowcheck.sessions.local import ip_version
from flowcheck.verify.context import Context


def elsewhere_note(ctx: Context, session: Session, conn: Connection) -> str:
    """Step 2's note for a callback under another address: "" for any other."""
    if not session.callback_elsewhere or conn.uid != session.callback_uid:
        return ""
    ends = []
    if conn.orig_h != session.remote_agent:
        ends.append(f"from {conn.orig_h}, not the agent's control connection address "
                    f"{session.remote_agent}")
    if conn.resp_h != session.media_server:
        ends.append(f"to {conn.resp_h}, not the media server's control connection address "
                    f"{session.media_server}")
    message = job_engine_message(ctx.stream_by_uid.get(session.control_uid))
    after = (f"the job engine's vendor message ({frame_text(message.frame)})"
             if message is not None else "the control connection opened")
    return (f"under another address: {' and '.join(ends)} ({_cause(session, conn)}); taken "
            f"as the callback, the only connection from the agent range into the media range "
            f"after {after} whose ends no other session uses or are known addresses of "
            "these hosts (from their connections, another job of the same host, or the "
            "configuration)")


def elsewhere_failure(ctx: Context, session: Session, conn: Connection, rule: str
                      ) -> tuple[str, str] | None:
    """(words, fix) for an unanswered callback from the agent's control connection
    address to another address of the media server than the one the control connection
    came from; None for any other. rule: the allow rule for the callback, kept for the
    case where that address is the one to use."""
    if not session.callback_elsewhere or conn.resp_h == session.media_server \
            or conn.orig_h != session.remote_agent:
        # From another address of the agent too: a second network between the hosts,
        # where a firewall is as likely as no route (the usual words then).
        return None
    media, target = session.media_server, conn.resp_h
    if (media, target) in ctx.nat_aliases:
        # The set shows the media server under that address across a NAT (its control
        # connection captured on both sides): the agent called the right address (field
        # check 36: it read "10.77.0.1 is then the NAT device").
        return _across_nat(ctx, conn, media)
    words = (f" The agent calls back {target}, not {media}, the address the control "
             f"connection came from: the job engine names an address of its own that the "
             f"agent cannot reach. Most often a NAT in front of the media server: "
             f"{media} is then the NAT device, the job engine names its private address "
             f"{target}, and opening the media range on either host changes nothing; else "
             f"{target} is another interface of the media server that the agent has no "
             "route to.")
    fix = (f"Connect the media server and the agent without a NAT between them, or make "
           f"the NAT device {media} forward {ctx.ranges('media')} to the media server and "
           f"make the job engine name that public address; if {target} is an interface of "
           f"the media server the agent should reach, route the agent to it and {rule}.")
    return words, fix


def _across_nat(ctx: Context, conn: Connection, media: str) -> tuple[str, str]:
    """(words, fix) for an unanswered callback to the media server's address across a
    NAT the capture set shows (Context.nat_aliases)."""
    agent, target, ports = conn.orig_h, conn.resp_h, ctx.ranges("media")
    plain = format_ranges(ctx.config.media_range)
    words = (f" {target} is the media server {media}'s address on the agent's side of a "
             f"NAT (the capture set shows {media} as {target}: capture_duplicates), so the "
             "agent called back the right address and nothing answered there: the NAT "
             f"device drops the callback or does not translate it to {media} (a static NAT "
             f"with no inbound rule for ports {plain}), or {media}'s own firewall drops it.")
    fix = (f"On the NAT device between the hosts (the one that shows {media} as {target}), "
           f"allow TCP from {agent} to {target} ports {ports} and translate it to {media} (the "
           "static NAT's inbound direction and its access rule), with the return traffic; "
           f"on {media}, accept TCP from {agent} to ports {plain} in its input chain. A capture on "
           f"{media}'s side of the NAT at the same time shows whether the callback gets "
           "through the NAT device.")
    return words, fix


def _cause(session: Session, conn: Connection) -> str:
    """Why the callback's ends may differ from the control connection's."""
    agent_other = conn.orig_h != session.remote_agent
    media_other = conn.resp_h != session.media_server
    if ip_version(conn.resp_h) != ip_version(session.media_server):
        return (f"the control connection runs over IPv{ip_version(session.media_server)}, the "
                f"callback over IPv{ip_version(conn.resp_h)}: dual-stack hosts")
    if agent_other and media_other:
        return "another network between the two hosts: a second interface of each, or a NAT"
    if agent_other:
        return ("a NAT in front of the agent translated its source address, or it left from "
                "another interface of the agent")
    return ("the job engine names another address of the media server: another interface, "
            "or its own address behind a NAT that translated the control connection")
