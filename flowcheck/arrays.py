"""numpy helpers shared by the stages.

distinct: the sorted distinct values of an integer array, as np.unique(values) gives
them. numpy 2.3+'s np.unique without return_* options asks numpy.ma whether the array is
masked, importing numpy.ma on its first call: about 40 ms once per process, more than
the whole tracking of a 10 MB capture, paid by the first batch with any TCP packet.

run_starts: which places of a sorted array begin a run of equal values (the first of
each group), of the array's length: empty for an empty array.
"""

from __future__ import annotations

import numpy as np


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of an integer array (flattened), of its dtype: as
    np.unique(values), without importing numpy.ma. Not for floats (NaNs not merged)."""
    ordered = np.sort(values, axis=None)
    if ordered.size < 2:
        return ordered
    keep = np.empty(ordered.size, np.bool_)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def run_starts(ordered: np.ndarray) -> np.ndarray:
    """Per place of a sorted (or grouped) 1-D array (bool, its length): whether it holds
    the first of a run of equal values. An empty array has none, one value starts one."""
    starts = np.empty(ordered.shape[0], np.bool_)
    if starts.size:
        starts[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    return starts
