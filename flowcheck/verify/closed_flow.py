"""Step 5 (the data flow) of a session whose control connection one side closed while its
job ran (control_closed, flowcheck.verify.running): the job ended before its data did.

flow-model.md's step 5 is the backup (or restore) data moving over the data connection
until the resource is done, which NDMP says with NOTIFY_DATA_HALTED / NOTIFY_MOVER_HALTED.
A side that closed its NDMP session mid-resource with no halt (an agent SIGKILLed
mid-backup, a job engine that crashed) ended the transfer wherever it was: the bytes the
capture holds are the part that flowed, not the resource. The step is `failed` on that
close, the capture's evidence, and its detail names control_closed (field check 38: a
killed agent read step 5 `ok` beside control_closed).
"""

from __future__ import annotations

from flowcheck.model import Connection, Session, Severity
from flowcheck.sessions import closing
from flowcheck.verify.context import Context


def closed_mid_job(ctx: Context, session: Session) -> tuple[list[int], str] | None:
    """(frames, words) when the session has a control_closed error (a three-way job's
    warning, a consequence of its other session's close, does not count): frames the
    control connection's first FIN; words "the agent 10.77.0.2 closed the control
    connection (FIN, frame 109) while the job ran, with no NOTIFY_DATA_HALTED or
    NOTIFY_MOVER_HALTED (control_closed): the job ended before its data did". None
    otherwise."""
    closed = next((f for f in ctx.findings if f.code == "control_closed"
                   and f.session == session.id and f.severity == Severity.ERROR), None)
    control = ctx.by_uid[session.control_uid]
    if closed is None or not control.fin_frames:
        return None
    fin = control.fin_frames[0]
    return [fin], (f"{_closer(session, control)} closed the control connection (FIN, frame "
                   f"{fin}) while the job ran, with no NOTIFY_DATA_HALTED or "
                   "NOTIFY_MOVER_HALTED (control_closed): the job ended before its data "
                   "did, so the bytes below are the part that flowed, not the whole "
                   f"{session.kind}")


def _closer(session: Session, control: Connection) -> str:
    """"the agent 10.77.0.2" (a three-way job's agent by its role) or "the media server
    10.77.0.1": the side whose close ended the session, as control_closed names it."""
    if closing(control)[0] == "responder":
        return f"the {session.server_roles.get(control.resp_h, 'agent')} {control.resp_h}"
    return f"the media server {control.orig_h}"
