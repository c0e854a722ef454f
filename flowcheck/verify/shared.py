"""The data steps of a session whose data connection another session holds.

In a three-way job the data connection is announced on two control connections and
belongs to the data server's session (flowcheck.sessions.threeway); the tape server's
session announced it too (its `used_by` names the connection). That session's data
connection and data flow steps are the data server's session's, with the same status:
a failure is judged, and reported (its finding), once, in the session that holds the
connection.
"""

from __future__ import annotations

from flowcheck.model import Announcement, Session, Step, StepStatus, endpoint
from flowcheck.ndmp.collector import ANNOUNCERS
from flowcheck.profiles import StepSpec
from flowcheck.verify.context import Context
from flowcheck.verify.step_base import make_step

# The steps (StepSpec.kind) a session reads from the one holding its data connection.
SHARED_KINDS = ("data_connection", "data_flow")
# The worst first, when the connections of several sessions are this session's.
_WORST: tuple[StepStatus, ...] = ("failed", "missing", "violated", "unknown", "ok",
                                  "not_applicable")


def data_holders(ctx: Context, session: Session) -> list[Session]:
    """The other sessions holding the connections this session's announcements reached,
    when it holds none itself (the tape server's session of a three-way job); [] else."""
    if session.data_connections:
        return []
    ids = {conn.session for a in session.announced if a.used_by
           and (conn := ctx.by_uid.get(a.used_by)) is not None} - {session.id, None}
    return [other for other in ctx.sessions if other.id in ids]


def _handed_on(holder: Session, ann: Announcement) -> Announcement | None:
    """The holder's announcement of the same endpoint reached by the same connection."""
    return next((a for a in holder.announced if a.used_by == ann.used_by
                 and (a.ip, a.port) == (ann.ip, ann.port)), None)


def listened_at(ctx: Context, session: Session, ann: Announcement) -> str | None:
    """For a CONNECT request whose endpoint another session's LISTEN reply named (a
    three-way job: both reached by one connection), the address that session's control
    connection reached the listening NDMP server at; None otherwise. The first such
    session in session order, looked up in an index built once per analysis."""
    if not ann.used_by or (ann.message, False) not in ANNOUNCERS:
        return None
    if ctx.listeners is None:
        ctx.listeners = _listeners(ctx.sessions)
    other = next((other for other in ctx.listeners.get((ann.used_by, ann.ip, ann.port), ())
                  if other is not session), None)
    return ctx.by_uid[other.control_uid].resp_h if other is not None else None


def _listeners(sessions: list[Session]) -> dict[tuple[str, str, int], list[Session]]:
    """(used_by, ip, port) of every LISTEN reply reached by a connection -> the sessions
    that announced it, in session order (a session once)."""
    index: dict[tuple[str, str, int], list[Session]] = {}
    for session in sessions:
        for a in session.announced:
            if a.used_by and (a.message, True) in ANNOUNCERS:
                found = index.setdefault((a.used_by, a.ip, a.port), [])
                if not found or found[-1] is not session:
                    found.append(session)
    return index


def shared_step(ctx: Context, session: Session, spec: StepSpec,
                holders: list[Session]) -> Step:
    """The step `spec` (data connection or data flow) of the holders, worst first: its
    status, connections and evidence, the detail saying whose it is."""
    found = [(holder, step) for holder in holders for step in holder.steps
             if step.step == spec.number]
    if not found:  # the holder's steps are evaluated first (verify.steps.check_steps)
        return make_step(spec, "unknown", detail="unknown: the session holding its data "
                         "connection was not judged")
    holder, step = min(found, key=lambda item: _WORST.index(item[1].status))
    words = [f"{ann.message.removeprefix('NDMP_')} (frame {ann.frame}) here and "
             f"{other.message.removeprefix('NDMP_')} (frame {other.frame}) there named "
             f"{endpoint(ann.ip, ann.port)}"
             for ann in session.announced
             if ann.used_by and (other := _handed_on(holder, ann)) is not None]
    why = f" ({'; '.join(words)})" if words else ""
    return make_step(spec, step.status, step.uids, step.frames,
                     f"session {holder.id}'s data connection, a three-way job{why}: "
                     f"{step.detail}")
