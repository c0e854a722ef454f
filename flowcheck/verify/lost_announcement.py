"""Step 3 when the capture lacks the address an announcement gave (flowcheck.verify
.data_steps.announcement_step): the announcing message lost (the sniffer, a filter, the
direction the capture lacks), or read with its address cut (the snap length) or sent
before the capture started; the data connections are matched by direction and ports
(Session.match_reason, Session.port_matched).

One rule, whatever hid the address (new-user trial 54 found four readings of one blind
spot: `unknown` with a NAT paragraph for a capture of one direction whose ACKs proved
600,000 B delivered, `ok` for the snap length's cut, `ok` "announced before the capture
started" for an announcement never seen, whose data connection failed): what the capture
proves. Data that flowed on a matched connection shows the announcement reached the
connector (it reached the announced port): step 3 `ok`, whichever way the address went
missing (one direction, the sniffer's loss, a filter, the snap length's cut, before the
capture started); so does an announcing message the capture holds with its address cut
by the snap length (its header read: a message counts so, contract.md), data or not.
Whether the announcement named the address the connection reached cannot be checked without it: a
NAT device between the hosts delivers a connection to the announced port under another
address (`announced_address_mismatch`, an error, when the address is read:
captures/lab/announced-address-nat); the detail says so, unless a captured
DATA_GET_STATE or MOVER_GET_STATE reply names the endpoint (Session.port_named,
flowcheck.sessions.named: "so the announcement worked"). With no such data (a data
connection that failed, none at all) nothing shows the announcement reached: `unknown`.
An address in the capture in a type flowcheck cannot read stays `ok`. A control
connection in TLS is no missing address but a hidden conversation (the job's replies and
halts too): there step 3 stays `unknown` unless a reply names the endpoint.
"""

from __future__ import annotations

from flowcheck.frame_names import frames_words
from flowcheck.model import Connection, NdmpMessage, Said, Session, Step, cites_of
from flowcheck.profiles import StepSpec
from flowcheck.sessions.named import NAMING_REPLIES
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


def unchecked_words(ctx: Context, session: Session, reached: list[str]) -> Said:
    """What data that flowed cannot show of an announcement whose address the capture
    lacks (the module's docstring); reached: the connections that carried it, those no
    DATA_GET_STATE / MOVER_GET_STATE reply names (unnamed_words: how many)."""
    return Said(f"whether it named the address {', '.join(reached)} reached cannot be "
                "checked (announced_address_mismatch needs the address read; "
                f"{unnamed_words(ctx, session, len(reached) > 1)})",
                ["announced_address_mismatch"])


def unnamed_words(ctx: Context, session: Session, many: bool) -> str:
    """Why no captured DATA_GET_STATE / MOVER_GET_STATE reply names the endpoint(s) (many:
    several): "no DATA_GET_STATE or MOVER_GET_STATE reply in the capture names that
    endpoint", or, when such replies are in the capture partial before their address (no
    address read, no error the capture holds), that those were cut, not absent, and by
    what: "the snap length cut the 5 DATA_GET_STATE replies in the capture (frames 19,
    466, 470, 475, 480) before the endpoint they give, so none can be read to name that
    endpoint" (words64: field check 76 runs 9 and 18, ndmjob `-s 96`, every reply cut to
    30 B of TCP payload, read "no ... reply in the capture names that endpoint"); a reply
    whose rest the capture lacks (a hole, the capture's end: no length on the wire
    known) "breaks off before the endpoint it gives, the rest of its bytes not in the
    capture" (review64d: v3-backup's replies holed at full snap length read "the snap
    length cut")."""
    that = "those endpoints" if many else "that endpoint"
    stream = ctx.stream_by_uid.get(session.control_uid)
    cut = [m for m in (stream.messages if stream else ())
           if m.type == "reply" and m.name in NAMING_REPLIES and m.partial
           and not m.addresses and not m.error]
    if not cut:
        return f"no DATA_GET_STATE or MOVER_GET_STATE reply in the capture names {that}"
    whole = [m for m in stream.messages if m.type == "reply" and m.name in NAMING_REPLIES
             and m not in cut] if stream else []
    snapped = [m for m in cut if m.body_len is not None]
    broken = [m for m in cut if m.body_len is None]
    parts = []
    if snapped:
        parts.append(f"the snap length cut {_replies(snapped)} in the capture "
                     f"({frames_words([m.frame for m in snapped])}) before the endpoint "
                     f"{'they give' if len(snapped) > 1 else 'it gives'}")
    if broken:
        one = len(broken) == 1
        parts.append(f"{_replies(broken)} in the capture "
                     f"({frames_words([m.frame for m in broken])}) "
                     f"{'breaks' if one else 'break'} off before the endpoint "
                     f"{'it gives' if one else 'they give'}, the rest of "
                     f"{'its' if one else 'their'} bytes not in the capture")
    return (", and ".join(parts) + f", so {'none' if len(cut) > 1 else 'it'} can be read "
            f"to name {that}"
            + (f", and no other reply names {'them' if many else 'it'}" if whole else ""))


