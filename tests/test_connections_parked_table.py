"""connections.parked_table: the parked short connections by FlowTable number.

A key's number comes from replays.Spans' FlowTable, which gives two keys with equal
64-bit hashes one number; the table compares each stored key with the key asked for and
keeps a colliding key aside, so the records stay exact whatever the hashes. Forced here:
every key's hash folded to a few values (hundreds of keys to a number), the records
equal to those of the true hashes. A single key's hash (flow_table.key_hash, the per-key
look-ups) is the batch's (flow_table.flow_hashes) on real captures: IPv4, IPv6, tunnels.
"""

from __future__ import annotations

import gzip
import random
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from test_connections_short import WITH_STALE, short_traffic
from test_connections_states import run
from test_connections_util import SYN, ethernet, ipv4, ipv6, read_batches, tcp
from test_connections_util import write_pcap as write
from test_decode_tunnels import udp

from flowcheck.connections import (
    ConnectionTracker,
    flow_table,
    parked_table,
    replays,
    replays_small,
    short_flows,
    track_connections,
)
from flowcheck.connections.flow_table import FlowTable, flow_hashes, key_hash
from flowcheck.connections.parked_table import ParkedTable

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
# IPv4 and IPv6 keys, tunnels of both ERSPAN halves and of VXLAN.
KEYED = ("lab-trial22-tunnels/clean-3-resources.erspan2split.pcap.gz",
         "lab-trial22-tunnels/data-port-in-use.vxlanasym.pcap.gz",
         "lab-trial28-addresses/dualstack-v6ctl-v4data.pcap.gz",
         "field49-matrix/ipv6-backup-stopped-while-running.pcap.gz")


def _keyed_capture(path: Path, count: int) -> Path:
    """count one-packet flows of random keys: IPv4 and IPv6 (addresses sharing their
    first word, so later words decide which endpoint is lower), plain or in VXLAN from
    one of three VTEPs (tunnel names), random ports both ways."""
    rng = random.Random(11)
    v4 = ["10.0.0.1", "10.0.0.2", "10.0.1.1", "192.168.7.9"]
    v6 = ["fd00::1", "fd00::2", "fd00:0:0:1::1", "fd00::1:0:0:1", "2001:db8::5"]
    frames = []
    for _ in range(count):
        six = rng.random() < 0.5
        src, dst = rng.sample(v6 if six else v4, 2)
        segment = tcp(rng.randrange(1, 65536), rng.randrange(1, 65536), 1, 0, SYN)
        inner = ipv6(src, dst, 6, segment) if six else ipv4(src, dst, 6, segment)
        ethertype = 0x86DD if six else 0x0800
        vtep = rng.randrange(4)
        if vtep:
            vxlan = struct.pack("!II", 0x08000000, 42 << 8) + ethernet(inner, ethertype,
                                                                       pad=False)
            frames.append(ethernet(ipv4(f"192.0.2.{vtep}", "192.0.2.9", 17,
                                        udp(40000, 4789, vxlan))))
        else:
            frames.append(ethernet(inner, ethertype))
    return write(path, 1, frames)


