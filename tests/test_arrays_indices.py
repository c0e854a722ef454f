"""flowcheck.arrays.indices: a range or a list of indices as np.asarray(values, int64)
gives it (the tracker's walk of every flow is a range)."""

from __future__ import annotations

import numpy as np
import pytest

from flowcheck.arrays import indices


@pytest.mark.parametrize("values", [range(0), range(7), range(3, 11), range(2, 20, 3),
                                    range(9, 0, -2), [], [5, 0, 3]])
def test_indices_are_what_asarray_gives(values: list[int] | range) -> None:
    expected = np.asarray(values, np.int64)
    got = indices(values)
    assert got.dtype == np.int64
    assert got.tolist() == expected.tolist()
