"""Checks on the control conversation: error replies and abnormal halts."""

from __future__ import annotations

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text, frames_words
from flowcheck.model import Allows, Announcement, NdmpMessage, NdmpStream, Session, Severity
from flowcheck.ndmp.protocol import DATA_HALT_REASONS, MOVER_HALT_REASONS_V4
from flowcheck.printable import printable_name
from flowcheck.sessions import message_op
from flowcheck.sessions.classify import FATAL_REPLIES
from flowcheck.verify.abortive_close import abortive_close, abortive_fix, abortive_words
from flowcheck.verify.after_close import ended_words, job_ended
from flowcheck.verify.capture_time import after
from flowcheck.verify.context import Context, endpoint
from flowcheck.verify.lone_connect_error import lone_syn_error
from flowcheck.verify.one_way_point import named, taken_on, taken_words
from flowcheck.verify.own_halt import own_halt_words
from flowcheck.verify.refused_connect import refused_replies
from flowcheck.verify.reply_errors import (
    pause_before,
    server_fix,
    server_reason,
    tape_open_pending,
    tape_open_retried,
    tape_open_retry_cut,
)
from flowcheck.verify.reply_fixes import CONNECTING, connect_rule, reply_fix

# Requests a DMA repeats after a refusal, and what a retry gets (reply_severity).
_RETRIED = {"TAPE_OPEN": "whether it got the drive",
            "CONNECT_OPEN": "whether the agent took the version it offered"}
# Halt posts: (reason prefix, the normal end, reason names for a numeric reason; the
# version is not known here, so v4's, which add to v2's and v3's).
HALTS = {"NOTIFY_DATA_HALTED": ("DATA_HALT_", "SUCCESSFUL", DATA_HALT_REASONS),
         "NOTIFY_MOVER_HALTED": ("MOVER_HALT_", "CONNECT_CLOSED", MOVER_HALT_REASONS_V4)}


def check_replies(ctx: Context) -> None:
    for session in ctx.sessions:
        stream = ctx.stream_by_uid.get(session.control_uid)
        if stream is None:
            continue
        # Warnings of one kind (request, error, side) are said once, with their count:
        # a failed job's DMA polls and aborts again and again.
        repeated: dict[tuple[str, str, str], list[NdmpMessage]] = {}
        # Requests carrying an endpoint refused before any connect: root causes.
        refused = refused_replies(ctx, session.announced)
        for index, message in enumerate(stream.messages):
            if message.type == "reply" and message.error:
                _error_reply(ctx, session, stream, index, message, repeated,
                             refused.get(message.frame))
        for messages in repeated.values():
            _report_reply(ctx, session, messages, Severity.WARNING)
    # Halts come last: a halt after a reported root cause is its consequence.
    for session in ctx.sessions:
        stream = ctx.stream_by_uid.get(session.control_uid)
        if stream is not None and not ctx.causes.get(session.id):
            for message in stream.messages:
                _halt(ctx, session, message)
            for reply, halt in _polled_halts(ctx, session, stream):
                _halt(ctx, session, reply, halt)


def reply_severity(op: str, stream: NdmpStream, index: int) -> Severity:
    if op in FATAL_REPLIES:
        return Severity.ERROR
    if op == "TAPE_OPEN":
        # A drive that cannot be opened stops the job, unless a later TAPE_OPEN got it or
        # the capture ended with the session still waiting (tape_open_pending).
        # A later TAPE_OPEN reply whose error the capture cut: whether it got the drive
        # cannot be seen (tape_open_retry_cut).
        return (Severity.WARNING if tape_open_retried(stream.messages, index)
                or tape_open_retry_cut(stream.messages, index) is not None
                or tape_open_pending(stream, index) else Severity.ERROR)
    if op == "CONNECT_OPEN":
        # Version negotiation: a refused version is fine if a later CONNECT_OPEN succeeds.
        # A later reply whose error word the capture cut is no success, nor a refusal.
        return (Severity.WARNING if tape_open_retried(stream.messages, index, op)
                or tape_open_retry_cut(stream.messages, index, op) is not None
                else Severity.ERROR)
    return Severity.WARNING


