"""Why an announcement whose address the capture lacks, and that no connection was
matched to, is no evidence of an endpoint nobody tried (trial 20 D3).

The snap length cut its address (or flowcheck cannot read its type): its connection was
matched by direction and ports (flowcheck.sessions.by_ports), and that match knows only
the session's own hosts and ranges. A connection it does not know may still be the one:
to another interface of the listener, from another of the connector, between the two
NDMP servers of a three-way job. So the absence is evidence only when no connection in
the capture could be it, and, for a three-way job the DMA may have handed the endpoint
on to, when the capture would hold packets between the two servers.

"Open after it" and "open together" are the capture's order (Context.order: within one
file of one interface what is written after the announcement follows it, a connection
written before a control connection's last packet was open while it lasted, whatever
their timestamps say: a clock set back; else time).
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Said, Session, connection_ends
from flowcheck.sessions.classify import JOB_STARTS, end_of, message_op, seen_closing
from flowcheck.verify.connect_said import ndmp_port_only
from flowcheck.verify.context import Context
from flowcheck.verify.kept import kept


def cut_unjudged(ctx: Context, session: Session, ts: float, name: str,
                 frame: int | None = None) -> Said | str:
    """Why no connection matched to a cut announcement (message `name`, at `ts`
    seconds, in `frame` when known) proves that none tried its endpoint ("" when it
    does): a connection no session explains that was open after it while the control
    connection lasted (_unexplained), or a three-way job whose data connection runs off
    the capture's path (_three_way)."""
    return (_unexplained(ctx, session, ts, frame) or _three_way(ctx, session, ts, name, frame)
            or _filtered_out(ctx) or _started_after(ctx, session, frame))


def _started_after(ctx: Context, session: Session, frame: int | None) -> str:
    """The session's DATA_START_* request after the announcement in `frame`, with no
    connection in the capture: a DMA starts the job once the data connection is made,
    so it most likely ran where the capture does not see it (another interface or
    address of a host, Backup To Network Card; not when a connection between the
    session's hosts opened after it, which data_links reads: trial34-big's plain NDMP
    data connection read as the callback; lab-trial19-announce/mh2-other-nic-
    capture-m0 captured -s 96 read announced_not_used)."""
    stream = ctx.stream_by_uid.get(session.control_uid)
    if frame is None or stream is None:
        return ""
    control = ctx.by_uid[session.control_uid]
    hosts = {control.orig_h, control.resp_h}
    if any(c is not control and {c.orig_h, c.resp_h} == hosts and c.first_frame > frame
           for c in ctx.connections):
        return ""  # a connection between the hosts after it: read by data_links instead
    start = next((m for m in stream.messages if m.frame > frame and m.type == "request"
                  and message_op(m) in JOB_STARTS), None)
    if start is None:
        return ""
    return (f"the session started its job after it ({message_op(start)}, "
            f"{frame_text(start.frame)}), which a DMA does once the data connection is made: it "
            f"most "
            "likely ran where the capture does not see it (another interface or address of "
            "a host)")


def _filtered_out(ctx: Context) -> Said | str:
    """A capture that kept only packets carrying data (kept.shape "data_only": no
    handshake, no pure ACK) and of NDMP-port connections alone: a display filter on the
    protocol (tshark -Y ndmp) leaves the data connections out, so none in it is no
    evidence (ndmjob-filtered-packets/yndmp-media captured -s 96 read
    announced_not_used: its halt's SUCCESSFUL, the whole capture's proof, was cut)."""
    if kept(ctx).shape != "data_only" or not ndmp_port_only(ctx):
        return ""
    return Said("the capture holds only packets that carry data, all of NDMP-port "
                "connections (capture_filtered): a filter on the protocol (tshark -Y ndmp) "
                "leaves the data connections out", ["capture_filtered"])


def _window(ctx: Context, session: Session) -> tuple[float, float]:
    """(start, end) seconds of the session's control connection; the end is the
    capture's when it was not seen closing."""
    control = ctx.by_uid[session.control_uid]
    return control.ts, end_of(control) if seen_closing(control) else float("inf")


