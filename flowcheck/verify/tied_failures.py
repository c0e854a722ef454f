"""Failed connections that fit several sessions alike: the job of one of them failed,
whichever.

Data connections. Jobs at once whose announcements the capture cannot show (TLS on the
control connections, the sniffer's loss, one direction captured) have their data
connections matched by direction and ports (flowcheck.sessions.by_ports); one that fits
two or more of them alike, with nothing in the capture naming whose it is, goes to none
of them (Session.port_tied, flowcheck.sessions.named: their steps 3 and 4 read
unknown). When such a connection failed (refused, never answered, its handshake never
completed) or binds a port outside its range, the failure is one of those jobs' all the
same: the job of "session S1 or S2" failed, which one the capture cannot tell. It is
reported as the data connection's finding (data_refused, data_unanswered,
handshake_incomplete, port_outside_*_range), worded as for a session's own data
connection (flowcheck.verify.failed_data), with no session (Finding.session None) and the
candidates named; the sessions' steps stay unknown. A connection that opened and kept its
ranges proves nothing either way: its ambiguity stays unknown.

Callbacks. A connection from the agent range into the media range under other addresses
than the control connections' (dual-stack hosts: the callback over IPv4) that fits two
waiting sessions alike is tied to neither (Session.callback_ambiguous,
flowcheck.sessions.callback_elsewhere: step 2 unknown). When it failed (unanswered,
refused, handshake incomplete), and no later attempt of the same agent address to the
same job engine port opened (a retry from a new source port), it is one of those jobs'
failed callback: callback_unanswered / callback_refused / handshake_incomplete, worded as
step 2's (flowcheck.verify.links), no session, the candidates named; not
`unannounced_connection` too. Not an attempt given up for the other IP version
(verify.fallback).

Only when the connection fails as each candidate's (the same judgement, with the
candidate's control connection: a refusal after one candidate's job ended is "late",
not its failure) and no candidate is side traffic (flowcheck.verify.hosts): otherwise
the failure may be no job's.

Timing does not tie such a connection to one candidate: the announcement that brought
it is inside what the capture cannot show for every candidate (that is why it fits
them all), so "opened after S2's control connection" does not say "after S2's
announcement"; the sessions stage already leaves out a session whose control connection
(or callback window) was not open when the connection opened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

from flowcheck.model import Connection, Role, Session
from flowcheck.sessions import connection_outcome
from flowcheck.verify.context import Context
from flowcheck.verify.evidence import judged
from flowcheck.verify.failed_data import FAILED, report_failed_data
from flowcheck.verify.fallback import fallback_of
from flowcheck.verify.ranges import check_ports
from flowcheck.verify.tied_words import candidates_words

Tie = Literal["port_tied", "callback_ambiguous"]  # the Session lists naming tied uids


def tied_candidates(ctx: Context, tie: Tie = "port_tied") -> dict[str, list[Session]]:
    """Per tied connection uid (in the order of the sessions' lists), the sessions it fits
    alike, in session order. tie: the Session list that names them ("port_tied": data
    connections; "callback_ambiguous": callbacks)."""
    found: dict[str, list[Session]] = {}
    for session in ctx.sessions:
        for uid in getattr(session, tie):
            found.setdefault(uid, []).append(session)
    return found


@contextmanager
def _as_session(conns: Sequence[Connection], session: Session,
                role: Role | None = None) -> Iterator[None]:
    """Judge and word `conns` as `session`'s (their `session`, and `role` when given,
    set for the while)."""
    before = [(conn.session, conn.role) for conn in conns]
    for conn in conns:
        conn.session = session.id
        conn.role = role or conn.role
    try:
        yield
    finally:
        for conn, (was, role_was) in zip(conns, before, strict=True):
            conn.session, conn.role = was, role_was


def _failed_as_each(ctx: Context, conn: Connection, sessions: Sequence[Session],
                    role: Role | None = None) -> str | None:
    """The outcome `conn` is judged as every candidate's (as a `role` connection when
    given), when it is the same failure for each (FAILED); None otherwise, told at the
    first candidate it is not that failure for (a connection tied between k sessions
    that did not fail was judged k times: tiescale)."""
    outcome = None
    for session in sessions:
        with _as_session([conn], session, role):
            each = judged(ctx, conn)
        if each not in FAILED or outcome not in (None, each):
            return None
        outcome = each
    return outcome


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


# How a connection fits its candidates, as the message says it.
_DATA_FITS = ("the same hosts, direction and ports while their control connections were "
              "open")
_CALLBACK_FITS = ("from the agent range into the media range under other addresses than "
                  "their control connections', while each waited for its callback")


def _report(ctx: Context, sessions: Sequence[Session], attempts: Sequence[Connection],
            check: Callable[[Session], None], role: Role | None = None,
            fits: str = _DATA_FITS) -> None:
    """Run `check` (a callable taking the session to word the connections as) as the
    first candidate's, then make the findings it added the candidates' together: no
    session, those about `attempts` naming the candidates (candidates_words), and no
    root cause recorded for that one session."""
    first = sessions[0]
    start = len(ctx.findings)
    causes = set(ctx.causes.get(first.id, ()))
    with _as_session(attempts, first, role):
        check(first)
    ctx.causes[first.id] = causes
    who = candidates_words([s.id for s in sessions])
    uids = {conn.uid for conn in attempts}
    for finding in ctx.findings[start:]:
        if finding.session != first.id:
            continue
        finding.session = None  # whichever of them: none
        if finding.uid not in uids:
            continue
        # After the message's subject, as the check that wrote it measured it
        # (Finding.subject: failed_data, links._check_callback, opening.
        # handshake_incomplete, ranges.check_ports): "The agent 10.77.0.2 of session S1
        # or S2 tried ...".
        at = finding.subject
        if at:
            finding.message = f"{finding.message[:at]}of {who} {finding.message[at:]}"
        finding.message += (f" It fits {who} alike ({fits}), and nothing in the capture "
                            "tells whose: whichever, it is one of their jobs'.")


def check_tied_callbacks(ctx: Context, check: Callable[[Context, Session, Connection], None]
                         ) -> None:
    """Findings for the failed callbacks several waiting sessions fit alike (see the
    module's words), `check` wording each as step 2 words a session's own
    (links._check_callback); adds their uids to Context.tied_reported."""
    tied = tied_candidates(ctx, "callback_ambiguous")
    for uid, sessions in tied.items():
        conn = ctx.by_uid[uid]
        if len(sessions) < 2 or any(s.id in ctx.side for s in sessions) or \
                fallback_of(ctx, conn) is not None or _opened_later(ctx, conn, tied):
            continue
        if _failed_as_each(ctx, conn, sessions, "callback") is None:
            continue
        _report(ctx, sessions, [conn], lambda s, c=conn: check(ctx, s, c), "callback",
                _CALLBACK_FITS)
        ctx.tied_reported.add(uid)


def _opened_later(ctx: Context, conn: Connection, tied: dict[str, list[Session]]) -> bool:
    """Did a later candidate from the same agent address to the same job engine port
    open (the callback retried from a new source port)?"""
    return any(connection_outcome(other := ctx.by_uid[uid]) == "established"
               and other.ts > conn.ts and (other.orig_h, other.resp_h, other.resp_p)
               == (conn.orig_h, conn.resp_h, conn.resp_p) for uid in tied)