def _error_reply(ctx: Context, session: Session, stream: NdmpStream, index: int,
                 message: NdmpMessage,
                 repeated: dict[tuple[str, str, str], list[NdmpMessage]],
                 refused: Announcement | None) -> None:
    """refused: the endpoint the request carried, when the reply refused it before any
    connect (flowcheck.verify.refused_connect): the root cause whatever else failed."""
    op = message_op(message)
    if refused is None and (op in CONNECTING or _connects(stream, index, message)) and \
            "data" in ctx.causes.get(session.id, set()):
        return  # the failed data connection is the root cause, already reported
    severity = reply_severity(op, stream, index)
    closed = _closed_job(ctx, session, message, "answer")
    if closed is not None:
        # The job had ended before the capture saw it run: its peer's late answer to a
        # request of that closed job fails nothing. Seen from the agent's side only, it
        # may have (verify.unseen_running): no failure the capture shows either.
        _report_reply(ctx, session, [message], Severity.WARNING, closed[0], fix=closed[1])
        return
    if severity == Severity.ERROR:
        _report_reply(ctx, session, [message], severity,
                      _before_connect(message, refused) if refused else "")
    else:
        repeated.setdefault((op, _error_words(message), message.direction), []).append(message)


def _closed_job(ctx: Context, session: Session, message: NdmpMessage,
                what: str) -> tuple[str, str] | None:
    """(words after a finding's first sentence, its fix) when `message` (an error reply,
    a halt: `what`, "answer" or "halt") came after the session's job had ended before
    the capture saw it run (after_close.job_ended): that closed job's aftermath, a
    warning, never an error (docs/json.md: an `ended` session holds none); None else."""
    gone = job_ended(ctx, session)
    if gone is None or not gone.ended_by(message.frame):
        return None
    if gone.closed is None:
        return (f" But {ended_words(session, gone)}, so this may be the {what} of a job "
                "already closed: not an error the capture shows the job met.",
                _capture_from_start(ctx, session) + " from before the job starts to judge "
                "it; the media server's job log says whether the job was still running "
                "then.")
    met = "an error the job met" if what == "answer" else "a failure the capture saw"
    return (f" The job had ended {ended_words(session, gone)}, so this is the {what} of a "
            f"job already closed, not {met}.",
            "Nothing to fix for this job: it had ended before the capture saw it run "
            "(start the capture before a job starts to judge it).")


def _capture_from_start(ctx: Context, session: Session) -> str:
    """Where to capture the job again: "Capture both directions (tcpdump without -Q on
    the media server 10.77.0.1 or the agent 10.77.0.2, or a SPAN of both rx and tx)",
    no point named as the one to go to instead (words64: "on the media server itself"
    was said to a capture nothing places, the agent's packets alone on Ethernet, as
    `tcpdump -Q out` on the agent's interface writes them); when the Linux cooked marks
    prove the capture taken on one of the session's two hosts (one_way_point.taken_on),
    that host again or the other: "This capture was taken on the agent 10.77.0.2 itself
    (...): capture there again, both directions (tcpdump without -Q), or on the media
    server 10.77.0.1" (it said "on the media server itself" whatever the capture
    point)."""
    hosts = (session.media_server, session.remote_agent)
    found = taken_on(ctx.host_marks, hosts)
    if found is None:
        return (f"Capture both directions (tcpdump without -Q on "
                f"{named(ctx.host_role, hosts[0])} or {named(ctx.host_role, hosts[1])}, or a "
                "SPAN of both rx and tx)")
    host, peer, ttl = found
    other = next(h for h in hosts if h != host)
    return (taken_words(named(ctx.host_role, host), host, peer, ttl) + ": capture there "
            "again, both directions (tcpdump without -Q: -Q in/out keeps one), or on "
            f"{named(ctx.host_role, other)},")


def _error_words(message: NdmpMessage) -> str:
    return message.error_name.removeprefix("NDMP_") if message.error_name else str(
        message.error)


