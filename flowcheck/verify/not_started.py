"""Step 5 of a job still running where the capture ends, its data connections open and
no data on them yet: the capture cannot show whether the data would have flowed (an
agent may prepare a snapshot or its first file for a while before it sends), however
long it ran after the data connection opened. Only a job that ended (a halt, its control
connection closed, reset or stalled) with no data is missing its step 5."""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, Session
from flowcheck.sessions import message_op
from flowcheck.sessions.classify import JOB_STARTS, seen_closing
from flowcheck.verify.capture_host import proven_host
from flowcheck.verify.context import Context
from flowcheck.verify.control_stall import control_stall
from flowcheck.verify.evidence import after
from flowcheck.verify.replies import HALTS


def running_start(ctx: Context, session: Session) -> NdmpMessage | None:
    """The session's last DATA_START_* request when its job was still running where the
    capture ends: no NOTIFY_*_HALTED after it, and its control connection neither closed,
    reset nor stalled (the case flowcheck.verify.running reports as capture_ended_early);
    None otherwise."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    if stream is None:
        return None
    starts = [m for m in stream.messages
              if message_op(m) in JOB_STARTS and m.type == "request"]
    control = ctx.by_uid.get(session.control_uid)
    if not starts or control is None or seen_closing(control) \
            or control_stall(control, closing=True) is not None:
        return None
    if any(message_op(m) in HALTS and m.ts >= starts[-1].ts for m in stream.messages):
        return None
    return starts[-1]


def not_started_words(ctx: Context, session: Session, conns: list[Connection],
                      direction: str, sender: str | None) -> str:
    """Why step 5 is unknown when its open data connections carried no bytes `direction`
    ("agent to media server") and the job was still running where the capture ends ("" when
    a connection closed or the job ended: then the data is missing). sender: the data's
    sender as bytes_each_way.way_words names it ("agent", "media server", a three-way
    job's agent address), None when the job's direction is not known."""
    if not conns or any(seen_closing(c) for c in conns):
        return ""
    start = running_start(ctx, session)
    if start is None:
        return ""
    first = min(conns, key=lambda c: c.ts)
    return (f"no bytes {direction} in the {span_words(after(ctx, first.ts))} the capture ran after "
            f"the data connection {first.uid} opened, but the job was still running when "
            f"the capture ended ({message_op(start)} ({frame_text(start.frame)}) started it, no "
            "halt came after it and the control connection is still open): the data may "
            "not have started yet (an agent can prepare a snapshot or its first file for "
            "a while). If the job log shows data sent in that time, "
            + _where_next(ctx, session, sender))


def _where_next(ctx: Context, session: Session, sender: str | None) -> str:
    """Where to look for data the job log says was sent (`sender`: not_started_words'), by
    the capture point the TTLs or the Linux cooked marks show
    (verify.capture_host.proven_host), never the host the capture was taken on
    (newuser66 item 3): taken on the sender, its own outbound rules (the packet tap sees
    leaving packets after them); taken on the agent, a capture on the media server;
    else, as before, a capture on the agent. The proof's words go with it: the TTLs
    tell a host from a point on its segment no better (verify.ttl.taken_on_words; it
    said "this capture was taken on the sender" bare, review63e)."""
    found = proven_host(ctx, session.media_server, session.remote_agent)
    host = {"agent": session.remote_agent, "media server": session.media_server}.get(
        sender or "")
    if found is not None and found.host == host:
        return (f"its own outbound rules likely drop it: this capture was taken on the "
                f"sender {host} ({found.words}), which sees its leaving packets only "
                "after them")
    if found is not None and found.host == session.remote_agent:
        return (f"capture on the media server as well (this capture was taken on the "
                f"agent {session.remote_agent}: {found.words}): something between the "
                "hosts drops it")
    return "capture on the agent as well: something between the hosts drops it"
