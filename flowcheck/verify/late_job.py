"""A job the capture joined while it ran: its resources' steps `unknown` for the job as
a whole (the lead's decision after the cut sweep; contract.md, "Verdict and exit codes":
inconclusive when the capture "started too close to the event").

A session whose control connection opened before the capture (no handshake captured:
capture_started_mid_session) and whose stream holds nothing of the session's own start
(NOTIFY_CONNECTED, CONNECT_OPEN, CONNECT_*_AUTH, CONFIG_* queries, its callback's SYN)
before its first job message (DATA_LISTEN, DATA_CONNECT, DATA_START_*, MOVER_LISTEN,
MOVER_CONNECT: request or reply), if any, may have run its job before the capture began:
that first job message may be a later resource's (trial37b's synproxy-dataport-closed-
media cut to its second half begins with the first resource's NOTIFY_DATA_HALTED). What
the capture holds of it may be clean while a resource before it failed: the lab's data-
port-in-use (its first resource's data connection refused, data_refused, a second one
used), its `.vxlanasym` variant and synproxy-dataport-closed-media, cut to drop their
first 10, 25 or 50% of frames, read PASS where the whole capture reads FAIL. So when no
error was found for the session, each of its resources' steps (the announcement, the
data connection, the data flow) that reads `ok` reads `unknown`, its detail saying that
the capture started after the job began, naming the session's first captured packet and
what the capture lacks, and keeping what it shows: the verdict is inconclusive, and
capture_started_mid_session's fix asks for a capture started before the job. Failures
found in the captured part stay failures (an error: the verdict is fail anyway); a
session whose job had ended before the capture (after_close.job_ended: "not a job in the
capture", docs/findings.md data_refused), a capture a filter kept no SYN of
(capture_filtered: the handshake is the filter's), a session first seen after a hole
inside a ring (capture_ring_gap) and a job whose session's start is in the capture are
left as they are. A capture that holds as many resources as `resources` configures is not
one of them (review54g: data-port-in-use cut from frame 24, its second resource alone,
read PASS with `resources = 1`): the setting is what the user believes the job runs, never
checked against traffic the capture lacks, so it cannot show that no resource ran before
the capture started; the words say so (configured_resources_words).
"""

from __future__ import annotations

from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, NdmpMessage, Session, cites_of, connection_ends
from flowcheck.model.traffic import endpoint
from flowcheck.profiles import Profile
from flowcheck.sessions import announcement_groups, message_op
from flowcheck.sessions.classify import DATA_INTENT
from flowcheck.verify.after_close import job_ended
from flowcheck.verify.context import Context, session_uids
from flowcheck.verify.kept import kept
from flowcheck.verify.session_words import opened_unseen_words
from flowcheck.verify.step_base import make_step

RESOURCE_KINDS = ("announcement", "data_connection", "data_flow")
# How the detail of a step made unknown here begins.
JOINED_DETAIL = "unknown for the job as a whole: the capture started after the job began"
# The job's messages (its resources' announcements and starts, request or reply), and
# the session's, from its greeting to its configuration queries, that come before them.
_JOB = DATA_INTENT
_SETUP = frozenset({"NOTIFY_CONNECTED", "CONNECT_OPEN", "CONNECT_CLIENT_AUTH",
                    "CONNECT_SERVER_AUTH"})