def _before_connect(reply: NdmpMessage, carried: Announcement) -> str:
    """" The agent refused the request itself, before connecting to 10.77.0.1:5375 (no
    connection to it in the capture): ..." for a refused request carrying an endpoint."""
    who = "agent" if reply.direction == "resp" else "media server"
    return (f" The {who} refused the request itself, before connecting to "
            f"{endpoint(carried.ip, carried.port)} (no "
            "connection to it in the capture): not a network failure, so no port or "
            "firewall is at fault.")


def _report_reply(ctx: Context, session: Session, messages: list[NdmpMessage],
                  severity: Severity, before_connect: str = "", fix: str = "") -> None:
    """One ndmp_error_reply for error replies of one kind (the same request, error and
    side), with their count and frames; before_connect: words after the message's first
    sentence (_before_connect's, or why a closed job's reply fails nothing); fix: the fix
    instead of reply_fix's."""
    first = messages[0]
    op, error = message_op(first), _error_words(first)
    side = "agent" if first.direction == "resp" else "media server"
    frames = [m.frame for m in messages]
    where = (f"{frame_text(first.frame)}" if len(messages) == 1 else
             f"{len(messages)} times, {frames_words(frames[:8], ranges=False, plural=True)}"
             + (f" and {len(frames) - 8} more" if len(frames) > 8 else ""))
    reason = server_reason(op, error)
    host = session.remote_agent if first.direction == "resp" else session.media_server
    stream = ctx.stream_by_uid.get(session.control_uid)
    if (op == "TAPE_OPEN" and severity == Severity.WARNING and not fix and stream is not None
            and tape_open_pending(stream, stream.messages.index(messages[-1]))):
        # The capture ended with the session still waiting for the drive.
        before_connect = (f" The session was still open when the capture ended, "
                          f"{span_words(after(ctx, messages[-1].ts, messages[-1].frame))} "
                          "after it, with no later TAPE_OPEN: a DMA may try the drive again "
                          "(Backup Exec waits for a busy one), so whether the job got it "
                          "cannot be seen.")
        then = server_fix(op, error, host) or "See the tape agent's log."
        fix = f"Capture until the job ends. If it failed there: {then[:1].lower()}{then[1:]}"
    elif op in _RETRIED and severity == Severity.WARNING and not fix and stream is not None \
            and (cut := tape_open_retry_cut(stream.messages, stream.messages.index(messages[-1]),
                                            op)) is not None:
        # A later TAPE_OPEN / CONNECT_OPEN was answered, its error word not captured.
        before_connect = (f" A later {op} of the session was answered "
                          f"({frame_text(cut.frame)}), but the capture cut that reply before "
                          f"its error word (the snap length): {_RETRIED[op]}, or the job "
                          "stopped here, cannot be seen.")
        then = server_fix(op, error, host) or ("See the tape agent's log." if op == "TAPE_OPEN"
                                               else reply_fix(ctx, session, op, error))
        fix = ("Capture whole packets (tcpdump -s 0) to read that reply, or see the job's "
               f"log. If the job failed there: {then[:1].lower()}{then[1:]}")
    elif op == "TAPE_OPEN" and severity == Severity.WARNING and not fix:
        # A later TAPE_OPEN succeeded (reply_severity): the drive was got (field check 40).
        fix = ("Nothing to fix for this job: a later TAPE_OPEN of the session succeeded (the "
               "drive was free or loaded by then).")
    fix = fix or server_fix(op, error, host) or ""
    # Allow rules between the session's hosts are the fix only where the agent had to
    # connect (connect_rule); only then does the finding name them (Finding.allows).
    rule = None if fix else connect_rule(ctx, session, op, refused=bool(before_connect),
                                         reply=first)
    # The connect's error right after its lone SYN: most likely a reject (lone_connect_error).
    lone = (lone_syn_error(ctx, session, first)
            if rule is not None and len(messages) == 1 and op in CONNECTING else None)
    if lone is not None:
        frames = sorted({*frames, *lone[0].syn_frames[:1]})
    ctx.add("ndmp_error_reply",
            f"{op} was answered {error} by the {side} ({where}, control "
            f"connection {session.media_server} -> {session.remote_agent})."
            + (f" The server refused it because {reason}." if reason else "")
            + (lone[1] if lone is not None else "")
            + before_connect + ("" if severity == Severity.ERROR or before_connect else
               " Real jobs answer some polls with errors; this alone does not fail a job."),
            fix or rule or reply_fix(ctx, session, op, error, refused=bool(before_connect),
                                     host=host),
            severity=severity, session=session,
            conn=ctx.by_uid.get(session.control_uid), frames=frames, ts=first.ts,
            cause="ndmp" if severity == Severity.ERROR else None,
            reading="likely_rejected" if lone is not None else "",
            allows=None if rule is None else Allows((session.media_server, session.remote_agent)))


