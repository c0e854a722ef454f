"""Words for the data connections several sessions fit alike (Session.port_tied,
flowcheck.sessions.named): which sessions, and why step 3 cannot say whose they are."""

from __future__ import annotations

from collections.abc import Sequence

from flowcheck.model import Session, connection_ends, endpoint
from flowcheck.sessions import is_failed
from flowcheck.verify.context import Context
from flowcheck.verify.details import failure_words

# How many tied connections, sessions and failures a session's words name: a busy media
# server's capture joined late ties each connection open before it between every job
# still open, so naming all made each job's message as long as the jobs (review58a:
# 1,000 such jobs named 500,000 connections and 999,000 sessions in all).
TIED_SHOWN = 8


def shown_count(count: int) -> int:
    """How many of `count` tied items (count >= 0) the words name one by one: all up to
    TIED_SHOWN + 1 (naming the last beats "1 other"), past that TIED_SHOWN (the count of
    sessions_or, others_and and verify.callback_tie's ids)."""
    return count if count <= TIED_SHOWN + 1 else TIED_SHOWN


def sessions_or(ids: Sequence[str]) -> str:
    """"S1", "S1 or S2", "S1, S2 or S3", from session ids (one or more), the first
    TIED_SHOWN named and how many others past TIED_SHOWN + 1 ("S1, ..., S8 or 22 other
    sessions"). Reads len and the slices it names only (Session.tied_with may be read
    from shared ties: sessions.tie_groups)."""
    if shown_count(len(ids)) < len(ids):
        return f"{', '.join(ids[:TIED_SHOWN])} or {len(ids) - TIED_SHOWN} other sessions"
    return ids[0] if len(ids) == 1 else f"{', '.join(ids[:-1])} or {ids[-1]}"


def candidates_words(ids: Sequence[str]) -> str:
    """"session S1 or S2" ("session S1, S2 or S3"; "session S1, ..., S8 or 22 other
    sessions" past TIED_SHOWN + 1), from session ids: the sessions a connection may be
    of (a refused connection tied between 30 late jobs named all 30, twice: tiescale)."""
    return f"session {sessions_or(ids)}"


def others_and(ids: Sequence[str]) -> str:
    """"S2", "S2, S3", from the other sessions' ids (one or more) after "this session
    and": all up to TIED_SHOWN + 1, past that the first TIED_SHOWN and how many others
    ("S2, ..., S9 and 3 other sessions"), as sessions_or counts them (review58i: a
    step 2 short of callbacks named all 11 others, then 8 of the same sessions)."""
    if shown_count(len(ids)) < len(ids):
        return f"{', '.join(ids[:TIED_SHOWN])} and {len(ids) - TIED_SHOWN} other sessions"
    return ", ".join(ids)


def some_of(items: Sequence[str], joiner: str = ", ", noun: str = "more",
            link: str = "and") -> str:
    """The first TIED_SHOWN items joined, "and N more" (`link` for "and") after them when
    there are more."""
    shown = joiner.join(items[:TIED_SHOWN])
    more = len(items) - TIED_SHOWN
    return shown if more <= 0 else \
        f"{shown}{';' if joiner == '; ' else ''} {link} {more} {noun}"


def _named(ctx: Context, uids: Sequence[str]) -> str:
    """The first TIED_SHOWN connections by uid and ends, "and N more" after them:
    "C1 (10.77.0.1:5052 -> 10.77.0.2:6001)" (newuser59: "C1 fit this session and S2
    alike" named a connection the reader had to look up). Ends only of those shown."""
    shown = [f"{uid} ({connection_ends(ctx.by_uid[uid])})" for uid in uids[:TIED_SHOWN]]
    more = len(uids) - TIED_SHOWN
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _failed(ctx: Context, uid: str) -> str | None:
    """A tied connection's failure as the words name it ("C3 (10.0.0.2:6001: refused)"),
    None when it did not fail; found once per connection (Context.tied_failed)."""
    if uid in ctx.tied_failed:
        return ctx.tied_failed[uid]
    conn = ctx.by_uid[uid]
    words = f"{uid} ({endpoint(conn.resp_h, conn.resp_p)}: {failure_words(conn)})" \
        if is_failed(conn) else None
    ctx.tied_failed[uid] = words
    return words


def tied_words(ctx: Context, session: Session) -> str:
    """Why a session's data connections are not known (Session.port_tied): the
    connections that fit it and other sessions alike, with nothing naming whose, and
    those of them that failed (verify.tied_failures reports each such failure for the
    sessions together). At most TIED_SHOWN of each are named, with how many more."""
    who = sessions_or(session.tied_with)
    failed = [words for uid in session.port_tied if (words := _failed(ctx, uid))]
    return (f"{_named(ctx, session.port_tied)} fit this session and {who} alike (the same "
            "hosts, direction and ports while their control connections were open), and "
            "no message in the capture names whose endpoint each is (a DATA_GET_STATE or "
            "MOVER_GET_STATE reply names it)"
            + (f"; of them failed: {some_of(failed, '; ')}" if failed else ""))
