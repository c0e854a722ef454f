"""Time-ordered pools of connections that each session may claim once.

Every match is "the first unclaimed connection of some kind at or after some time", so
connections are kept in time-ordered pools that skip claimed ones: the cost grows as
n log n with the sessions and connections between one pair of hosts, not as their
product (issue 7: two thousand concurrent jobs between one media server and one agent).

Time is the capture's (flowcheck.sessions.file_order): where the capture host's clock
stepped back on all its streams at once, a moment is (clock epoch, seconds), a later
epoch after every time of an earlier one, as session lifetimes compare them
(sessions.lifetimes). By plain timestamps a job's data connection stamped after the
clock was set back fell before its own announcement, and a later job's took it
(clockpools: two three-way jobs in a pcapng of two interfaces written in blocks, both
stepped back 2 s at the first job's data SYN, read FAIL announced_not_used).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import field
from typing import Literal, TypeVar

from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.model import Connection, Session
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.file_order import END, TIME_ORDER, FileOrder, Moment
from flowcheck.sessions.lifetimes import Lifetimes

K = TypeVar("K", bound=Hashable)


class Work:
    """Connections and sessions looked at while matching, summed over every build.

    Tests read it to prove matching stays near-linear in the connections (issue 7)
    without timing anything; it costs one addition per look."""

    steps = 0


class Pool:
    """Connections in the capture's time order ((clock epoch, ts), first_frame: `order`)
    that skips claimed ones.

    `claimed` only grows while sessions are built, so a claimed connection is stepped over
    once and then jumped (a path-compressed next pointer, as in union-find). Given in
    (ts, first_frame) order; sorted again by moment where the clock stepped back on every
    stream (order.epochs). times: each one's opening, seconds (moments with epochs)."""

    __slots__ = ("conns", "times", "order", "_next", "_claimed", "_written", "_frames",
                 "_next_written")

    def __init__(self, conns: list[Connection], claimed: set[str],
                 order: FileOrder = TIME_ORDER) -> None:
        self.order = order
        if order.epochs is not None:
            conns = sorted(conns, key=order.time_key)
        self.conns = conns
        # Floats without a shared clock step (every moment in epoch 0), else moments.
        self.times: list = (
            [c.ts for c in conns] if order.epochs is None
            else [order.began(c) for c in conns])
        self._next = list(range(len(conns) + 1))
        self._claimed = claimed
        # The connections in frame order (first_frame), built on first use (first_written).
        self._written: list[Connection] = []
        self._frames: list[int] = []
        self._next_written: list[int] = []

    def _unclaimed_from(self, start: int, conns: list[Connection] | None = None,
                        nxt: list[int] | None = None) -> int:
        """The first position at or after `start` whose connection is unclaimed (in conns,
        skipping by nxt: the pool's time order, else another order of its connections)."""
        if conns is None or nxt is None:
            conns, nxt = self.conns, self._next
        claimed = self._claimed
        end = len(conns)
        here = start
        while here < end and (nxt[here] != here or conns[here].uid in claimed):
            Work.steps += 1
            if nxt[here] == here:
                nxt[here] = here + 1
            here = nxt[here]
        while start != here:  # compress the path walked
            nxt[start], start = here, nxt[start]
        return here

    def only(self, keep: Callable[[Connection], bool]) -> Pool:
        """The pool's connections that `keep` accepts, sharing its claimed set: the pool
        itself when it accepts every one, so that a pass over one after a pass over the
        other is seen to walk the very same pool (issue 7: callback_sweep.attach_callbacks)."""
        kept = [c for c in self.conns if keep(c)]
        return self if len(kept) == len(self.conns) else Pool(kept, self._claimed, self.order)

    @staticmethod
    def opened_only(pools: Mapping[K, Pool]) -> dict[K, Pool]:
        """Each pool's connections whose opening the capture holds (a SYN or a SYN-ACK:
        connection_outcome not "midstream"), sharing its claimed set (Pool.only); a key
        left with none is left out."""
        opened = {key: pool.only(lambda c: connection_outcome(c) != "midstream")
                  for key, pool in pools.items()}
        return {key: pool for key, pool in opened.items() if pool.conns}

    def _index_written(self) -> None:
        """The connections in frame order (first_frame), built on first use."""
        if len(self._written) != len(self.conns):
            self._written = sorted(self.conns, key=lambda c: c.first_frame)
            self._frames = [c.first_frame for c in self._written]
            self._next_written = list(range(len(self._written) + 1))

    def first_written(self, frame: int) -> Connection | None:
        """The unclaimed connection whose first packet was written first after `frame`
        (by frame number, whatever its time: flowcheck.sessions.file_order)."""
        self._index_written()
        at = self._unclaimed_from(bisect_right(self._frames, frame), self._written,
                                  self._next_written)
        Work.steps += 1
        return self._written[at] if at < len(self._written) else None

    def each_written(self, first: int, last: float) -> Iterator[Connection]:
        """Every unclaimed connection whose first packet was written in frames [first,
        last] (by frame number, whatever its time), in frame order; the caller may claim
        each one as it comes."""
        self._index_written()
        at = self._unclaimed_from(bisect_left(self._frames, first), self._written,
                                  self._next_written)
        while at < len(self._written) and self._frames[at] <= last:
            Work.steps += 1
            yield self._written[at]
            at = self._unclaimed_from(at + 1, self._written, self._next_written)

    def _time(self, moment: Moment) -> float | Moment:
        """A moment ((clock epoch, s): FileOrder.moment) as `times` holds them."""
        return moment[1] if self.order.epochs is None else moment

    def first(self, after: Moment, until: Moment = END) -> Connection | None:
        """The first unclaimed connection opened in [after, until] (moments)."""
        times, last = self.times, self._time(until)
        at = self._unclaimed_from(bisect_left(times, self._time(after)))
        Work.steps += 1
        return self.conns[at] if at < len(self.conns) and times[at] <= last else None

    def first_following(self, after: Moment, frame: int) -> Connection | None:
        """The first unclaimed connection that follows an event of frame `frame`: opened
        from the moment `after` on, or (order.by_frame) written after the event; the
        earlier of the two (FileOrder.opened)."""
        order = self.order
        found = [conn for conn in (self.first(after),
                                   self.first_written(frame) if order.by_frame(frame)
                                   else None)
                 if conn is not None]
        return min(found, key=order.opened, default=None)

    def each(self, after: Moment, until: Moment) -> Iterator[Connection]:
        """Every unclaimed connection opened in [after, until] (moments), in time order;
        the caller may claim each one as it comes."""
        times, last = self.times, self._time(until)
        at = self._unclaimed_from(bisect_left(times, self._time(after)))
        while at < len(self.conns) and times[at] <= last:
            Work.steps += 1
            yield self.conns[at]
            at = self._unclaimed_from(at + 1)


