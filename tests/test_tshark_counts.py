"""Per-connection packets and payload bytes, per direction, equal tshark's exactly.

tshark gives, per packet, its tcp.stream, source and tcp.len (each segment as captured:
the shared run's fields are those of desegmentation off, tests/test_tshark_shared_run.py);
streams map to our connections in order (both number connections by first packet), and
each side's counts are compared by endpoint. Every capture under captures/ is checked
(globbed: the lab adds more), plus the fast path against the reference slow path.
"""

from __future__ import annotations

import collections
import itertools
from pathlib import Path

import pytest
from run_shared import run_shared
from tshark_tcp import STORED, own_rows

from flowcheck.connections import ConnectionTracker
from flowcheck.model import Connection
from flowcheck.sources import iter_batches

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = STORED  # every stored capture, in the order tshark_tcp runs tshark ahead

Side = tuple[str, int]


def tshark_streams(path: Path) -> list[dict[Side, list[int]]]:
    """Per tcp.stream, in stream order: {(ip, port): [packets, tcp.len sum]}."""
    # own: an ICMP error quoting TCP is no packet of its stream; tunnels' inner addresses.
    # own_rows: tcp_fields(own=True)'s lines as lists, without joining each one to split
    # it again here (the same values: none holds a tab or a line break).
    rows = own_rows(path, ["tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "tcp.len"])
    streams: dict[int, dict[Side, list[int]]] = collections.defaultdict(
        lambda: collections.defaultdict(lambda: [0, 0]))
    for stream, ip4, ip6, port, length in rows:
        if not stream:
            continue  # not TCP
        counts = streams[int(stream)][(ip4 or ip6, int(port))]
        counts[0] += 1
        counts[1] += int(length or 0)
    return [streams[key] for key in sorted(streams)]


def track(path: Path, fast: bool = True) -> list[Connection]:
    tracker = ConnectionTracker(fast=fast)
    for batch in iter_batches([str(path)]):
        tracker.feed(batch)
    return tracker.finish()


def shared_track(path: Path, fast: bool = True) -> list[Connection]:
    """track(path, fast) of a stored capture (one of CAPTURES): one run a pytest run
    (tests/run_shared.py), the same list to every caller of a worker, so read only (no
    caller changes it: these tests, test_connections_acked_unseen, _unacked, _fills and
    test_capture_loss compare or count; this file and test_capture_loss deep-copied it
    before). The tests that hold every stored capture to tshark read the same records,
    and tracked each capture nine times (three with the reference path)."""
    return _stored_track(path, fast)  # positional: one key whichever way fast was given


@run_shared  # one track a run, whichever worker asks first
def _stored_track(path: Path, fast: bool) -> list[Connection]:
    assert path in CAPTURES, path  # a generated capture's path is another's next time
    return track(path, fast)


def assert_matches_tshark(path: Path, connections: list[Connection] | None = None) -> None:
    connections = track(path) if connections is None else connections
    # A connection known only from ICMP quotes of its SYN holds no packet: tshark's
    # table has no conversation for it (flowcheck.connections.icmp).
    connections = [c for c in connections if c.orig_pkts or c.resp_pkts]
    streams = tshark_streams(path)
    ours = [{(c.orig_h, c.orig_p): [c.orig_pkts, c.orig_bytes],
             (c.resp_h, c.resp_p): [c.resp_pkts, c.resp_bytes]} for c in connections]
    theirs = [{side: counts for side, counts in s.items()} for s in streams]
    for mine in ours:  # a side that sent nothing is absent from tshark's output
        for side in [s for s, counts in mine.items() if counts == [0, 0]]:
            del mine[side]
    assert ours == theirs


# pcapng files of several interfaces holding each packet on two of them (a router's two
# sides, dumpcap -i rm -i ra: captures/newuser63, nu64b): flowcheck numbers a connection by its
# first packet in time, tshark by its first in the file, which holds one interface's
# packets in blocks (the callback's copy on the other interface comes first there); the
# counts are the same, the order is not.
IN_TIME_ORDER = {"captures/newuser63/router-return-drop-dumpcap.pcapng.gz",
                 "captures/nu64b/router-two-interfaces.pcapng",
                 "captures/newuser66-words/stopped-2if.pcapng.gz"}


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_capture_counts_equal_tshark(path: Path) -> None:
    if str(path.relative_to(ROOT)) not in IN_TIME_ORDER:
        assert_matches_tshark(path, shared_track(path))
        return
    with pytest.raises(AssertionError):  # in another order: else take it off
        assert_matches_tshark(path, shared_track(path))
    counts = {(c.orig_h, c.orig_p, c.resp_h, c.resp_p) for c in shared_track(path)}
    for order in itertools.permutations(sorted(counts)):
        connections = sorted(shared_track(path), key=lambda c: order.index(
            (c.orig_h, c.orig_p, c.resp_h, c.resp_p)))
        try:
            assert_matches_tshark(path, connections)
            return
        except AssertionError:
            continue
    pytest.fail("no order of the connections has tshark's counts")


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_fast_path_equals_slow_path(path: Path) -> None:
    assert shared_track(path, fast=True) == shared_track(path, fast=False)


def test_there_are_captures_to_check() -> None:
    assert len(CAPTURES) >= 7
