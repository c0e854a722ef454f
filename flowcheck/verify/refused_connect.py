"""CONNECT requests refused before any connect: the error reply is the root cause.

A request that carries an announced endpoint (DATA_CONNECT, MOVER_CONNECT; NDMP v2's
DATA_START_BACKUP / DATA_START_RECOVER (/ _FILEHIST), which hold the mover's address)
tells its NDMP server to connect. Answered with an error and with no connection to the
endpoint in the capture, the error says which happened: CONNECT_ERR (v3 and later; "an
error occurred while connecting"), or an I/O error, a timeout or an undefined error, may
come from a connect that was tried and failed on the way (its SYNs dropped before the
capture point: announced_not_used, the reply its consequence); any other error (the
backup type unknown, ILLEGAL_ARGS_ERR; the wrong state; not authorized) refused the
request itself, before any connect (ndmjob checks a v2 DATA_START_BACKUP's backup type
before it connects). Then no connection was ever due: the refusal is the finding
(ndmp_error_reply, flowcheck.verify.replies), not announced_not_used. In a three-way job
the LISTEN reply that named the endpoint (in the other session) is explained by it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from flowcheck.model import Announcement, NdmpMessage, Session
from flowcheck.ndmp.collector import ANNOUNCERS
from flowcheck.sessions.classify import connection_outcome, reply_to
from flowcheck.verify.context import Context

# Errors a failed connect may give (NDMP v3/v4 CONNECT_ERR; v2 has none, and servers
# report a connect's failure as an I/O error, a timeout or an undefined error).
CONNECT_FAILURES = frozenset({"CONNECT_ERR", "IO_ERR", "TIMEOUT_ERR", "UNDEFINED_ERR"})
# A CONNECT request may be timestamped this long before the LISTEN reply whose endpoint
# it carries (two interfaces merged: flowcheck.sessions.threeway's jitter).
_JITTER_SECONDS = 0.005


class Refusal(NamedTuple):
    """A request carrying an endpoint (`carried`, its announcement) and the error reply
    that refused it before any connect."""

    carried: Announcement
    request: NdmpMessage
    reply: NdmpMessage


def is_request(ann: Announcement) -> bool:
    """Is the announcement a request carrying an endpoint (DATA_CONNECT, MOVER_CONNECT,
    v2's DATA_START_*), not a LISTEN reply?"""
    return (ann.message, False) in ANNOUNCERS


def carrying_requests(ctx: Context, group: Sequence[Announcement]) -> list[Announcement]:
    """The requests that carry the group's endpoint (the alternatives of one
    announcement): the group's own, then, for a LISTEN reply in it, those of another
    session (a three-way job's other half) naming the same endpoint and listener at or
    after it (less _JITTER_SECONDS), in the order of ctx.sessions and their announcements."""
    listens = [a for a in group if not is_request(a)]
    own = {a.control_uid for a in group}
    return [a for a in group if is_request(a)] + [
        other for session in ctx.sessions for other in session.announced
        if is_request(other) and other.control_uid not in own
        and any((other.ip, other.port, other.listener) == (a.ip, a.port, a.listener)
                and other.ts >= a.ts - _JITTER_SECONDS for a in listens)]


class Exchange(NamedTuple):
    """A request on a control connection, its reply (None: none in the capture:
    flowcheck.sessions.classify.reply_to) and the messages after the request."""

    request: NdmpMessage
    reply: NdmpMessage | None
    later: list[NdmpMessage]


def exchange(ctx: Context, control_uid: str, frame: int) -> Exchange | None:
    """The request in `frame` of that control connection, with its reply; None when the
    connection has no decoded stream or no request in that frame."""
    stream = ctx.stream_by_uid.get(control_uid)
    messages = stream.messages if stream else []
    index = next((i for i, m in enumerate(messages)
                  if m.frame == frame and m.type == "request"), None)
    if index is None:
        return None
    request, later = messages[index], messages[index + 1:]
    return Exchange(request, reply_to(request, later), later)


def refuses_itself(reply: NdmpMessage) -> bool:
    """Does the error reply refuse the request itself, not report a failed connect? An
    error the decode could not name counts as a connect's (no verdict on it)."""
    name = reply.error_name.removeprefix("NDMP_") if reply.error_name else ""
    return bool(reply.error) and bool(name) and name not in CONNECT_FAILURES


def refusal_of(ctx: Context, ann: Announcement) -> Refusal | None:
    """The Refusal when `ann` is a request carrying an endpoint, no connection
    reached that endpoint (used_by) and its reply refused the request itself
    (refuses_itself); None else."""
    if not is_request(ann) or ann.used_by:
        return None
    found = exchange(ctx, ann.control_uid, ann.frame)
    if found is None or found.reply is None or not refuses_itself(found.reply):
        return None
    return Refusal(ann, found.request, found.reply)


def group_refusal(ctx: Context, group: list[Announcement]) -> Refusal | None:
    """The refusal (refusal_of) that explains why no connection tried the group's
    endpoint: that of the first request carrying it (carrying_requests: one of its own,
    or, for a LISTEN reply, a CONNECT request later in another session) refused; None
    when there is none or a connection reached it."""
    if any(a.used_by for a in group):
        return None
    return next((found for ann in carrying_requests(ctx, group)
                 if (found := refusal_of(ctx, ann)) is not None), None)


def refused_replies(ctx: Context, announced: list[Announcement]) -> dict[int, Announcement]:
    """The error replies that refused a request carrying one of these announcements
    before any connect (refusal_of), by frame: the announcement the request carried."""
    return {found.reply.frame: ann for ann in announced if (found := refusal_of(ctx, ann))}


def connect_opened(ctx: Context, session: Session, reply: NdmpMessage) -> bool:
    """Did the request `reply` answers carry an endpoint (is_request: v2's DATA_START_*,
    a CONNECT) whose connection the capture shows reaching it and opening (used_by,
    connection_outcome "established")? Then its server's connect worked, and the error
    is not that connect's (an NDMP v2 agent that connected to the mover, then refused the
    backup type)."""
    for ann in session.announced:
        if not is_request(ann) or not ann.used_by:
            continue
        found = exchange(ctx, ann.control_uid, ann.frame)
        conn = ctx.by_uid.get(ann.used_by)
        if found is not None and found.reply is reply and conn is not None:
            return connection_outcome(conn) == "established"
    return False
