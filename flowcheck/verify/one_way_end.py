"""A job the capture shows from the media server's side only, ended without its end
(field check 38): tcpdump `-Q out` on the media server holds its requests, never the
agent's replies, posts or resets. A DMA ends each resource's job by stopping the data
server after its halt (DATA_STOP, DATA_ABORT; MOVER_STOP, MOVER_ABORT, MOVER_CLOSE) or
the session (CONNECT_CLOSE); one that closed the control connection after a DATA_START_*
with none of them did not end the job as a job ends. Why (the agent's reset or halt, its
silence) travels the direction the capture lacks, so the data step is `unknown`, not
`ok` (an agent killed mid-restore passed on the bytes the media server had sent), unless
the media server's ACKs show the agent's FIN came first with no room for a halt
(flowcheck.verify.acked_no_halt: control_closed).

Seen from the agent's side only (`-Q in` on the media server, or on the agent), a job
ends with the agent's answers to the DMA's ending requests (its DATA_STOP reply, its
FIN after CONNECT_CLOSE): an agent that sent nothing at all after its halt shows no end
of the job. Whether the halt reached the DMA (an ACK, or a reset in the media server's
name: a router's idle timeout, ndmjob-idle/idle-rst-agent cut to the agent's packets
passed) is in the direction the capture lacks (halt_unended_words). With both
directions captured, a halt that is the control connection's last packet, never
acknowledged nor resent, leaves the same question: an ACK or reset the capture lacks
ended its sender's wait (halt_last_words)."""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Session, connection_ends, other_direction
from flowcheck.sessions import closing, message_op, one_sided
from flowcheck.verify.context import Context
from flowcheck.verify.control_stall import no_messages
from flowcheck.verify.evidence import ended_early
from flowcheck.verify.hidden_ends import JOB_ENDS
from flowcheck.verify.one_way_data import data_carried
from flowcheck.verify.replies import HALTS
from flowcheck.verify.snapped_halts import readable_from
from flowcheck.verify.three_way_close import job_starts


def unfinished_one_way_words(ctx: Context, session: Session) -> str | None:
    """"the capture holds only 10.77.0.1's packets ...: it closed ... with no DATA_STOP
    ..." when the capture lacks the agent's direction of the control connection
    (one_sided "resp"), readable from the start on (snapped_halts.readable_from: the
    field check's `-s 96` kept every header), and the media server closed it (its FIN
    first) after its last DATA_START_* with no JOB_ENDS request in between; None else."""
    control = ctx.by_uid.get(session.control_uid)
    if control is None or one_sided(control) != "resp":
        return None
    # A control connection the capture holds no payload of (it started while the data
    # flowed) has no stream of its own.
    stream = ctx.stream_by_uid.get(session.control_uid) or no_messages(control)
    if not control.fin_frames or closing(control) != ("originator", "FIN"):
        return None
    starts = job_starts(ctx, session, stream)
    fin = control.fin_frames[0]
    if starts:
        frame = starts[-1].frame
        after = f"{message_op(starts[-1])} ({frame_text(starts[-1].frame)})"
    else:
        flowed = _flowed_before(ctx, session, fin)
        if flowed is None:
            return None
        frame, after = flowed.first_frame, (
            f"the data flowed on {flowed.uid} (from {frame_text(flowed.first_frame)}; the job's "
            "start is not in the capture)")
    if frame > fin or not readable_from(stream, control, frame):
        return None
    if any(message_op(m) in JOB_ENDS and frame < m.frame < fin
           for m in stream.messages if m.direction == "orig"):
        return None
    return (f"the capture holds only {control.orig_h}'s packets of the control connection "
            f"{connection_ends(control)}, and {control.orig_h} closed it "
            f"(FIN, {frame_text(fin)}) after {after} with no "
            "DATA_STOP, DATA_ABORT or CONNECT_CLOSE of its own: the job did not end as a "
            "job ends (a DMA stops the data server after its halt); whether the agent "
            "halted, reset its connections or went silent first is in the direction the "
            "capture lacks")


