"""`float.__repr__` of many capture times at once, column-wise (flowcheck.report.json_rows
writes each connection's `ts` with it).

Why: a float's shortest round-trip repr (dtoa) costs about 6,700 instructions; a
connection's `ts` is a distinct value each, so 200,000 short connections paid ~1.3 G
instructions for their `ts` text alone. A microsecond pcap's time is seconds and
microseconds: such a float's repr is its microsecond decimal with the trailing zeros of
its fraction dropped, which numpy writes for a whole column in a few array operations.
Each value is checked (below); one that is not such a time (a nanosecond capture's, a
duration) goes to float.__repr__.

Why that decimal is the repr, exactly: let `us` be the float times 10**6 rounded. When
`us / 1e6 == x` (one correctly rounded division of two exact floats), x is the float
nearest the decimal d = us / 10**6, so d's text reads back as x. repr gives the
shortest text that reads back as x (the closest of them on a tie in length): any
other text of at most six decimals that did would be another multiple of 10**-6 within
one ulp of d; below 2**33 an ulp is at most 2**-20 < 10**-6, so there is none (and a
text with more decimals has more digits), and d with its fraction's trailing zeros
dropped (one kept: "1764547200.0") is the repr. repr
writes fixed notation (no exponent) for 1e-4 <= x < 1e16; values from 1 up to 2**33
(the year 2242 as a Unix time) are taken, all others go to float.__repr__.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress

import numpy as np

from flowcheck.arrays import distinct

_TOP = 2.0 ** 33  # exclusive; an ulp of a float below it is at most 2**-20 < 1e-6
_ZERO, _DOT = ord("0"), ord(".")
# 10**7 .. 10**15: microseconds of 1 up to 2**33 seconds have 7 to 16 digits.
_DIGIT_BOUNDS = 10 ** np.arange(7, 16, dtype=np.int64)


def float_texts(values: Sequence[float]) -> list[str]:
    """[float.__repr__(v) for v in values] (finite Python floats), the microsecond
    times among them (module docstring) written column-wise."""
    x = np.array(values, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # huge values: not exact
        micro = np.rint(x * 1e6)
        exact = (x >= 1.0) & (x < _TOP) & (micro / 1e6 == x)
    if not exact.any():
        return list(map(float.__repr__, values))
    if exact.all():
        return _decimal_texts(micro.astype(np.int64))
    out = np.empty(x.shape[0], object)
    out[exact] = _decimal_texts(micro[exact].astype(np.int64))
    out[~exact] = list(map(float.__repr__, compress(values, (~exact).tolist())))
    return out.tolist()


def _decimal_texts(us: np.ndarray) -> list[str]:
    """Each of us (int64 microseconds, 1 <= us / 10**6 < 2**33) as the decimal
    "SECONDS.FRACTION" with the fraction's trailing zeros dropped, one digit kept."""
    digits = 7 + np.searchsorted(_DIGIT_BOUNDS, us, side="right")  # us's own digits
    if (digits == digits[0]).all():  # one width: a chunk of a capture's times
        return _of_width(us, int(digits[0]))
    out = np.empty(us.shape[0], object)
    for width in distinct(digits).tolist():
        mine = digits == width
        out[mine] = _of_width(us[mine], width)
    return out.tolist()


def _of_width(us: np.ndarray, width: int) -> list[str]:
    """The texts of us (int64 microseconds of `width` decimal digits each): its digits
    as code points, one place at a time for all of them (a division by 10, numpy's
    libdivide for a scalar), a point before the last six, whose trailing zeros are made
    NULs (a U string array drops its trailing NULs when made into str), one kept."""
    whole = width - 6
    places = np.empty((width + 1, us.shape[0]), np.int64)  # place by place, then rows
    rest = us
    for place in range(width, -1, -1):
        if place == whole:
            places[place] = _DOT
            continue
        shorter = rest // 10
        np.subtract(rest, shorter * 10, out=places[place])
        rest = shorter
    places[:whole] += _ZERO
    fraction = places[whole + 1:]
    # A fraction digit is kept when it or one after it is not a zero.
    kept = np.logical_or.accumulate(fraction[::-1] != 0, axis=0)[::-1]
    kept[0] = True
    fraction += _ZERO
    fraction *= kept
    chars = np.ascontiguousarray(places.T, dtype=np.uint32)
    return chars.view(_unicode(width + 1)).reshape(-1).tolist()


_UNICODE: dict[int, np.dtype] = {}


def _unicode(width: int) -> np.dtype:
    """numpy's str dtype of `width` code points (made once each)."""
    found = _UNICODE.get(width)
    if found is None:
        found = _UNICODE[width] = np.dtype(f"U{width}")
    return found
