"""The sessions tied connections fit alike, shared among them, and each session's
tied_with read from them only when asked.

A connection that several sessions fit alike, with nothing naming whose it is, goes to
none and is listed on each (Session.port_tied: sessions.by_ports, sessions.late_owners).
Each of those sessions is then tied with the others (Session.tied_with). Copying every
tie into each of its sessions cost the square of its size per connection: a busy media
server's capture joined late ties each connection open before it between every job still
open, and building 1,000 such jobs' sessions took 8.6 CPU-s (review58a; 0.09 at 250).

Here a tie is one `TieGroup` object its sessions share; consecutive connections that
fit the same sessions (one live window) share one group, and a group within the one
before it (a window closing: its sessions were tied with all of it already) is not
listed again on its sessions. A session's tied_with is a `TiedWith`: with one group it
is that group less the session itself (its length and any item found without a copy);
with several it is their union, made once when first read. Building is so proportional
to the ties' total size (each connection's candidates), not to its square.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import overload

from flowcheck.model import Session
from flowcheck.sessions.pools import Work


class TieGroup:
    """The sessions (in session order, each once) that one or more tied connections fit
    alike. ids: their Session ids; where: id -> place in ids (made on first use)."""

    __slots__ = ("ids", "_where")

    def __init__(self, ids: tuple[str, ...]) -> None:
        self.ids = ids
        self._where: dict[str, int] | None = None

    def _places(self) -> dict[str, int]:
        if self._where is None:
            self._where = {sid: i for i, sid in enumerate(self.ids)}
        return self._where

    def place(self, session_id: str) -> int:
        """The session's place among the group's ids (KeyError if not of the group)."""
        return self._places()[session_id]

    def has(self, session_id: str) -> bool:
        """Is the session one of the group's?"""
        return session_id in self._places()

    def within(self, other: TieGroup) -> bool:
        """Is every session of this group one of `other`'s? Work: this group's size."""
        if len(self.ids) > len(other.ids):
            return False
        where = other._places()
        return all(sid in where for sid in self.ids)


class TiedWith(Sequence[str]):
    """A session's tied_with (the other sessions it shares a tie with), read from its tie
    groups when asked. order: session id -> index, to sort the ids by (with several groups);
    None keeps the order first met (group by group, as sessions.by_ports listed them).
    prior: ids it was tied with before these groups (kept, first). Equal to a list of
    the same ids; not hashable."""

    __slots__ = ("_own", "_groups", "_order", "_prior", "_ids")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, own: str, groups: Sequence[TieGroup],
                 order: Mapping[str, int] | None = None, prior: Sequence[str] = ()) -> None:
        self._own = own
        self._groups = list(groups)
        self._order = order
        self._prior = list(prior)
        self._ids: list[str] | None = None

    @property
    def groups(self) -> tuple[TieGroup, ...]:
        """The groups it is read from (shared with the other sessions of each)."""
        return tuple(self._groups)

    def _single(self) -> TieGroup | None:
        """The one group the ids are, less the session, when nothing else adds to it."""
        return self._groups[0] if len(self._groups) == 1 and not self._prior else None

    def _all(self) -> list[str]:
        """Every id, made once (the union of the groups, less the session)."""
        if self._ids is None:
            Work.steps += len(self._prior) + sum(len(group.ids) for group in self._groups)
            seen = {self._own}
            ids = [sid for sid in self._prior if sid not in seen and not seen.add(sid)]
            for group in self._groups:
                ids += [sid for sid in group.ids if sid not in seen and not seen.add(sid)]
            if self._order is not None:
                ids.sort(key=self._order.__getitem__)
            self._ids = ids
        return self._ids

    def __len__(self) -> int:
        single = self._single()
        return len(single.ids) - 1 if single is not None else len(self._all())

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        single = self._single()
        if single is None:
            return self._all()[index]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        size = len(single.ids) - 1
        if not -size <= index < size:
            raise IndexError("tied_with index out of range")
        index %= size
        return single.ids[index + (index >= single.place(self._own))]

    def __iter__(self) -> Iterator[str]:
        single = self._single()
        if single is None:
            return iter(self._all())
        return (sid for sid in single.ids if sid != self._own)

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and value != self._own and (
            value in self._prior or any(group.has(value) for group in self._groups))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (TiedWith, list, tuple)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return repr(list(self))


class Ties:
    """Builds the tie groups of one pass over connections, each tie given as its sessions
    in session order (`add`), and then each tied session's tied_with (`finish`).

    A tie equal to the one before it shares its group; one within the one before it adds
    nothing to its sessions' ties (each of them was in the one before, so tied with all of
    it already) and is not listed on them. order: session id -> index, to sort each
    session's tied_with by (else the order first met); with it a tie holding the one
    before also replaces that one on its sessions that have it last."""

    def __init__(self, order: Mapping[str, int] | None = None) -> None:
        self.order = order
        self.groups: dict[str, list[TieGroup]] = {}  # session id -> its groups
        self._last: TieGroup | None = None
        self._shared: dict[str, TieGroup] = {}

    def add(self, sessions: Sequence[Session]) -> TieGroup:
        """The group of one tied connection's sessions (session order), listed on those
        sessions whose ties it adds to. Work: the tie's size."""
        ids = tuple(s.id for s in sessions)
        Work.steps += len(ids)
        last = self._last
        if last is not None and ids == last.ids:
            return last
        group = TieGroup(ids)
        self._last = group
        if last is not None and group.within(last):
            return group  # each of its sessions was in `last`: nothing new for any
        if last is not None and self.order is not None and last.within(group):
            for sid in last.ids:
                groups = self.groups.get(sid)
                if groups and groups[-1] is last:
                    groups.pop()  # the new group holds all of it
        for sid in ids:
            self.groups.setdefault(sid, []).append(group)
        return group

    def shared(self, uid: str, sessions: Sequence[Session]) -> TieGroup:
        """The one group of the tied connection `uid` (its sessions in session order),
        made on first asking, for its sessions to list one at a time (add_for)."""
        group = self._shared.get(uid)
        if group is None:
            group = self._shared[uid] = TieGroup(tuple(s.id for s in sessions))
        return group

    def add_for(self, session: Session, group: TieGroup) -> None:
        """List a group made elsewhere on one of its sessions, unless it is the one last
        listed there (each connection of a shared tie, one session at a time)."""
        groups = self.groups.setdefault(session.id, [])
        if not groups or groups[-1] is not group:
            groups.append(group)

    def finish(self, sessions: Iterable[Session], *, keep: bool = True) -> None:
        """Set tied_with of each session with groups (keep: after the ids it had).
        Sessions without any keep theirs (keep) or get none."""
        for session in sessions:
            groups = self.groups.get(session.id)
            if groups:
                session.tied_with = TiedWith(session.id, groups, self.order,
                                             session.tied_with if keep else ())
            elif not keep and session.tied_with:
                session.tied_with = []

