"""capture_started_mid_session: a session whose control connection the capture first saw
after its handshake.

The capture started after the control connection had opened, or its first captured
packet follows a ring buffer's hole (Session.start_gap: the ring's older files gone, or a
gap between ring files). The info says what the steps are judged on, which stay unknown,
how many data connections were matched to the session by direction and ports, and,
when its job had ended before the capture saw it run (verify.after_close.job_ended),
that what the capture holds of it is that closed job's answer. Written after the steps,
whose statuses it names (verify.steps.check_steps). When the control stream holds the
session's first NDMP message (plain_reading.stream_opening: the agent's greeting, or the
DMA's CONNECT_OPEN request), only the handshake came before the capture, and the words
say so (latestart). Its fix offers `--profile ndmp` when a GET_STATE reply shows
the mover listening (verify.named_mover, latecut). docs/findings.md,
capture_started_mid_session (trial 13: the words on the steps; trial 15: a closed job).
"""

from __future__ import annotations

from flowcheck.model import Connection, Session, connection_ends
from flowcheck.verify.after_close import ended_words, job_ended
from flowcheck.verify.context import Context
from flowcheck.verify.named_mover import named_mover_advice
from flowcheck.verify.plain_reading import opening_words, stream_opening
from flowcheck.verify.tied_words import tied_words


def started_mid_session(ctx: Context, session: Session, conn: Connection,
                        late: str | None = None) -> None:
    """capture_started_mid_session: the session's control connection first seen after its
    handshake, at the capture's start or after a ring hole (Session.start_gap): what the
    steps are judged on, the ones that stay unknown (its steps are evaluated), and how
    many data connections were matched to it by direction and ports. late: the words of
    a job the capture joined while it ran (late_job.joined_late_words), whose resources'
    steps were made unknown for it."""
    where = f"{connection_ends(conn)}"
    unknown = [str(step.step) for step in session.steps if step.status == "unknown"]
    packet = "that packet" if session.start_gap is not None else "its first captured packet"
    opening = None if session.start_gap is not None and not session.start_gap.head else \
        stream_opening(ctx.stream_by_uid.get(session.control_uid))
    judged_on = (f"what came before {packet} (its handshake, any announcement) is not in "
                 "the capture, so the steps are judged on what followed it"
                 if opening is None else
                 f"its handshake is not in the capture, but the session's first NDMP "
                 f"message is ({opening_words(opening)}): nothing of its job came before "
                 "the capture")
    if unknown:
        many = len(unknown) > 1
        judged_on += (f", and step{'s' if many else ''} {', '.join(unknown)} "
                      f"{'stay' if many else 'stays'} unknown; ")
    else:
        judged_on += " (each step's detail says what shows it); "
    if session.start_gap is not None and session.start_gap.head:
        head = (f"The capture set starts late: session {session.id}'s control connection "
                f"{where} had opened before its first captured packet, and the ring's files "
                f"older than {session.start_gap.after} are gone (the ring overwrote them, or "
                f"they were not copied): {judged_on}")
        hidden = ("those files may hold (already open, or opened before the control "
                  "stream shows) ")
        fix = ("Make the ring hold the whole job: more or larger files (dumpcap -b files:N "
               "-b filesize:KB, tcpdump -W N -C MB), or copy its files off before the ring "
               "overwrites them.")
    elif session.start_gap is not None:
        head = (f"Session {session.id}'s control connection {where} opened in "
                f"{session.start_gap.words()}, or before it and sent nothing until after it "
                f"(a control connection is idle while the data flows): its first captured "
                f"packet follows the hole, and {judged_on}")
        hidden = ("the hole may hide (already open, or opened after it but before the "
                  "control stream shows) ")
        fix = "Analyze the whole ring (every file of it) to check every step."
    else:
        head = (f"The capture started after session {session.id}'s control connection "
                f"{where} had opened: {judged_on}")
        hidden = ("the capture may have missed (already open, or opened before its control "
                  "stream shows) ")
        fix = ("Start the capture before the job starts to check every step." if opening
               is None else "Nothing to change for this job; start the capture before the "
               "control connection opens to see its handshake too.")
    count = len(session.port_matched)
    # newuser59: "no connection whose announcement the capture may have missed ... was
    # matched" read as a double negative; none matched is said as such.
    matched = (f"{count} data connection{'s' if count != 1 else ''} whose announcement "
               f"{hidden}{'were' if count > 1 else 'was'} matched to it by direction and "
               "ports." if count else
               f"matching by direction and ports (for a connection whose announcement "
               f"{hidden.rstrip()}) gave it {'none of its own' if session.port_tied else 'none'}.")
    if session.port_tied:
        # Jobs begun before the capture at once: what fits several alike goes to none
        # (sessions.late_owners; review56p).
        goes = "they go" if len(session.port_tied) > 1 else "it goes"
        matched = f"{tied_words(ctx, session)}, so {goes} to none of them; {matched}"
    gone = job_ended(ctx, session)
    ended = "" if gone is None else (
        f" Its job had ended {ended_words(session, gone)}; what the capture holds of it "
        "(a refused connection, error replies) is that closed job's answer, not a failure, "
        "and its steps after the control connection are not judged (not_applicable)."
        if gone.closed is not None else
        f" But {ended_words(session, gone)}; what the capture holds of it (error replies, "
        "a connect with no answer it could hold) may be a closed job's answer, so its steps "
        "after the control connection are unknown.")
    if late is not None:
        ended += (f" The capture started after its job began, too: {late}; so its "
                  "resources' steps are unknown for the job as a whole, not passed on the "
                  "part the capture holds.")
        fix = ("Start the capture before the job starts to judge the whole job (a resource "
               "before the capture may have failed)." if session.start_gap is None else
               f"{fix} The job began before the set's first packet of it: a resource before "
               "that may have failed.")
    fix += named_mover_advice(ctx, session)
    ctx.add("capture_started_mid_session",
            f"{head}{matched}{ended}", fix, session=session, conn=conn,
            frames=[conn.first_frame])