def _connects(stream: NdmpStream, index: int, reply: NdmpMessage) -> bool:
    """Did the request this reply answers tell the agent to connect: carry an announced
    endpoint (NDMP v2's DATA_START_BACKUP / DATA_START_RECOVER hold the mover's address,
    and the data server connects before it replies)?"""
    announced = {a.frame for a in stream.announcements}
    return any(m.frame in announced and m.type == "request" and m.direction != reply.direction
               and (m.sequence == reply.reply_sequence or
                    (not reply.reply_sequence and m.code == reply.code))
               for m in stream.messages[:index])


def halt_reason(message: NdmpMessage, prefix: str, names: list[str]) -> str | None:
    raw = message.body.get("reason", message.body.get("halt_reason"))
    if isinstance(raw, int) and not isinstance(raw, bool):
        return names[raw] if 0 <= raw < len(names) else str(raw)
    if isinstance(raw, str) and raw:
        return raw.upper().removeprefix("NDMP_").removeprefix(prefix)
    return None


def abnormal_reason(message: NdmpMessage) -> str | None:
    """A NOTIFY_*_HALTED's reason when it is not the normal end (SUCCESSFUL, the mover's
    CONNECT_CLOSED); None for a normal one, for NA (no verdict) and for a reason a cut
    body hides."""
    reason = posted_halt(message)
    return None if reason is None or reason in (HALTS[message_op(message)][1], "NA") \
        else reason


def posted_halt(message: NdmpMessage) -> str | None:
    """The reason a NOTIFY_*_HALTED post gives, in HALTS' words ("SUCCESSFUL",
    "CONNECT_ERROR", "NA", ...: halt_reason); None for any other message and for a
    reason its body does not hold."""
    op = message_op(message)
    if op not in HALTS or message.type == "reply":
        return None
    prefix, _, names = HALTS[op]
    return halt_reason(message, prefix, names)


# State replies and the state that says their service halted (NDMP v2-v4:
# ndmp_data_state HALTED = 2, ndmp_mover_state HALTED = 4, with its `halt_reason`), and
# the post that notifies that halt.
HALTED_STATES = {"DATA_GET_STATE": 2, "MOVER_GET_STATE": 4}
_NOTIFIED_BY = {"DATA_GET_STATE": "NOTIFY_DATA_HALTED", "MOVER_GET_STATE": "NOTIFY_MOVER_HALTED"}


def says_halted(m: NdmpMessage) -> bool:
    """Is `m` a state reply saying its service halted (HALTED_STATES)?"""
    op = message_op(m)
    return (m.type == "reply" and m.error_free and op in HALTED_STATES
            and m.body.get("state") == HALTED_STATES[op])


def _polled_halts(ctx: Context, session: Session, stream: NdmpStream
                  ) -> list[tuple[NdmpMessage, str]]:
    """(the first state reply saying its service halted with an abnormal reason, the
    halt it stands for) for each service whose NOTIFY_*_HALTED the control stream lacks
    while the sniffer lost bytes of it: the post may be what was lost, the DMA's poll
    still read the reason (trial39-server-errors/tape-full-mover-paused-eom without its
    NOTIFY_MOVER_HALTED ABORTED read PASS). [] for a stream of which nothing was missed."""
    control = ctx.by_uid.get(session.control_uid)
    if control is None or not control.missed_bytes:
        return []
    found = []
    for op, halt in _NOTIFIED_BY.items():
        if any(message_op(m) == halt for m in stream.messages):
            continue
        reply = next((m for m in stream.messages if message_op(m) == op and says_halted(m)
                      and _reason(m, halt) not in (None, HALTS[halt][1], "NA")), None)
        if reply is not None:
            found.append((reply, halt))
    return found


