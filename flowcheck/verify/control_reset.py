"""control_reset: a session's control connection reset while its job ran, after its halt
before the job could end (a RST answered its last message, never delivered), or between
resources before all the configured ones ran (flowcheck.verify.running decides which).

The Backup Exec job then ends with "Communication Failure has occurred between the Job
Engine and Remote Agent". How the reset came reads its cause
(flowcheck.verify.reset_answer): a RST whose TTL is not that of its side's own packets,
or that answered a packet faster than the round trip to its sender's side (unless its TTL
is the side's own), came from a device between the hosts (unless that side had closed
the connection first: flowcheck.verify.running reads control_closed when the job was
running), and one after a long silence
of the control connection (it sits idle while the data flows) from a firewall's or NAT's
idle timeout.
"""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import (
    Connection,
    NdmpMessage,
    NdmpStream,
    Session,
    connection_ends,
    other_direction,
)
from flowcheck.sessions import message_op
from flowcheck.verify.allow_rules import capitalised
from flowcheck.verify.clock_order import end_order_doubt
from flowcheck.verify.context import Context
from flowcheck.verify.host_stopped import host_stopped, stopped_fix, stopped_words
from flowcheck.verify.keepalive_reset import keepalive_words, probe_answer_words
from flowcheck.verify.replies import HALTS
from flowcheck.verify.reset_answer import (
    IDLE_BEFORE_RESET_SECONDS,
    IDLE_SECONDS,
    Answer,
    idle_timeout_fix,
    reset_answer,
    silence_before,
    silence_words,
)
from flowcheck.verify.reset_first import cut_after_reset
from flowcheck.verify.rst_words import cited_rsts, reset_time, reset_words
from flowcheck.verify.sent_after_reset import sent_after_reset
from flowcheck.verify.ttl import forged_words, reset_ttls, ttl_word
from flowcheck.verify.unseen_start import running_data, unseen_start_words


def halt_unanswered(ctx: Context, stream: NdmpStream, control: Connection,
                    halt: NdmpMessage) -> bool:
    """Did the control connection's RST answer an NDMP message sent at or after the halt
    that its receiver never acknowledged (reset_answer)? The halt never reached the DMA,
    or the DMA's next request the agent: the job cannot end normally."""
    return _lost_after(reset_answer(ctx, stream, control), halt) is not None


def _lost_after(answer: Answer | None, halt: NdmpMessage) -> NdmpMessage | None:
    """The NDMP message the RST answered when sent at or after the halt, else None."""
    if answer is None or answer.message is None or answer.packet.frame < halt.frame:
        return None
    return answer.message


def report_reset(ctx: Context, session: Session, stream: NdmpStream, control: Connection,
                 start: NdmpMessage | None, resource: int, halt: NdmpMessage | None
                 ) -> None:
    """One control_reset for the session. start: the running resource's DATA_START_*
    request (None: the job started before the capture, its data seen flowing:
    flowcheck.verify.unseen_start); resource: its number; halt: None while it ran, else
    its halt (the reset came after it: halt_unanswered, or fewer resources started than
    configured)."""
    if halt is None and _clocks_doubt(ctx, session, stream, control, start):
        return
    answer = reset_answer(ctx, stream, control)
    what = "the job" if resource == 1 else f"the job's resource {resource}"
    if halt is None:
        begun = (unseen_start_words(ctx, session) if start is None else
                 f"{message_op(start)}, {frame_text(start.frame)}")
        when = (f"while {what} was running ({begun}, no "
                "NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED after it)")
        then = "The job cannot go on without it."
    elif (lost := _lost_after(answer, halt)) is not None:
        when = (f"after {what} halted ({message_op(halt)}, {frame_text(halt.frame)}) and before "
                "the session's CONNECT_CLOSE")
        then = _undelivered(lost)
    elif (went_on := sent_after_reset(control)) is not None:
        # A message resent after the RST in its side's name (the halt the DMA never
        # acknowledged to it): a device sent that RST (multipath field check).
        when = (f"after {what} halted ({message_op(halt)}, {frame_text(halt.frame)}) and before "
                "the session's CONNECT_CLOSE")
        side = _role(control, "orig" if went_on[0] == control.orig_h else "resp")[1]
        then = (f"{capitalised(side)} went on sending on it after the RST in its name (its "
                f"last packet with data: {frame_text(went_on[1])}), so its own TCP had not reset "
                "it: the DMA cannot finish the job (DATA_STOP, CONNECT_CLOSE) on a "
                "connection reset under it, which ends in failure.")
    elif (cut := cut_after_reset(ctx, session)) is not None:
        when = (f"after {what} halted ({message_op(halt)}, {frame_text(halt.frame)}) and before "
                "the session's CONNECT_CLOSE")
        then = (f"The job ended with it: the data connection's receiver then closed it "
                f"mid-transfer (FIN, {frame_text(cut.fin_frames[0])}) while its sender was still "
                "sending (its later bytes reset), so the data was cut short, the halt "
                "notwithstanding (it says only that the sender's writes returned).")
    else:
        answer = None  # the rest never ran: that is the finding, whatever the RST answered
        when = (f"after {what} halted ({message_op(halt)}, {frame_text(halt.frame)}) and before "
                f"the session's CONNECT_CLOSE, with {resource} of the "
                f"{ctx.config.resources} configured resources started")
        then = "The job's remaining resources never ran."
    head = (f"The control connection {connection_ends(control)} was reset")
    data = running_data(ctx, session) if start is None else None
    first = ([start.frame] if start is not None else
             [data.first_frame] if data is not None else [])
    if answer is not None:
        host = control.host(answer.by)
        message, fix = _answered(stream, control, answer, host,
                                 f"{head} ({reset_words(control)}) {when}. {then}",
                                 host_stopped(ctx, session, host, answer.packet.ts))
        frames = [*first, *([halt.frame] if halt else []), answer.packet.frame,
                  *cited_rsts(control)]
    else:
        message, fix, last, probes = _unanswered(ctx, stream, control, start, halt, head,
                                                 when, then)
        frames = [*first, *([last.frame] if last is not None else []), *probes,
                  *cited_rsts(control)]
    ctx.add("control_reset", message, fix, session=session, conn=control,
            frames=list(dict.fromkeys(frames)), ts=reset_time(control), cause="control")
    if halt is None:
        ctx.reset_mid_job.add(session.id)