def joined_late_words(ctx: Context, session: Session, control: Connection) -> str | None:
    """"the session's first captured packet is frame 1 (its data connection C1 ..., already
    open), and the capture holds neither ... so its first job message in the capture (the
    DATA_LISTEN request, frame 3) may be ...: a resource before the capture may have
    failed there" (request or reply said: the steps name the reply that announced,
    "DATA_LISTEN (frame 4)", newuser54) when the session's control connection opened
    before the capture (the caller's test: no handshake captured; not after a hole inside
    a ring), nothing of the session's start (_setup, its callback's SYN) comes before its
    first job message (_JOB) in the capture, its job had not ended before the capture
    (job_ended), no error names the session and no filter that kept no SYN at all left the
    handshake out (kept: what the capture lacks is the filter's, capture_filtered); None
    else."""
    packets = kept(ctx)
    if packets.shape is not None and "syn" not in packets.kinds:
        return None  # a filter that kept no SYN left the handshake out: capture_filtered's
    if after_ring_hole(session):
        return None  # a hole inside the ring, not a capture that started late
    stream = ctx.stream_by_uid.get(session.control_uid)
    messages = stream.messages if stream is not None else []
    job = next((m for m in messages if message_op(m) in _JOB), None)
    if any(_setup(m) for m in messages if job is None or m.frame < job.frame):
        return None  # the session's start in the capture: its job's with it
    callback = ctx.by_uid.get(session.callback_uid or "")
    if callback is not None and callback.syn_seen and (
            job is None or not ctx.order.later(callback.first_frame, callback.ts,
                                               job.frame, job.ts)):
        return None  # its callback opened in the capture, before the job: the session's
    if job_ended(ctx, session) is not None or ctx.has_error(session.id):
        return None
    uids = session_uids(session)
    captured = [conn for uid in uids if (conn := ctx.by_uid.get(uid)) is not None
                and conn.first_frame]
    first = min(captured, key=lambda c: c.first_frame, default=control)
    what = ("its control connection" if first is control else
            "its callback" if first.uid == session.callback_uid else
            "its connection held only closing" if first.uid in session.closing_only
            else "its data connection")
    # Which end opened a connection the capture holds no opening of is not in it (trial
    # 20 D3); a control connection's runs to the NDMP port.
    opened = first is not control and first.syn_seen
    ends = (connection_ends(first) if first is control or opened else
            f"{endpoint(first.orig_h, first.orig_p)} <-> {endpoint(first.resp_h, first.resp_p)}")
    start = {"backup": "DATA_START_BACKUP", "restore": "DATA_START_RECOVER"}.get(
        session.kind, "DATA_START_*")
    return (f"the session's first captured packet is {frame_text(first.first_frame)} ({what} "
            f"{first.uid} {ends}, {'its SYN' if opened else 'already open'}), and the "
            "capture holds neither the "
            f"control connection's opening (it opened {opened_unseen_words(session)}) nor "
            + (f"the job's start ({start}, the announcements before it)" if job is None else
               "the session's start (NOTIFY_CONNECTED, CONNECT_OPEN, CONNECT_CLIENT_AUTH), "
               f"so its first job message in the capture (the {message_op(job)} "
               f"{job.type}, {frame_text(job.frame)}) may be a later resource's")
            + ": a resource before the capture may have failed there"
            + configured_resources_words(ctx, session))


def configured_resources_words(ctx: Context, session: Session) -> str:
    """"; the capture holds as many resources as `resources` configures (3: 3 announcements
    read whole, 3 data connections opened in it), but that setting is not checked against
    traffic the capture lacks: a job with more resources than configured may have run
    one before the capture" when `resources` is configured and the session's control
    connection announced at least that many endpoints whole and at least that many of
    its data connections opened in the capture (their SYN in it); "" else. Each resource
    takes its own announcement and data connection and one whose port failed is skipped,
    not retried (flow-model.md), so the count would vouch for the job only if the
    setting were exact; a user who gives too few (review54g: `resources = 1` for
    data-port-in-use's two, its first refused) would read a failed job as passed. New-user
    trial 54 (lab/clean-3-resources without its first 17 frames) read so as well: the
    doubt stays, and these words say why `resources` does not lift it."""
    resources = ctx.config.resources
    if not resources:
        return ""
    announced = len(announcement_groups(session.announced))
    opened = sum(1 for uid in session.data_connections
                 if (conn := ctx.by_uid.get(uid)) is not None and conn.syn_seen)
    if announced < resources or opened < resources:
        return ""
    return (f"; the capture holds as many resources as `resources` configures ({resources}: "
            f"{announced} announcement{'s' if announced != 1 else ''} read whole, {opened} "
            f"data connection{'s' if opened != 1 else ''} opened in it), but that setting is "
            "not checked against traffic the capture lacks: a job with more resources than "
            "configured may have run one before the capture")


def after_ring_hole(session: Session) -> bool:
    """Was the session first seen after a hole inside a ring buffer (Session.start_gap, a
    gap between two of its files: capture_ring_gap), not at the capture's start? Such a
    session may have opened in the hole, so the capture did not start late for it:
    joined_late_words leaves it, and the note under the verdict
    (report.verdict_notes.mid_job_note) does not count it. A session after the ring's head (its
    oldest files gone) is one the capture set joined late, like a capture started late."""
    return session.start_gap is not None and not session.start_gap.head


def _setup(message: NdmpMessage) -> bool:
    """Is the message one of the session's own before its job: its greeting, CONNECT_*
    opening or authentication (_SETUP), or a CONFIG_* query?"""
    op = message_op(message)
    return op in _SETUP or op.startswith("CONFIG_")


def unjudge_job_steps(session: Session, profile: Profile, words: str) -> list[int]:
    """Each of the session's RESOURCE_KINDS steps that reads `ok` made `unknown` for the
    job as a whole, its evidence and detail kept after the reason (joined_late_words'
    `words` on the first one, the later ones pointing to it); the numbers of the steps
    changed."""
    changed: list[int] = []
    for index, (step, spec) in enumerate(zip(session.steps, profile.steps, strict=True)):
        if spec.kind in RESOURCE_KINDS and step.status == "ok":
            why = f": {words}" if not changed else f" (step {changed[0]} says what it lacks)"
            session.steps[index] = make_step(
                spec, "unknown", step.uids, step.frames,
                f"{JOINED_DETAIL}{why}; what the capture shows: {step.detail}",
                cites=[*step.cites, *(cites_of(words) if not changed else ())])
            changed.append(spec.number)
    return changed
