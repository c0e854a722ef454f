"""How many ports of a range a host needed at once where jobs stopped on it full
(range_too_small's count for a host with a stopped step: verify.capacity).

newuser66: four 1-resource jobs 0.5 s apart, agent range 6001-6004; jobs 3-4 found no
source port for their callback. range_too_small said "needed 5 ports ... (the 4 of the
range in use or held when ... asked for one more)": the range's ports plus the one port
the stopped step asked for. Widened to 5 as told, job 3 failed again at its next step
(its data port) and job 4 at its callback: the count left out what the stopped job still
needed after that port and the other jobs that stopped the same way.

The count, at each stop (RangeStop: the moment a step found the range full): every port
of the range then held (in use, or within port_hold_seconds of its connection's last
packet; a port used again within the hold once per use, as range_too_small's peak counts
it: review63e's restore lab, three 2-resource jobs in 6401-6406, the agent's kernel gave
job 2 and 3's callbacks the data ports jobs 1 and 2 had closed a second or two before,
and the 6 ports read 7 needed where the model's hold needs 9, the peak itself 8), plus
what each job that stopped on that host's range by then, within port_hold_seconds (had
it worked, its ports would still be held), still needed there:
one job's ports as `flowcheck plan` counts them (plan.ports_per_job: one per resource,
and the callback's source port in the agent range, the job engine's and the control
connection's port in the media range; docs flow-model "Two ports are needed per
resource"), less those of its own the range already held; at least the one its step
asked for. The most over the stops is the count. The resources a job backs up are
`resources` when given, else those it showed: the data endpoints it announced, and the
one its unanswered listen request asked for (newuser65 agfull5: 3 announced and a fourth
asked for), or, when more, the fewest another job between the same two hosts announced
that stopped on no range (review63e: 2-resource jobs, agent range 6001-6006, job 3's
callback stopped having shown none: counted 1 resource, "at least 8"; widened to 8 job 3
stopped at its second data port, "at least 9"; with 9 all three passed), at least 1.
"""

from __future__ import annotations

from dataclasses import replace

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection, Session
from flowcheck.plan import callback_source_ports, ports_per_job
from flowcheck.verify.context import Context, session_uids
from flowcheck.verify.range_retries import retried, retry_words, shown_resources, superseded
from flowcheck.verify.range_stop import RangeStop
from flowcheck.verify.range_stops import held_uses, range_owners


@fields_dataclass(frozen=True, slots=True)
class StoppedNeed:
    """What a host needed of its range at once, counted at one stop: count (ports);
    stop: the stop it was counted at; held: the range's ports held then; owed: per
    stopped job (session id, in stop order) the ports it still needed; jobs: the
    sessions counted (those holding the ports counted and the stopped ones), each run a
    job of its own; retries: (a possible retry's session id, the one it may run again)
    among the host's stops (range_retries); once: the count were each a run of its
    first's job, counted once (0: no retry)."""

    count: int
    stop: RangeStop
    held: int
    owed: tuple[tuple[str, int], ...]
    jobs: frozenset[str] = frozenset()
    retries: tuple[tuple[str, str], ...] = ()
    once: int = 0


def stopped_need(ctx: Context, which: str, host: str,
                 stops: list[RangeStop]) -> StoppedNeed | None:
    """The most ports `host` needed of its `which` range at once at one of its `stops`
    (module docstring); None when none of `stops` is the host's."""
    mine = _first_per_session([stop for stop in stops if stop.host == host])
    # Once per stop (each reads every connection's ports: range_stops.port_usage), not
    # once per pair of stops.
    uses = {stop.session: held_uses(ctx, which, range_owners(
        ctx, ctx.session_by_id[stop.session], host), stop.ts) for stop in mine}
    needed = {stop.session: _still_needed(ctx, which, stop, uses[stop.session])
              for stop in mine}
    best = _best(ctx, mine, uses, needed, {})
    retries = retried(ctx, mine)
    if best is None or not retries:
        return best
    # Every run counts as a job (the capture cannot tell a retry from another job of the
    # same resources begun then, and only that count carried such jobs in the lab:
    # range_retries); the count were the later runs retries, said beside.
    once = _best(ctx, mine, uses, needed, retries)
    return replace(best, retries=tuple(retries.items()),
                   once=once.count if once is not None else best.count)


def _best(ctx: Context, mine: list[RangeStop],
          uses: dict[str, list[tuple[int, Connection]]], needed: dict[str, int],
          retries: dict[str, str]) -> StoppedNeed | None:
    """stopped_need's count at the stop where it is most, a job run again counted once
    (`retries`: range_retries.retried; {} counts every run as a job)."""
    hold = ctx.config.port_hold_seconds
    best: StoppedNeed | None = None
    for stop in mine:
        counted = [earlier.session for earlier in mine
                   if earlier.ts <= stop.ts and stop.ts - earlier.ts <= hold]
        # A job run again is counted once, as its latest run: what its earlier runs
        # still needed, and the ports they held, are that run's job's (range_retries).
        gone = superseded(retries, counted)
        owed = tuple((session, needed[session]) for session in counted
                     if session not in gone)
        ports = [uid for _, uid, _ in stop.held if _session_of(ctx, uid) not in gone]
        own = [conn for _, conn in uses[stop.session] if conn.session not in gone]
        held = max(len(ports), len(own))
        count = held + sum(n for _, n in owed)
        if best is None or count > best.count:
            jobs = {_session_of(ctx, uid) for uid in ports} | {s for s, _ in owed}
            best = StoppedNeed(count, stop, held, owed, frozenset(jobs - {None}))
    return best