def _clocks_doubt(ctx: Context, session: Session, stream: NdmpStream, control: Connection,
                  start: NdmpMessage | None) -> bool:
    """Whether the reset (the control connection's first RST), the job's start and the
    halts cannot be ordered on two clocks apart (clock_order.end_order_doubt:
    capture_clocks_apart reported, True): "while the job was running" rests on it."""
    reset = stream.reset
    if reset is None:
        return False
    words = (f"{_role(control, reset.direction)[0]}'s reset of the control connection "
             f"{connection_ends(control)} (RST, {frame_text(reset.frame)})")
    return end_order_doubt(ctx, session, stream, control, start,
                           (reset.direction, reset.frame, reset.ts, words),
                           "whether the control connection was reset while the job ran",
                           "control_reset")


def _role(control: Connection, side: str) -> tuple[str, str]:
    """("the agent 10.77.1.2", "the agent") for a side of the control connection."""
    if side == "orig":
        return f"the media server {control.orig_h}", "the media server"
    return f"the agent {control.resp_h}", "the agent"


def _undelivered(message: NdmpMessage) -> str:
    """What a message the RST answered, never delivered, means for a job that halted."""
    op = message_op(message)
    if message.direction == "orig":
        return (f"The DMA's {op} never reached the agent: the DMA cannot finish the job "
                "(DATA_STOP, CONNECT_CLOSE), which ends in failure.")
    if op in HALTS:
        return ("The halt never reached the DMA, which cannot learn that the job ended: the "
                "job ends in failure, whatever the halt said.")
    return f"The agent's {op} never reached the DMA: the job ends in failure."


