"""Jobs begun again after they stopped on a full range: said, each run still counted as a
job (range_too_small's count: verify.range_need).

A backup application whose job failed may run it again: the same media server and
agent, the same resources, a new control connection after the first ended. Within
port_hold_seconds of it the first run's ports are still held (TIME_WAIT), and the retry
stops on the same full range. The capture cannot tell such a retry from another job of
the same resources begun then (a second scheduled job, or one begun whatever the first's
result), and only counting each run as a job carries the second kind: review64d's lab
ran rangesmall/ephemeral-small-retry's two 3-resource jobs (the second begun 0.5 s after
the first ended, whatever its result) with agent (and OS) ranges of 4 ports, the count
words64 gave counting the second run once: the first passed, the second's callback
failed "Cannot assign requested address" (the first's 4 ports in TIME_WAIT); 7 ports
failed it at its last data port, 8 carried both. newuser66's four 1-resource jobs, each
begun after the one before ended, are the same shape: with `resources = 1` job 4 read as
job 3's retry, "at least 6", where the lab's 6001-6007 failed job 4. A true retry is run
only because its first failed: the range that carries the first run one job's way needs
no retry, so the smaller count is said beside (range_need.StoppedNeed.once), for a user
who knows the second run was a retry.

A possible retry (`retried`): a later stopped session of the same media server and agent (its
kind aside: a run stopped before its job started reads "browse") whose control
connection opened after the earlier one's had ended (its last packet, after its stop)
and within port_hold_seconds of that, with the same resources: `resources` when given
(every job's), else as many resources shown (announcement_groups: one per expected data
connection, a listen reply of several addresses one) as the earlier one showed, at least
one: runs that showed none (stopped at the callback) show no resources to be the same
(newuser66's agent-range-timewait: job 4, begun 1.2 s after job 3 gave its callback up,
both without a resource shown, is a job of its own: with 5 ports job 4 failed again at
its callback beside job 3's held ports, agent-range-widened-to-5).
"""

from __future__ import annotations

from collections.abc import Iterable

from flowcheck.model import Session
from flowcheck.sessions import announcement_groups
from flowcheck.sessions.classify import end_of
from flowcheck.verify.context import Context
from flowcheck.verify.range_stop import RangeStop


def shown_resources(session: Session) -> int:
    """The resources a session showed: its expected data connections, one per group of
    announcements of one frame or endpoint (sessions.announcement_groups: an NDMP v4
    listen reply of several addresses is one resource, not one per address)."""
    return len(announcement_groups(session.announced))


def retried(ctx: Context, stops: list[RangeStop]) -> dict[str, str]:
    """{retry's session id: the session id it ran again} among `stops` (one per session,
    in time order: range_need._first_per_session), each earlier session retried once at
    most (module docstring)."""
    sessions = {s.id: s for s in ctx.sessions}
    hold = ctx.config.port_hold_seconds
    found: dict[str, str] = {}
    for stop in stops:
        later = sessions.get(stop.session)
        control = ctx.by_uid.get(later.control_uid) if later is not None else None
        if later is None or control is None:
            continue
        for earlier in reversed(stops):
            first = sessions.get(earlier.session)
            ended = ctx.by_uid.get(first.control_uid) if first is not None else None
            if (first is None or ended is None or first.id == later.id
                    or first.id in found.values()
                    or not earlier.ts < end_of(ended) < control.ts <= end_of(ended) + hold):
                continue
            if (first.media_server, first.remote_agent) == (
                    later.media_server, later.remote_agent) and (
                    ctx.config.resources
                    or shown_resources(first) == shown_resources(later) > 0):
                found[later.id] = first.id
                break
    return found


def superseded(retries: dict[str, str], counted: Iterable[str]) -> set[str]:
    """The sessions a counted session ran again, however many runs back (a retry's retry):
    their needs and ports are the counted retry's job's, not another job's."""
    gone: set[str] = set()
    for session in counted:
        while session in retries:
            session = retries[session]
            gone.add(session)
    return gone


def retry_words(retries: dict[str, str], once: int, ctx: Context) -> str:
    """"; S2 began after S1 stopped on the range, within 60 s, with the same two hosts
    and resources: counted as a job of its own (the capture cannot tell a retry from
    another job; were it S1's job run again because S1 failed, 4 ports at once)" for
    range_too_small's words (once: stopped_need's count with each retry its first's job,
    counted once); "" for none."""
    if not retries:
        return ""
    hold = ctx.config.port_hold_seconds
    many = len(retries) > 1
    runs = "; ".join(f"{retry} began after {first} stopped on the range, within {hold:g} s, "
                     "with the same two hosts and resources" for retry, first in retries.items())
    pairs = list(retries.items())
    which = ("runs again of jobs that failed ("
             + ", ".join(f"{retry} of {first}" for retry, first in pairs) + ")" if many else
             f"{pairs[0][1]}'s job run again because {pairs[0][1]} failed")
    return (f"; {runs}: counted as {'jobs of their' if many else 'a job of its'} own (the "
            f"capture cannot tell a retry from another job; were {'they' if many else 'it'} "
            f"{which}, {once} ports at once)")
