"""Each session's callback: an agent -> media server connection opened while its
control connection was open, handed out by a sweep over time with a heap of open
sessions, so the cost grows as n log n with the sessions and connections between one
pair of hosts (issue 7). Split from flowcheck.sessions.matching (review58e), which
matches the announced data connections first: a callback found only after its
session's data connection is judged out of order.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Collection, Hashable, Mapping

from flowcheck.config import Config
from flowcheck.model import Connection, Session
from flowcheck.sessions.callback_opened import prefer_opened, streamed_one_way
from flowcheck.sessions.classify import asked_nothing, connection_outcome, end_of
from flowcheck.sessions.file_order import BEGINNING, END, TIME_ORDER, FileOrder, Moment
from flowcheck.sessions.only_closing import close_only
from flowcheck.sessions.pools import Endpoints, Pool, Work, claim

__all__ = ["CALLBACK_SLACK_SECONDS", "attach_callbacks"]

# A callback opened this long after the control connection ended is not its callback.
CALLBACK_SLACK_SECONDS = 1.0
# Where an event is in the order the callbacks' sweep goes: (its frame) in the file's
# order (FileOrder.frames), else its moment ((clock epoch, s): FileOrder.moment).
Place = tuple[float, ...]


def attach_callbacks(sessions: list[Session], control_of: dict[str, Connection],
                     ordered: list[Connection], by_uid: dict[str, Connection],
                     endpoints: Endpoints, config: Config, order: FileOrder = TIME_ORDER,
                     anchors: Mapping[str, tuple[int, float]] | None = None,
                     closing_pairs: Collection[tuple[str, str]] = (),
                     unsure: Collection[str] = ()) -> None:
    """Each session's callback: an agent -> media server connection (not to the NDMP
    port) opened while its control connection was open.

    Sessions can overlap (two jobs to one agent), so callbacks are handed out earliest
    deadline first: in time order, each goes to the open session whose data connection
    (or end) comes soonest, the earlier session on a tie. A greedy choice per session
    would cross two callbacks when the first job's comes late. A destination in the media
    range is preferred; failing that, a connection to another port is still the callback
    (verify reports port_outside_media_range). A callback found only after the session's
    data connection is still attached, so verify reports it out of order. A session that
    asked nothing (asked_nothing: a port check) takes none, and a connection open before
    the capture that carries a stream one way (callback_opened.streamed_one_way: a data
    connection joined late, review58a) is no callback. Last, a
    session still without one takes a connection from its agent to a configured media
    server address no session's control connection came from (another interface of its
    media server, or a control connection that left through source NAT). With
    order.frames the file's order says what opened after what (a clock set back:
    flowcheck.sessions.file_order): a callback written after its control connection
    opened and before its data connection is in its window, whatever its time.

    The sweep first starts each session at its anchor (anchors: session id -> (frame,
    seconds) of the media server's vendor message naming the job engine, which Backup
    Exec's callback follows: flow-model.md; sessions.callback_elsewhere.vendor_anchor),
    in the media range; then at its control connection's opening, in the media range;
    then to any port. Last, a callback whose opening the capture lacks (a keepalive or an
    ACK of a connection open before the capture, or the callback whose handshake the
    sniffer lost) gives way to an unclaimed connection whose opening the capture holds,
    opened in the session's window after its anchor, into the media range (to any port
    when the one it holds is outside it): sessions.callback_opened (review56e's keepalive).

    closing_pairs: (agent, media server) pairs whose every session's control connection
    opened before the capture and shows its close: a connection held only closing
    between them (only_closing.close_only) is a callback only by
    only_closing.name_closing_callbacks, never by where its first packet falls (it opened
    before the capture too: cbmix63, lab/concurrent-jobs.pcap's last 33 frames gave one
    job the other's data connection). Nor is a connection of `unsure` (uids: each may
    have been the callback of a session closing beside it, that rule named none's:
    cutcb64b, the data connection first seen at the agent's ACK after the control
    connection's close was named the callback, step 2 `ok`).
    """
    # A session whose media server asked nothing is due no callback (trial 25: in a
    # capture of the media server's packets alone a port check before the job took the
    # job's callback, its data connection matched by ports only later).
    sessions = [s for s in sessions if not asked_nothing(control_of[s.id])]
    # A data stream open before the capture is no callback (streamed_one_way: review58a).
    pools = endpoints.pools(ordered, lambda c: None if c.role == "control" or
                            c.resp_p == config.ndmp_port or streamed_one_way(c)
                            or ((c.orig_h, c.resp_h) in closing_pairs and close_only(c))
                            or c.uid in unsure
                            else (c.orig_h, c.resp_h))
    in_range = {pair: pool.only(lambda c: config.in_media_range(c.resp_p))
                for pair, pool in pools.items()}
    # The same, but connections whose opening the capture holds (a SYN or SYN-ACK):
    # one open before the capture (no opening in it, its first packet a keepalive or an
    # ACK during the job) is a callback only when no opened one fits (review56e: a
    # 10.77.0.2:7000 -> 10.77.0.1:5050 keepalive took the job's callback from the
    # connection whose SYN followed the vendor message, read port_outside_agent_range).
    opened_pools = {kind: Pool.opened_only(by_pair)
                    for kind, by_pair in (("in_range", in_range), ("any", pools))}
    # Per session: (opened, callback window end, deadline), moments of the capture's time
    # order ((clock epoch, s): FileOrder.moment), and where it opened and its deadline in
    # the order the sweep goes (`at`); sessions by host pair.
    window: dict[str, tuple[Moment, Moment, Moment]] = {}
    sweep: dict[str, tuple[Place, Place]] = {}
    # Per session: its control and data connections are in the file's order
    # (FileOrder.by_frame: none written out of time order).
    by_frame: dict[str, bool] = {}
    members: dict[Hashable, list[int]] = defaultdict(list)

    for index, session in enumerate(sessions):
        control = control_of[session.id]
        end = order.moment(control.last_frame, end_of(control) + CALLBACK_SLACK_SECONDS)
        data = [by_uid[uid] for uid in session.data_connections]
        deadline = min((order.began(c) for c in data), default=end)
        window[session.id] = (order.began(control), end, deadline)
        by_frame[session.id] = order.by_frame(control.first_frame, control.last_frame,
                                              *(c.first_frame for c in data))
        sweep[session.id] = (((control.first_frame,), (min((c.first_frame for c in data),
                                                            default=control.last_frame),))
                             if order.frames else (order.began(control), deadline))
        members[(session.remote_agent, session.media_server)].append(index)

    def fits(session: Session, conn: Connection) -> bool:
        """Did conn open in the session's window, before its first data connection?"""
        _, end, deadline = window[session.id]
        if not (by_frame[session.id] and order.by_frame(conn.first_frame)):
            return order.began(conn) <= min(deadline, end)
        return conn.first_frame <= sweep[session.id][1][0] and \
            order.open_at(conn, control_of[session.id], end[1])

    def first_in(pool: Pool, session: Session) -> Connection | None:
        """The pool's first unclaimed connection opened in the session's window."""
        opened, end, _ = window[session.id]
        control = control_of[session.id]
        found = [c for c in (pool.first(opened, end), pool.first_written(control.first_frame)
                             if order.by_frame(control.first_frame) else None)
                 if c is not None and order.open_at(c, control, end[1])]
        return min(found, key=order.opened, default=None)

    def assign(session: Session, conn: Connection) -> None:
        session.callback_uid = conn.uid
        claim(endpoints, conn, session, "callback")

    # Where each session's sweep starts in the first pass: its anchor (the vendor
    # message), in the order the sweep goes; its control connection's opening in others.
    anchored = {session.id: max(sweep[session.id][0], order.place(*anchor))
                for session in sessions
                if (anchor := (anchors or {}).get(session.id)) is not None}

    def start(index: int, first: bool) -> Place:
        """Where session `index`'s sweep starts in this pass (`first`: the anchored)."""
        session_id = sessions[index].id
        return anchored.get(session_id, sweep[session_id][0]) if first \
            else sweep[session_id][0]

    # After the anchor in the media range, from the control connection's opening in the
    # media range, to any port. Not opened connections first over every session: one
    # whose callback's handshake the sniffer lost then took an opened connection to
    # another port (an SSH session: port_outside_media_range), or another job's callback
    # opened in its window (review56j); callback_opened.prefer_opened trades a connection
    # without its opening for an opened one once every session has had its turn.
    passes = (in_range, pools)
    # Per host pair, the pool its last pass from the openings walked: in time order one
    # again over that very pool (Pool.only: all in the media range) gives nothing new, a
    # connection left fitting no open session and windows only closing (issue 7).
    walked: dict[Hashable, Pool] = {}
    for number, offering in enumerate((in_range, *passes)):
        first = number == 0 and bool(anchored)
        if number == 0 and not first:
            continue
        for pair, indexes in members.items():
            offered = offering.get(pair)
            if offered is None:
                continue
            waiting = sorted((i for i in indexes if sessions[i].callback_uid is None),
                             key=lambda i: start(i, first))
            if not waiting:
                continue  # every session of the pair has its callback: nothing to walk
            # An anchored pass whose starts are all the openings (no vendor message
            # after them) is a pass from the openings too.
            shifted = first and any(start(i, True) != start(i, False) for i in waiting)
            if not order.frames and not shifted and walked.get(pair) is offered:
                continue
            if not shifted:
                walked[pair] = offered
            # Open sessions by (deadline, order); one that has its callback, or whose
            # window or deadline passed, never takes another: dropped when met on top.
            heap: list[tuple[float, int]] = []
            added = 0
            # From the first waiting session's start (by frames every connection, sorted),
            # no further once every session has left the heap (issue 7).
            offers = offered.each(BEGINNING if order.frames
                                  else start(waiting[0], first), END)
            for conn in sorted(offers, key=order.opened) if order.frames else offers:
                if added == len(waiting) and not heap:
                    break
                opened_at = order.place(conn.first_frame, conn.ts)
                while added < len(waiting) and start(waiting[added], first) <= opened_at:
                    index = waiting[added]
                    heapq.heappush(heap, (sweep[sessions[index].id][1], index))
                    added += 1
                while heap:
                    Work.steps += 1
                    _, index = heap[0]
                    session = sessions[index]
                    if session.callback_uid is None and fits(session, conn):
                        assign(session, conn)
                        heapq.heappop(heap)  # it has its callback: never another
                        break
                    heapq.heappop(heap)
    for session in sessions:
        # A control connection open before the capture may have been called back before
        # its first captured packet: a callback seen with its SYN (so its direction is
        # known) from the capture's start on.
        pair = (session.remote_agent, session.media_server)
        control = control_of[session.id]
        if session.callback_uid is None and pair in pools and \
                connection_outcome(control) == "midstream":
            early = next((c for pool in (in_range[pair], pools[pair])
                          for c in pool.each(BEGINNING, order.began(control))
                          if connection_outcome(c) != "midstream"), None)
            if early is not None:
                assign(session, early)
    for session in sessions:  # late callbacks: attached, and judged out of order
        pair = (session.remote_agent, session.media_server)
        if session.callback_uid is None and pair in pools:
            late = next((c for offering in (*opened_pools.values(), *passes)
                         if pair in offering
                         and (c := first_in(offering[pair], session)) is not None), None)
            if late is not None:
                assign(session, late)
    # A callback to another address of the media server (a second interface, or a
    # control connection that left through source NAT): the job engine names its own
    # address. Taken only to a configured media server address no session's control
    # connection came from (the agent talks to other hosts too).
    spare = set(config.media_servers) - {s.media_server for s in sessions}
    for session in sessions:
        if session.callback_uid is not None or not spare:
            continue
        found = [c for (agent, media), pool in pools.items()
                 if agent == session.remote_agent and media in spare
                 and (c := first_in(pool, session)) is not None]
        if found:
            assign(session, min(found, key=lambda c: (not config.in_media_range(c.resp_p),
                                                      order.time_key(c))))

    def opened_after_anchor(index: int, pool: Pool) -> Connection | None:
        """The pool's first unclaimed connection opened after session `index`'s anchor
        that fits its window (pools hold connections in time order; fits() ends there)."""
        session, begin = sessions[index], start(index, True)
        conn = pool.first_written(int(begin[0])) if order.frames else pool.first(begin)
        return conn if conn is not None and fits(session, conn) else None

    prefer_opened(sessions, by_uid, endpoints, config, opened_pools,
                   sorted(range(len(sessions)), key=lambda i: sweep[sessions[i].id][1]),
                   opened_after_anchor)