def _answered(stream: NdmpStream, control: Connection, answer: Answer, host: str,
              head: str, stopped: Connection | None = None) -> tuple[str, str]:
    """The message and fix of a reset that answered a packet (reset_answer); host: the
    address of the RST's side; stopped: a data connection that host went silent on
    mid-transfer before the silence (host_stopped), None when none."""
    side, short = _role(control, answer.by)
    sender = _role(control, answer.packet.direction)[1]
    what = (f"{message_op(answer.message)} ({frame_text(answer.packet.frame)})"
            if answer.message is not None else f"FIN ({frame_text(answer.packet.frame)})")
    text = (f"{head} The RST, in {side}'s name, answered {sender}'s {what} "
            f"{span_words(answer.delay)} after it instead of acknowledging it: ")
    silence = silence_before(stream, answer.packet.ts, answer.packet.frame)
    halted_host = (silence.seconds >= IDLE_SECONDS and stopped is not None
                   and not answer.forged and not answer.in_between)
    if answer.closed is not None and not answer.forged:
        return text + closed_first_words(short, answer.closed.frame) + ".", (
            f"See {_service(short)} log and system log at that time (stopped, restarted or "
            "crashed), then the job log.")
    if answer.forged and answer.ttls is not None:
        fast = (f", and it came faster than the round trip to {short} "
                f"({span_words(answer.round_trip)} in the handshake)"
                if answer.fast and answer.round_trip is not None else "")
        text += (f"{forged_words(host, *answer.ttls)}{fast}: a device between them (a "
                 f"firewall or NAT) sent it in {host}'s name, which no longer had the "
                 "connection's state.")
    elif answer.in_between and answer.round_trip is not None:
        text += (f"faster than the round trip to {short} ({span_words(answer.round_trip)} "
                 f"in the handshake), so {short} did not send it; a device between them (a "
                 "firewall or NAT) did, which no longer had the connection's state.")
    elif answer.fast and answer.ttls is not None and answer.round_trip is not None:
        # The timing alone would name a device; the TTL says the side's own system.
        text += (f"faster than half the round trip to {short} "
                 f"({span_words(answer.round_trip)} in the handshake), but with the "
                 f"{ttl_word(host)} of "
                 f"{host}'s own packets ({answer.ttls[0]}), so {short}'s own system sent it "
                 "(its TCP, which no longer had the connection, or its host firewall); a "
                 f"device between them would send its own {ttl_word(host)}.")
    elif answer.ttls is not None and not halted_host:
        # The same TTL as the side's own packets: its own system, unless a device on its
        # segment or one that keeps the TTL (verify.ttl; trial 40 t1c). A stopped host's
        # words say so themselves (stopped_words).
        text += (f"its {ttl_word(host)} {answer.ttls[0]}, that of {host}'s own packets then, "
                 + _own_system(host, short, "its TCP, which no longer had the connection"))
    else:
        text += (f"{short} no longer had the connection, or a device between them (a "
                 "firewall or NAT) that no longer had its state answered in its name.")
    path = f"{control.orig_h} and {control.resp_h}"
    devices = (f"the session and event logs of the firewalls, NAT devices and IPSs between "
               f"{path} at that time (a session dropped, a failover, a blocked flow)")
    if halted_host:
        text += stopped_words(stopped, host, short, silence_words(silence))
        fix = stopped_fix(stopped, host, short, _service(short), answer.packet.ts)
    elif silence.seconds >= IDLE_SECONDS:
        text += (" Before it the control connection had sat idle "
                 f"{silence_words(silence)}: a firewall or NAT device drops an idle "
                 "connection's state after its idle timeout and answers the connection's "
                 "next packet with a reset.")
        fix = idle_timeout_fix(control) + (
            "." if answer.in_between else
            f"; if no firewall or NAT keeps the connection's state, see {_service(short)} "
            "log and system log at that time (a restart).")
    elif silence.after is None and not (control.syn_frames or control.synack_frames):
        # The capture started mid-connection with no silence in what it holds: the
        # silence before its first captured packet is not in it (idle or not, unknown).
        text += (" How long the control connection had sat idle before it cannot be told: "
                 "it opened before the capture started, which holds no NDMP message of it "
                 "before that exchange (a firewall or NAT device drops an idle "
                 "connection's state after its idle timeout and answers the connection's "
                 "next packet with a reset).")
        fix = (idle_timeout_fix(control) + f"; if the job was not idle that long, see "
               f"{_service(short)} log and system log at that time (a restart) and "
               f"{devices}.")
    else:
        quiet = (f" The control connection was not idle long before it "
                 f"({span_words(silence.seconds)} of silence)" if silence.seconds else
                 " The control connection was not idle before it")
        if answer.in_between:
            text += (f"{quiet}, so not after an idle timeout: the device lost the "
                     "connection's state (a failover, a reload of its state table) or blocks "
                     "the session (an IPS).")
            fix = f"See {devices}."
        else:
            text += (f"{quiet}: {_service(short)} or its host lost the connection (a "
                     "restart), or a device between them lost its state (a failover) or "
                     "blocks the session.")
            fix = (f"See {_service(short)} log and system log at that time (a restart); if "
                   f"it did not reset the session, {devices}.")
    return text, fix


def closed_first_words(short: str, fin: int) -> str:
    """"the agent had closed the connection itself (its FIN, frame 1678) ..." for a RST
    whose side had closed the connection first (reset_answer.closed_before_reset)."""
    return (f"{short} had closed the connection itself (its FIN, {frame_text(fin)}) and its "
            "system answers a closed connection's later packets with a RST (RFC 9293 "
            "3.10.7.1), however soon: the RST is its own, a consequence of the close")


def _service(short: str) -> str:
    """"the agent's NDMP service", "the media server's job engine"."""
    return f"{short}'s " + ("NDMP service" if short == "the agent" else "job engine")


def _unanswered_ttl(control: Connection, side: str, ttls: tuple[int, int]) -> str:
    """What one side's unprompted RST's TTL says (verify.ttl.reset_ttls): another than
    the side's own packets' then, a device between them sent it in its name; the same,
    most likely its own system (trial 41)."""
    host = control.host(side)
    short = _role(control, side)[1]
    if ttls[0] != ttls[1]:
        return (f" The RST carries {forged_words(host, *ttls)}: a device between them (a "
                f"firewall or NAT) sent it in {host}'s name.")
    return (f" The RST's {ttl_word(host)} {ttls[0]} is that of {host}'s own packets then, "
            + _own_system(host, short, "its service closing the session abortively"))


