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

from typing import NamedTuple

from flowcheck.model import Announcement, NdmpMessage
from flowcheck.ndmp.collector import ANNOUNCERS
from flowcheck.sessions.classify import reply_to
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


def _is_request(ann: Announcement) -> bool:
    return (ann.message, False) in ANNOUNCERS


def refuses_itself(reply: NdmpMessage) -> bool:
    """Does the error reply refuse the request itself, not report a failed connect? An
    error the decode could not name counts as a connect's (no verdict on it)."""
    name = reply.error_name.removeprefix("NDMP_") if reply.error_name else ""
    return bool(reply.error) and bool(name) and name not in CONNECT_FAILURES


def refusal_of(ctx: Context, ann: Announcement) -> Refusal | None:
    """The Refusal when `ann` is a request carrying an endpoint, no connection
    reached that endpoint (used_by) and its reply refused the request itself
    (refuses_itself); None else."""
    if not _is_request(ann) or ann.used_by:
        return None
    stream = ctx.stream_by_uid.get(ann.control_uid)
    if stream is None:
        return None
    messages = stream.messages
    index = next((i for i, m in enumerate(messages)
                  if m.frame == ann.frame and m.type == "request"), None)
    if index is None:
        return None
    request = messages[index]
    reply = reply_to(request, messages[index + 1:])
    if reply is None or not refuses_itself(reply):
        return None
    return Refusal(ann, request, reply)


def group_refusal(ctx: Context, group: list[Announcement]) -> Refusal | None:
    """The refusal (refusal_of) that explains why no connection tried the group's
    endpoint: one of its own requests', or, for a LISTEN reply, that of a CONNECT request
    carrying the same endpoint later in another session (a three-way job's other half);
    None when there is none or a connection reached it."""
    if any(a.used_by for a in group):
        return None
    for ann in group:
        found = refusal_of(ctx, ann)
        if found is not None:
            return found
    listens = [a for a in group if not _is_request(a)]
    for session in ctx.sessions:
        for other in session.announced:
            if not _is_request(other) or other.control_uid in {a.control_uid for a in group}:
                continue
            if any((other.ip, other.port, other.listener) == (a.ip, a.port, a.listener)
                   and other.ts >= a.ts - _JITTER_SECONDS for a in listens):
                found = refusal_of(ctx, other)
                if found is not None:
                    return found
    return None


def refused_replies(ctx: Context, announced: list[Announcement]) -> dict[int, Announcement]:
    """The error replies that refused a request carrying one of these announcements
    before any connect (refusal_of), by frame: the announcement the request carried."""
    return {found.reply.frame: ann for ann in announced if (found := refusal_of(ctx, ann))}
