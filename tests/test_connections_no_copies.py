"""The proof that a batch holds no capture copies (flowcheck.connections.no_copies): a
batch of packets all apart skips copies.py's full search (its cost on a capture without
copies, issue 7); a batch holding two equal packets anywhere (the tail's included, any
distance apart) is never proven, so its copy is marked as the full search marks it; and
the proven batches leave the sample and the tail the full search would.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from test_connections_states import pkt
from test_connections_util import ACK, PSH, SYN, read_batches
from test_connections_util import write_pcap as write

import flowcheck.connections.no_copies as no_copies
from flowcheck.connections import ConnectionTracker
from flowcheck.connections.copies import CaptureCopies
from flowcheck.connections.no_copies import (
    SMALL_PROOF,
    FieldRows,
    KeyTable,
    distinct_ids,
    no_equal_packets,
)
from flowcheck.model import Connection

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
KEYED = (0, 1, 2, 6)  # the FIELDS columns keyed: IPv4 ID, seq, ack, header identity


def _fields(n: int, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """n packets all apart: directions and FIELDS' seven columns (random IDs, sequence
    and acknowledgement numbers: as many shared keys as a real batch's)."""
    rng = np.random.default_rng(seed)
    side = rng.integers(0, 192, n)
    columns = [rng.integers(1, 1 << 16, n), rng.integers(0, 1 << 32, n),
               rng.integers(0, 1 << 32, n), np.full(n, 0x10), rng.integers(0, 1 << 16, n),
               rng.integers(0, 1449, n), np.zeros(n, np.int64)]
    return side, columns


def _proven(side: np.ndarray, columns: list[np.ndarray], tail: int = 0) -> bool:
    """no_equal_packets over the packets, the first `tail` of them as the tail's."""
    tail_fields = np.column_stack([*columns, np.zeros(side.shape[0], np.int64)])[:tail]
    parts = [(side[:tail], tuple(columns[c][:tail] for c in KEYED)),
             (side[tail:], tuple(columns[c][tail:] for c in KEYED))]
    return no_equal_packets(parts, FieldRows(side[:tail], tail_fields, side[tail:],
                                             [column[tail:] for column in columns]),
                            KeyTable())


def test_packets_all_apart_are_proven_apart() -> None:
    side, columns = _fields(20_000, 1)
    assert _proven(side, columns)
    assert _proven(side, columns, tail=300)


def test_packets_apart_in_an_unkeyed_field_only_are_proven_apart() -> None:
    # Equal direction, IPv4 ID, numbers and identity (the key shared): the flags,
    # window or length tell them apart, compared exactly.
    side, columns = _fields(4_000, 2)
    for column in (3, 4, 5):
        changed = [c.copy() for c in columns]
        for c in (*KEYED, column):
            if c != column:
                changed[c][1::2] = changed[c][0::2]
        side2 = side.copy()
        side2[1::2] = side2[0::2]
        changed[column][1::2] = changed[column][0::2] + 1
        assert _proven(side2, changed)


@pytest.mark.parametrize(("original", "copy", "tail"),
                         [(0, 19_999, 0), (5_000, 5_001, 0), (3, 10_000, 100),
                          (99, 100, 100), (0, 1, 2)])
def test_two_equal_packets_anywhere_are_never_proven(original: int, copy: int,
                                                     tail: int) -> None:
    side, columns = _fields(20_000, 3)
    side[copy] = side[original]
    for column in columns:
        column[copy] = column[original]
    assert not _proven(side, columns, tail)


@pytest.mark.parametrize(("original", "copy", "tail"),
                         [(0, 1, 0), (0, 63, 30), (10, 20, 30), (35, 36, 30), (29, 30, 30)])
def test_a_few_packets_are_proven_as_many_are(original: int, copy: int, tail: int) -> None:
    """At most SMALL_PROOF packets (a small batch and its tail) are compared as tuples:
    all apart, or apart in one unkeyed field only, they are proven apart; two equal
    anywhere (tail and batch, within either) never are."""
    side, columns = _fields(64, 5)
    assert side.shape[0] <= SMALL_PROOF
    assert _proven(side, columns, tail)
    for column in (3, 4, 5):  # apart in the flags, window or length only
        changed = [c.copy() for c in columns]
        for c in range(len(changed)):
            changed[c][copy] = changed[c][original] + (c == column)
        moved = side.copy()
        moved[copy] = moved[original]
        assert _proven(moved, changed, tail)
    side[copy] = side[original]
    for c in columns:
        c[copy] = c[original]
    assert not _proven(side, columns, tail)


