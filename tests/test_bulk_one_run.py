"""bulk_rows.one_run, apply_runs' grouping of a batch's one run (a bulk transfer's: most often
a range of the batch), gives what the general grouping of several runs gives
(bulk_rows.runs_grouped): the same rows by side, order, sizes and counts per key, for a
range in order, a range in another order (a flow taken in time order, by_time), any
rows, and a run of one side."""

from __future__ import annotations

import numpy as np
import pytest

from flowcheck.connections.bulk_rows import one_run, runs_grouped


class _Conn:
    def __init__(self, orig_is_lower: bool) -> None:
        self.orig_is_lower = orig_is_lower


def _runs(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    batch = 400
    from_lower = rng.random(batch) < 0.6
    if kind == "range":
        rows = np.arange(37, 337)
    elif kind == "range-permuted":  # a range's rows, not in row order
        rows = np.arange(37, 337)
        swap = 2 * rng.choice(rows.shape[0] // 2, 20, replace=False)  # disjoint pairs
        rows[swap], rows[swap + 1] = rows[swap + 1], rows[swap].copy()
    elif kind == "subset":
        rows = np.sort(rng.choice(batch, 250, replace=False))
    else:  # one side only
        rows = np.flatnonzero(from_lower)[:200]
    return from_lower, rows.astype(np.int64)


@pytest.mark.parametrize("kind", ["range", "range-permuted", "subset", "one-side"])
@pytest.mark.parametrize("orig_is_lower", [True, False])
def test_one_run_groups_as_several_runs_do(kind: str, orig_is_lower: bool) -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        from_lower, rows = _runs(kind, rng)
        run = (_Conn(orig_is_lower), rows)
        one = one_run(from_lower, run)  # type: ignore[arg-type]
        general = runs_grouped(from_lower, [run])  # type: ignore[list-item]
        for got, expected in zip(one, general, strict=True):
            if expected is None:
                assert got is None
            else:
                assert got is not None and np.array_equal(got, expected)
