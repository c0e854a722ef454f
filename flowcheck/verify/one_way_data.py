"""A data connection in a capture of one direction (field check 41's cuts): whether it
carried data when only its receiver's ACKs show the bytes (carried), and whether the
capture can show its job's halt at all (halts_unseen)."""

from __future__ import annotations

from flowcheck.model import Connection, Session
from flowcheck.sessions import one_sided
from flowcheck.verify.context import Context


def halts_unseen(ctx: Context, session: Session) -> bool:
    """Does the capture lack the agent's side of the session's control connection
    (one_sided "resp": the media server's packets only), where its NOTIFY_DATA_HALTED
    travels? A reset's halt, normal or not, cannot be seen then, however long the
    capture ran (field check 41's one-direction cuts)."""
    control = ctx.by_uid.get(session.control_uid)
    return control is not None and one_sided(control) == "resp"


def carried(conn: Connection) -> bool:
    """Did the connection carry data: payload in the capture, or (a capture of one
    direction) more bytes of the uncaptured side than a closing FIN its peer's ACKs
    acknowledge?"""
    return bool(conn.orig_bytes or conn.resp_bytes
                or max(conn.orig_acked_unseen, conn.resp_acked_unseen) > 1)
