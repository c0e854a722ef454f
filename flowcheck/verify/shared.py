"""The data steps of a session whose data connection another session holds.

In a three-way job the data connection is announced on two control connections and
belongs to the data server's session (flowcheck.sessions.threeway); the tape server's
session announced it too (its `used_by` names the connection). That session's data
connection and data flow steps are the data server's session's, with the same status:
a failure is judged, and reported (its finding), once, in the session that holds the
connection.
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Announcement, Session, Step, StepStatus, endpoint
from flowcheck.ndmp.collector import ANNOUNCERS
from flowcheck.profiles import StepSpec
from flowcheck.sessions.file_order import TIME_ORDER, FileOrder
from flowcheck.sessions.matching import ANNOUNCEMENT_JITTER_SECONDS
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
    if not ids:  # nearly every session: no walk of all sessions for each
        return []
    return [other for other in ctx.sessions if other.id in ids]


def _handed_on(holder: Session, ann: Announcement) -> Announcement | None:
    """The holder's announcement of the same endpoint reached by the same connection."""
    return next((a for a in holder.announced if a.used_by == ann.used_by
                 and (a.ip, a.port) == (ann.ip, ann.port)), None)


def _is_request(ann: Announcement) -> bool:
    """A CONNECT request (or v2's DATA_START_*), not a LISTEN reply."""
    return (ann.message, False) in ANNOUNCERS


def partner(ctx: Context, session: Session, ann: Announcement
            ) -> tuple[Session, Announcement] | None:
    """The other half of a three-way job's announcement: the announcement of the same
    endpoint, of the other kind (a LISTEN reply for a CONNECT request, and back), on
    another control connection of the same DMA (same originating address). The one the
    same connection reached (used_by), the first in session order; else, with no
    connection in the capture, by order (time, within the announcements' jitter:
    flowcheck.sessions.matching; or the file's order: flowcheck.sessions.file_order): for
    a request the latest reply at or before it, for a reply the first request at or
    after it whose own partner it is. None when there is none: not a three-way job's."""
    dma = ctx.by_uid[session.control_uid].orig_h
    request = _is_request(ann)
    found = [(other, a) for other, a in announced_endpoints(ctx).get((ann.ip, ann.port), ())
             if other is not session and _is_request(a) != request
             and ctx.by_uid[other.control_uid].orig_h == dma]
    reached = [(other, a) for other, a in found if ann.used_by and a.used_by == ann.used_by]
    if reached:
        return reached[0]
    order = ctx.order
    if request:
        before = _in_order(found, ann, order, earlier=True)
        return max(before, key=lambda item: order.key(item[1].frame, item[1].ts),
                   default=None)
    after = _in_order(found, ann, order, earlier=False)
    first = min(after, key=lambda item: order.key(item[1].frame, item[1].ts), default=None)
    if first is None:
        return None
    # Not when a later LISTEN reply of the endpoint is the one that request hands on.
    back = partner(ctx, first[0], first[1])
    return first if back is not None and back[1] is ann else None


def _in_order(found: list[tuple[Session, Announcement]], ann: Announcement,
              order: FileOrder, earlier: bool) -> list[tuple[Session, Announcement]]:
    """The announcements of `found` before `ann` (earlier), else after it, in the
    capture's order (FileOrder.before), each pair by itself: where the file has an order
    for both (order.by_frame) those written before (after) it, so that a later job's
    announcement stamped before it (the clock set back between the jobs) is not taken
    for the closest; a pair with an event of a connection written out of time order
    (FileOrder.moved) by time, within the announcements' jitter, beside them (a closer
    one there is not dropped for an unmoved one: review of today's change). Only when
    none is on that side, those within the jitter in time (two interfaces' stamps:
    flowcheck.sessions.file_order). Else by time, within the announcements' jitter."""
    def on_side(by: FileOrder, a: Announcement) -> bool:
        first, then = (a, ann) if earlier else (ann, a)
        return by.before(first.frame, first.ts, then.frame, then.ts,
                         ANNOUNCEMENT_JITTER_SECONDS)

    in_order = [item for item in found if on_side(order, item[1])]
    return in_order or [item for item in found if on_side(TIME_ORDER, item[1])]


def announced_endpoints(ctx: Context
                        ) -> dict[tuple[str, int], list[tuple[Session, Announcement]]]:
    """Every session's announcements by endpoint (ip, port), in session order: one walk
    over the sessions per Context (ctx.halves, built on first use), not one per
    question (partner; verify.closing_candidates)."""
    if ctx.halves is None:
        index: dict[tuple[str, int], list[tuple[Session, Announcement]]] = {}
        for session in ctx.sessions:
            for a in session.announced:
                index.setdefault((a.ip, a.port), []).append((session, a))
        ctx.halves = index
    return ctx.halves


def listened_at(ctx: Context, session: Session, ann: Announcement) -> str | None:
    """For a CONNECT request whose endpoint another session's LISTEN reply named (a
    three-way job: partner), the address that session's control connection reached the
    listening NDMP server at; for one that names another NDMP agent whose control
    connection the capture does not hold (other_agent), that agent's address; None
    otherwise."""
    if not _is_request(ann):
        return None
    found = partner(ctx, session, ann)
    if found is not None:
        return ctx.by_uid[found[0].control_uid].resp_h
    return other_agent(ctx, session, ann)


def other_agent(ctx: Context, session: Session, ann: Announcement) -> str | None:
    """The announced host of a CONNECT request (DATA_CONNECT, MOVER_CONNECT, v2's
    DATA_START_*) with no LISTEN half in the capture, when that host is an NDMP agent
    (Context.host_role: the configuration's remote_agents, or another session's agent)
    other than the session's media server and agent: the other server of a three-way job
    (a tape agent's mover for DATA_CONNECT), whose own control connection from the DMA is
    off the path of a capture on this agent (trial 27 D1, D8). None otherwise."""
    if not _is_request(ann) or partner(ctx, session, ann) is not None:
        return None
    control = ctx.by_uid[session.control_uid]
    if ann.ip in (control.orig_h, control.resp_h):
        return None
    return ann.ip if ctx.host_role(ann.ip) == "agent" else None


def agent_kind(ann: Announcement) -> str:
    """"tape agent" for a mover's endpoint, "data agent" for a data service's."""
    return "tape agent" if ann.listener == "mover" else "data agent"


def three_way_hosts(ctx: Context, session: Session, ann: Announcement
                    ) -> tuple[str, str, Session, Announcement] | None:
    """(connector, listener, the other session, its announcement) of a three-way job's
    announcement (partner): the addresses the DMA's control connections reached the NDMP
    server told to connect (the CONNECT request's receiver) and the listening one (the
    LISTEN reply's sender) at; None when it has no partner."""
    found = partner(ctx, session, ann)
    if found is None:
        return None
    other, other_ann = found
    here = ctx.by_uid[session.control_uid].resp_h
    there = ctx.by_uid[other.control_uid].resp_h
    connector, listener = (here, there) if _is_request(ann) else (there, here)
    return connector, listener, other, other_ann


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
    words = [f"{ann.message.removeprefix('NDMP_')} ({frame_text(ann.frame)}) here and "
             f"{other.message.removeprefix('NDMP_')} ({frame_text(other.frame)}) there named "
             f"{endpoint(ann.ip, ann.port)}"
             for ann in session.announced
             if ann.used_by and (other := _handed_on(holder, ann)) is not None]
    why = f" ({'; '.join(words)})" if words else ""
    return make_step(spec, step.status, step.uids, step.frames,
                     f"session {holder.id}'s data connection, a three-way job{why}: "
                     f"{step.detail}", cites=step.cites)