def _open_after(ctx: Context, conn: Connection, end: float, ts: float,
                frame: int | None) -> bool:
    """Was conn (its last packet at `end` seconds: inf when still open at the capture's
    end) still open at the event at ts (in frame, when known), in the capture's order
    (FileOrder.follows: its last packet written after the event)?"""
    return end >= ts if frame is None else ctx.order.follows(conn.last_frame, end, frame, ts)


def _unexplained(ctx: Context, session: Session, ts: float, frame: int | None) -> str:
    _, end = _window(ctx, session)
    control = ctx.by_uid[session.control_uid]
    port = ctx.config.ndmp_port
    found: list[Connection] = [
        c for c in ctx.connections
        if c.session is None and c.role in ("other", "data") and port not in (c.orig_p, c.resp_p)
        and _open_after(ctx, c, end_of(c), ts, frame) and ctx.order.open_at(c, control, end)]
    if not found:
        return ""
    listed = ", ".join(f"{c.uid} ({connection_ends(c)})" for c in found[:3])
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    return (f"the capture holds {listed}{more}, open after it and matched to no session: "
            "without the announced address flowcheck cannot tell whether it is this "
            "announcement's data connection (another interface of a host, or a three-way "
            "job's between two NDMP servers)")


def _listens(name: str) -> bool:
    """Is the announcing message a LISTEN reply (the sender listens), not a CONNECT
    request or v2's DATA_START_* (the receiver connects)?"""
    return "_LISTEN" in name


def _three_way(ctx: Context, session: Session, ts: float, name: str,
               frame: int | None) -> str:
    """A DMA that had a control connection open to another NDMP server at the same time,
    carrying an announcement of the other kind (a CONNECT for a LISTEN, and back), may
    have handed the endpoint on to it (a three-way job): their data connection runs
    between the session's server and that one, and the capture holds no packet between
    the two (taken on the DMA, it sees the control connections only); or, both control
    connections to one host, runs inside that host (its data and tape services
    together: a local TCP connection; ndmjob-lab/v4-local-tcp captured -s 96 read
    announced_not_used). Jobs at once that each listen (Backup Exec's to two agents) are
    no such pair."""
    control = ctx.by_uid[session.control_uid]
    start, end = _window(ctx, session)
    here = control.resp_h
    for other in ctx.sessions:
        there = ctx.by_uid[other.control_uid]
        if other is session or there.orig_h != control.orig_h:
            continue
        kinds = {_listens(n) for _, n, _ in other.cut_announcements} | {
            _listens(a.message) for a in other.announced}
        if _listens(name) not in {not kind for kind in kinds}:
            continue  # no other half of the kind a three-way job hands on
        _, other_end = _window(ctx, other)
        if not ctx.order.open_at(there, control, end) or not (
                _open_after(ctx, there, other_end, ts, frame)
                and _open_after(ctx, there, other_end, start, control.first_frame)):
            continue  # not open together
        if there.resp_h == here:  # both halves on one host: its services together
            return (f"the DMA {control.orig_h} had another control connection to {here} "
                    f"(session {other.id}) open too, carrying the other half of the "
                    "endpoint (a CONNECT for a LISTEN, or back): the data connection most "
                    f"likely runs inside {here} (its data and tape services together, as a "
                    "local TCP connection), not on the network")
        shared = next((c for uid in other.data_connections
                       if here in ((c := ctx.by_uid[uid]).orig_h, c.resp_h)), None)
        if shared is not None:  # the other half's connection reaches this host
            return (f"the DMA {control.orig_h} had a control connection to {there.resp_h} "
                    f"(session {other.id}) open too, carrying the other half of the "
                    f"endpoint, and its data connection {shared.uid} "
                    f"({connection_ends(shared)}) reaches {here}: most likely "
                    "this announcement's too (a three-way job's one connection)")
        if ctx.holds((here, there.resp_h), control.ts) or \
                ctx.holds((there.resp_h, here), control.ts):
            continue
        return (f"the DMA {control.orig_h} had a control connection to {there.resp_h} "
                f"(session {other.id}) open too: a three-way job's data connection would run "
                f"between {here} and {there.resp_h}, and the capture holds no packet between "
                "those two (it was not taken on their path)")
    return ""
