"""Failed data connections that fit several sessions alike (Session.port_tied).

Jobs at once whose announcements the capture cannot show (TLS on the control
connections, the sniffer's loss, one direction captured) have their data connections
matched by direction and ports (flowcheck.sessions.by_ports); one that fits two or more
of them alike, with nothing in the capture naming whose it is, goes to none of them
(flowcheck.sessions.named: their steps 3 and 4 read unknown). When such a connection
failed (refused, never answered, its handshake never completed) or binds a port outside
its range, the failure is one of those jobs' all the same: the job of "session S1 or
S2" failed, which one the capture cannot tell. It is reported as the data connection's
finding (data_refused, data_unanswered, handshake_incomplete, port_outside_*_range),
words as for a session's own data connection (flowcheck.verify.data_links), with no
session (Finding.session None) and the candidates named; the sessions' steps stay
unknown. A connection that opened and kept its ranges proves nothing either way: its
ambiguity stays unknown.

Only when the connection fails as each candidate's (the same judgement, with the
candidate's control connection: a refusal after one candidate's job ended is "late",
not its failure) and no candidate is side traffic (flowcheck.verify.hosts): otherwise
the failure may be no job's.

Timing does not tie such a connection to one candidate: the announcement that brought
it is inside what the capture cannot show for every candidate (that is why it fits
them all), so "opened after S2's control connection" does not say "after S2's
announcement"; by_ports already leaves out a session whose control connection was not
open when the connection opened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from flowcheck.model import Connection, Session
from flowcheck.verify.context import Context
from flowcheck.verify.data_links import report_failed_data
from flowcheck.verify.evidence import judged
from flowcheck.verify.ranges import check_ports
from flowcheck.verify.tied_words import candidates_words

# How each of the findings starts (data_links, opening.handshake_incomplete,
# ranges.check_ports): the candidates go after it.
_HEAD = "The data connection "

# Outcomes check_data reports as a failed opening (flowcheck.verify.data_links).
FAILED = ("unanswered", "refused", "handshake_incomplete")


def tied_candidates(ctx: Context) -> dict[str, list[Session]]:
    """Per tied connection uid (in the order of the sessions' lists), the sessions it fits
    alike (Session.port_tied), in session order."""
    found: dict[str, list[Session]] = {}
    for session in ctx.sessions:
        for uid in session.port_tied:
            found.setdefault(uid, []).append(session)
    return found


@contextmanager
def _as_session(conns: Sequence[Connection], session: Session) -> Iterator[None]:
    """Judge and word `conns` as `session`'s (their `session` set for the while)."""
    before = [conn.session for conn in conns]
    for conn in conns:
        conn.session = session.id
    try:
        yield
    finally:
        for conn, was in zip(conns, before, strict=True):
            conn.session = was


def _failed_as_each(ctx: Context, conn: Connection, sessions: Sequence[Session]) -> str | None:
    """The outcome `conn` is judged as every candidate's, when it is the same failure for
    each (FAILED); None otherwise."""
    outcomes = set()
    for session in sessions:
        with _as_session([conn], session):
            outcomes.add(judged(ctx, conn))
    outcome = outcomes.pop() if len(outcomes) == 1 else None
    return outcome if outcome in FAILED else None


def check_tied_data(ctx: Context) -> None:
    """Findings for the failed (or out-of-range) data connections several sessions fit
    alike (see the module's words): one per endpoint and set of candidates, retries
    included, as check_data gives one per endpoint of a session."""
    failed: dict[tuple[tuple[str, ...], str, int], list[Connection]] = {}
    checked_ports: set[tuple[tuple[str, ...], str, int]] = set()
    tied = tied_candidates(ctx)
    for uid, sessions in tied.items():
        if len(sessions) < 2 or any(s.id in ctx.side for s in sessions):
            continue
        conn = ctx.by_uid[uid]
        ids = tuple(s.id for s in sessions)
        if _failed_as_each(ctx, conn, sessions) is not None:
            failed.setdefault((ids, conn.resp_h, conn.resp_p), []).append(conn)
        if (ids, conn.orig_h, conn.orig_p) not in checked_ports:
            checked_ports.add((ids, conn.orig_h, conn.orig_p))
            _report(ctx, sessions, [conn],
                    lambda s, c=conn: check_ports(ctx, s, c, "data connection"))
    for attempts in failed.values():
        sessions = tied[attempts[0].uid]
        _report(ctx, sessions, attempts,
                lambda s, a=attempts: report_failed_data(ctx, s, a))


def _report(ctx: Context, sessions: Sequence[Session], attempts: Sequence[Connection],
            check: Callable[[Session], None]) -> None:
    """Run `check` (a callable taking the session to word the connections as) as the
    first candidate's, then make the findings it added the candidates' together: no
    session, the candidates named (candidates_words), and no root cause recorded for that
    one session."""
    first = sessions[0]
    start = len(ctx.findings)
    causes = set(ctx.causes.get(first.id, ()))
    with _as_session(attempts, first):
        check(first)
    ctx.causes[first.id] = causes
    who = candidates_words(sessions)
    uids = {conn.uid for conn in attempts}
    for finding in ctx.findings[start:]:
        if finding.session != first.id or finding.uid not in uids:
            continue
        finding.session = None
        finding.message = finding.message.replace(
            _HEAD, f"{_HEAD}of {who} ", 1) + (
            f" It fits {who} alike (the same hosts, direction and ports while their "
            "control connections were open), and nothing in the capture tells whose: the "
            "job of one of them failed.")
