"""Jobs begun again after they stopped on a full range: one job, not two (range_too_small's
count: verify.range_need).

A backup application whose job failed runs it again: the same media server and agent,
the same resources, a new control connection after the first ended. Within
port_hold_seconds of it the first run's ports are still held (TIME_WAIT), and the retry
stops on the same full range; counted as a second job beside the first, its ports and
the first's needs read as two jobs' at once, and the fix asked to "start fewer jobs
within 60 s of each other" (words64: captures/rangesmall/ephemeral-small-retry, the
second job 3.5 s after the first's control connection closed, read "needed 8 ports ...
S1 2 and S2 4" where one run of the job needs 4). Jobs begun while the earlier ones
still ran are jobs of their own (captures/newuser66: four 1-resource jobs 0.5 s apart,
each waiting on its callback when the next began, need 8 ports together). A retry is its
first run's job again: what the first still needed and the ports the first held are
left out where the retry is counted; the capture cannot tell a retry from another job
of the same resources begun then, so range_too_small says the count as separate jobs
too (range_need.StoppedNeed.unfolded).

A retry (`retried`): a later stopped session of the same media server and agent (its
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


def retry_words(retries: dict[str, str], unfolded: int, ctx: Context) -> str:
    """"; S2 began after S1 stopped on the range, within 60 s, with the same two hosts
    and resources: a retry of S1's job, counted once (were it a job of its own, 8 ports
    at once)" for range_too_small's words (unfolded: stopped_need's count with each
    retry a job of its own); "" for none."""
    if not retries:
        return ""
    hold = ctx.config.port_hold_seconds
    runs = "; ".join(f"{retry} began after {first} stopped on the range, within {hold:g} s, "
                     f"with the same two hosts and resources: a retry of {first}'s job, "
                     "counted once" for retry, first in retries.items())
    many = len(retries) > 1
    return (f"; {runs} (were {'they jobs' if many else 'it a job'} of "
            f"{'their' if many else 'its'} own, {unfolded} ports at once)")
