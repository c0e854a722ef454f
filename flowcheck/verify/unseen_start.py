"""A job whose start the capture does not hold (the capture started after it: tcpdump
begun mid-job, or a ring buffer's older files gone) whose control connection the capture
shows reset or closed while it ran: control_reset or control_closed, as when the start
is in the capture (flowcheck.verify.running).

What shows the job was running is its data: a data connection of the session carrying
the job's bytes in the capture (running_data, control_stall.start_unseen); a halt
(NOTIFY_DATA_HALTED, NOTIFY_MOVER_HALTED) in the capture after them is the job's end
(first_halt; the decision is running._job_end's, from the data's first packet:
JobBegin). The control conversation has to be readable from its first captured packet
on, both ways (snapped_halts.whole_after; or every header kept by a snap length that cut
the bodies: headers_whole), so that a halt or a CONNECT_CLOSE before the reset or close
would be in the capture; else nothing is judged here, as before (the verdict then says
what it can).

The stored cuts this judges (a started-late cut, `editcap -r in out K-N`, of
ndmjob-idle/idle-rst-agent, ndmjob-kill/agent-kill9-media, ndmjob-pathloss/
dma-killed-pathloss-media, ...) read PASS: an agent killed mid-backup, a control
connection reset by a firewall's idle timeout, were a clean job.
"""

from __future__ import annotations

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, NdmpStream, Session, connection_ends
from flowcheck.sessions import message_op
from flowcheck.verify.context import Context
from flowcheck.verify.one_way_data import data_carried
from flowcheck.verify.replies import HALTS
from flowcheck.verify.snapped_halts import headers_whole, whole_after


@fields_dataclass(frozen=True, slots=True)
class JobBegin:
    """Where the capture first shows the running job (its frame number and time, seconds
    on the capture clock): its start request `start` (the last DATA_START_* or
    MOVER_LISTEN-like start: three_way_close.job_starts, or a stand-in for it), or, when
    the capture lacks it, its running data's first captured packet (`start` None:
    running_data). `count`: the job's starts in the capture (1 for the running data:
    the resources before the capture are not in it)."""

    frame: int
    ts: float
    start: NdmpMessage | None = None
    count: int = 1

    @classmethod
    def at_start(cls, starts: list[NdmpMessage]) -> JobBegin:
        """The job's last start request of `starts` (capture order)."""
        return cls(starts[-1].frame, starts[-1].ts, starts[-1], len(starts))

    @classmethod
    def at_data(cls, data: Connection) -> JobBegin:
        """The running data's first captured packet."""
        return cls(data.first_frame, data.ts)


def running_data(ctx: Context, session: Session) -> Connection | None:
    """The session's first data connection (by its first captured frame) that carried
    payload bytes in the capture (one_way_data.data_carried): what shows its job was
    running; None when none did."""
    return next((conn for conn in data_carried(ctx, session)
                 if conn.orig_bytes + conn.resp_bytes), None)


def unseen_start_judged(ctx: Context, session: Session, stream: NdmpStream,
                        control: Connection) -> bool:
    """May the job whose start the capture lacks be judged on the control connection's
    end: a data connection of the session carried bytes in the capture, and the control
    conversation is readable both ways from its first captured packet on, or a snap
    length cut its bodies but kept every message header (headers_whole: a halt would
    show by its header)? Not when the control connection's first FIN or RST comes before
    that data in the file: it did not end while that data ran (files joined in reverse
    order, `mergecap -a` of a ring's parts last first: a clean job read control_closed)."""
    data = running_data(ctx, session)
    ends = control.fin_frames[:1] + control.rst_frames[:1]
    return (data is not None and not (ends and min(ends) < data.first_frame)
            and (whole_after(ctx, session, stream, control.first_frame)
                 or headers_whole(ctx, session, stream)))


def first_halt(ctx: Context, stream: NdmpStream, begin: JobBegin) -> NdmpMessage | None:
    """The stream's first NOTIFY_*_HALTED after the job's begin (ctx.order.later: by
    frame within one sniffer's file, else by time; one before it ended an earlier
    resource); None when none."""
    return next((m for m in stream.messages if message_op(m) in HALTS
                 and ctx.order.later(m.frame, m.ts, begin.frame, begin.ts)), None)


def unseen_start_words(ctx: Context, session: Session) -> str:
    """"its start before the capture began; its data connection A -> B carried 1163680 B
    from frame 1 on": what shows the job was running, for the findings' messages."""
    data = running_data(ctx, session)
    if data is None:
        return "its start before the capture began"
    return (f"its start before the capture began; its data connection "
            f"{connection_ends(data)} carried {data.orig_bytes + data.resp_bytes:,} B in the "
            f"capture from {frame_text(data.first_frame)} on")
