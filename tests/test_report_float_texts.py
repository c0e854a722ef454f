"""float_texts writes exactly float.__repr__'s text of every value, the capture times it
writes column-wise and the others alike."""

from __future__ import annotations

import random

import pytest

from flowcheck.report import float_texts as module
from flowcheck.report.float_texts import float_texts


def _times(rng: random.Random, count: int, top: int) -> list[float]:
    """Times of a microsecond capture (seconds + microseconds / 1e6, as the pcap reader
    makes them and a few other ways), some fractions with trailing zeros or none."""
    out = []
    for _ in range(count):
        seconds, micro = rng.randrange(top), rng.randrange(10 ** 6)
        micro = rng.choice([micro, micro // 1000 * 1000, micro // 100000 * 100000, 0])
        out += [seconds + micro * 1e-6, seconds + micro / 1e6, (seconds * 10 ** 6 + micro) / 1e6]
    return out


EDGES = [1.0, 0.5, 0.0, -0.0, -1.5, 1e-5, 9.999999, 10.0, 99.0, 999999999.9999999,
         9999999999.999999, 2.0 ** 33 - 1e-6, 2.0 ** 33, 2.0 ** 33 + 0.5, 1e16, 1e300,
         1.7e308, 5e-324, 1764547200.0, 1764547200.000499, 1764547200.1]


@pytest.mark.parametrize("seed", range(4))
def test_same_text_as_repr(seed: int) -> None:
    rng = random.Random(seed)
    values = _times(rng, 3000, 2 ** 33 + 10)
    values += _times(rng, 1000, 100)  # fewer digits before the point
    values += _times(rng, 1000, 2 ** 35)  # above 2**33: an ulp over 1e-6, repr's own
    values += [rng.uniform(0, 1e10) for _ in range(2000)]  # not microsecond times
    values += [1764547200 + k * 1e-9 for k in range(0, 10 ** 6, 997)]  # nanosecond ones
    values += EDGES
    rng.shuffle(values)
    # Every value in large parts: column-wise and float.__repr__ values, every width, mixed.
    for size in (1024, len(values)):
        _check_parts(values, size)
    # Small parts (a value alone: all column-wise or none, one width; a few: mixed) cost
    # a call each: the edges, each count of whole digits, and a sample of the rest.
    few = EDGES + _each_whole_digit_count(values, 10) + values[:1500]
    rng.shuffle(few)
    for size in (1, 2, 7):
        _check_parts(few, size)


def _check_parts(values: list[float], size: int) -> None:
    """float_texts of each `size` values in turn (the last part shorter) is their repr."""
    for start in range(0, len(values), size):
        part = values[start:start + size]
        assert float_texts(part) == list(map(float.__repr__, part))


def _each_whole_digit_count(values: list[float], per: int) -> list[float]:
    """The first `per` values of each count of digits before the point (their
    microsecond texts' widths), of those from 1 up (smaller ones: the edges, the sample)."""
    by_count: dict[int, list[float]] = {}
    for value in values:
        if value >= 1:
            kept = by_count.setdefault(len(str(int(value))), [])
            if len(kept) < per:
                kept.append(value)
    return [value for kept in by_count.values() for value in kept]


def test_one_capture_chunk_column_wise(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk of a capture's times is written without float.__repr__."""
    times = [1764547200 + n * 0.000499 for n in range(1024)]
    expected = list(map(float.__repr__, times))
    monkeypatch.setattr(module, "float", None, raising=False)  # any use of float fails
    assert float_texts(tuple(times)) == expected
