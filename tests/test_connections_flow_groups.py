"""A batch's packets grouped by flow (connections.flows) the same whatever path finds the
groups: peeled (few flows), a table of a sample's values (tens to hundreds of flows),
one sort of hash values (many flows, issue 7), or the exact row comparison a hash
collision sends the batch to.

Each case is checked against a plain Python grouping of the rows; nothing is timed.
"""

from __future__ import annotations

import numpy as np
import pytest

from flowcheck.connections.flows import (
    PEEL_MAX,
    PEEL_SAMPLE,
    TABLE_MAX,
    TABLE_SAMPLE,
    _peel,
    _sorted_unique,
    _table_unique,
    _unique_rows,
)


def _reference(rows: np.ndarray) -> tuple[list[int], list[int]]:
    """Each distinct row's first index, and each row's group, groups numbered by first
    appearance."""
    seen: dict[tuple[int, ...], int] = {}
    first: list[int] = []
    group: list[int] = []
    for index, row in enumerate(map(tuple, rows.tolist())):
        if row not in seen:
            seen[row] = len(first)
            first.append(index)
        group.append(seen[row])
    return first, group


def _by_appearance(first: np.ndarray, inverse: np.ndarray) -> tuple[list[int], list[int]]:
    """(first, inverse) renumbered by first appearance, as numbered_flows does."""
    order = np.argsort(first, kind="stable")
    number = np.empty(first.shape[0], np.int64)
    number[order] = np.arange(first.shape[0])
    return first[order].tolist(), number[inverse].tolist()


@pytest.mark.parametrize("count", [1, 2, PEEL_MAX, PEEL_MAX + 1, 100, 3000])
def test_unique_rows_as_the_reference(count: int) -> None:
    rng = np.random.default_rng(count)
    distinct = rng.integers(0, 1 << 48, size=(count, 2), dtype=np.uint64)
    rows = distinct[rng.integers(0, count, size=9000)]
    assert _by_appearance(*_unique_rows(rows)) == _reference(rows)


def test_sorted_unique_groups_by_value_in_position_order() -> None:
    rng = np.random.default_rng(7)
    values = rng.integers(0, 1 << 63, size=50, dtype=np.uint64)
    hashed = values[rng.integers(0, 50, size=5000)]
    first, inverse = _sorted_unique(hashed)
    assert _by_appearance(first, inverse) == _reference(hashed[:, None])
    assert (hashed[first][inverse] == hashed).all()


def test_low_bit_neighbours_are_one_group_there() -> None:
    """Hashes equal but for the low bits _sorted_unique gives to positions come out as
    one group (what a collision would do): _unique_rows' exact comparison of every row
    with its group's first is what keeps such rows apart."""
    hashed = np.array([8, 9, 8, 9], np.uint64)  # 4 packets: the 2 low bits are positions
    first, inverse = _sorted_unique(hashed)
    assert first.tolist() == [0] and inverse.tolist() == [0, 0, 0, 0]


def test_peel_gives_up_at_once_on_many_flows() -> None:
    many = np.tile(np.arange(PEEL_SAMPLE, dtype=np.uint64).repeat(4), 3)
    assert _peel(many) is None
    few = np.tile(np.arange(3, dtype=np.uint64), 100)
    peeled = _peel(few)
    assert peeled is not None
    assert peeled[0].tolist() == [0, 1, 2] and peeled[1].tolist() == few.tolist()


@pytest.mark.parametrize("count", [PEEL_MAX + 1, 90, TABLE_MAX])
def test_table_unique_groups_by_value(count: int) -> None:
    """Every packet in its value's group, each group's first its value's first packet,
    flows the sample missed (one packet each, between the sampled places) included."""
    rng = np.random.default_rng(count)
    values = rng.integers(0, 1 << 63, size=count, dtype=np.uint64)
    hashed = values[rng.integers(0, count, size=18000)]
    step = hashed.shape[0] // TABLE_SAMPLE
    rare = rng.integers(0, 1 << 63, size=40, dtype=np.uint64)
    hashed[np.arange(40) * step + 1] = rare  # never sampled (places 0, step, 2 step...)
    grouped = _table_unique(hashed)
    assert grouped is not None
    assert _by_appearance(*grouped) == _reference(hashed[:, None])


def test_table_unique_values_sharing_a_slot() -> None:
    """Values equal in their top bits (one table slot): one is kept in the table, the
    other grouped with the packets the table missed; and 0 in an empty slot is no
    match (an empty slot's value is 0)."""
    rng = np.random.default_rng(5)
    top = np.uint64(5) << np.uint64(60)
    values = np.concatenate((rng.integers(1 << 55, 1 << 63, size=20, dtype=np.uint64),
                             [top, top | np.uint64(1)])).astype(np.uint64)
    hashed = np.tile(values, 500)
    assert hashed.shape[0] // TABLE_SAMPLE > 1
    hashed[1] = 0  # not sampled (places 0, step, 2 step...); slot 0 empty (top bits 0)
    assert ((values >> np.uint64(54)) != 0).all()  # (the table has 2 ** 10 slots)
    grouped = _table_unique(hashed)
    assert grouped is not None
    assert _by_appearance(*grouped) == _reference(hashed[:, None])


def test_table_unique_gives_up_on_many_flows() -> None:
    many = np.arange(TABLE_SAMPLE * 4, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    assert _table_unique(many) is None  # more than TABLE_MAX values in the sample
    rng = np.random.default_rng(3)
    few = rng.integers(0, 1 << 63, size=10, dtype=np.uint64)
    # The sample sees 10 values; most packets hold others (each its own): sorted instead.
    hashed = rng.integers(0, 1 << 63, size=TABLE_SAMPLE * 20, dtype=np.uint64)
    hashed[::20] = few[rng.integers(0, 10, size=TABLE_SAMPLE)]
    assert _table_unique(hashed) is None


def test_unique_rows_exact_when_table_groups_collide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows whose hashes are equal (a collision: every row's hash made one value here)
    come out of the table as one group; the exact comparison keeps them apart."""
    import flowcheck.connections.flows as flows

    rng = np.random.default_rng(11)
    distinct = rng.integers(0, 1 << 48, size=(60, 2), dtype=np.uint64)
    rows = distinct[rng.integers(0, 60, size=9000)]
    calls = []

    def colliding(hashed: np.ndarray):
        calls.append(hashed.shape[0])
        return _table_unique(hashed & np.uint64(0xFF00000000000000))

    monkeypatch.setattr(flows, "_table_unique", colliding)
    assert _by_appearance(*_unique_rows(rows)) == _reference(rows)
    assert calls == [9000]
