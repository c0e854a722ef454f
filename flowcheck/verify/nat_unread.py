"""Sessions whose media ports the capture cannot tell from a NAT's (field check D1 after
trial 26: a sniffer that lost the callback failed a job behind a masquerade).

With no media servers configured, a profile whose agent calls back and a session that
holds no callback although the job went past it (its step 2 `unknown`: went_on_words,
a control connection opened before the capture, or a capture of one direction that
lacks the agent's), while every media-side port of the session at its control
connection's address is outside the media range (a NAT that maps ports picks them all;
one inside is the host's own binding): its callback would show
the media server under its own address, or not, so judging those ports is a guess and
flowcheck.verify.ranges does not (nat_unread). Decided here, once per session, because
went_on reads the session's data, whose modules import ranges.
"""

from __future__ import annotations

from flowcheck.model import Session
from flowcheck.sessions.classify import connection_outcome
from flowcheck.verify.context import Context, session_uids
from flowcheck.verify.ranges import checked_ends, nat_unread_applies
from flowcheck.verify.went_on import went_on_words


def note_nat_unread(ctx: Context) -> None:
    """Fill Context.nat_unread for every session (after check_evidence: went_on_words
    reads the capture's time after events)."""
    for session in ctx.sessions:
        if nat_unread_applies(ctx, session):
            ctx.nat_unread[session.id] = _unread(ctx, session)


def _unread(ctx: Context, session: Session) -> bool:
    media_ports = [port for uid in session_uids(session)
                   for which, host, port in checked_ends(ctx, session, ctx.by_uid[uid])
                   if which == "media" and host == session.media_server]
    if not media_ports or any(ctx.config.in_media_range(p) for p in media_ports):
        return False
    control = ctx.by_uid[session.control_uid]
    # The agent's direction missing from a capture of one direction (Context.missing):
    # the callback would travel it, under whatever address it reached the media server.
    return (connection_outcome(control) == "midstream"
            or ctx.lacks((session.remote_agent, session.media_server), control.ts)
            or bool(went_on_words(ctx, session)))
