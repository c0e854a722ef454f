"""The fixes of NDMP error replies that are not the server's own (reply_errors.server_fix):
credentials, the protocol version, a listen that could not bind, a connect the network
may have refused (allow rules: connect_rule), a start in the wrong state. Written by
verify.replies for ndmp_error_reply."""

from __future__ import annotations

from flowcheck.model import NdmpMessage, Session
from flowcheck.sessions import message_op
from flowcheck.verify.allow_rules import listened_ports, port_list
from flowcheck.verify.context import DEFAULT_RANGE_WORDS, Context
from flowcheck.verify.refused_connect import connect_opened

CONNECTING = {"DATA_CONNECT", "MOVER_CONNECT"}


def reply_fix(ctx: Context, session: Session, op: str, error: str, *,
              refused: bool = False, host: str | None = None) -> str:
    """The fix of an error reply that is neither the server's own (server_fix) nor allow
    rules for a connect (connect_rule, which the caller asks first): refused: the
    request was refused before any connect (verify.replies._before_connect); host: the
    replying server's address (the remote agent when not given)."""
    agent = session.remote_agent
    if op == "CONNECT_CLIENT_AUTH":
        return (f"Check the user name and password the media server uses for the agent on "
                f"{agent} (NDMP/remote agent credentials).")
    if op == "CONNECT_OPEN":
        return (f"The agent on {agent} refused the NDMP protocol version; use a version both "
                "sides support.")
    if op in ("DATA_LISTEN", "MOVER_LISTEN"):
        if error.startswith("NOT_SUPPORTED"):
            return (f"The agent on {agent} does not support {op}: configure the backup "
                    "application for the other pairing (the mover listens and the data "
                    "agent connects: MOVER_LISTEN + DATA_CONNECT).")
        return _listen_fix(ctx, session, op, error, host or session.remote_agent)
    if op in CONNECTING and refused:
        return (f"The NDMP server on {agent} would not take {op} ({error}): check the "
                "address type and the state the backup application sets up before it "
                "(NDMP version, the pairing of listener and connector) in the server's log.")
    if op.startswith("DATA_START_") and error.startswith("ILLEGAL_STATE") \
            and (session.version or 0) >= 3 and not _set_up_before(ctx, session, op):
        return (f"The agent on {agent} would not start the operation in its state: no "
                "DATA_CONNECT or DATA_LISTEN came before it in the session, so its data "
                "server had no data connection set up. See the backup application's log "
                "for the step it skipped or that failed before; not a network failure.")
    if op.startswith("DATA_START_"):
        return (f"The agent on {agent} would not start the operation: check the backup type "
                "and environment (selection, credentials for the resource) and the agent's "
                "log.")
    return "Only if the job failed: look at the agent's log around this request."


def connect_rule(ctx: Context, session: Session, op: str, *, refused: bool,
                 reply: NdmpMessage | None) -> str | None:
    """The fix of allow rules between the session's hosts, for a request that
    had the agent connect (CONNECTING, and NDMP v2's DATA_START_* whose connect the
    capture does not show opened: field51-matrix, a RST the capture lacked); None for
    any other. Its rules are for the media server and the agent (Finding.allows)."""
    agent = session.remote_agent
    if refused:
        return None
    if op in CONNECTING:
        return ("The connector could not reach the announced endpoint: allow TCP between "
                f"{session.media_server} and {agent} on {ctx.ranges('media')} and "
                f"{ctx.ranges('agent')}.")
    if op.startswith("DATA_START_") and session.version == 2 and not (
            reply is not None and connect_opened(ctx, session, reply)):
        return (f"NDMP v2's {op} carries the mover's address and the agent on {agent} "
                "connects to it before it replies, so the error may be that connection's: "
                f"allow TCP between {session.media_server} and {agent} on "
                f"{ctx.ranges('media')} and {ctx.ranges('agent')}; if it is not, check the "
                "backup type and environment (selection, credentials for the resource) and "
                "the agent's log.")
    return None


def _set_up_before(ctx: Context, session: Session, op: str) -> bool:
    """Did a DATA_CONNECT or DATA_LISTEN request come before the session's first `op`
    request (field check 39 p03: a DATA_START_BACKUP refused ILLEGAL_STATE_ERR with none
    before it)? True when the control stream is unknown or op never came. NDMP v3 and v4
    only: v2's DATA_START_* carries the mover's address itself."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    for message in stream.messages if stream is not None else []:
        if message.type != "request":
            continue
        name = message_op(message)
        if name in ("DATA_CONNECT", "DATA_LISTEN"):
            return True
        if name == op:
            return False
    return True


def _listen_fix(ctx: Context, session: Session, op: str, error: str, agent: str) -> str:
    """The fix of a LISTEN answered with an error: the ports of its range to free (the
    range's holders found with Windows and Linux commands), or, the range being
    flowcheck's default, the ports this job listened on (verify.fix_notes asks for the
    ranges first). ILLEGAL_STATE_ERR is hedged: NDMP defines it as a request not allowed
    in the server's current state; only some agents mean a port they could not bind.
    agent: the listener's address (the reply's sender)."""
    which = "agent" if op == "DATA_LISTEN" else "media"
    ranges = getattr(ctx.config, f"{which}_range")
    state = (f"{error} means the agent would not listen in its current state (NDMP: "
             "\"the request is not allowed in the current state\", e.g. a data server not "
             "idle or already listening): see its log around this request. Some agents "
             "answer it when they cannot bind a data port: then "
             if error.startswith("ILLEGAL_STATE") else "The listener could not open a data "
             "port: ")
    if which in ctx.config.default_ranges():
        seen = listened_ports(ctx, session, which, None)
        held = (f"ports {port_list(seen)} (the {which} ports {DEFAULT_RANGE_WORDS})" if seen
                else "its data ports")
        fix = (f"find on {agent} what holds {held} (Windows: `netstat -ano`; Linux: "
               "`ss -tanp`) and stop it")
    elif len(ranges) == 1:
        lo, hi = ranges[0]
        fix = (f"find on {agent} what holds ports of {ctx.ranges(which)} and stop it "
               f"(Windows PowerShell: `Get-NetTCPConnection -LocalPort ({lo}..{hi})`; Linux: "
               f"`ss -tanp 'sport >= :{lo} and sport <= :{hi}'`), or widen the range")
    else:
        fix = f"free ports in {ctx.ranges(which)} or widen it"
    return (state + fix
            + (" (a port in use skips the resource: \"Communication Failure has occurred "
               "between the Job Engine and Remote Agent\")." if ctx.profile.backup_exec
               else "."))