def _ids_of_directions(rng: np.random.Generator, n: int, directions: int,
                       ) -> tuple[np.ndarray, np.ndarray]:
    """n packets of `directions` directions, interleaved at random, each direction's IPv4
    IDs its sender's next ones from a random start (wrapping past 65,535), in an order
    shuffled by a few swaps (the capture's against the sender's): all apart."""
    side = rng.integers(0, directions, n)
    ids = np.zeros(n, np.int64)
    for direction in range(directions):
        mine = np.flatnonzero(side == direction)
        ids[mine] = (int(rng.integers(0, 1 << 16)) + np.arange(mine.shape[0])) & 0xFFFF
    for a in rng.integers(0, n - 1, 20).tolist():
        ids[a], ids[a + 1] = ids[a + 1], ids[a]
        side[a], side[a + 1] = side[a + 1], side[a]
    return side, ids


def test_a_batchs_ids_prove_it_apart_and_an_id_repeated_never_does() -> None:
    """distinct_ids (a key of the direction and IPv4 ID: itself the slot for a few
    directions, hashed for more): a batch whose senders number their packets (a bulk
    transfer's, many connections') is proven apart, the tail's packets with it; an ID
    repeated in a direction (a copy: any distance apart, tail and batch) is never
    proven, checked against every pair on random batches."""
    rng = np.random.default_rng(7)
    table = KeyTable()
    for directions in (1, 2, 4, 16, 17, 96, 1_000):
        side, ids = _ids_of_directions(rng, 12_000, directions)
        for tail in (0, 300):
            parts = [(side[:tail], (ids[:tail],)), (side[tail:], (ids[tail:],))]
            assert distinct_ids(parts, table)
        for original, copy in ((0, 11_999), (5_000, 5_001), (3, 250)):
            repeated = ids.copy()
            moved = side.copy()
            repeated[copy], moved[copy] = ids[original], side[original]
            for tail in (0, 300):
                assert not distinct_ids([(moved[:tail], (repeated[:tail],)),
                                         (moved[tail:], (repeated[tail:],))], table)
    for _ in range(400):  # random IDs: proven exactly when every pair differs
        n = int(rng.integers(200, 6_000))
        side = rng.integers(0, int(rng.choice([1, 2, 3, 40, 400])), n)
        ids = (int(rng.integers(0, 1 << 16)) + rng.integers(0, 3, n).cumsum()) & 0xFFFF
        apart = len(set(zip(side.tolist(), ids.tolist(), strict=True))) == n
        assert distinct_ids([(side[:9], (ids[:9],)), (side[9:], (ids[9:],))], table) == apart


def test_a_capture_whose_batches_fail_the_id_proof_tries_it_less_often() -> None:
    """KeyTable: after n failures of distinct_ids in a row the next 2 ** (n - 1) - 1
    batches skip it (at most IDS_SKIPPED_MOST); a batch it proves starts over."""
    table = KeyTable()
    tried = []
    for _ in range(40):
        tried.append(table.ids_wanted())
        if tried[-1]:
            table.ids_tried(False)
    assert [n for n, wanted in enumerate(tried) if wanted] == [0, 1, 3, 7, 15, 31]
    table.ids_tried(True)
    assert all(table.ids_wanted() for _ in range(5))


