"""sessions.tie_groups: each session's tied_with read from shared tie groups equals the
union of every tie it is in, as the copies it replaced gave it (tiescale)."""

from __future__ import annotations

import random

import pytest

from flowcheck.model import Session
from flowcheck.sessions.tie_groups import TiedWith, Ties


def _sessions(count: int) -> list[Session]:
    return [Session(f"S{i + 1}", f"C{i}", "10.77.0.1", "10.77.0.2", 4, "backup")
            for i in range(count)]


def _ties(rng: random.Random, sessions: list[Session]) -> list[list[Session]]:
    """Ties of 2 or more sessions (session order): windows closing one job at a time
    (each within the one before), opening (each holding it), repeated, and at random."""
    ties: list[list[Session]] = []
    for _ in range(rng.randint(1, 12)):
        shape = rng.random()
        lo = rng.randrange(len(sessions) - 1)
        hi = rng.randint(lo + 2, len(sessions))
        if shape < 0.3:
            ties += [sessions[k:hi] for k in range(lo, hi - 1)]  # closing
        elif shape < 0.5:
            ties += [sessions[lo:k] for k in range(lo + 2, hi + 1)]  # opening
        elif shape < 0.6 and ties:
            ties.append(list(ties[-1]))  # the same sessions again
        else:
            ties.append(sorted(rng.sample(sessions, rng.randint(2, len(sessions))),
                               key=sessions.index))
    return ties


def _read_all(tied: TiedWith, expected: list[str]) -> None:
    """Every way the readers read tied_with gives what the list gives."""
    assert tied == expected and expected == tied and list(tied) == expected
    assert len(tied) == len(expected) and bool(tied) == bool(expected)
    assert [tied[i] for i in range(-len(expected), len(expected))] == expected + expected \
        if expected else True
    for cut in (slice(None, 8), slice(None, -1), slice(8, None), slice(None, None, 2)):
        assert tied[cut] == expected[cut]
    for sid in ("S1", "S3", "S9", "nobody"):
        assert (sid in tied) == (sid in expected)
    with pytest.raises(IndexError):
        tied[len(expected)]
    assert repr(tied) == repr(expected)


@pytest.mark.parametrize("seed", range(40))
def test_tied_with_is_the_union_of_its_ties_in_session_order(seed: int) -> None:
    """capture_start's and callback_ties' ties: sorted by session, after those before."""
    rng = random.Random(seed)
    sessions = _sessions(rng.randint(3, 14))
    order = {s.id: i for i, s in enumerate(sessions)}
    prior = {s.id: sorted(rng.sample([o.id for o in sessions if o is not s], 1),
                          key=order.__getitem__) if rng.random() < 0.2 else []
             for s in sessions}
    for session in sessions:
        session.tied_with = list(prior[session.id])
    ties = Ties(order)
    expected: dict[str, set[str]] = {}
    for tie in _ties(rng, sessions):
        ties.add(tie)
        for session in tie:
            expected.setdefault(session.id, set()).update(s.id for s in tie)
    ties.finish(sessions)
    for session in sessions:
        want = sorted((expected.get(session.id, set()) | set(prior[session.id]))
                      - {session.id}, key=order.__getitem__)
        if session.id in expected:
            _read_all(session.tied_with, want)  # type: ignore[arg-type]
        else:
            assert session.tied_with == want


@pytest.mark.parametrize("seed", range(40))
def test_tied_with_keeps_the_order_first_met_for_by_ports(seed: int) -> None:
    """by_ports' ties, each connection's group listed as each of its sessions takes it:
    the others of each tie in the order first met, as its extend gave them."""
    rng = random.Random(seed)
    sessions = _sessions(rng.randint(3, 14))
    tied = {f"D{i}": tie for i, tie in enumerate(_ties(rng, sessions))}
    ties = Ties()
    expected: dict[str, list[str]] = {s.id: [] for s in sessions}
    for session in sessions:
        for uid in rng.sample(sorted(tied), len(tied)):  # its connections, in its order
            group = ties.shared(uid, tied[uid])
            if group.has(session.id):
                ties.add_for(session, group)
                expected[session.id].extend(s.id for s in tied[uid] if s is not session
                                            and s.id not in expected[session.id])
    ties.finish(sessions)
    for session in sessions:
        if expected[session.id]:
            _read_all(session.tied_with, expected[session.id])  # type: ignore[arg-type]
        else:
            assert session.tied_with == []


def test_ties_within_the_one_before_are_listed_once() -> None:
    """Windows closing one job at a time (each tie within the one before): each session
    keeps the first group it was in, the others' ids read from it without a copy.
    Opening one job at a time (each holding the one before): the last replaces each."""
    sessions = _sessions(50)
    ties = Ties({s.id: i for i, s in enumerate(sessions)})
    for k in range(49):
        ties.add(sessions[k:])
    ties.finish(sessions)
    first = sessions[0].tied_with
    assert isinstance(first, TiedWith) and len(first.groups) == 1
    assert all(s.tied_with.groups == first.groups for s in sessions)  # type: ignore[attr-defined]
    assert sessions[20].tied_with[:3] == ["S1", "S2", "S3"] and \
        sessions[20].tied_with[19:22] == ["S20", "S22", "S23"]
    opening = _sessions(50)
    ties = Ties({s.id: i for i, s in enumerate(opening)})
    for k in range(2, 51):
        ties.add(opening[:k])
    ties.finish(opening)
    assert all(s.tied_with.groups == opening[0].tied_with.groups  # type: ignore[attr-defined]
               for s in opening) and len(opening[0].tied_with.groups) == 1  # type: ignore[attr-defined]
