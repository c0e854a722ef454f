"""A job the capture shows from the media server's side only, ended without its end
(field check 38): tcpdump `-Q out` on the media server holds its requests, never the
agent's replies, posts or resets. A DMA ends each resource's job by stopping the data
server after its halt (DATA_STOP, DATA_ABORT; MOVER_STOP, MOVER_ABORT, MOVER_CLOSE) or
the session (CONNECT_CLOSE); one that closed the control connection after a DATA_START_*
with none of them did not end the job as a job ends. Why (the agent's reset or halt, its
silence) travels the direction the capture lacks, so the data step is `unknown`, not
`ok` (an agent killed mid-restore passed on the bytes the media server had sent)."""

from __future__ import annotations

from flowcheck.model import Session, endpoint
from flowcheck.sessions import closing, message_op, one_sided
from flowcheck.verify.context import Context
from flowcheck.verify.snapped_halts import readable_from
from flowcheck.verify.three_way_close import job_starts

# The DMA's requests that end a started job or its session.
JOB_ENDS = {"DATA_STOP", "DATA_ABORT", "MOVER_STOP", "MOVER_ABORT", "MOVER_CLOSE",
            "CONNECT_CLOSE"}


def unfinished_one_way_words(ctx: Context, session: Session) -> str | None:
    """"the capture holds only 10.77.0.1's packets ...: it closed ... with no DATA_STOP
    ..." when the capture lacks the agent's direction of the control connection
    (one_sided "resp"), readable from the start on (snapped_halts.readable_from: the
    field check's `-s 96` kept every header), and the media server closed it (its FIN
    first) after its last DATA_START_* with no JOB_ENDS request in between; None else."""
    control = ctx.by_uid.get(session.control_uid)
    stream = ctx.stream_by_uid.get(session.control_uid)
    if control is None or stream is None or one_sided(control) != "resp":
        return None
    if not control.fin_frames or closing(control) != ("originator", "FIN"):
        return None
    starts = job_starts(ctx, session, stream)
    fin = control.fin_frames[0]
    if not starts or starts[-1].frame > fin or not readable_from(stream, control,
                                                                 starts[-1].frame):
        return None
    start = starts[-1]
    if any(message_op(m) in JOB_ENDS and start.frame < m.frame < fin
           for m in stream.messages if m.direction == "orig"):
        return None
    return (f"the capture holds only {control.orig_h}'s packets of the control connection "
            f"{endpoint(control.orig_h, control.orig_p)} -> "
            f"{endpoint(control.resp_h, control.resp_p)}, and {control.orig_h} closed it "
            f"(FIN, frame {fin}) after {message_op(start)} (frame {start.frame}) with no "
            "DATA_STOP, DATA_ABORT or CONNECT_CLOSE of its own: the job did not end as a "
            "job ends (a DMA stops the data server after its halt); whether the agent "
            "halted, reset its connections or went silent first is in the direction the "
            "capture lacks")