def test_one_keys_hash_and_number_are_the_batchs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every batch flow's key_hash equals flow_hashes' hash of its columns, and
    FlowTable.find_one gives it the number Spans gave it (-1 before it was added), on
    random IPv4, IPv6 and tunnelled keys and on stored captures of both and of tunnels."""
    seen = {"keys": 0, "ipv6": 0, "tunnel": 0}
    mark = replays.Spans.mark

    def checked(spans: replays.Spans, d, flows, window):  # noqa: ANN001, ANN202
        at = np.flatnonzero(np.diff(flows.bounds))
        hashes = flow_hashes(d, flows, at).tolist()
        before = [spans.table.find_one(h) for h in hashes]
        out = mark(spans, d, flows, window)
        numbers = spans.numbers[at].tolist()
        assert [key_hash(flows.keys[f]) for f in at.tolist()] == hashes
        assert [spans.table.find_one(h) for h in hashes] == numbers
        assert spans.table.find(np.array(hashes, np.uint64)).tolist() == numbers
        assert all(b in (-1, n) for b, n in zip(before, numbers, strict=True))
        for f in at.tolist():
            key = flows.keys[f]
            seen["keys"] += 1
            seen["ipv6"] += key[0][0] == 6
            seen["tunnel"] += bool(key[2])
        return out

    monkeypatch.setattr(replays.Spans, "mark", checked)
    for chunk in (1 << 12, 1 << 20):  # batches of a few flows (recent_numbers) and many
        track_connections([str(_keyed_capture(tmp_path / "keys.pcap", 2_000))],
                          chunk_size=chunk)
    for name in KEYED:
        track_connections([str(CAPTURES / name)])
    assert seen["ipv6"] >= 1_000 and seen["tunnel"] >= 1_000
    assert seen["keys"] - seen["ipv6"] >= 1_000


def test_find_one_probes_past_other_hashes_and_stops_at_a_gap() -> None:
    """Hashes sharing one place (the table's top bits) are found one by one past the
    others, each with its number; one never added is not found."""
    table = FlowTable(bits=10)
    hashes = np.unique(np.random.default_rng(5).integers(1, 1 << 62, 300_000, np.int64)
                       ).astype(np.uint64)
    place = table._place(hashes)
    same = hashes[place == place[0]][:40]
    given = table.add(same[:30])
    assert [table.find_one(h) for h in same[:30].tolist()] == given.tolist()
    assert [table.find_one(h) for h in same[30:].tolist()] == [-1] * 10


FOLD = 13  # every key's hash one of 13 values: hundreds of keys to each number


def _folded(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Fold every flow key's hash (the batch's and the single key's alike) to FOLD
    values, and count what the parked table then does with colliding keys."""
    def batch(d, flows, at):  # noqa: ANN001, ANN202
        return flow_hashes(d, flows, at) % np.uint64(FOLD) + np.uint64(1)

    monkeypatch.setattr(replays_small, "flow_hashes", batch)
    monkeypatch.setattr(parked_table, "key_hash", lambda key: key_hash(key) % FOLD + 1)
    counts = {"aside": 0, "found aside": 0, "rejected": 0, "found": 0, "popped": 0, "got": 0}
    park, find, pop, get = ParkedTable.park, ParkedTable.find, ParkedTable.pop, ParkedTable.get

    def parked(table: ParkedTable, block, numbers, keys, *words) -> None:  # noqa: ANN001
        park(table, block, numbers, keys, *words)
        counts["aside"] = max(counts["aside"], len(table._extra))

    def found(table: ParkedTable, numbers, keys, *words):  # noqa: ANN001, ANN202
        at, entries = find(table, numbers, keys, *words)
        if len(table):
            held = table._block[np.minimum(numbers, table._block.shape[0] - 1)] >= 0
            counts["rejected"] += int(np.count_nonzero(held & (numbers < table._block.shape[0])
                                                       & ~at))
            counts["found aside"] += sum(k in table._extra for k in keys)
        counts["found"] += int(np.count_nonzero(at))
        return at, entries

    def popped(table: ParkedTable, key):  # noqa: ANN001, ANN202
        entry = pop(table, key)
        counts["popped"] += entry is not None
        return entry

    def got(table: ParkedTable, key):  # noqa: ANN001, ANN202
        entry = get(table, key)
        counts["got"] += entry is not None
        return entry

    monkeypatch.setattr(ParkedTable, "get", got)
    monkeypatch.setattr(ParkedTable, "park", parked)
    monkeypatch.setattr(ParkedTable, "find", found)
    monkeypatch.setattr(ParkedTable, "pop", popped)
    return counts


@pytest.mark.parametrize("chunk", [64, 700])
def test_colliding_hashes_leave_every_record_as_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """Short connections with loss, copies, swaps and reused 4-tuples, the pass in every
    batch (continuing connections parked and taken up again, others taken by the
    per-packet path): the records with every key's hash folded to FOLD values equal
    those with the true hashes, and the colliding keys went through every path."""
    monkeypatch.setattr(short_flows, "SHORT_STEP_FLOWS", 1)
    monkeypatch.setattr(short_flows, "SHORT_STEP_PACKETS", 0)
    packets = short_traffic(3, 400, loss=0.03, dup=0.03, swap=0.03, shapes=WITH_STALE)
    true = run(tmp_path, packets, chunk=chunk)
    counts = _folded(monkeypatch)
    assert run(tmp_path, packets, chunk=chunk) == true
    assert len(true) > 300
    assert counts["aside"] > 0 and counts["found aside"] > 0  # a second key kept aside
    assert counts["rejected"] > 0  # a row found by number, another key's
    assert counts["found"] > 20 and counts["popped"] > 0  # by the batch and by one key


def test_colliding_hashes_leave_icmp_quotes_and_copies_as_they_were(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Captures of ICMP quotes, tunnels and IPv6 (the parked table's single-key users:
    the quotes' candidates, _record_of), the pass in every batch, give the same records
    with folded hashes."""
    monkeypatch.setattr(short_flows, "SHORT_STEP_FLOWS", 1)
    monkeypatch.setattr(short_flows, "SHORT_STEP_PACKETS", 0)
    names = [*KEYED, "lab-trial28-addresses/v6-data-portunreach.pcap"]
    paths = []
    for name in names:
        source = CAPTURES / name
        target = tmp_path / source.name.removesuffix(".gz")
        with (gzip.open(source) if source.suffix == ".gz" else open(source, "rb")) as f, \
                open(target, "wb") as out:
            shutil.copyfileobj(f, out)
        paths.append(target)
    true = [track_connections([str(p)], chunk_size=1 << 14).connections for p in paths]
    counts = _folded(monkeypatch)
    assert [track_connections([str(p)], chunk_size=1 << 14).connections
            for p in paths] == true
    assert sum(map(len, true)) > 10
    assert counts["aside"] > 0 and counts["found aside"] > 0 and counts["got"] > 0


def test_a_tracker_keeps_its_parked_keys_by_the_replays_table() -> None:
    """The tracker's parked table numbers keys with the FlowTable of its replays.Spans
    (one hash and probe per batch for both)."""
    tracker = ConnectionTracker()
    assert tracker._parked._table is tracker.copies.replays.table
    assert isinstance(tracker.copies.replays.table, flow_table.FlowTable)


def _words_of(keys: list) -> tuple[list[int], list[int]]:
    """parked_table.key_words of each key, made from the key itself: a plain IPv4 key's
    endpoints as address << 16 | port, bit 63 set; 0 for any other key."""
    low, high = [], []
    for (version, low_address, low_port), (_, high_address, high_port), tunnel in keys:
        plain = version == 4 and not tunnel
        low.append(int.from_bytes(low_address, "big") << 16 | low_port | 1 << 63
                   if plain else 0)
        high.append(int.from_bytes(high_address, "big") << 16 | high_port | 1 << 63
                    if plain else 0)
    return low, high


def test_the_batchs_key_words_are_its_keys(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The words the short pass gives find and park (from the batch's columns) are each
    key's own (equal nonzero words: equal keys, which find then takes without comparing
    the tuples), on random IPv4, IPv6 and VXLAN keys and stored captures of IPv6 and of
    ERSPAN halves; the records equal to those found by comparing every key."""
    monkeypatch.setattr(short_flows, "SHORT_STEP_FLOWS", 1)
    monkeypatch.setattr(short_flows, "SHORT_STEP_PACKETS", 0)
    seen = {"plain": 0, "other": 0, "calls": 0}
    park, find = ParkedTable.park, ParkedTable.find

    def check(keys: list, words: tuple[np.ndarray, np.ndarray]) -> None:
        low, high = _words_of(keys)
        assert words[0].tolist() == low and words[1].tolist() == high
        seen["plain"] += sum(map(bool, low))
        seen["other"] += low.count(0)
        seen["calls"] += 1

    def parked(table: ParkedTable, block, numbers, keys, words):  # noqa: ANN001, ANN202
        check(keys, words)
        return park(table, block, numbers, keys, words)

    def found(table: ParkedTable, numbers, keys, words):  # noqa: ANN001, ANN202
        check(keys, words)
        return find(table, numbers, keys, words)

    def by_tuples(table: ParkedTable, numbers, keys, words):  # noqa: ANN001, ANN202
        return find(table, numbers, keys)

    paths = [_keyed_capture(tmp_path / "keys.pcap", 2_000),
             *(CAPTURES / name for name in KEYED)]
    compared = []
    for path in paths:
        monkeypatch.setattr(ParkedTable, "find", by_tuples)
        compared.append(track_connections([str(path)], chunk_size=1 << 14).connections)
    monkeypatch.setattr(ParkedTable, "park", parked)
    monkeypatch.setattr(ParkedTable, "find", found)
    assert [track_connections([str(path)], chunk_size=1 << 14).connections
            for path in paths] == compared
    assert seen["plain"] >= 300 and seen["other"] >= 300 and seen["calls"] >= 10


def test_in_flows_by_number_is_the_dicts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ShortFlows._in_flows by the ConnStates' numbers (their keys hashed one by one)
    gives what asking `_flows` for every key gives, with the true hashes and with every
    hash folded to FOLD values (keys of other ConnStates' numbers, told apart by the
    dict); and a tracker's keys with ConnStates were among the batches'."""
    monkeypatch.setattr(short_flows, "SHORT_STEP_FLOWS", 1)
    monkeypatch.setattr(short_flows, "SHORT_STEP_PACKETS", 0)
    monkeypatch.setattr(short_flows, "FEW_FLOWS_PER_KEY", 1)  # by number whenever it can
    packets = short_traffic(3, 400, loss=0.03, dup=0.03, swap=0.03, shapes=WITH_STALE)
    seen = {"by number": 0, "in flows": 0}
    in_flows = short_flows.ShortFlows._in_flows

    def checked(tracker, numbers, keys):  # noqa: ANN001, ANN202
        out = in_flows(tracker, numbers, keys)
        assert out.tolist() == [key in tracker._flows for key in keys]
        seen["by number"] += 0 < len(tracker._flows) <= len(keys)
        seen["in flows"] += int(np.count_nonzero(out))
        return out

    monkeypatch.setattr(short_flows.ShortFlows, "_in_flows", checked)
    for chunk in (64, 700):
        true = run(tmp_path, packets, chunk=chunk)
        assert len(true) > 300
    assert seen["by number"] >= 10 and seen["in flows"] >= 10
    counted = dict(seen)
    _folded(monkeypatch)
    assert run(tmp_path, packets, chunk=700) == true
    assert seen["by number"] > counted["by number"]


def test_a_block_of_plain_ipv4_keys_keeps_their_words_not_the_tuples(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A block whose keys are all plain IPv4 keys keeps their words (16 bytes a key),
    not the key tuples (about 125 bytes): every key parked reads back from them (the
    table's entries, get, pop: the per-packet path's look-ups) equal to the key the
    batch parked, with its endpoints' types; a block holding an IPv6 or a tunnelled key
    keeps its list."""
    monkeypatch.setattr(short_flows, "SHORT_STEP_FLOWS", 1)
    monkeypatch.setattr(short_flows, "SHORT_STEP_PACKETS", 0)
    parked: dict = {}
    park = ParkedTable.park

    def kept(table: ParkedTable, block, numbers, keys, words):  # noqa: ANN001, ANN202
        parked.update((key, (block, row)) for row, key in enumerate(keys))
        return park(table, block, numbers, keys, words)

    monkeypatch.setattr(ParkedTable, "park", kept)
    plain = write(tmp_path / "plain.pcap", 1, short_traffic(3, 400, loss=0.03, dup=0.03,
                                                            swap=0.03, shapes=WITH_STALE))
    held = {}
    for name, path in (("plain", plain), ("mixed", _keyed_capture(tmp_path / "k.pcap", 600))):
        parked.clear()
        tracker = ConnectionTracker()
        for batch in read_batches(path, chunk=700):
            tracker.feed(batch)
        tracker.flush()  # the batch feed holds for its look-ahead
        table = tracker._parked
        held[name] = {type(keys).__name__ for keys in table._keys if keys is not None}
        entries = list(table.entries())
        assert len(entries) == len(table) > 50
        for key, block, row in entries:
            assert parked[key] == (block, row)  # the key the batch parked there
            assert [list(map(type, end)) for end in key[:2]] == [[int, bytes, int]] * 2 \
                or key[0][0] == 6
            assert table.get(key) == (block, row)
        key, block, row = entries[len(entries) // 2]
        assert table.pop(key) == (block, row) and table.get(key) is None
    assert held["plain"] == {"tuple"}  # words only: no key tuple kept
    assert "list" in held["mixed"]
