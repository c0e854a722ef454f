"""Whose is a data connection that several jobs begun before the capture fit alike?

Jobs whose control connections were open before the capture started (their
announcements not in it) are matched by direction and ports
(flowcheck.sessions.capture_start). When two or more such jobs between the same two hosts
ran at once, a connection open in the capture fits every one of them that was still
open: the first session no longer takes them all (review56p: lab/concurrent-jobs cut
from frame 50 gave S1 three data connections, one of them S2's). The capture tells whose
it is only by a message of one job naming it:

- a DATA_GET_STATE / MOVER_GET_STATE reply naming one of its ends
  (sessions.named.named_endpoints), or
- for a connection refused at once (RST to its SYN), the DATA_CONNECT / MOVER_CONNECT
  reply with an error that its connector's session sent right after the refusal, before
  any later refusal of the connector's to the same peer, which it would answer instead
  (sessions.named.connect_failures; ndmjob-ended/v4-ended-leftovers-parallel-media: S4's
  CONNECT_ERR 1 ms after its connect retry was refused, S5's 2 s later); likewise for a
  SYN the capture shows unanswered (a capture of the connector's packets only holds no
  RST: newuser61, a leftover's retry CONNECT_ERR answered 0.16 ms after its SYN).

A connection one session names goes to it; one that several fit and none or several
name is tied (Session.port_tied, given to none: verify words it as for
sessions.by_ports' ties) rather than given to the first.

The candidates of a connection are found by bisection over the sessions' windows
(`Windows`), never by comparing every session with every connection (issue 7: thousands
of jobs begun before the capture between one pair of hosts); a tie is one group its
sessions share (sessions.tie_groups), not copied into each (tiescale: 1,000 such jobs
tied by nothing naming whose built in 8.6 CPU-s).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import field

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection, Session
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.matching import ANNOUNCEMENT_JITTER_SECONDS
from flowcheck.sessions.pools import Work
from flowcheck.sessions.tie_groups import Ties

# The outcomes of a connection whose failed connect a CONNECT error reply may answer: a
# refusal, or a SYN the capture shows unanswered (its RST or ICMP error in the direction
# a capture of one side lacks).
CONNECT_FAILED = ("refused", "unanswered")
# A connect refused at once is answered by its session's CONNECT error reply within this
# long (the connector's stack reports the RST at once: 1 ms in
# ndmjob-ended/v4-ended-leftovers-parallel-media, where the other late job's came 2 s
# later); a later one is not taken for its answer.
CONNECT_REPLY_SECONDS = 1.0


def failed_by_pair(connections: Iterable[Connection]) -> dict[tuple[str, str], list[float]]:
    """Per (connector, peer), the times (s, sorted) its failed connects (CONNECT_FAILED)
    ended: a CONNECT error reply answers the last of them before it (answers_later).
    Read by Evidence (sessions.capture_start) and sessions.connect_answers."""
    failed_by: dict[tuple[str, str], list[float]] = {}
    for conn in connections:
        if connection_outcome(conn) in CONNECT_FAILED:
            failed_by.setdefault((conn.orig_h, conn.resp_h), []).append(conn.last_ts)
    for times in failed_by.values():
        times.sort()
    return failed_by


def answers_later(failed_by: dict[tuple[str, str], list[float]], conn: Connection,
                  reply_ts: float) -> bool:
    """Did conn's connector have another connect to conn's peer fail after conn and by
    the CONNECT error reply at reply_ts (s, less the capture's reordering,
    ANNOUNCEMENT_JITTER_SECONDS)? The reply then answers that one (review58a: two
    refusals 0.3 s apart, the second job's reply 1 ms after the second, the first job's
    1.5 s after the first on a loaded agent: the second job's reply named both).
    failed_by: failed_by_pair's."""
    times = failed_by.get((conn.orig_h, conn.resp_h), ())
    later = bisect_right(times, conn.last_ts)
    return later < len(times) and times[later] <= reply_ts + ANNOUNCEMENT_JITTER_SECONDS


def named_ends(conn: Connection) -> list[tuple[str, int]]:
    """The ends (ip, port) of conn a GET_STATE reply may name as its session's: the
    responder's; either end of one open before the capture (its first sender no opener)."""
    ends = [(conn.resp_h, conn.resp_p)]
    if connection_outcome(conn) == "midstream":
        ends.append((conn.orig_h, conn.orig_p))
    return ends


class Evidence:
    """The late sessions whose messages name a connection: by a GET_STATE reply naming
    one of its ends (the responder's; either end of one open before the capture, its
    first sender no opener), or, its connect failed (CONNECT_FAILED: refused at once, or
    its SYNs unanswered in the capture), by a CONNECT error reply from its connector's
    session within CONNECT_REPLY_SECONDS after it (less the capture's reordering,
    ANNOUNCEMENT_JITTER_SECONDS) and before any later failed connect of the connector's
    to the same peer (failed_by: failed_by_pair's, (connector, peer) -> sorted end times
    of its failed connects; answers_later)."""

    def __init__(self, named_by: dict[tuple[str, int], list[LateJob]],
                 refusals: list[tuple[float, int, str, LateJob]],
                 failed_by: dict[tuple[str, str], list[float]] | None = None) -> None:
        self.named_by = named_by
        self.refusals = refusals
        self.times = [ts for ts, _, _, _ in refusals]
        # Per (connector, peer), the times (s, sorted) its failed connects ended: a
        # CONNECT error reply answers the last of them before it, not an earlier one.
        self.failed_by = failed_by or {}

    def naming(self, conn: Connection) -> list[LateJob]:
        """The sessions naming conn, in session order, each once."""
        found = {j.index: j for end in named_ends(conn) for j in self.named_by.get(end, ())}
        if self.refusals and connection_outcome(conn) in CONNECT_FAILED:
            at = bisect_left(self.times, conn.last_ts - ANNOUNCEMENT_JITTER_SECONDS)
            while at < len(self.times) and \
                    self.times[at] <= conn.last_ts + CONNECT_REPLY_SECONDS:
                Work.steps += 1
                reply_ts, index, host, job = self.refusals[at]
                if host == conn.orig_h and not answers_later(self.failed_by, conn, reply_ts):
                    found.setdefault(index, job)
                at += 1
        return [found[i] for i in sorted(found)]


@fields_dataclass(slots=True)
class LateJob:
    """A session whose control connection was open before the capture.

    index: its place among the late sessions (their session order, which ties and
    several naming sessions keep); end: its control connection's end (classify.end_of,
    s); opened_from: where its data
    connections opened in the capture may begin (after the ring hole before its first
    packet, else -inf, s); seen_from: when the capture first shows its control stream
    (its first decoded message, else its first packet, s); named: the endpoints (ip,
    port) its GET_STATE replies name -> (frame, message name) of the first; refused:
    the times (s) of its CONNECT error replies, with the host that connected
    (sessions.named.connect_failures). end, opened_from and seen_from are frames
    instead where the capture's frames are its write order (capture_start._in_frames;
    Windows compares them with each connection's first frame then)."""

    session: Session
    index: int
    end: float
    opened_from: float
    seen_from: float
    named: dict[tuple[str, int], tuple[int, str]] = field(default_factory=dict)
    refused: list[tuple[float, str]] = field(default_factory=list)


class Windows:
    """One group's sessions (the same hosts in the same roles), for finding those whose
    window holds a moment by bisection. A connection open before the capture fits a
    session that was still open when it is first seen (ts <= end: `running`); one the
    capture saw open fits a session when it opened in [opened_from, seen_from]."""

    __slots__ = ("running", "jobs", "_keys", "_starts")

    def __init__(self, jobs: Sequence[LateJob], running: bool) -> None:
        self.running = running
        if running:
            self.jobs = sorted(jobs, key=lambda j: (j.end, j.index))
            self._keys = [j.end for j in self.jobs]
            self._starts: list[float] = []
        else:
            # An empty window (its start after its end) holds nothing: left out, so that
            # count's difference of two bisections stays each()'s number.
            self.jobs = sorted((j for j in jobs if j.opened_from <= j.seen_from),
                               key=lambda j: (j.seen_from, j.index))
            self._keys = [j.seen_from for j in self.jobs]
            self._starts = sorted(j.opened_from for j in self.jobs)

    def fits(self, job: LateJob, ts: float) -> bool:
        """Does the session's window hold a connection first seen at ts (s)?"""
        return ts <= job.end if self.running else job.opened_from <= ts <= job.seen_from

    def count(self, ts: float) -> int:
        """How many sessions' windows hold ts (s): each window's start is at or before
        its end, so those starting by ts less those ended before it."""
        Work.steps += 1
        ended = bisect_left(self._keys, ts)
        started = len(self.jobs) if self.running else bisect_right(self._starts, ts)
        return started - ended

    def each(self, ts: float) -> Iterator[LateJob]:
        """The sessions whose window holds ts, by window end."""
        for job in self.jobs[bisect_left(self._keys, ts):]:
            Work.steps += 1
            if self.running or job.opened_from <= ts:
                yield job


def decide(live: int, fitting: Sequence[LateJob], naming: Sequence[LateJob]
           ) -> tuple[LateJob | None, list[LateJob]]:
    """(owner, tied) of a connection `live` sessions fit, given those that fit it
    (`fitting`, only needed when they are several and none names it) and those of them
    whose messages name it (`naming`): the one naming session, else the one that fits;
    tied between the naming sessions when several name it, else between every one that
    fits (session order). (None, []) when none fits."""
    if len(naming) == 1:
        return naming[0], []
    if len(naming) > 1:
        return None, sorted(naming, key=lambda j: j.index)
    if live == 1:
        return fitting[0], []
    return None, sorted(fitting, key=lambda j: j.index)


def tie(conn: Connection, tied: Sequence[LateJob], claimed: set[str], ties: Ties) -> None:
    """Claim conn for no session (role "data", session None) and list it on each tied
    session (Session.port_tied); the tie goes to `ties` (sessions.tie_groups: shared by
    its sessions, their tied_with set once every tie is known: Ties.finish)."""
    claimed.add(conn.uid)
    conn.role, conn.session = "data", None
    for job in tied:
        job.session.port_tied.append(conn.uid)
    ties.add([job.session for job in tied])
