"""Words for a callback tied under another address than the control connection's.

flowcheck.sessions.callback_elsewhere ties such a callback (Session.callback_elsewhere):
step 2 says which end differs and why it may (a NAT, another interface, IPv4 beside an
IPv6 control connection).
"""

from __future__ import annotations

from ipaddress import ip_address

from flowcheck.model import Connection, Session
from flowcheck.sessions.callback_elsewhere import job_engine_message
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
    after = ("the job engine's vendor message (frame "
             f"{message.frame})" if message is not None else "the control connection opened")
    return (f"under another address: {' and '.join(ends)} ({_cause(session, conn)}); taken "
            f"as the callback, the only connection from the agent range into the media range "
            f"after {after} between addresses no other session uses")


def _cause(session: Session, conn: Connection) -> str:
    """Why the callback's ends may differ from the control connection's."""
    agent_other = conn.orig_h != session.remote_agent
    media_other = conn.resp_h != session.media_server
    if _version(conn.resp_h) != _version(session.media_server):
        return (f"the control connection runs over IPv{_version(session.media_server)}, the "
                f"callback over IPv{_version(conn.resp_h)}: dual-stack hosts")
    if agent_other and media_other:
        return "another network between the two hosts: a second interface of each, or a NAT"
    if agent_other:
        return ("a NAT in front of the agent translated its source address, or it left from "
                "another interface of the agent")
    return ("the job engine names another address of the media server: another interface, "
            "or its own address behind a NAT that translated the control connection")


def _version(host: str) -> int:
    """4 or 6; 4 for anything that is not an IP address."""
    try:
        return ip_address(host).version
    except ValueError:
        return 4
