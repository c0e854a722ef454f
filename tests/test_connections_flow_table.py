"""connections.flow_table: numbers for flow keys in a numpy hash table (replays.py's
per-connection state without a Python object per connection)."""

from __future__ import annotations

import numpy as np

from flowcheck.connections.flow_table import FlowTable, column_hashes


def key_hashes(first: int, count: int) -> np.ndarray:
    """Hashes of flow keys as flow_table.flow_hashes makes them from a key's columns: per
    endpoint its address word and port, then the tunnel's hash."""
    k = np.arange(first, first + count, dtype=np.uint64)
    low = (np.uint64(0x0A000001) << np.uint64(16)) | (np.uint64(1024) + k % np.uint64(60000))
    high = (((np.uint64(0x0A000002) | (k >> np.uint64(16) & np.uint64(255)) << np.uint64(8))
             << np.uint64(16)) | (np.uint64(10000) + k // np.uint64(60000)))
    return column_hashes([low, high, np.zeros(count, np.uint64)])


def test_numbers_follow_the_order_keys_come_in_and_are_found_again() -> None:
    """200,000 flow keys in batches of 5,000 (the table grows many times, probing
    through runs of taken places): each found with the number it was given, in the
    order given; keys never added are not found."""
    table = FlowTable(bits=4)
    given = []
    for start in range(0, 200_000, 5_000):
        hashes = key_hashes(start, 5_000)
        assert (table.find(hashes) == -1).all()
        given.append(table.add(hashes))
    assert np.array_equal(np.concatenate(given), np.arange(200_000))
    for start in (0, 77_777, 195_000):
        found = table.find(key_hashes(start, 5_000))
        assert np.array_equal(found, np.arange(start, start + 5_000))
    assert (table.find(key_hashes(200_000, 1_000)) == -1).all()


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


def test_a_table_grown_keeps_the_runs_that_wrap_past_its_end() -> None:
    """Hashes whose places are the last ones (their runs wrap to the table's start),
    and then more, the table grown (put again in one pass) twice: each found with its
    number."""
    table = FlowTable(bits=6)
    hashes = np.unique(np.random.default_rng(3).integers(1, 1 << 62, 400_000, np.int64)
                       ).astype(np.uint64)
    last = hashes[table._place(hashes) == (1 << 6) - 1][:40]  # run to the start
    rest = hashes[~np.isin(hashes, last)][:300]
    given = np.concatenate((table.add(last), table.add(rest[:100]), table.add(rest[100:])))
    assert table._bits >= 9
    every = np.concatenate((last, rest))
    assert np.array_equal(table.find(every), given)
    assert np.array_equal(given, np.arange(340))
    assert (table.find(hashes[-1000:][~np.isin(hashes[-1000:], every)]) == -1).all()


def test_a_hash_given_twice_in_one_call_gets_one_number() -> None:
    """Two keys with equal 64-bit hashes in one batch (a collision): numbers gives both
    the one number find then gives, with room in the table (one probing pass) and when
    it must grow first (find, then add)."""
    for bits in (12, 4):  # room for the batch; too small (grown)
        table = FlowTable(bits=bits)
        before, _ = table.numbers(key_hashes(0, 5))
        hashes = key_hashes(100, 8)
        batch = np.concatenate((hashes, hashes[[2, 5, 2]], key_hashes(0, 2)))
        found, fresh = table.numbers(batch)
        assert found[8:11].tolist() == found[[2, 5, 2]].tolist()
        assert found[11:].tolist() == before[:2].tolist() and not fresh[11:].any()
        assert fresh[:11].all()
        assert table.find(batch).tolist() == found.tolist()
        assert [table.find_one(h) for h in batch.tolist()] == found.tolist()
        assert len(set(found[:8].tolist())) == 8
