"""A job the capture cannot show running: its control connection seen from the agent's
side only, opened before the capture, and nothing of the media server's reached the
agent while the capture ran.

A media server that gave a job up (a killed DMA, a DMA's timeout) closes the control
connection: its FIN, or later its TCP's RST without ACK once no socket is left
(verify.after_close.gone_before). Its agent may still be retrying the connect the job
asked for, and answers the request with an error reply once it gives up (NDMP
CONNECT_ERR to DATA_CONNECT, UNDEFINED_ERR to DATA_START_BACKUP): the aftermath of a job
already closed, not a failure the job met (captures/ndmjob-ended). A whole capture shows
the close. A capture of the agent's packets only (a SPAN port that sees one way, tcpdump
-Q in on the media server) lacks it: the close travels from the media server.

What the agent's packets still show is whether the media server was there: every NDMP
request it sends takes sequence numbers the agent's ACKs then cover
(Connection.orig_acked_unseen: the highest ACK minus the first, a FIN counting one, an
NDMP request at least 28: a record mark and a 24-byte header). When the capture holds
the control connection's agent side only, from after its opening (no SYN, no SYN-ACK:
the request that the agent answers may predate the capture), the media server's
direction evidently missing (capture_one_direction), the agent's ACKs moving by a FIN's
one at most, no data connection of the session opened (the job moved nothing), and the
media server last heard (a pure ACK of the agent's answers a segment of its: a FIN, a
keepalive) no later than the session's first data connection packet or error reply, the
capture holds no sign that the job was running while it ran: an error reply, or a
connect the agent retried without an answer the capture could hold, may be the closed
job's as well as the job's failure. The rule of evidence (docs/findings.md, "Evidence
before verdict"; contract.md, "Verdict and exit codes": a step is failed only on
evidence from the capture) leaves the steps after the control connection `unknown` and
the error reply a warning: the verdict is inconclusive, never pass (a job the capture
did not see is not a job that worked) and never fail (field check: the ndmjob-ended
cases cut to the agent's packets read FAIL with ndmp_error_reply or data_unanswered
where the whole captures read pass or inconclusive).
"""

from __future__ import annotations

from flowcheck.model import Connection, Session, Step
from flowcheck.profiles import StepSpec
from flowcheck.verify.context import Context, endpoint, opening_frames
from flowcheck.verify.step_base import make_step
from flowcheck.verify.way_back import lacking_words

# The most the agent's ACKs may move and show no NDMP request: a FIN takes one sequence
# number (RFC 9293 3.4); a request takes a 4-byte record mark and a 24-byte header.
_FIN_ONLY = 1


def running_unseen(ctx: Context, session: Session) -> bool:
    """Does the capture hold no sign that the session's job was running (the module's
    words)? The caller checks that no data connection of the session opened."""
    control = ctx.by_uid.get(session.control_uid)
    if control is None or control.syn_seen or control.synack_seen:
        return False
    if control.orig_pkts or not control.resp_pkts:
        return False
    if not ctx.lacks((control.orig_h, control.resp_h), control.ts):
        return False
    if control.orig_acked_unseen > _FIN_ONLY:
        return False
    heard = _last_heard(control)
    return heard is None or heard <= _first_trouble(ctx, session, control)


def _last_heard(control: Connection) -> float | None:
    """When the agent's packets last show a segment of the media server arriving: its
    last packet on the control connection, else its first, when that one carries no data
    and is no FIN or RST of its own (a pure ACK answers a segment: a FIN, a keepalive, a
    request); None when neither is. The capture keeps no time of the packets between."""
    for frame, ts, data in ((control.last_frame, control.last_ts, control.resp_last_data),
                            (control.first_frame, control.ts, control.resp_first_data)):
        if (data is None or data[0] != frame) and frame not in control.fin_frames \
                and frame not in control.rst_frames:
            return ts
    return None


def _first_trouble(ctx: Context, session: Session, control: Connection) -> float:
    """The time of the session's first data connection packet or error reply: what a
    job still running would have met (a media server heard after it was there then:
    lone-syn-earlier-job cut to the agent's packets, its data SYNs resent for 28 s before
    the agent ACKed the media server's FIN, is the job's data_unanswered)."""
    conns = [ctx.by_uid[uid] for uid in session.data_connections if uid in ctx.by_uid]
    stream = ctx.stream_by_uid.get(control.uid)
    times = [c.ts for c in conns] + [m.ts for m in (stream.messages if stream else [])
                                     if m.error]
    return min(times, default=control.last_ts)


def unseen_words(session: Session) -> str:
    """Why the capture cannot show the job running, as a clause: "the capture holds only
    the agent 10.77.1.2's packets of the control connection, which had opened before it,
    and ..."."""
    return (f"the capture holds only the agent {session.remote_agent}'s packets of the "
            "control connection, which had opened before the capture started, and no "
            f"request of the media server {session.media_server} reached the agent while "
            "it ran (the agent's ACKs acknowledge nothing new from it): whether the job "
            "was still running or had ended before the capture (the media server's close, a "
            "FIN or a RST, travels the way the capture lacks) cannot be seen")


def unseen_end_step(ctx: Context, session: Session, spec: StepSpec, first: StepSpec) -> Step:
    """A step after the control connection of a session whose job the capture cannot
    show running (running_unseen): unknown, whatever the capture holds beside it (a job
    that may still have run is no aftermath to leave out: not_applicable would be a
    pass). The first such step says why, the data connection step what the agent's
    connects got that the capture could hold: no answer travels its way."""
    detail = (f"unknown: {unseen_words(session)}; what the capture holds of it (error "
              "replies, a connect with no answer it could hold) may be a closed job's "
              "answer" if spec is first else
              f"unknown: whether the job was still running cannot be seen (step {first.number})")
    if spec.kind != "data_connection":
        return make_step(spec, "unknown", detail=detail)
    conns = [ctx.by_uid[uid] for uid in session.data_connections if uid in ctx.by_uid]
    for conn in conns:
        if conn.syn_frames:
            count = len(conn.syn_frames)
            detail += (f"; {'its SYN' if count == 1 else f'its {count} SYNs'} ({conn.uid}, "
                       f"to {endpoint(conn.resp_h, conn.resp_p)}) got no answer the capture "
                       "could hold: it holds "
                       f"{lacking_words(ctx, conn.resp_h, conn.orig_h, conn.ts)}")
    return make_step(spec, "unknown", [c.uid for c in conns],
                     [f for c in conns for f in opening_frames(c)], detail)
