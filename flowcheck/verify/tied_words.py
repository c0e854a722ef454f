"""Words for the data connections several sessions fit alike (Session.port_tied,
flowcheck.sessions.named): which sessions, and why step 3 cannot say whose they are."""

from __future__ import annotations

from collections.abc import Sequence

from flowcheck.model import Session, endpoint
from flowcheck.sessions import is_failed
from flowcheck.verify.context import Context
from flowcheck.verify.details import failure_words


def candidates_words(ids: Sequence[str]) -> str:
    """"session S1 or S2" ("session S1, S2 or S3"), from session ids: the sessions a
    connection may be of."""
    return f"session {ids[0]}" if len(ids) == 1 else \
        f"session {', '.join(ids[:-1])} or {ids[-1]}"


def tied_words(ctx: Context, session: Session) -> str:
    """Why a session's data connections are not known (Session.port_tied): the
    connections that fit it and other sessions alike, with nothing naming whose, and
    those of them that failed (verify.tied_failures reports each such failure for the
    sessions together)."""
    others = session.tied_with
    who = others[0] if len(others) == 1 else f"{', '.join(others[:-1])} or {others[-1]}"
    failed = [f"{uid} ({endpoint(conn.resp_h, conn.resp_p)}: {failure_words(conn)})"
              for uid in session.port_tied if is_failed(conn := ctx.by_uid[uid])]
    return (f"{', '.join(session.port_tied)} fit this session and {who} alike (the same "
            "hosts, direction and ports while their control connections were open), and "
            "no message in the capture names whose endpoint each is (a DATA_GET_STATE or "
            "MOVER_GET_STATE reply names it)"
            + (f"; of them failed: {'; '.join(failed)}" if failed else ""))