def _session_of(ctx: Context, uid: str) -> str | None:
    """The session a connection (by uid) is counted to, None for none."""
    conn = ctx.by_uid.get(uid)
    return conn.session if conn is not None else None


def need_words(ctx: Context, which: str, host: str, need: StoppedNeed) -> str:
    """range_too_small's words for `need`: "10.66.2.2 needed 8 ports of the range at
    once (as the session's last NDMP message (frame 547) came, session S4: the 4 of the
    range in use or held 60 s after use, and the ports still needed by the 2 jobs that
    stopped on the full range within 60 s: 2 for S3 and 2 for S4 (a job binds one port
    per resource + the callback's source port there, less the ports of its own already
    held; its resources those it showed, ...))"."""
    hold = ctx.config.port_hold_seconds
    stop = need.stop
    jobs = len(need.owed)
    # "2 for S3 and 2 for S4", not "S3 2 and S4 2" (lab matrix seed 141 run 7 read
    # "still needed, S1 1:").
    each = " and ".join(f"{count} for {session}" for session, count in need.owed)
    stopped = ("the job that stopped on the full range" if jobs == 1 else
               f"the {jobs} jobs that stopped on the full range within {hold:g} s")
    if which == "media":
        why = "one port per resource + the job engine's and the control connection's"
    elif callback_source_ports(ctx.profile):
        why = "one port per resource + the callback's source port"
    else:
        why = "one port per resource"
    resources = ctx.config.resources
    counted = (f"{resources} resource{'s' * (resources != 1)} a job (--resources)"
               if resources else "its resources those it showed (the data ports it "
               "announced and the one it asked for) or, when more, the fewest another job "
               "of the same two hosts that stopped on no range announced, at least 1: "
               "--resources not given")
    size = len(stop.held)
    held = (f"the {need.held} of the range" if need.held == size else
            f"the {need.held} uses of the range's {size} ports (a port used again within "
            "the hold counts again: the model's hold needed another port for it)")
    return (f"{host} needed {need.count} ports of the range at once (as {stop.what} came, "
            f"session {stop.session}: {held} in use or held {hold:g} s "
            f"after use, and the ports still needed by {stopped}: {each} (a job binds "
            f"{why} there, less the "
            f"ports of its own already held; {counted})"
            f"{retry_words(dict(need.retries), need.once, ctx)})")


def jobs_counted(need: StoppedNeed) -> int:
    """How many jobs `need`'s count came from: the sessions of the range's ports held at
    its stop and those of the jobs that stopped on the range (need.jobs), each run a job
    (range_retries: a run begun after another stopped may be another job). More than one: jobs
    started within port_hold_seconds of each other shared the range, and starting fewer
    of them so is a fix as well (range_too_small's: captures/newuser66, four 1-resource
    jobs 0.5 s apart in agent range 6001-6004)."""
    return len(need.jobs)


def _still_needed(ctx: Context, which: str, stop: RangeStop,
                  uses: list[tuple[int, Connection]]) -> int:
    """Ports of the range the stopped job still needed: one job's (plan.ports_per_job)
    less those of its own the range held at the stop (`uses`: range_stops.held_uses at
    the stop), at least the one its step asked for. Its resources: `resources` when
    given, else those the job showed: the endpoints it announced, and the one its
    unanswered listen request asked for (step 3), or the fewest of another job of its
    two hosts when more (`_fewest_alike`), at least 1."""
    session = ctx.session_by_id.get(stop.session)
    shown = (shown_resources(session) if session is not None else 0) + (stop.step == 3)
    if session is not None and not ctx.config.resources:
        shown = max(shown, _fewest_alike(ctx, session))
    job = ports_per_job(which, ctx.config.resources or max(1, shown), ctx.profile)
    own = set(session_uids(session)) if session is not None else set()
    held = max(sum(1 for _, uid, _ in stop.held if uid in own),
               sum(1 for _, conn in uses if conn.uid in own))
    return max(1, job - held)


def _fewest_alike(ctx: Context, session: Session) -> int:
    """The fewest data endpoints another job between `session`'s media server and agent
    announced, of those that announced any and stopped on no range (ctx.range_stops:
    theirs are cut short); 0 when there is none. A stopped job shows only the resources
    it reached (none at its callback); the same two hosts' jobs that ran show what such
    a job backs up, the fewest of them the least that counts."""
    stopped = {stop.session for stop in ctx.range_stops}
    counts = [shown_resources(other) for other in ctx.sessions
              if other.id != session.id and other.id not in stopped and other.announced
              and other.media_server == session.media_server
              and other.remote_agent == session.remote_agent]
    return min(counts, default=0)


def _first_per_session(stops: list[RangeStop]) -> list[RangeStop]:
    """The first stop of each session, in time order (a job stops once; a second stop of
    one session would count its need twice)."""
    seen: dict[str, RangeStop] = {}
    for stop in sorted(stops, key=lambda stop: stop.ts):
        seen.setdefault(stop.session, stop)
    return list(seen.values())