def _reason(message: NdmpMessage, halt: str) -> str | None:
    """The halt reason `message` gives in the words of the halt `halt` (HALTS)."""
    prefix, _, names = HALTS[halt]
    return halt_reason(message, prefix, names)


def _halt(ctx: Context, session: Session, message: NdmpMessage,
          polled: str | None = None) -> None:
    """data_halted_abnormally for a NOTIFY_*_HALTED with an abnormal reason; polled: the
    halt a state reply `message` stands for (_polled_halts)."""
    reason = abnormal_reason(message) if polled is None else _reason(message, polled)
    if reason is None:
        return
    op = polled or message_op(message)
    what = "data agent" if op == "NOTIFY_DATA_HALTED" else "mover (tape side)"
    where = (f"{frame_text(message.frame)}" if polled is None else
             f"{message_op(message)} reply, {frame_text(message.frame)}: its {polled} is not in "
             "the capture, whose control stream the sniffer lost bytes of")
    # From the wire: control characters escaped (the message reaches terminals).
    text = printable_name(str(message.body.get("text") or message.body.get("reason_text") or ""))
    # A CONNECT_ERROR just after a data connection's abortive close: the reset is named
    # (trial 19 D12: it read "a firewall, the dynamic port ranges").
    found = abortive_close(ctx, session, message) if reason == "CONNECT_ERROR" else None
    # The halting side's own close of the data connection before it (trial 27 D6).
    own, own_frames = own_halt_words(ctx, session, message, reason)
    stream = ctx.stream_by_uid.get(session.control_uid)
    paused = (pause_before(stream.messages, message)
              if reason == "ABORTED" and stream is not None and found is None else None)
    if paused is not None:
        own, own_frames = own + paused[1], [*own_frames, paused[0].frame]
    # A halt of a job that had ended before the capture saw it run (its peer's socket
    # gone: readings62) is that closed job's aftermath, a warning.
    closed = _closed_job(ctx, session, message, "halt")
    ctx.add("data_halted_abnormally",
            f"The {what} halted with reason {reason} ({where})"
            + (f": {text}" if text else "") + "; the backup or restore did not complete."
            + (abortive_words(found, session, f"the {what}") if found else own)
            + (closed[0] if closed else ""),
            closed[1] if closed else abortive_fix(found, session) if found
            else paused[2] if paused is not None else _halt_fix(reason, session),
            session=session, conn=ctx.by_uid.get(session.control_uid),
            frames=([*found.conn.fin_frames[:1], found.conn.rst_frames[0]] if found
                    else own_frames) + [message.frame], ts=message.ts, cause="halt",
            severity=Severity.WARNING if closed else None)


def _halt_fix(reason: str, session: Session) -> str:
    """Where to look for a halt's reason (NDMP v4 halt reasons)."""
    logs = "Read the agent's and the media server's job logs at that time"
    if reason == "CONNECT_ERROR":
        return (f"{logs}: CONNECT_ERROR points at the data connection between "
                f"{session.media_server} and {session.remote_agent} (a firewall, the "
                "dynamic port ranges, a device that resets it).")
    if reason == "MEDIA_ERROR":
        tape = session.remote_agent  # a three-way job's tape agent is named (trial 27 D6)
        where = (f" of the tape agent {tape}"
                 if session.server_roles.get(tape) == "tape agent" else "")
        return f"{logs}: MEDIA_ERROR points at the tape or the storage device{where}."
    if reason == "ABORTED":
        return (f"{logs}: ABORTED means the job was stopped (an operator's cancel, or the "
                "backup application on an error it logged).")
    return f"{logs}: the side that halted says why in its log."
