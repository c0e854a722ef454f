"""Step 2's words for a session whose callback the capture may hold only closing, alone
or beside another connection closing as well that the capture cannot tell it from.

A job that ends as the capture begins leaves only the closes of its connections
(sessions.only_closing). When the job's messages cannot be read (TLS, a snap length cut)
and each end's first captured packet is the media server's, its callback and a data
connection closing together have the same shape: an agent-range port on the agent, a
media-range port on the media server, no opening or payload captured. Neither is named
the callback then (sessions.only_closing.name_closing_callbacks), and step 2 said "no
callback in the capture" though the callback's closing is there
(field47-tls-matrix/agent-killed-tls.pcap from frame 1577: the data connection
10.77.0.1:5002 -> 10.77.1.2:6001 and the callback 10.77.1.2:6079 -> 10.77.0.1:5001 both
first seen at the media server's FIN beside the control connection's RST; from frame
1581 the callback alone, whose direction is not seen either: review63h).
`closing_candidates(ctx, session, control)` -> those connections;
`candidates_step(spec, session, conns, tail)` -> step 2 `unknown` naming them."""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session, Step, endpoint
from flowcheck.profiles import StepSpec
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.closing_unheld import job_reading, unheld_close_fits
from flowcheck.sessions.only_closing import CLOSING_SECONDS, close_ts, closes_with, job_spoke
from flowcheck.verify.context import Context
from flowcheck.verify.shared import announced_endpoints
from flowcheck.verify.step_base import make_step


def closing_candidates(ctx: Context, session: Session, control: Connection
                       ) -> list[Connection]:
    """The connections (by first frame) that may be the session's callback held only
    closing, one or more, else []: under a profile whose callback is a
    connection, the session's control connection open before the capture (outcome
    midstream) and seen closing, no callback named; each connection between the
    session's agent and media server, whichever end's packet the capture holds first,
    no opening, payload or RST captured, its first packet within
    sessions.only_closing.CLOSING_SECONDS of that close (_unopened), one of them at
    least held only closing (closes_with), no control connection or another session's
    callback, the NDMP port at neither end, the media server's end a port in the media
    range, neither end an endpoint a control
    connection announced (that is a data connection's), the job silent on its control
    stream between the connection's first packet and the close (only_closing.job_spoke:
    one closed while the job spoke is its data connection closing). Its control
    connection's close not captured, those sessions.closing_unheld.unheld_close_fits
    tells, no callback and no other session's, in capture order."""
    closed = close_ts(control)
    if session.callback_uid is not None or ctx.profile.callback != "connection" \
            or connection_outcome(control) != "midstream":
        return []
    announced = announced_endpoints(ctx)
    stream = ctx.stream_by_uid.get(control.uid)
    if closed is None:
        # Its close not in the capture (sessions.closing_unheld): a connection another
        # session claimed (its closing, data) is named by that one's reading.
        reading = job_reading(stream)
        return [conn for conn in ctx.between(session.remote_agent, session.media_server)
                if conn.role != "callback" and conn.session in (None, session.id)
                and unheld_close_fits(conn, session, control, stream, announced, ctx.config,
                                      reading)]
    found = []
    for conn in ctx.between(session.remote_agent, session.media_server):
        if conn.role in ("control", "callback") \
                or ctx.config.ndmp_port in (conn.orig_p, conn.resp_p):
            continue
        media_port = conn.orig_p if conn.orig_h == session.media_server else conn.resp_p
        ends = ((conn.orig_h, conn.orig_p), (conn.resp_h, conn.resp_p))
        if ctx.config.in_media_range(media_port) and _unopened(conn, closed) \
                and not any(end in announced for end in ends) \
                and not job_spoke(stream, conn.ts, closed):
            found.append(conn)
    found.sort(key=lambda c: c.first_frame)
    return found if any(closes_with(c, closed) for c in found) else []


def _unopened(conn: Connection, closed: float) -> bool:
    """No opening, payload or RST of `conn` captured, its first packet within
    CLOSING_SECONDS of `closed` (seconds): a connection of a callback's shape, whatever
    its close shows (its FIN not captured: a capture with loss)."""
    return not (conn.syn_seen or conn.synack_seen or conn.orig_bytes or conn.resp_bytes
                or conn.rst_frames) and abs(conn.ts - closed) <= CLOSING_SECONDS


def candidates_step(spec: StepSpec, session: Session, conns: list[Connection],
                    tail: str = "", beside: str = "beside the control connection's close"
                    ) -> Step:
    """Step 2 `unknown` naming each of `conns` (closing_candidates) by its agent and
    media server ends (model.endpoint: an IPv6 address in brackets) and its first FIN's
    frame, else its first frame (no direction: the capture holds none of their
    openings); tail: words appended ("; " and why else the
    callback may not be in the capture); beside: where they were first seen (UNHELD_BESIDE:
    the control connection's close not captured)."""
    def named(conn: Connection) -> str:
        agent = (conn.orig_h, conn.orig_p) if conn.orig_h == session.remote_agent \
            else (conn.resp_h, conn.resp_p)
        media = (conn.resp_h, conn.resp_p) if agent[0] == conn.orig_h \
            else (conn.orig_h, conn.orig_p)
        fin = f" (its FIN {frame_text(conn.fin_frames[0])})" if conn.fin_frames else \
            f" (no FIN captured, first seen at {frame_text(conn.first_frame)})"
        return f"{conn.uid} {endpoint(*agent)} <-> {endpoint(*media)}{fin}"
    names = " or ".join(named(c) for c in conns)
    frames = [(c.fin_frames or [c.first_frame])[0] for c in conns]
    if len(conns) == 1:
        return make_step(spec, "unknown", frames=frames, detail=(
            f"unknown: {names} may be this session's callback: the capture holds no opening "
            f"or payload of it, first seen {beside}, its ports "
            "a callback's (agent port, media port in the media range) as well as a data "
            "connection's, and which it was the capture cannot tell (no job message read "
            "names its endpoints)" + tail))
    return make_step(spec, "unknown", frames=frames,
                     detail=f"unknown: {names} may be this session's callback: the capture holds "
                     f"no opening or payload of any of them, each first seen {beside}, "
                     "their ports a callback's (agent port, media "
                     "port in the media range) as well as a data connection's, and which one "
                     "was the callback it cannot tell (no job message read names their "
                     "endpoints)" + tail)


# Where candidates_step's connections were first seen when the capture holds no close of
# the control connection (sessions.closing_unheld).
UNHELD_BESIDE = (f"within {CLOSING_SECONDS:g} s of the control connection's last captured "
                 "packet, its close not in the capture")


def unheld_close_words(conn: Connection, control: Connection, closed_frame: int) -> str:
    """Step 2's words for a callback named by sessions.closing_unheld (Session.
    callback_closing, the control connection's close not captured, its first sender the
    session's agent, after the job's CONNECT_CLOSE at `closed_frame`:
    closing_unheld.job_closed_frame): held only closing, its FIN's frame, the control
    connection's last captured packet's frame, the CONNECT_CLOSE's frame."""
    return (f"seen only closing (its FIN, {frame_text(conn.fin_frames[0])}, within "
            f"{CLOSING_SECONDS:g} s of the control connection's last captured packet, "
            f"{frame_text(control.last_frame)}, its close not in the capture; the job's "
            f"CONNECT_CLOSE, {frame_text(closed_frame)}, before it, no job message after it): "
            "taken for the callback by its direction, host pair, media port and that close "
            "alone (the only such connection; a data connection closing has the same shape)")