@fields_dataclass(slots=True)
class Endpoints:
    """Connections by their responder endpoint, in time order, each claimable once; order:
    the capture's order of events, its pools' time order (Pool)."""

    order: FileOrder = TIME_ORDER
    by_endpoint: dict[tuple[str, int], list[Connection]] = field(
        default_factory=lambda: defaultdict(list))
    claimed: set[str] = field(default_factory=set)
    _pools: dict[tuple[str, int], Pool] = field(default_factory=dict)

    def add(self, conn: Connection) -> None:
        """Add connections in time order (ts, first_frame)."""
        key = (conn.resp_h, conn.resp_p)
        self.by_endpoint[key].append(conn)
        self._pools.pop(key, None)

    def connections(self) -> Iterator[Connection]:
        """Every connection added, claimed or not, endpoint by endpoint (in the order
        each was first added), each endpoint's in time order."""
        for conns in self.by_endpoint.values():
            yield from conns

    def first_after(self, ip: str, port: int, after: Moment) -> Connection | None:
        """The first unclaimed connection to ip:port opened at or after the moment."""
        key = (ip, port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = Pool(self.by_endpoint.get(key, []), self.claimed,
                                           self.order)
        return pool.first(after)

    def by_connector(self, hosts: Lifetimes) -> dict[Hashable, Pool]:
        """Unclaimed connections by (responder ip, port, connector): the originator's
        address when it is one of `hosts` (the sessions' own hosts on the connecting
        side) and a session with that host was alive when the connection opened (its
        lifetimes in the capture's order: Lifetimes), else None (an address
        no session uses there at that time: another interface of a multi-homed host, a
        configured one, or a host whose session ended long before: two jobs of one
        night's capture, mergedsets). One Pool each, in time order."""
        def connector(conn: Connection) -> str | None:
            return conn.orig_h if hosts.alive_at(conn.orig_h, conn.ts, conn.first_frame) else None
        return self.pools(self.connections(),
                          lambda c: (c.resp_h, c.resp_p, connector(c)))

    def pools(self, conns: Iterable[Connection], key: Callable[[Connection], Hashable]
              ) -> dict[Hashable, Pool]:
        """Unclaimed connections grouped by key (None: left out), one Pool each."""
        groups: dict[Hashable, list[Connection]] = defaultdict(list)
        for conn in conns:
            if conn.uid not in self.claimed and (k := key(conn)) is not None:
                groups[k].append(conn)
        return {k: Pool(group, self.claimed, self.order) for k, group in groups.items()}


def claim(endpoints: Endpoints, conn: Connection, session: Session,
          role: Literal["data", "callback"]) -> None:
    endpoints.claimed.add(conn.uid)
    conn.role, conn.session = role, session.id
    if role == "data":
        session.data_connections.append(conn.uid)