def _flowed_before(ctx: Context, session: Session, fin: int) -> Connection | None:
    """The session's first data connection that carried data in the capture (its payload,
    or more than a FIN of the sender's acknowledged: one_way_data.data_carried) from a packet
    before the control connection's FIN (frame `fin`): its job was running then, where
    the capture lacks the start request (a capture started while the data flowed,
    trial31-late cut to the media server's packets: step 4 read `ok`). Its ending
    requests come after the data's end, so inside the capture. None when none."""
    return next((conn for conn in data_carried(ctx, session) if conn.first_frame < fin),
                None)


def halt_unended_words(ctx: Context, session: Session) -> str | None:
    """"the capture holds only 10.77.1.2's packets ...: after its NOTIFY_DATA_HALTED
    ... it sent nothing more ..." when the capture lacks the media server's direction of
    the control connection (one_sided "orig"), readable from the agent's last halt on
    (snapped_halts.readable_from), and the agent's last packet on it is that halt (no
    reply, FIN, RST or ACK after it; a halt resent is unjudged_halt's); None else."""
    control = ctx.by_uid.get(session.control_uid)
    stream = ctx.stream_by_uid.get(session.control_uid)
    if control is not None and stream is not None and one_sided(control) is None:
        return halt_last_words(ctx, session)
    if control is None or stream is None or one_sided(control) != "orig":
        return None
    halts = [m for m in stream.messages if m.direction == "resp" and message_op(m) in HALTS]
    if not halts or not readable_from(stream, control, halts[-1].frame):
        return None
    halt = halts[-1]
    # Its last packet the halt itself: a resend of it (unjudged_halt's) would be later.
    if control.last_frame != halt.frame or any(m.frame > halt.frame for m in stream.messages):
        return None
    return (f"the capture holds only {control.resp_h}'s packets of the control connection "
            f"{connection_ends(control)}: after its {message_op(halt)} "
            f"({frame_text(halt.frame)}) it sent nothing more in the "
            f"{span_words(ctx.end_at(halt.ts) - halt.ts)} the capture went on (no answer to a "
            "DATA_STOP or CONNECT_CLOSE, no FIN): whether the halt reached the DMA and the "
            "job ended (its ACK, the DMA's next request) or a reset came back instead is "
            "in the direction the capture lacks")


def halt_last_words(ctx: Context, session: Session) -> str | None:
    """"the NOTIFY_DATA_HALTED of 10.77.1.2 (frame 5151) is the last packet of the
    control connection ...: nothing came back ..." when the capture holds both directions
    of the control connection, a halt is its last packet (no ACK of it, no resend, no
    DATA_STOP, CONNECT_CLOSE, FIN or RST after it) and the capture went on after it: an
    ACK or a reset of the peer's that the capture lacks ended its sender's wait (its TCP
    resends what is not acknowledged), so whether the halt reached the peer, and the job
    ended, cannot be seen (ndmjob-idle/idle-rst-agent without the RST that answered the
    halt, frame 5152, read PASS); None else."""
    control = ctx.by_uid[session.control_uid]
    stream = ctx.stream_by_uid[session.control_uid]
    halts = [m for m in stream.messages if message_op(m) in HALTS]
    if not halts or halts[-1] is not stream.messages[-1] \
            or control.last_frame != halts[-1].frame or ctx.end_at(halts[-1].ts) <= halts[-1].ts:
        return None
    halt = halts[-1]
    sender, peer = control.host(halt.direction), control.host(other_direction(halt.direction))
    if ctx.end_at(halt.ts) - halt.ts < ctx.config.retransmission_timeout:
        ended_early(ctx, session, f"the {message_op(halt)} of {sender} ({frame_text(halt.frame)}), "
                    "the control connection's last packet, never acknowledged", halt.ts,
                    [halt.frame], conn=control, frame=halt.frame,
                    unseen=f"whether it reached {peer}, and the job ended,")
    return (f"the {message_op(halt)} of {sender} ({frame_text(halt.frame)}) is the last packet of "
            f"the control connection {connection_ends(control)} in the capture: {peer} never "
            f"acknowledged it, nor did {sender} resend it, in the "
            f"{span_words(ctx.end_at(halt.ts) - halt.ts)} the capture went on (no DATA_STOP, "
            "CONNECT_CLOSE or FIN after it): an ACK or a reset the capture lacks ended the "
            f"wait, so whether the halt reached {peer} and the job ended cannot be seen")
