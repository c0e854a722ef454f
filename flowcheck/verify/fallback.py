"""A control connection given up for the agent's other IP version (new-user trial 28, D1).

A dual-stack media server given the agent by a name with both an AAAA and an A record
tries the addresses in turn (getaddrinfo's order, RFC 6724: IPv6 first), or races them
(Happy Eyeballs, RFC 8305): when the agent refuses the first address (it listens on
IPv4 only, as many NDMP services do) or a firewall drops it, the media server connects
to the other one at once and runs the whole job there. The failed attempt is no failed
job: its session never ran NDMP, the next session ran the job.

Read from the timing, as the capture keeps no link-layer address per connection: a
session's control connection refused or unanswered, followed by a control connection to
the same NDMP port under the other IP version that opened, its SYN sent after the
failed attempt's first SYN and no later than FALLBACK_SECONDS after its last packet (an
unanswered attempt: plus twice the time its SYNs went on, when the next resend would
have come: the client gave up before it). Only when unambiguous: the attempts that fit
one such connection are between one pair of addresses, and they fit no other.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from flowcheck.durations import span_words
from flowcheck.frame_names import frame_text
from flowcheck.model import Connection, Said, Session, Step
from flowcheck.profiles import StepSpec
from flowcheck.sessions import connection_outcome
from flowcheck.sessions.fallback import FALLBACK_SECONDS, Fallback
from flowcheck.sessions.local import icmp_word, ip_version
from flowcheck.verify.allow_rules import rule_allows
from flowcheck.verify.context import Context, endpoint, opening_frames
from flowcheck.verify.details import failure_words, syn_count
from flowcheck.verify.evidence import judged
from flowcheck.verify.step_base import make_step

_FAILED = ("refused", "unanswered")


def fallback_of(ctx: Context, conn: Connection) -> Fallback | None:
    """The Fallback a control connection is a failed attempt of, or the fallback
    connection of; None for any other."""
    if ctx.fallbacks is None:
        ctx.fallbacks = _fallbacks(ctx)
    return ctx.fallbacks.get(conn.uid)


def _fallbacks(ctx: Context) -> dict[str, Fallback]:
    """Control connections (and callbacks: trial 28 D1's contrast) given up for the other
    IP version, by the uids of the attempts and of the connection that opened."""
    controls = [(s, ctx.by_uid[s.control_uid]) for s in ctx.sessions]
    found = _paired([c for _, c in controls if _failed(ctx, c)],
                    [(s, c) for s, c in controls if _opened(c)], "control")
    callbacks = [(s, ctx.by_uid[s.callback_uid]) for s in ctx.sessions if s.callback_uid]
    # A callback attempt no session took: "other", opened from the agent range into the
    # media range (the NDMP port on neither side), refused or unanswered.
    config = ctx.config
    tried = [c for c in ctx.connections
             if c.role == "other" and c.syn_seen and connection_outcome(c) in _FAILED
             and config.ndmp_port not in (c.orig_p, c.resp_p)
             and config.in_agent_range(c.orig_p) and config.in_media_range(c.resp_p)]
    if tried:
        found.update(_paired(tried, [(s, c) for s, c in callbacks if _opened(c)], "callback"))
    return found


def _failed(ctx: Context, conn: Connection) -> bool:
    """Refused or unanswered; also a lone SYN the capture ended too soon after to judge
    (judged "unknown"): a client racing the two IP versions (RFC 8305) gives the first
    up once the other opens, so no resend would have come."""
    outcome = judged(ctx, conn)
    return outcome in _FAILED or (outcome == "unknown" and conn.syn_seen
                                  and connection_outcome(conn) == "unanswered")


def _opened(conn: Connection) -> bool:
    """Opened, its opening in the capture: the SYN, or the SYN-ACK when the capture holds
    the listener's side only (a SPAN port that sees one way: the media server's SYN
    travelled the way it lacks, as the refused attempt's did; the RST is then all of the
    attempt it holds, flowcheck.sessions.classify.unseen_syn_refused). A connection the
    capture shows no opening of (started before it) has no time to read a fallback by."""
    return (conn.syn_seen or conn.synack_seen) and connection_outcome(conn) == "established"


def _paired(failed: list[Connection], opened: list[tuple[Session, Connection]],
            kind: str) -> dict[str, Fallback]:
    """Each opened connection that the failed ones fell back to (see the module's words),
    by the uids of both."""
    opened = sorted(opened, key=lambda item: item[1].ts)
    times = [c.ts for _, c in opened]
    by_fallback: dict[str, list[Connection]] = {}
    chosen: dict[str, tuple[Session, Connection]] = {}
    for conn in failed:
        end = conn.last_ts + FALLBACK_SECONDS
        if connection_outcome(conn) == "unanswered":
            end += 2 * conn.duration
        fits = [(s, c) for s, c in opened[bisect_left(times, conn.ts):bisect_right(times, end)]
                if c.resp_p == conn.resp_p and ip_version(c.resp_h) != ip_version(conn.resp_h)]
        if not fits or len({(c.orig_h, c.resp_h) for _, c in fits}) != 1:
            continue
        chosen[fits[0][1].uid] = fits[0]
        by_fallback.setdefault(fits[0][1].uid, []).append(conn)
    found: dict[str, Fallback] = {}
    for uid, attempts in by_fallback.items():
        if len({(c.orig_h, c.resp_h) for c in attempts}) != 1:
            continue  # attempts of two pairs fit it: whose fallback it is cannot be told
        session, conn = chosen[uid]
        fallback = Fallback(sorted(attempts, key=lambda c: c.ts), conn, session, kind)
        found[uid] = fallback
        for attempt in attempts:
            found[attempt.uid] = fallback
    return found


def refused_with(attempt: Connection) -> str:
    """What refused a failed attempt: "an ICMP unreachable" ("an ICMPv6 unreachable" over
    IPv6) or "a RST"."""
    return (f"an {icmp_word(attempt)} unreachable" if attempt.icmp_frames and not attempt.resp_rst
            else "a RST")


def _attempt_words(fallback: Fallback) -> str:
    """How the first attempt failed: "refused ... with a RST" / "sent 4 SYNs ..."."""
    first = fallback.attempts[0]
    target = endpoint(first.resp_h, first.resp_p)
    more = len(fallback.attempts) - 1
    tries = f" ({more + 1} attempts)" if more else ""
    if connection_outcome(first) == "refused":
        return (f"The agent's NDMP port {target} refused the media server {first.orig_h}'s "
                f"control connection over IPv{ip_version(first.resp_h)} with "
                f"{refused_with(first)} "
                f"({first.uid}{tries})")
    syns = syn_count(first)
    sent = (f"{syns} SYNs over {span_words(first.duration)}" if syns > 1 else "a SYN")
    return (f"The media server {first.orig_h} sent {sent} to the agent's NDMP port {target} "
            f"over IPv{ip_version(first.resp_h)} and got no answer ({first.uid}{tries})")


def report_fallback(ctx: Context, session: Session, conn: Connection,
                    fallback: Fallback) -> None:
    """ip_version_fallback (a warning), once per fallback, on its first attempt."""
    if conn is not fallback.attempts[0] or fallback.kind != "control":
        return
    last, job = fallback.attempts[-1], fallback.conn
    old, new = ip_version(conn.resp_h), ip_version(job.resp_h)
    after = span_words(max(0.0, job.ts - last.last_ts))
    refused = connection_outcome(last) == "refused"
    lone = not refused and all(syn_count(c) == 1 for c in fallback.attempts)
    why = (f"the agent does not accept NDMP over IPv{old} (it listens on IPv{new} only, or "
           f"its firewall rejects IPv{old} to port {conn.resp_p})" if refused else
           f"IPv{old} to the agent did not answer within {span_words(fallback.delay)}: "
           f"dropped (a firewall's IPv{old} rules, no IPv{old} route), or slower than "
           f"IPv{new} for a client that races the two and keeps the first to answer" if lone
           else f"something drops NDMP over IPv{old} to the agent (a firewall's IPv{old} "
           f"rules, or no IPv{old} route), and every job waits {span_words(fallback.delay)} "
           "for it")
    since = "the refusal" if refused else "its last SYN"
    first_words = ("" if job.ts - last.last_ts >= fallback.delay - 1e-6 else
                   f", {span_words(fallback.delay)} after its first attempt")
    ctx.add("ip_version_fallback",
            f"{_attempt_words(fallback)}; {after} after {since} "
            f"{_connected(job)} {endpoint(job.resp_h, job.resp_p)} over "
            f"IPv{new} ({job.uid}){first_words}, and ran the job there (session "
            f"{fallback.session.id}): it fell back to "
            f"IPv{new}, as a dual-stack client does with a name that has both addresses "
            f"(RFC 6724 order, RFC 8305 Happy Eyeballs). Read by the timing: {conn.resp_h} "
            f"and {job.resp_h} are most likely the same agent, {conn.orig_h} and "
            f"{job.orig_h} the same media server. No job failed here, but {why}.",
            f"Nothing to fix for this job, which ran over IPv{new}. If NDMP should run over "
            f"IPv{old}: make the agent listen on IPv{old} at {conn.resp_h} (port "
            f"{conn.resp_p}) and allow TCP from {conn.orig_h} to {conn.resp_h} port "
            f"{conn.resp_p} (and its return traffic) in the hosts' IPv{old} firewall rules; "
            f"otherwise make the agent's name resolve to its IPv{new} address "
            f"{job.resp_h} only for the media server (or name the agent by that address in "
            "the job), which saves the failed attempt.",
            session=session, conn=conn,
            frames=[f for attempt in fallback.attempts for f in opening_frames(attempt)],
            allows=rule_allows(conn))


def _connected(job: Connection) -> str:
    """"the media server connected to" (its SYN captured), or "the agent answered (its
    SYN-ACK; the media server's SYN is not in the capture) a connection to" when the
    capture holds the listener's side only: the time read is the SYN-ACK's."""
    if job.syn_seen:
        return "the media server connected to"
    return (f"the agent answered (its SYN-ACK, {frame_text(job.synack_frames[0])}; the "
            "media server's SYN is not in the capture) the media server's connection to")


def report_callback_fallback(ctx: Context, session: Session, callback: Connection) -> None:
    """ip_version_fallback (a warning) for the agent's callback attempts under the other
    IP version before the session's callback (trial 28 D1's contrast: the refused IPv6
    callback was "other", told nowhere)."""
    fallback = fallback_of(ctx, callback)
    if fallback is None or fallback.conn is not callback or fallback.kind != "callback":
        return
    first, last = fallback.attempts[0], fallback.attempts[-1]
    old, new = ip_version(first.resp_h), ip_version(callback.resp_h)
    refused = connection_outcome(last) == "refused"
    target = endpoint(first.resp_h, first.resp_p)
    more = f" ({len(fallback.attempts)} attempts)" if len(fallback.attempts) > 1 else ""
    how = (f"was refused with {refused_with(first)}" if refused else
           f"got no answer to {syn_count(first)} SYN(s) over {span_words(first.duration)}")
    why = (f"the job engine does not accept the callback over IPv{old} (it listens on "
           f"IPv{new} only, or the media server's firewall rejects IPv{old} to the media "
           "range)" if refused else
           f"something drops the callback over IPv{old} (a firewall's IPv{old} rules, or no "
           f"IPv{old} route), and every job waits {span_words(fallback.delay)} for it")
    ctx.add("ip_version_fallback",
            f"The agent {first.orig_h} called the job engine back at {target} over IPv{old} "
            f"and {how} ({first.uid}{more}); {span_words(fallback.delay)} after its first "
            f"attempt it called back {endpoint(callback.resp_h, callback.resp_p)} over "
            f"IPv{new} ({callback.uid}), the session's callback (step 2): it fell back to "
            f"IPv{new}, as a dual-stack client does with a name that has both addresses "
            f"(RFC 6724 order, RFC 8305 Happy Eyeballs). Read by the timing: {first.resp_h} "
            f"and {callback.resp_h} are most likely the same media server, {first.orig_h} "
            f"and {callback.orig_h} the same agent. No job failed here, but {why}.",
            f"Nothing to fix for this job, whose callback ran over IPv{new}. If it should "
            f"run over IPv{old}: make the job engine listen on IPv{old} and let TCP from "
            f"{first.orig_h} to {first.resp_h} ports {ctx.ranges('media')} through the hosts' "
            f"IPv{old} firewall rules (`flowcheck firewall --media-server {first.resp_h} "
            f"--remote-agent {first.orig_h}` with the port ranges prints them for each "
            f"host); otherwise make the media server's name resolve to "
            f"its IPv{new} address {callback.resp_h} only for the agent, which saves the "
            "failed attempt.",
            session=session, conn=first,
            frames=[f for attempt in fallback.attempts for f in opening_frames(attempt)])


def attempt_step(ctx: Context, session: Session, spec: StepSpec,
                 conn: Connection) -> Step | None:
    """Step 1 of a session whose control connection is a failed attempt of a fallback:
    not_applicable, saying what failed and where the job went (the session's kind says
    it too); None for any other."""
    fallback = fallback_of(ctx, conn)
    if fallback is None or fallback.conn is conn:
        return None
    job = fallback.conn
    session.kind_unknown_why = (f"an attempt given up for IPv{ip_version(job.resp_h)}: the job "
                                f"ran as session {fallback.session.id}")
    return make_step(spec, "not_applicable", [conn.uid], opening_frames(conn),
                     f"not the job's control connection: over IPv{ip_version(conn.resp_h)}, "
                     f"{failure_words(conn)}; the media server fell back to "
                     f"IPv{ip_version(job.resp_h)} ({endpoint(job.resp_h, job.resp_p)}, "
                     f"{job.uid}) and ran the job as session {fallback.session.id} "
                     "(ip_version_fallback)", cites=["ip_version_fallback"])


def later_step(ctx: Context, spec: StepSpec, control: Connection) -> Step | None:
    """Steps 2-5 of a session whose control connection is a failed attempt of a fallback
    (not_applicable: no job ran on it, whether or not the capture could judge the
    attempt); None for any other."""
    fallback = fallback_of(ctx, control)
    if fallback is None or fallback.conn is control:
        return None
    return make_step(spec, "not_applicable", detail="the control connection never opened: "
                     f"the job ran as session {fallback.session.id} (step 1)")


def fallback_note(ctx: Context, conn: Connection) -> Said | str:
    """The fallback session's step 1 note: "; after a failed attempt over IPv6 ..."; ""
    for any other connection."""
    fallback = fallback_of(ctx, conn)
    if fallback is None or fallback.conn is not conn:
        return ""
    first = fallback.attempts[0]
    uids = ", ".join(c.uid for c in fallback.attempts)
    sessions = ", ".join(dict.fromkeys(c.session or "-" for c in fallback.attempts))
    return Said(f"; after a failed attempt over IPv{ip_version(first.resp_h)} to "
                f"{endpoint(first.resp_h, first.resp_p)} ({uids}, session {sessions}: "
                "ip_version_fallback)", ["ip_version_fallback"])
