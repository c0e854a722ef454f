"""Data connections tied between sessions by ports, given to the one whose callback came
from their agent's address (lab matrix seed 112 run 5).

Two jobs at once between dual-stack hosts run their control connections over IPv6 and
their callbacks and data connections over IPv4 (NDMP v4's TCP address is IPv4 only).
When the announcements cannot be read (TLS, the snap length, one direction), the data
connections are matched by direction and ports (flowcheck.sessions.by_ports), and the
IPv4 addresses, which no control connection uses, are spare for every session: each
IPv4 data connection fits both sessions and is tied (Session.port_tied), its job
unjudged, though each agent called back from its own IPv4 address.

The callback under another address is tied later (flowcheck.sessions.callback_elsewhere).
Once it is, the agent's address it came from is that agent's own (the agent's stack
picked it as its source toward the media server: flowcheck.sessions.stack_addresses). A
tied connection one of whose ends is the address one tied session's callback came from,
while each other session it is tied between has its callback from another address of
that IP version (its agent's own, not this one), goes to that session. A session without
a callback, or two whose callbacks came from one address (two jobs to one agent), keep
the tie: nothing tells whose it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flowcheck.model import Connection, Session
from flowcheck.sessions.file_order import TIME_ORDER, FileOrder
from flowcheck.sessions.local import other_version
from flowcheck.sessions.tie_groups import Ties

__all__ = ["untie_by_callbacks"]


def untie_by_callbacks(sessions: Sequence[Session], by_uid: Mapping[str, Connection],
                       order: FileOrder = TIME_ORDER) -> None:
    """Give each tied data connection (Session.port_tied) to the one tied session whose
    callback came from one of its ends, when every other session it is tied between
    called back from another address of that IP version (see the module's words). The
    connection is then that session's, port-matched (its listener the end at the
    callback's address: "data" the responder, "mover" the originator), and no longer in
    any session's port_tied; tied_with is rebuilt from the ties left. Mutates the
    sessions and the connections' role and session. order: the capture's order, whose
    time order ((clock epoch, s): FileOrder.moment) sorts each session's connections."""
    tied: dict[str, list[Session]] = {}
    for session in sessions:
        for uid in session.port_tied:
            tied.setdefault(uid, []).append(session)
    if not tied:
        return
    given: dict[str, Session] = {}
    for uid, candidates in tied.items():
        conn = by_uid.get(uid)
        owner = _owner(conn, candidates, by_uid) if conn is not None else None
        if owner is not None:
            given[uid] = owner
    if not given:
        return
    for uid, owner in given.items():
        conn = by_uid[uid]
        source = by_uid[owner.callback_uid].orig_h  # type: ignore[index]
        conn.role, conn.session = "data", owner.id
        owner.data_connections.append(uid)
        owner.port_matched.append(uid)
        owner.port_listener[uid] = "data" if conn.resp_h == source else "mover"
        for session in tied[uid]:
            session.port_tied.remove(uid)
    for session in {s.id: s for s in given.values()}.values():
        # In time order, as by_ports appends them: the data steps name them in order.
        for uids in (session.data_connections, session.port_matched):
            uids.sort(key=lambda u: order.time_key(by_uid[u]))
    # Each session's ties from the connections it still shares (tied: the sessions of
    # each, unchanged for those not given), in the sessions' order, as shared groups
    # (sessions.tie_groups): a walk of every other session's port_tied per session grew
    # with the square of both on a flood, a union of each session's ties with the
    # square of each tie.
    ties = Ties({s.id: i for i, s in enumerate(sessions)})
    for uid, candidates in tied.items():
        if uid not in given:
            ties.add(candidates)
    ties.finish(sessions, keep=False)


def _owner(conn: Connection, candidates: Sequence[Session],
           by_uid: Mapping[str, Connection]) -> Session | None:
    """The one candidate whose callback came from an end of conn while every other
    candidate's came from another address of that IP version; None otherwise, found at
    the second candidate whose callback came from an end (a tie between 2,000 late jobs
    of one agent looked at every candidate's callback: tiescale)."""
    ends = {conn.orig_h, conn.resp_h}
    sources: list[str] = []
    mine_at = None
    for at, session in enumerate(candidates):
        callback = by_uid.get(session.callback_uid) if session.callback_uid else None
        if callback is None:
            return None  # a session without a callback may be the connection's
        if callback.orig_h in ends:
            if mine_at is not None:
                return None  # two candidates' callbacks from its ends: neither told
            mine_at = at
        sources.append(callback.orig_h)
    if mine_at is None:
        return None
    mine = sources[mine_at]
    if all(not other_version(source, mine)
           for at, source in enumerate(sources) if at != mine_at):
        return candidates[mine_at]
    return None
