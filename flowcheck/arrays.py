"""numpy helpers shared by the stages.

distinct: the sorted distinct values of an integer array, as np.unique(values) gives
them. numpy 2.3+'s np.unique without return_* options asks numpy.ma whether the array is
masked, importing numpy.ma on its first call: about 40 ms once per process, more than
the whole tracking of a 10 MB capture, paid by the first batch with any TCP packet.

one_of: np.isin for a few integer choices, without isin's per-call work. median:
np.median's value of a 1-D float array, without numpy.ma (np.median imports it too).

indices: a list of indices or a range as an int64 array (a range by np.arange).

changes / group_starts / group_ends / group_sizes: grouped rows (equal values adjacent):
which rows begin a group (of the array's length: empty for an empty array), where each
group starts and ends, how long it is. stable_order: a stable argsort of small labels.
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


def indices(values: list[int] | range) -> np.ndarray:
    """values as an int64 array. A range (the tracker's "every flow of the batch") by
    np.arange: np.asarray reads a range item by item, as Python ints (1.8 ms for the
    12,000 flows of a batch of bench's (c) 200k, against 4 us)."""
    if isinstance(values, range):
        return np.arange(values.start, values.stop, values.step, dtype=np.int64)
    return np.asarray(values, np.int64)


def one_of(values: np.ndarray, choices: tuple[int, ...]) -> np.ndarray:
    """np.isin(values, choices) for a few integer choices (bool, values' shape): the
    comparisons numpy's isin makes itself for so short a list, without its per-call work
    (argument checks, its choice of method: about 30 us a call; decode made six in every
    batch, a fixed cost that small batches, a live capture's among them, pay often)."""
    if not choices:
        return np.zeros(np.shape(values), np.bool_)
    found = values == choices[0]
    for choice in choices[1:]:
        found |= values == choice
    return found


def median(values: np.ndarray) -> float:
    """np.median(values) of a non-empty 1-D float array without NaN: the middle value,
    or the mean of the two middle ones (their sum halved, as np.median's mean of them),
    without np.median's import of numpy.ma (about 40 ms once per process)."""
    ordered = np.sort(values)
    half = ordered.shape[0] // 2
    if ordered.shape[0] % 2:
        return float(ordered[half])
    return float((ordered[half - 1] + ordered[half]) / 2)


# Grouped rows (equal values adjacent): where each group starts, how long each is, each
# row's group. Cheaper per call than np.flatnonzero(np.diff(values, prepend=-1)) and
# np.diff(np.append(starts, n)), whose Python wrappers cost several times the work on
# a batch's few groups (a per-batch fixed cost of the tracker's bulk path).

def group_starts(values: np.ndarray) -> np.ndarray:
    """The rows (intp, ascending) where a 1-D array's value differs from the row before,
    row 0 included: np.flatnonzero(np.diff(values, prepend=x)) for any x not values[0]."""
    return changes(values).nonzero()[0]


def changes(values: np.ndarray) -> np.ndarray:
    """Per row of a 1-D array (bool): its value differs from the row before (row 0: True)."""
    change = np.empty(values.shape[0], np.bool_)
    if values.shape[0]:
        change[0] = True
        np.not_equal(values[1:], values[:-1], out=change[1:])
    return change


def group_ends(starts: np.ndarray, n: int) -> np.ndarray:
    """Each group's last row, from the groups' first rows (ascending) of n rows:
    np.append(starts[1:], n) - 1 for n > 0 (empty for no rows, where that gives [-1])."""
    ends = np.empty(starts.shape[0], np.int64)
    if starts.shape[0]:
        np.subtract(starts[1:], 1, out=ends[:-1])
        ends[-1] = n - 1
    return ends


def group_sizes(starts: np.ndarray, n: int) -> np.ndarray:
    """Each group's row count, from the groups' first rows (ascending) of n rows:
    np.diff(np.append(starts, n))."""
    sizes = np.empty(starts.shape[0], np.int64)
    if starts.shape[0]:
        np.subtract(starts[1:], starts[:-1], out=sizes[:-1])
        sizes[-1] = n - starts[-1]
    return sizes


def stable_order(labels: np.ndarray, count: int) -> np.ndarray:
    """np.argsort(labels, kind="stable") of a 1-D array of labels 0..count-1: with
    count <= 2**15 as int16, which numpy sorts by radix (linear; a stable sort's order
    is unique, so the same indexes), else as given."""
    if count <= 1 << 15 and labels.dtype != np.int16:
        labels = labels.astype(np.int16)
    return np.argsort(labels, kind="stable")


# Odd 64-bit constants (the golden ratio's, MurmurHash3's and splitmix64's) by which the
# stages multiply the columns of a row before summing them into one uint64 hash: one
# list, so equal rows hash alike in every stage (flows, copies, points, relay copies,
# super-frames); each stage takes the first ones it needs.
HASH_MULTIPLIERS = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
     0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9,
     0x2545F4914F6CDD1D, 0x9FB21C651E98DF25, 0xD1B54A32D192ED03, 0x8CB92BA72F3D8DD7],
    dtype=np.uint64)


def compact(values: np.ndarray) -> np.ndarray:
    """values itself, or, when every element has the same bits (nan and -0.0 included),
    a read-only view of one element broadcast to values' shape: the same items and
    indexing results, 8 bytes instead of one per element. For columns kept long that
    almost always hold one value (a side's resends, zero windows: 0 or NONE in
    200,000 short connections' parked state, flowcheck.connections.parked)."""
    flat = values.reshape(-1)
    if flat.shape[0] < 2:
        return values
    bits = flat.view(f"u{flat.itemsize}") if flat.itemsize in (1, 2, 4, 8) else None
    if bits is None:
        return values
    # Most columns asked hold more than one value (692 of the 1,134 parked columns of
    # bench's (c) 200k a run), almost always seen at their ends or middle: three items
    # read before any scan of all.
    first = bits[0]
    if (bits[-1] != first or bits[flat.shape[0] >> 1] != first
            or not (bits == first).all()):
        return values
    return np.broadcast_to(flat[:1].copy().reshape((1,) * values.ndim), values.shape)