def _probe_ttl(control: Connection, side: str, ttls: tuple[int, int] | None) -> str:
    """What the TTL of a RST that answered a keepalive probe says of its sender."""
    host = control.host(side)
    short = _role(control, side)[1]
    if ttls is not None and ttls[0] != ttls[1]:
        return (f" The RST carries {forged_words(host, *ttls)}: a device between them (a "
                f"firewall or NAT) sent it in {host}'s name, having no state for the "
                "connection any more.")
    return (f" {capitalised(short)} no longer had the connection (its TCP resets a "
            "packet of a connection it does not know: a restart), or a device between "
            "them that no longer had its state answered in its name.")


def _own_system(host: str, short: str, how: str) -> str:
    """"so most likely the agent's own system sent it (HOW, or its host firewall); ...":
    a RST with its side's own TTL then (verify.ttl)."""
    return (f"so most likely {short}'s own system sent it ({how}, or its host firewall); "
            f"a device between them sends its own {ttl_word(host)}, unless it sits on "
            f"{host}'s network segment or keeps the TTL.")


def _unanswered(ctx: Context, stream: NdmpStream, control: Connection,
                start: NdmpMessage | None, halt: NdmpMessage | None, head: str, when: str,
                then: str) -> tuple[str, str, NdmpMessage | None, list[int]]:
    """The message, fix, last NDMP message and keepalive probes' frames (its side's TCP
    gave the connection up after them: flowcheck.verify.keepalive_reset) of a reset that
    answered no packet: the
    silence before it tells an idle timeout (a device that resets a connection when its
    idle timer ends) from a side that gave the session up; RSTs from both ends at once
    are a firewall's or IPS's; one side's RST's TTL tells its own system from a device's
    in its name (_unanswered_ttl)."""
    reset_ts = reset_time(control)
    before = [m for m in stream.messages if m.ts <= reset_ts]
    last = before[-1] if before else start
    both = control.orig_rst and control.resp_rst
    ends = ("both ends" if both else _role(control, "orig")[0] if control.orig_rst
            else _role(control, "resp")[0])
    since = (f"{span_words(max(0.0, reset_ts - last.ts))} after its last NDMP message ("
             f"{frame_text(last.frame)})" if last is not None else "no NDMP message of it in the "
             "capture before it")
    text = f"{head} by {ends} ({reset_words(control)}) {when}, {since}. {then}"
    silence = silence_before(stream, reset_ts, control.rst_frames[0])
    path = f"{control.orig_h} and {control.resp_h}"
    side = None if both else "orig" if control.orig_rst else "resp"
    ttls = None if side is None else reset_ttls(ctx, control, side)
    answered = None if side is None else probe_answer_words(
        stream, control, side, (_role(control, side)[0],
                                _role(control, other_direction(side))[0]),
        _probe_ttl(control, side, ttls))
    if answered is not None:
        return text + answered[0], answered[1], last, answered[2]
    probed = None if side is None or (ttls is not None and ttls[0] != ttls[1]) else \
        keepalive_words(ctx, stream, control, side,
                        (_role(control, side)[0],
                         _role(control, other_direction(side))[0]))
    if probed is not None:  # its own TCP's keepalive timeout: the TTL says nothing more
        return text + probed[0], probed[1], last, probed[2]
    if ttls is not None:
        text += _unanswered_ttl(control, side, ttls)  # type: ignore[arg-type]
    if silence.seconds >= IDLE_BEFORE_RESET_SECONDS:
        text += (" The control connection sat idle"
                 + (" while the data flowed" if halt is None else "")
                 + f", for {silence_words(silence)}: a firewall or NAT device that drops an idle "
                 "connection's state after its idle timeout resets it, or answers its next "
                 "packet with a reset.")
        return text, f"{idle_timeout_fix(control)}.", last, []
    soon = last is not None and reset_ts - last.ts < IDLE_SECONDS
    text += (" It came soon after the last message: " if soon else
             f" The control connection had sat idle {silence_words(silence)}: ") + (
        "resets from both ends at once are what a firewall or IPS between them does when "
        "it blocks a session, though two hosts giving up at once would look the same."
        if both else "one side gave the session up (the job was cancelled, or an error on "
        "its side), or a device between them reset it"
        + ("." if soon else " (a firewall's or NAT's idle timeout shorter than that)."))
    fix = (f"See the job log and the agent's log at that time for why the session ended; if "
           f"neither host reset it, look for a firewall or IPS between {path} that resets "
           "it (its session or threat log)"
           + ("." if soon else f"; for an idle timeout: {idle_timeout_fix(control)[0].lower()}"
              f"{idle_timeout_fix(control)[1:]}."))
    return text, fix, last, []