def _replies(messages: list[NdmpMessage]) -> str:
    """"the 5 DATA_GET_STATE replies", "the MOVER_GET_STATE reply": messages, replies."""
    names = " or ".join(dict.fromkeys(m.name.removeprefix("NDMP_") for m in sorted(
        messages, key=lambda m: m.name)))
    return f"the {len(messages)} {names} replies" if len(messages) > 1 else f"the {names} reply"


def say_unchecked(ctx: Context, session: Session, control: Connection,
                  reached: list[str]) -> None:
    """The unchecked address (unchecked_words) said in the finding that says why the
    capture lacks it, not in step 3's detail alone, where a script reading the findings
    of a PASS does not look (review 54g: lab/announced-address-nat, FAIL
    announced_address_mismatch, read PASS cut `-s 96` or to the media server's packets,
    its ndmp_partial and capture_one_direction silent on it): the snap length's
    ndmp_partial (NdmpStream.snap_finding), a capture_one_direction naming the control
    connection's hosts, and the sniffer's loss's ndmp_partial (NdmpStream.findings)
    unless it says so already (NdmpStream.holes_unchecked, data, not its words):
    flowcheck.ndmp.lost does of a hole whose messages the
    sequence numbers name, the reply that announced among them ("not that the address
    given is the one reached"), not of one holding more than they tell (review
    finalread54b: announced-address-nat without frames 20-26, the DATA_LISTEN request
    and reply and DATA_START_BACKUP, read PASS, its ndmp_partial silent on it). The
    capture_loss finding is made after the steps: a stream whose every NDMP byte the
    capture lacks has no finding to carry it."""
    stream = ctx.stream_by_uid.get(control.uid)
    targets = [stream.snap_finding] if stream is not None and stream.snap_finding \
        is not None and session.cut_announcements else []
    if session.match_reason == "capture_loss" and stream is not None \
            and not stream.holes_unchecked:  # its one ndmp_partial says so already
        targets += [f for f in stream.findings if f.code == "ndmp_partial"
                    and all(f is not t for t in targets)]
    if session.match_reason == "one_direction":
        ways = ((control.orig_h, control.resp_h), (control.resp_h, control.orig_h))
        said = {id(f) for way in ways for f in ctx.one_direction.get(way, [])}
        targets += [f for f in ctx.findings if id(f) in said]
    many = len(reached) > 1
    note = (f" Session {session.id}: whether its announcement named the address "
            f"{', '.join(reached)} reached cannot be checked: announced_address_mismatch "
            "(an error: a NAT device between the hosts delivers a connection to the "
            f"announced port under another address) needs the announced address, and "
            f"{unnamed_words(ctx, session, many)}.")
    for finding in targets:
        if note not in finding.message:
            finding.message += note