def test_a_bulk_transfer_is_proven_by_its_ids_alone(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A transfer whose packets carry their sender's next IPv4 IDs: every batch proven
    by distinct_ids, the hashed key never computed (issue 7: its cost, a fifth of a bulk
    capture's main thread with the rest of the quiet path); the records those of the
    full search."""
    packets, times = _transfer(4_000, copied=None)
    path = write(tmp_path / "t.pcap", 1, packets, times=times)

    def hashed(*_args: object) -> np.ndarray:
        raise AssertionError("the hashed key computed for a batch its IDs prove apart")

    monkeypatch.setattr(no_copies, "_key", hashed)
    tracker = _track(path, 100_000)
    assert tracker.copies.proven == 1
    monkeypatch.undo()
    assert tracker.finish() == _track(path, 100_000, full=True).finish()


def _with_ip_id(frame: bytes, ip_id: int) -> bytes:
    return frame[:18] + struct.pack("!H", ip_id) + frame[20:]


def _transfer(segments: int, copied: int | None) -> tuple[list[bytes], list[float]]:
    """A transfer whose every packet has its sender's next IPv4 ID (so a batch of it is
    proven apart), one segment (`copied`) captured again 15 us later; times, seconds."""
    packets = [_with_ip_id(pkt(True, SYN, 100), 1),
               _with_ip_id(pkt(False, SYN | ACK, 900, 101), 1),
               _with_ip_id(pkt(True, ACK, 101, 901), 2)]
    times = [0.0, 0.0001, 0.0002]
    for n in range(segments):
        t = 0.001 * (n + 1)
        packets.append(_with_ip_id(pkt(True, PSH | ACK, 101 + 100 * n, 901, data=100), n + 3))
        times.append(t)
        if n == copied:
            packets.append(packets[-1])
            times.append(t + 15e-6)
        packets.append(_with_ip_id(pkt(False, ACK, 901, 201 + 100 * n), n + 2))
        times.append(t + 0.0003)
    return packets, times


class FullSearch(CaptureCopies):
    """copies.py without the proof: every batch through the full search (the reference
    the proof's batches are compared with)."""

    def _quiet(self, *args: object) -> bool:
        return False


def _track(path: Path, chunk: int, full: bool = False) -> ConnectionTracker:
    tracker = ConnectionTracker()
    if full:
        tracker.copies = FullSearch()
    for batch in read_batches(path, chunk=chunk):
        tracker.feed(batch)
    tracker.finish()
    return tracker


@pytest.mark.parametrize("chunk", [10_000, 700, 64])
def test_a_batch_holding_a_copy_is_searched_and_the_copy_marked(tmp_path: Path,
                                                                 chunk: int) -> None:
    packets, times = _transfer(2_000, copied=1_500)  # the copy deep in a large batch
    path = write(tmp_path / "t.pcap", 1, packets, times=times)
    tracker = _track(path, chunk)
    assert (tracker.copies.count, tracker.copies.frames) == (1, [3 + 2 * 1_500 + 2])
    (c,) = tracker.finish()
    assert c.retransmits == 0 and c.orig_pkts == 2 + 2_001
    assert tracker.finish() == _track(path, chunk, full=True).finish()
    # The batches before the copy's were proven apart; from it on none is tried.
    before = [b for b in read_batches(path, chunk=chunk) if b.frame0 + len(b) <= 3005]
    assert tracker.copies.proven == len(before)


def test_a_capture_without_copies_skips_the_full_search(tmp_path: Path) -> None:
    packets, times = _transfer(2_000, copied=None)
    path = write(tmp_path / "t.pcap", 1, packets, times=times)
    tracker = _track(path, 700)
    assert tracker.copies.count == 0
    assert tracker.copies.proven == len(list(read_batches(path, chunk=700)))


def _state(tracker: ConnectionTracker) -> tuple:
    """What copies.py keeps between batches and reports."""
    copies = tracker.copies
    tail = copies._tail
    rows = None if tail is None else (
        tail.keys, tail.key_of.tolist(), tail.from_lower.tolist(), tail.rows.fields.tolist(),
        tail.rows.ts.tolist(), tail.rows.frame.tolist(), tail.rows.source.tolist(),
        tail.rows.ttl.tolist(), tail.rows.taken.tolist())
    return (copies.count, copies.frames, copies.systematic, copies.points._sampled,
            {key: (e.offset, e.known, e.recent) for key, e in copies.points.offsets.items()},
            rows)


@pytest.mark.parametrize("chunk", [100_000, 64, 7])
@pytest.mark.parametrize("capture", sorted(LAB.glob("*.pcap"))[:8], ids=lambda p: p.stem)
def test_proven_batches_leave_the_full_searchs_state(capture: Path, chunk: int) -> None:
    proven, full = _track(capture, chunk), _track(capture, chunk, full=True)
    assert proven.copies.proven > 0
    records: list[Connection] = proven.finish()
    assert records == full.finish()
    assert _state(proven) == _state(full)


def test_a_batch_without_tcp_marks_two_arrays(tmp_path: Path) -> None:
    """A batch with no TCP packet (one UDP datagram): mark gives its two answers, the
    copies and the replayed ones, as two empty arrays, not one array twice."""
    from scapy.all import IP, UDP, Ether, raw

    from flowcheck.connections.flows import group_flows
    from flowcheck.decode import decode_batch

    path = write(tmp_path / "udp.pcap", 1,
                 [raw(Ether() / IP(src="10.77.0.1", dst="10.77.0.2") / UDP())])
    (batch,) = read_batches(path)
    decoded = decode_batch(batch)
    copy, replayed = CaptureCopies().mark(decoded, group_flows(decoded))
    assert copy is not replayed
    assert (copy.shape, replayed.shape, copy.dtype, replayed.dtype) == ((0,), (0,), bool, bool)
