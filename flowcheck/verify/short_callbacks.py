"""Jobs at once that outnumber the callbacks that could be theirs (Session.callback_short,
flowcheck.sessions.callback_elsewhere).

A callback under another address of the agent (dual-stack hosts: control over IPv6, the
callback over IPv4) that fits two waiting sessions alike is tied to neither: each
session's step 2 reads `unknown` (Session.callback_ambiguous). When the sessions linked
by such callbacks are more than the connections that fit any of them, each job calling
back, at least one of them had no callback in the capture: a step_missing that is one
of those jobs', whichever (the shape of field check 46's seed 93 run 11: two jobs
captured `-Q out` on the media server, the one callback in the capture fitting both;
that run is read through the media server's requests now, sessions.asked_first, and its
running job's own step 2 could not have been judged). Reported once, with no
session and the candidates named ("session S1 or S2"), only when each of them would
read step 2 missing without the ambiguity (the step builder, verify.callback_step, met no reason
for `unknown` first: a capture that ended too soon, one direction that could not show
it, a session that stopped before it was due) and none is side traffic; the steps stay
`unknown`.
"""

from __future__ import annotations

from flowcheck.model import Allows, Session, Step, endpoint
from flowcheck.profiles import StepSpec
from flowcheck.verify.answer_seen import callbacks_elsewhere
from flowcheck.verify.context import Context, opening_frames
from flowcheck.verify.profile_followed import OTHER_PRODUCT, OTHER_PRODUCT_FIX
from flowcheck.verify.step_base import make_step
from flowcheck.verify.tied_words import candidates_words, others_and, some_of


def ambiguous_step(ctx: Context, session: Session, spec: StepSpec, tail: str = "") -> Step:
    """Step 2 `unknown` for a session without a callback whose candidates fit another
    session as well (Session.callback_ambiguous); with callback_short and no tail, the
    session is one step_missing may name (Context.short_callbacks: its step would be
    missing but for the ambiguity). tail: words appended ("; or the capture ended ...",
    or a capture of one direction's "; the capture holds no packet from ..."): a capture
    that ended too soon, or lacks the callback's direction, explains the missing
    callback, so such a session is named by no step_missing."""
    conns = [ctx.by_uid[uid] for uid in session.callback_ambiguous]
    if session.callback_short and not tail:
        ctx.short_callbacks.add(session.id)
    # Every candidate named (lab matrix seed 110 run 2: C3 named, C4, the other job's
    # callback that fit this session as well, left to unannounced_connection), up to
    # TIED_SHOWN and how many more: each of k jobs named all of k callbacks (review58i).
    named = some_of([f"{c.uid} from {c.orig_h} to {endpoint(c.resp_h, c.resp_p)}"
                     for c in conns], " or ", link="or")
    one = len(conns) == 1
    return make_step(spec, "unknown", session.callback_ambiguous,
                     [f for c in conns for f in opening_frames(c)],
                     f"unknown: {named} may be this session's callback under another "
                     f"address of the agent, but {'it fits' if one else 'each fits'} "
                     "another session's as well (two jobs at once, their addresses not told "
                     "apart by the capture or the configuration)" + short_words(session)
                     + tail)


def short_only(ctx: Context, session: Session) -> bool:
    """Is the session short of a callback with others (callback_short), every connection
    from its agent to its media server after its control connection opened
    (answer_seen.callbacks_elsewhere: in a capture of one direction) being one that fits
    those sessions alike? Then no callback of its own is evidence for the set, not for
    it (a connection given to another session by order alone may be this one's: then
    that one lacks it, outside the set)."""
    if not session.callback_short:
        return False
    shared = {uid for sid in session.callback_short
              for uid in ctx.session_by_id[sid].callback_ambiguous}
    return all(conn.uid in shared for conn in callbacks_elsewhere(ctx, session))


def short_words(session: Session) -> str:
    """"; this session and S2 are more than the connections that may be their
    callbacks, so at least one of session S1 or S2 had none" for a session with
    callback_short, else ""."""
    others = [sid for sid in session.callback_short if sid != session.id]
    if not others:
        return ""
    return (f"; this session and {others_and(others)} are more than the connections that "
            "may be their callbacks, so at least one of "
            f"{candidates_words(session.callback_short)} had none")


def report_short_callbacks(ctx: Context) -> None:
    """One step_missing per set of sessions short of callbacks whose every member's step
    2 met the ambiguity alone (Context.short_callbacks); see the module's words."""
    spec = next((s for s in ctx.profile.steps if s.kind == "callback"), None)
    if spec is None:
        return
    done: set[tuple[str, ...]] = set()
    for session in ctx.sessions:
        ids = tuple(session.callback_short)
        if not ids or ids in done:
            continue
        done.add(ids)
        if any(sid not in ctx.short_callbacks or sid in ctx.side for sid in ids):
            continue
        members = [ctx.session_by_id[sid] for sid in ids]
        uids = list(dict.fromkeys(uid for s in members for uid in s.callback_ambiguous))
        conns = [ctx.by_uid[uid] for uid in uids]
        fitting = some_of([f"{c.uid} from {c.orig_h} to {endpoint(c.resp_h, c.resp_p)}"
                           for c in conns])
        agents = ", ".join(dict.fromkeys(s.remote_agent for s in members))
        media = ", ".join(dict.fromkeys(s.media_server for s in members))
        who = candidates_words(ids)
        ctx.add("step_missing",
                f"Step {spec.number} ({spec.name}) of the {ctx.profile.name} profile is "
                f"missing in {who}: {len(members)} sessions wait for a callback, and only "
                f"{len(conns)} connection{'s' if len(conns) != 1 else ''} in the capture "
                f"may be one ({fitting}, fitting each of them under another address of its "
                "agent, their addresses not told apart by the capture or the "
                "configuration), so at least one of the jobs had no callback; which one "
                "the capture cannot tell. Backup Exec's agent calls the job engine back "
                f"into {ctx.ranges('media')} (TechNote step 2); {OTHER_PRODUCT}.",
                f"Allow TCP from the agents ({agents}, and their other addresses) to the "
                f"media server ({media}, and its other addresses) ports {ctx.ranges('media')} "
                "outbound on each agent, in the forward rules of every router or firewall "
                "between them and inbound on the media server; a capture of both "
                "directions on the media server shows which job's callback never came, "
                f"and the agents' logs tell whether they sent one{OTHER_PRODUCT_FIX}.",
                frames=[f for c in conns for f in opening_frames(c)],
                ts=min(c.ts for c in conns),
                allows=Allows(tuple(dict.fromkeys(
                    [s.remote_agent for s in members] + [s.media_server for s in members]))),
                other_profile="said")