def address_unseen_step(ctx: Context, session: Session, spec: StepSpec,
                        control: Connection) -> Step:
    """Step 3 for a session whose announcements' addresses the capture lacks
    (Session.match_reason set, or cut_announcements): one rule whatever hid them (the
    module's docstring): `ok` when a connection matched to them carried the job's data
    (the announcement reached the connector) or the announcing message is in the
    capture with its address cut, the detail saying whether a captured
    DATA_GET_STATE / MOVER_GET_STATE reply names the endpoint or the address cannot be
    checked; `unknown` when none did, or a reply the capture lacks may have refused a
    resource, or the agent closed on a request the capture lacks."""
    frames = [frame for frame, _, _ in session.cut_announcements]
    words = cut_announcement_words(session, ctx)
    closed = unanswered_close_words(ctx, session, control)
    if closed:  # the agent closed on a request the capture does not hold
        return _untimed(make_step(spec, "unknown", [control.uid], frames,
                                  f"unknown: {closed}; {words}",
                                  cites=cites_of(closed, words)), frames)
    carried = job_bytes(ctx, session, [ctx.by_uid[u] for u in session.port_matched])
    asked = unseen_replies(ctx, session)
    if carried and asked:  # a resource's endpoint reply, unseen, may have refused it
        unseen = unseen_replies_words(session, asked)
        return make_step(spec, "unknown", [control.uid], [m.frame for m in asked],
                         f"unknown: {unseen}; {carried}", cites=cites_of(unseen, carried))
    if session.match_reason == "address_type":
        # The address is in the capture, in a type flowcheck does not read: no
        # capture would show more.
        named = named_words(session)
        return make_step(spec, "ok", [control.uid], frames,
                         f"{words}{f' ({named})' if named else ''}", cites=cites_of(words))
    # The announcing message read, its address cut (cut_announcements: its header is in
    # the capture, and a message counts so: contract.md), or data that flowed on a
    # matched connection (it reached the announced port): the announcement was made and
    # reached. A stream the snap length left no message of ties nothing to one.
    if session.cut_announcements or (carried and session.match_reason != "snap_length"):
        named = named_words(session)
        reached = [uid for uid in unnamed(session)
                   if is_open(judged(ctx, ctx.by_uid[uid]))]
        unchecked = unchecked_words(ctx, session, reached) if reached else ""
        checked = "; ".join(w for w in (
            f"its address checked: {named}" if named else "", unchecked) if w)
        cites = cites_of(words, carried, unchecked)
        # What the capture lacks, said beside what the data proves of the network
        # (newuser55: "the announcement reached the connector; so the announcement
        # worked" of an announcement ndmp_partial said was never captured).
        # In TLS the capture holds it, encrypted, as `words` says (review56b: "the
        # announcement is inside it; ... though the capture lacks it" of tls-start-clean).
        what = "its address" if session.cut_announcements else "it"
        lacks = ("" if session.match_reason == "encrypted" else
                 f", though the capture lacks {what}")
        if reached and session.match_reason != "encrypted":
            say_unchecked(ctx, session, control, reached)
        if not carried:  # its message alone shows it
            return make_step(spec, "ok", [control.uid], frames,
                             words + (f"; {checked}" if checked else ""), cites=cites)
        if reached and session.match_reason == "encrypted":
            # TLS hides the whole conversation, not the address alone: the job's replies
            # and halts too (docs/findings.md: a clean job in TLS reads inconclusive).
            return _untimed(make_step(
                spec, "unknown", [control.uid], frames,
                f"unknown: {words}; {carried}: the announcement reached the connector"
                f"{lacks}, but {checked}", cites=cites), frames)
        return _untimed(make_step(
            spec, "ok", [control.uid], frames,
            f"{words}; {carried}: the announcement reached the connector{lacks}"
            + (f"; {checked}" if checked else ""), cites=cites), frames)
    tied = tied_words(ctx, session) if not carried and session.port_tied else ""
    proof = (f"{carried}, but nothing ties them to an announcement" if carried else
             f"but {tied}" if session.port_tied else
             "no data connection carried the job's data to show that the announcement "
             "reached the connector")
    return _untimed(make_step(spec, "unknown", [control.uid], frames,
                              f"unknown: {words}; {proof}",
                              cites=cites_of(words, carried, tied)), frames)


def _untimed(step: Step, frames: list[int]) -> Step:
    """The step, its time unknown when no announcing message of it is in the capture
    (Step.untimed: the reports show "-", not the control connection's start, "+0.000s"
    of an announcement the capture lost; newuser55)."""
    step.untimed = not frames
    return step
