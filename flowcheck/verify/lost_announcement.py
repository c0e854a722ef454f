"""Step 3 when the capture lacks the address an announcement gave (flowcheck.verify
.data_steps.announcement_step): the announcing message lost (the sniffer, a filter, the
direction the capture lacks), or read with its address cut (the snap length) or sent
before the capture started; the data connections are matched by direction and ports
(Session.match_reason, Session.port_matched).

Data that flowed on such a connection shows the announced port was reached, not that
the announcement named the address it was reached on: a NAT device between the hosts
delivers a connection to the announced port under another address (the job runs;
`announced_address_mismatch` when the announcement is seen: captures/lab
/announced-address-nat, which read PASS without its DATA_LISTEN reply, frame 21, or
captured `-Q out` on the media server). A DATA_GET_STATE or MOVER_GET_STATE reply that
names the endpoint a connection reached (Session.port_named, flowcheck.sessions.named)
shows it; without one step 3 is `unknown` when the announcing message is not in the
capture. An announcement read with its address cut (the snap length), in an address
type flowcheck cannot read, or sent before the capture started stays `ok`.
"""

from __future__ import annotations

from flowcheck.model import Connection, Session, Step
from flowcheck.profiles import StepSpec
from flowcheck.verify.context import Context
from flowcheck.verify.data_flow import job_bytes
from flowcheck.verify.details import named_words
from flowcheck.verify.evidence import is_open, judged
from flowcheck.verify.refused_listens import unseen_replies, unseen_replies_words
from flowcheck.verify.session_words import cut_announcement_words
from flowcheck.verify.step_base import make_step
from flowcheck.verify.tied_words import tied_words
from flowcheck.verify.unanswered_close import unanswered_close_words


def unnamed(session: Session) -> list[str]:
    """The uids of the session's connections matched by direction and ports that no
    captured DATA_GET_STATE / MOVER_GET_STATE reply names."""
    return [uid for uid in session.port_matched if uid not in session.port_named]


def unnamed_words(session: Session, carried: str, reached: list[str]) -> str:
    """Why data that flowed (`carried`: "C3 carried 200000 bytes to the media server",
    or "" for the connections merely matched) does not show an announcement whose
    address the capture lacks was right (the module's docstring); reached: the unnamed
    connections that opened (a refused one reached no endpoint: seed 109 run 23)."""
    what = carried or f"{', '.join(session.port_matched)} matched by direction and ports"
    return (f"{what}, but that shows only that the announced port was reached, not that "
            "the announcement named the address it was reached on (a NAT device between "
            "the hosts delivers a connection to the announced port under another address: "
            "announced_address_mismatch when the announcement is seen), and no "
            "DATA_GET_STATE or MOVER_GET_STATE reply in the capture names the endpoint "
            f"{', '.join(reached)} reached, so whether the announcement was right "
            "cannot be seen")


def address_unseen_step(ctx: Context, session: Session, spec: StepSpec,
                        control: Connection) -> Step:
    """Step 3 for a session whose announcements' addresses the capture lacks
    (Session.match_reason set, or cut_announcements)."""
    frames = [frame for frame, _, _ in session.cut_announcements]
    words = cut_announcement_words(session, ctx)
    closed = unanswered_close_words(ctx, session, control)
    if closed:  # the agent closed on a request the capture does not hold
        return make_step(spec, "unknown", [control.uid], frames, f"unknown: {closed}; {words}")
    carried = job_bytes(ctx, session, [ctx.by_uid[u] for u in session.port_matched])
    if session.match_reason == "capture_start" or session.cut_announcements:
        # The announcing message is on the wire (its header and error were read), or
        # came before the capture; only its address is missing from the capture.
        named = named_words(session)
        return make_step(spec, "ok", [control.uid], frames,
                         f"{words}{f' ({named})' if named else ''}")
    # No announcing message could be read at all: a data connection that carried the
    # job's bytes shows the announced port reached; a reply naming its endpoint, the
    # address too.
    asked = unseen_replies(ctx, session)
    if carried and asked:  # a resource's endpoint reply, unseen, may have refused it
        return make_step(spec, "unknown", [control.uid], [m.frame for m in asked],
                         f"unknown: {unseen_replies_words(session, asked)}; {carried}")
    if carried and session.match_reason != "snap_length":
        if unnamed(session):
            reached = [uid for uid in unnamed(session)
                       if is_open(judged(ctx, ctx.by_uid[uid]))] or unnamed(session)
            return make_step(spec, "unknown", [control.uid], frames,
                             f"unknown: {words}; {unnamed_words(session, carried, reached)}")
        return make_step(spec, "ok", [control.uid], frames,
                         f"{words}; {carried}, so the announcement worked "
                         f"({named_words(session)})")
    proof = (f"{carried}, but nothing ties them to an announcement" if carried else
             f"but {tied_words(ctx, session)}" if session.port_tied else
             "and no data connection that carried the job's bytes proves it")
    return make_step(spec, "unknown", [control.uid], frames, f"unknown: {words}; {proof}")
