"""The notes under the verdict, in the terminal and the HTML report alike: why an
inconclusive verdict is one (inconclusive_note: the capture's limits, the job's TLS, or
what the job did; first a connection to a configured agent's NDMP port that broke after
its handshake, when one did), and that a capture started mid-job
covers only part of it (mid_job_note)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcheck.findings import CAPTURE_LIMITS, control_left_out, step_unknown_in
from flowcheck.model import Severity, Step, endpoint
from flowcheck.report.overview import session_status
from flowcheck.sessions.unheard_ack import ack_unheard
from flowcheck.verify.damaged_end import cut_words, damaged_words
from flowcheck.verify.late_job import after_ring_hole
from flowcheck.verify.other_stall import stall_note
from flowcheck.verify.plain_reading import stream_opening
from flowcheck.verify.probes_only import said_probes_only

if TYPE_CHECKING:
    from flowcheck.pipeline import Analysis

# The general advice that ends the note when nothing more specific is known.
WHOLE_JOB = ": capture the whole job, both directions, with tcpdump -s 0 and no port filter."
INCONCLUSIVE_NOTE = ("No error found, but the capture cannot show whether every step "
                     f"worked (steps marked unknown say why){WHOLE_JOB}")


def inconclusive_note(analysis: Analysis) -> str:
    """The note under an inconclusive verdict: INCONCLUSIVE_NOTE, or, with no session
    and a no_control_session (a capture flowcheck could not read: its link type, the
    snap length, a tunnel; or none of the job), a pointer to that finding, whose words
    say what the capture holds and the fix (trial 24 D6: "tcpdump -s 0" for 802.11); with
    sessions, each a probe, and a no_control_session (verify.probes_only), a pointer too;
    with no session and a capture_filtered (the control connection left out), a pointer
    to it, and with sessions judged without an unknown step and a capture_filtered
    saying a piece of the set left a job's control connection out (findings
    .control_left_out), that that job could not be judged; with sessions judged
    without an unknown step and a no_control_session beside them (verify.unjudged_tls),
    that a job beside them could not be judged. Led by broken_agent_words when a
    connection to a configured agent's NDMP port broke after its handshake (field check
    60 run 4: "No error found" over a warning that the packets after the SYN never
    reached the agent of the job that failed), then by damaged_end.damaged_words when a
    file of the set is damaged (task words58: a pcapng damaged mid-job read "capture the
    whole job" alone) or damaged_end.cut_words when the capture ends where its file is
    cut (newuser63); with those, or a mid_job_note (printed before this note), the
    general advice (WHOLE_JOB) is left out."""
    note = _judged_note(analysis)
    captures = analysis.traffic.captures
    specific = damaged_words(captures) or cut_words(captures)
    if (specific or mid_job_note(analysis)) and note.endswith(WHOLE_JOB):
        # What is known of this capture's end or start says what to do (newuser63: a file
        # cut by `head -c`, a ring that wrapped, topped by "capture the whole job ..."):
        # the general advice only where nothing specific is known.
        note = note.removesuffix(WHOLE_JOB) + "."
    if specific:
        note = f"{specific} {note}"
    broken = broken_agent_words(analysis)
    if not broken:
        return note
    if note.startswith("No error found"):
        note = "In the sessions judged no error was found" + note[len("No error found"):]
    return f"{broken} {note}"


def _judged_note(analysis: Analysis) -> str:
    """inconclusive_note's words of the sessions judged and the capture."""
    if not analysis.sessions and any(f.code == "no_control_session"
                                     for f in analysis.findings):
        return ("Nothing of the job could be judged: no NDMP control connection could be "
                "read (no_control_session says what the capture holds, and the fix).")
    if said_probes_only(analysis.findings):
        # Sessions, each a probe (verify.probes_only, review56f): no step is unknown. Not
        # every session with its later steps not applicable is a probe (a browse, a
        # refused login): beside a job in TLS they read "probes only" (finalread56a).
        return ("Nothing of a job could be judged: the capture holds probes of the NDMP "
                "port only, no job (no_control_session says which, and the fix).")
    if not analysis.sessions and any(f.code == "capture_filtered" for f in analysis.findings):
        # The job's other connections without their control connection (trial 54).
        return ("Nothing of the job's steps could be judged: the capture left out its "
                "control connection (capture_filtered says what it holds, and the fix).")
    if control_left_out(analysis.findings) and not step_unknown_in(analysis.sessions):
        # Sessions judged, and beside them a piece of the set that holds a job's other
        # connections without its control connection (verify.control_left_out).
        return ("In the sessions judged no error was found, but the capture set holds "
                "another job's connections without its control connection, so nothing of "
                "that job's steps could be judged (capture_filtered says what it holds, "
                "and the fix).")
    if any(f.code == "no_control_session" for f in analysis.findings) \
            and not step_unknown_in(analysis.sessions):
        # Sessions judged, and beside them a job none could be read of (TLS on an agent's
        # NDMP port, verify.unjudged_tls: mergedsets).
        return ("In the sessions judged no error was found, but the capture set holds "
                "what may be another job that could not be judged: no NDMP control "
                "connection could be read for it (no_control_session says what it holds, "
                "and the fix).")
    if any(f.code == "step_unknown" for f in analysis.findings):
        return ("No error found, but the capture cannot show whether every step worked "
                f"(step_unknown and the steps marked unknown say why){WHOLE_JOB}")
    limits = sorted({f.code for f in analysis.findings if f.code in CAPTURE_LIMITS})
    if limits and _encrypted(analysis) and _tls_alone_hides(analysis):
        # The steps unknown are TLS's alone: no snap length or whole capture shows them
        # (field check 60 run 3: "-s 0" asked of a capture whose snap length hid no step).
        return ("No error found, but the capture cannot show whether every step "
                "worked (steps marked unknown say why): the control connection is in "
                "TLS (ndmp_undecodable), which hides the job's NDMP messages from any "
                f"capture, so the capture's own limits ({', '.join(limits)}) are not why a step "
                "is unknown.")
    if not limits and any(f.severity == Severity.WARNING for f in analysis.findings):
        if _encrypted(analysis):
            # A job in TLS hides its NDMP messages from any capture: the steps they
            # decide are unknown however far the job got (lab matrix seed 112 run 10: a
            # clean TLS restore read "the job did not get that far").
            return ("No error found, but the capture cannot show whether every step "
                    "worked (steps marked unknown say why): the control connection is in "
                    "TLS (ndmp_undecodable), which hides the job's NDMP messages from any "
                    "capture; the capture shows no limit of its own.")
        # The capture is whole as far as it shows: what the job did stopped the steps
        # (trial A of session 34: a DMA that closed after authenticating was told to
        # capture the whole job, which it had).
        return ("No error found, but the capture cannot show whether every step worked "
                "(steps marked unknown say why): the capture shows no limit of its own, so "
                "the job did not get that far; the warnings say what it did instead.")
    return INCONCLUSIVE_NOTE


def _encrypted(analysis: Analysis) -> bool:
    """Does a session's control connection go on in TLS (NdmpStream.tls_from: in band,
    or from its first byte)?"""
    tls = {s.uid for s in analysis.traffic.streams if s.tls_from}
    return any(session.control_uid in tls for session in analysis.sessions)


def _unknown_steps(analysis: Analysis) -> list[Step]:
    """Every session's steps marked unknown."""
    return [step for session in analysis.sessions for step in session.steps
            if step.status == "unknown"]


def _tls_alone_hides(analysis: Analysis) -> bool:
    """Does every unknown step cite ndmp_undecodable (TLS hides it) and none a limit of
    the capture (a CAPTURE_LIMITS code)? From Step.cites, the codes set where the detail
    was built, not from the detail's words (stepcodes63)."""
    steps = _unknown_steps(analysis)
    return bool(steps) and all(
        "ndmp_undecodable" in step.cites and not CAPTURE_LIMITS.intersection(step.cites)
        for step in steps)


def broken_agent_words(analysis: Analysis) -> str:
    """"A connection to the NDMP port of the configured agent 10.77.0.2 (C1) broke after
    its handshake: the packets after the SYN never reached 10.77.0.2 (ndmp_undecodable);
    ..." when a connection no session reads (ndmp_undecodable of another protocol, as TLS
    from the first byte reads that nothing proves a job's) to a configured agent's NDMP
    port shows TCP's proof of packets lost after the handshake (its SYN-ACK resent after
    the ACK, sessions.unheard_ack; or bytes resent unacknowledged or unheard,
    verify.other_stall); "" otherwise. Said first under the verdict: a job whose control
    connection it was failed there, whatever the connection carried."""
    config = analysis.config
    by_uid = {c.uid: c for c in analysis.traffic.connections}
    said = []
    for finding in analysis.findings:
        conn = by_uid.get(finding.uid or "")
        if (finding.code != "ndmp_undecodable" or finding.session is not None or conn is None
                or conn.resp_h not in config.remote_agents
                or conn.resp_p != config.ndmp_port):
            continue
        if ack_unheard(conn):
            lost = f"the packets after the SYN never reached {conn.resp_h}"
        else:
            stalled = stall_note(conn, analysis.traffic.host_marks)
            if stalled is None:
                continue
            lost = stalled.lost
        said.append(f"A connection to the NDMP port of the configured agent {conn.resp_h} "
                    f"({conn.uid}, {endpoint(conn.orig_h, conn.orig_p)} -> "
                    f"{endpoint(conn.resp_h, conn.resp_p)}) broke after its handshake: "
                    f"{lost} (ndmp_undecodable). "
                    + (f"No job with {conn.resp_h} is judged; one" if not any(
                        s.remote_agent == conn.resp_h for s in analysis.sessions) else "A job")
                    + " whose control connection it was cannot have run over it.")
    return " ".join(said)


def mid_job_note(analysis: Analysis) -> str:
    """Under the verdict, when the capture started after a session's control connection
    had opened (capture_started_mid_session; at the capture's start or after a ring's
    head, not after a hole inside a ring: late_job.after_ring_hole, the rule late_job
    follows too): the verdict covers only the part of the job the capture holds (trial 20
    D3: a plain PASS for a capture of the last resource of three), or, after a job began
    (verify.late_job), that a resource before may have failed; "" otherwise, and for a
    session whose control stream holds its first NDMP message (plain_reading
    .stream_opening: only its handshake came before the capture, latestart). After a
    ring's head the fix is capture_started_mid_session's: a ring that holds the job.
    A session whose job had ended before the capture saw it run (Session.ended) is not
    said to be mid-job: ended_note says what it is (newuser61: the header said "started
    mid-job (session S2" while S2's steps said its job had ended)."""
    streams = {s.uid: s for s in analysis.traffic.streams}
    gaps = {s.id for s in analysis.sessions if after_ring_hole(s)
            or stream_opening(streams.get(s.control_uid)) is not None}
    ended = set(_ended(analysis))
    started = list(dict.fromkeys(
        f.session for f in analysis.findings
        if f.code == "capture_started_mid_session" and f.session and f.session not in gaps
        and f.session not in ended))
    left = ended_note(analysis)
    if not started:
        return left
    which, many = ", ".join(started), "s" if len(started) > 1 else ""
    joined = [s.id for s in analysis.sessions if s.id in started and s.joined_late]
    ring = any(s.start_gap is not None for s in analysis.sessions if s.id in started)
    begun, before = (("The capture set starts mid-job (the ring's oldest files are gone; ",
                      "make the ring hold the whole job (capture_started_mid_session's fix)")
                     if ring else ("The capture started mid-job (",
                                   "start the capture before the job starts"))
    return (f"{begun}session{many} {which}: capture_started_mid_session)"
            + (f", after the job of {', '.join(joined)} began: a resource before the capture "
               f"may have failed, so the verdict cannot pass that job on the part the capture "
               f"holds; {before} to judge the whole job."
               if joined else ": the verdict covers only what the capture holds of it; "
               f"{before} to check every step.")) + (f" {left}" if left else "")


def _ended(analysis: Analysis) -> list[str]:
    """The sessions whose status is `ended` (report.overview.session_status: a leftover
    with an error is `failed`, a job the verdict judged)."""
    return [s.id for s in analysis.sessions if s.ended
            and session_status(s, analysis.findings) == "ended"]


def ended_note(analysis: Analysis) -> str:
    """"Session S1 is not a job in the capture: its job had ended before the capture
    saw it run (...)" for the sessions whose status is `ended` (Session.ended), "" when
    none is: the leftover stays in the report, its findings kept, but it is no job the
    verdict passes."""
    ended = _ended(analysis)
    if not ended:
        return ""
    which, many = ", ".join(ended), len(ended) > 1
    return (f"Session{'s' if many else ''} {which} {'are' if many else 'is'} not "
            f"{'jobs' if many else 'a job'} in the capture (status ended before capture, "
            "judged false): the job had ended before the capture saw it run, so what the "
            "capture holds of it (a late connect, error replies) is that closed job's "
            "aftermath, not judged; its steps say how it ended.")
