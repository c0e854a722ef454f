"""Step 2's note when the callback's session is a guess (trial 25).

The agent's callback names no session: flowcheck.sessions.matching gives it to the open
session whose data connection (or end) comes first. Two sessions of one agent and media
server open at once, the other one left without a callback, make that order the only
tie: a capture of the media server's packets alone (`tcpdump -Q out`) matches data
connections by ports only later, and then nothing in the capture tells which job the
agent called back. The note names the other sessions, so a step 2 `ok` beside another
session's `unknown` is read as one callback for two jobs, not as proof. A session that
asked nothing (sessions.classify.asked_nothing: a port check) is due no callback and is
never named.
"""

from __future__ import annotations

from flowcheck.model import Connection, Session
from flowcheck.sessions import CALLBACK_SLACK_SECONDS
from flowcheck.sessions.classify import asked_nothing, end_of
from flowcheck.verify.context import Context


def tie_note(ctx: Context, session: Session, conn: Connection) -> str:
    """"tied to this session by order: S2 (control C2) was open too ..." when another
    judged session of the same agent and media server, without a callback of its own and
    not a port check, had its control connection open when the callback opened (its
    callback window: from its opening to CALLBACK_SLACK_SECONDS after its end, in the
    file's order where it has one: flowcheck.sessions.file_order); "" otherwise."""
    others = []
    for other in ctx.sessions:
        if (other is session or other.callback_uid is not None or other.side
                or (other.remote_agent, other.media_server)
                != (session.remote_agent, session.media_server)):
            continue
        control = ctx.by_uid[other.control_uid]
        if (ctx.order.follows(conn.first_frame, conn.ts, control.first_frame, control.ts)
                and ctx.order.open_at(conn, control, end_of(control) + CALLBACK_SLACK_SECONDS)
                and not asked_nothing(control)):
            others.append(f"{other.id} (control {control.uid})")
    if not others:
        return ""
    one = len(others) == 1
    return (f"tied to this session by order: {', '.join(others)} "
            f"{'was' if one else 'were'} open too when it opened, without a callback of "
            f"{'its' if one else 'their'} own, and a callback names no session: which of "
            "them the agent called back the capture cannot tell")
