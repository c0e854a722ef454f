"""The steps after the control connection of a session whose job had ended before the
capture saw it run (verify.after_close.job_ended): the capture holds only that closed
job's aftermath, nothing of the step (trial 15 D6). Moved out of verify.steps, which
calls it first for such a session; a job the capture cannot show running (its close
unseen, verify.unseen_running) keeps its steps unknown.
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import Connection, Session, Step
from flowcheck.profiles import StepSpec
from flowcheck.verify.after_close import JobEnded, ended_words, job_ended, late_words
from flowcheck.verify.context import Context, endpoint, opening_frames
from flowcheck.verify.step_base import make_step
from flowcheck.verify.unseen_running import unseen_end_step


def ended_step_of(ctx: Context, session: Session, spec: StepSpec, ended: JobEnded) -> Step:
    """A later step of a session whose job had ended before the capture saw it run
    (after_close.job_ended): not_applicable beside a session the capture saw run, else
    unknown (the capture holds no job). The first says how, the data connection step
    what became of the closed job's connects."""
    first = next(s for s in ctx.profile.steps if s.kind != "control")
    if ended.closed is None:
        return unseen_end_step(ctx, session, spec, first)
    detail = ("not a job in the capture: its job had ended "
              + (f"{ended_words(session, ended)}; what the capture holds of it after that "
                 "(a late connect refused or unanswered, error replies) is that closed job's "
                 "answer" if spec is first else f"(step {first.number})"))
    # Beside a job the capture saw run, the aftermath is not the job's (trial 15 D6: it
    # passes). Alone, it is all the capture holds: no job in it was seen, so nothing
    # says whether the job meant works (unknown: inconclusive, as before trial 15). A
    # job in another piece of the set, apart in time (sources.pieces: another file's,
    # days before), is no job of this capture (mergedone: ndmjob-ended's
    # v4-ended-late-rst-media read PASS beside ndmjob's v4 backup, INCONCLUSIVE alone).
    status = "not_applicable"
    piece = ctx.pieces.of(ctx.by_uid[session.control_uid].ts)
    if not any(other is not session and job_ended(ctx, other) is None
               and ctx.pieces.of(ctx.by_uid[other.control_uid].ts) == piece
               for other in ctx.sessions):
        status = "unknown"
        if spec is first:
            detail = (f"unknown: {detail}; the capture holds no job that ran in it (start "
                      "the capture before the job starts)")
    if spec.kind == "callback" and session.callback_uid in ctx.by_uid:
        # Its late connect taken for its callback: named, not judged (newuser61).
        conns = [ctx.by_uid[session.callback_uid]]
    elif spec.kind != "data_connection":
        return make_step(spec, status, detail=detail)
    else:
        conns = [ctx.by_uid[uid] for uid in session.data_connections]
    for conn in conns:
        late = late_words(ctx, conn, closed_said=True) or _late_callback(conn)
        if not late and conn.syn_frames:
            count = len(conn.syn_frames)
            late = (f"{'its SYN' if count == 1 else f'its {count} SYNs'} ({conn.uid}, "
                    f"to {endpoint(conn.resp_h, conn.resp_p)}) came only after the close and "
                    "got no answer: that closed job's connect, not this capture's")
        if late:
            detail += f"; {late}"
    return make_step(spec, status, [c.uid for c in conns],
                     [f for c in conns for f in opening_frames(c)], detail)


def _late_callback(conn: Connection) -> str:
    """What a callback-taken connect of a job ended before the capture got: "its SYN (C3,
    frame 16332, to 10.77.0.1:5042) was answered with a RST (frame 16333): that closed
    job's connect, not this capture's"; "" for any other connection or outcome."""
    if conn.role != "callback" or not conn.syn_frames:
        return ""
    s = "s" if len(conn.syn_frames) > 1 else ""
    frames = frames_words(conn.syn_frames[:8], ranges=False, plural=bool(s))
    syns = (f"its SYN{s} ({conn.uid}, {frames}, to "
            f"{endpoint(conn.resp_h, conn.resp_p)})")
    if conn.resp_rst and conn.rst_frames:
        answer = f"{'were' if s else 'was'} answered with a RST ({frame_text(conn.rst_frames[0])})"
    elif conn.icmp_frames:
        answer = f"drew an ICMP unreachable ({frame_text(conn.icmp_frames[0])})"
    else:
        answer = "got no answer"
    return f"{syns}, after the close, {answer}: that closed job's connect, not this capture's"


def ended_beside_job(ctx: Context, session: Session) -> bool:
    """Is the session the leftover of a job that had ended before the capture saw it
    run, beside a job the capture saw run (after_close.job_ended with its close
    captured, every step after the control connection not_applicable: ended_step_of)?
    Then it is not a job in the capture: Session.ended, its status `ended`, never `ok`
    (newuser61: "sessions: 2 ok" for one real job). Read after its steps."""
    later = [step for step, spec in zip(session.steps, ctx.profile.steps, strict=False)
             if spec.kind != "control"]
    if not later or any(step.status != "not_applicable" for step in later):
        return False
    ended = job_ended(ctx, session)
    return ended is not None and ended.closed is not None
