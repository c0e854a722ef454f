"""A batch's packets grouped by flow (connections.flows) the same whatever path finds the
groups: peeled (few flows), one sort of hash values (many flows, issue 7), or the exact
row comparison a hash collision sends the batch to.

Each case is checked against a plain Python grouping of the rows; nothing is timed.
"""

from __future__ import annotations

import numpy as np
import pytest

from flowcheck.connections.flows import PEEL_MAX, PEEL_SAMPLE, _peel, _sorted_unique, _unique_rows


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
