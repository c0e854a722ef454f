"""Step 5 (the data flow) of a session whose control connection one side closed while its
job ran (control_closed, flowcheck.verify.running): the job ended before its data did.

flow-model.md's step 5 is the backup (or restore) data moving over the data connection
until the resource is done, which NDMP says with NOTIFY_DATA_HALTED / NOTIFY_MOVER_HALTED.
A side that closed its NDMP session mid-resource with no halt (an agent SIGKILLed
mid-backup, a job engine that crashed) ended the transfer wherever it was: the bytes the
capture holds are the part that flowed, not the resource. The step is `failed` on that
close, the capture's evidence, and its detail names control_closed (field check 38: a
killed agent read step 5 `ok` beside control_closed). So is a control connection reset
while the job ran (control_reset with no halt after the running DATA_START_*: a firewall
that dropped its idle state, a killed DMA's FIN answered by a RST): the job cannot go on
without it (ndmjob idle-rst-65s-media: the media server reset the data connection after
it, step 4 read `ok`). A reset after the halt leaves the step alone: the data had all
flowed, the job's end is what failed.
"""

from __future__ import annotations

from flowcheck.model import Connection, Said, Session
from flowcheck.sessions.classify import Closer
from flowcheck.verify.context import Context
from flowcheck.verify.first_close import fin_words, first_closer
from flowcheck.verify.lost_fin import lost_close, lost_fin_words
from flowcheck.verify.rst_words import cited_rsts, reset_words


def closed_mid_job(ctx: Context, session: Session) -> tuple[list[int], Said] | None:
    """(frames, words) when the session has a control_closed error (a three-way job's
    warning, a consequence of its other session's close, does not count) or a
    control_reset error while its job ran: frames the control connection's first FIN, or
    the RSTs the finding cites; words "the agent 10.77.0.2 closed the control
    connection (FIN, frame 109) while the job ran, with no NOTIFY_DATA_HALTED or
    NOTIFY_MOVER_HALTED (control_closed): the job ended before its data did, ..." or
    "the control connection was reset (RST, frame 2071) while the job ran, ...
    (control_reset): ...". None otherwise."""
    control = ctx.by_uid[session.control_uid]
    stream = ctx.stream_by_uid.get(session.control_uid)
    # A FIN the capture lacks that the sequence numbers show (flowcheck.verify.lost_fin).
    lost = None if control.fin_frames else lost_close(control, stream)
    if ctx.has_error(session.id, "control_closed") and (control.fin_frames or lost):
        if lost is not None:
            closer = "responder" if lost.side == "resp" else "originator"
            what = (f"{_closer(session, control, closer)} closed the control connection "
                    f"({lost_fin_words(control, lost)})")
            frames = [lost.shown.frame]
        else:
            what = (f"{_closer(session, control, first_closer(control, stream))} closed the "
                    f"control connection ({fin_words(control, stream)})")
            frames = [control.fin_frames[0]]
        code = "control_closed"
    elif (session.id in ctx.reset_mid_job and control.rst_frames
          and ctx.has_error(session.id, "control_reset")):
        what = f"the control connection was reset ({reset_words(control)})"
        frames, code = cited_rsts(control), "control_reset"
    else:
        return None
    # In TLS the halt is missed by its record, not read (verify.tls_close).
    halts = ("no TLS record on it after the data's last byte, where a NOTIFY_DATA_HALTED "
             "or NOTIFY_MOVER_HALTED would be" if stream is not None
             and stream.tls_start is not None and code == "control_closed" else
             "no NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED")
    return frames, Said(f"{what} while the job ran, with {halts} ({code}): the job ended "
                        "before its data did, so the bytes below are the part that flowed, "
                        f"not the whole {session.kind}", [code])


def _closer(session: Session, control: Connection, closer: Closer) -> str:
    """"the agent 10.77.0.2" (a three-way job's agent by its role) or "the media server
    10.77.0.1": the side whose close ended the session (closer: first_close.first_closer,
    or a FIN's side the capture lacks), as control_closed names it."""
    if closer == "responder":
        return f"the {session.server_roles.get(control.resp_h, 'agent')} {control.resp_h}"
    return f"the media server {control.orig_h}"
