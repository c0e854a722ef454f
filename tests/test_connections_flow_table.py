"""connections.flow_table: numbers for flow keys in a numpy hash table (replays.py's
per-connection state without a Python object per connection)."""

from __future__ import annotations

import numpy as np

from flowcheck.connections.flow_table import FlowTable, key_hashes


def keys(first: int, count: int) -> list[tuple]:
    """Flow keys as the tracker makes them: ((address, port), (address, port), tunnel)."""
    return [((b"\x0a\x00\x00\x01", 1024 + k % 60000), (bytes([10, 0, k >> 16 & 255, 2]),
             10000 + k // 60000), 0) for k in range(first, first + count)]


def test_numbers_follow_the_order_keys_come_in_and_are_found_again() -> None:
    """200,000 flow keys in batches of 5,000 (the table grows many times, probing
    through runs of taken places): each found with the number it was given, in the
    order given; keys never added are not found."""
    table = FlowTable(bits=4)
    given = []
    for start in range(0, 200_000, 5_000):
        hashes = key_hashes(keys(start, 5_000))
        assert (table.find(hashes) == -1).all()
        given.append(table.add(hashes))
    assert np.array_equal(np.concatenate(given), np.arange(200_000))
    for start in (0, 77_777, 195_000):
        found = table.find(key_hashes(keys(start, 5_000)))
        assert np.array_equal(found, np.arange(start, start + 5_000))
    assert (table.find(key_hashes(keys(200_000, 1_000))) == -1).all()


def test_hashes_meeting_at_one_place_all_get_one() -> None:
    """Hashes whose places are all the same (the table's top bits equal) take the places
    after it in turn, within one batch and across two."""
    table = FlowTable(bits=10)
    hashes = np.unique(np.random.default_rng(7).integers(1, 1 << 62, 600_000, np.int64)
                       ).astype(np.uint64)
    place = table._place(hashes)
    same = hashes[place == place[0]][:300]  # about 586 share each place
    assert same.shape[0] == 300
    first = table.add(same[:200])
    second = table.add(same[200:])
    assert np.array_equal(np.concatenate((first, second)), np.arange(300))
    assert np.array_equal(table.find(same[::-1]), np.arange(300)[::-1])
