"""Per-connection packets and payload bytes, per direction, equal tshark's exactly.

tshark gives, per packet, its tcp.stream, source and tcp.len (each segment as captured:
the shared run's fields are those of desegmentation off, tests/test_tshark_shared_run.py);
streams map to our connections in order (both number connections by first packet), and
each side's counts are compared by endpoint. Every capture under captures/ is checked
(globbed: the lab adds more), plus the fast path against the reference slow path.
"""

from __future__ import annotations

import collections
import copy
from pathlib import Path

import pytest
from run_shared import run_shared
from tshark_tcp import STORED, tcp_fields

from flowcheck.connections import ConnectionTracker
from flowcheck.model import Connection
from flowcheck.sources import iter_batches

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = STORED  # every stored capture, in the order tshark_tcp runs tshark ahead

Side = tuple[str, int]


def tshark_streams(path: Path) -> list[dict[Side, list[int]]]:
    """Per tcp.stream, in stream order: {(ip, port): [packets, tcp.len sum]}."""
    # own: an ICMP error quoting TCP is no packet of its stream; tunnels' inner addresses.
    out = tcp_fields(path, ["tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "tcp.len"],
                     own=True)
    streams: dict[int, dict[Side, list[int]]] = collections.defaultdict(
        lambda: collections.defaultdict(lambda: [0, 0]))
    for line in out.splitlines():
        stream, ip4, ip6, port, length = line.split("\t")
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


def stored_track(path: Path, fast: bool = True) -> list[Connection]:
    """track(path, fast) of a stored capture (one of CAPTURES), each a copy of one run
    per worker process: the tests that hold every stored capture to tshark (here,
    test_connections_acked_unseen, _unacked, _fills, test_capture_loss) read the same
    records, and tracked each capture nine times (three with the reference path)."""
    return copy.deepcopy(_stored_track(path, fast))


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


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_capture_counts_equal_tshark(path: Path) -> None:
    assert_matches_tshark(path, stored_track(path))


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_fast_path_equals_slow_path(path: Path) -> None:
    assert stored_track(path, fast=True) == stored_track(path, fast=False)


def test_there_are_captures_to_check() -> None:
    assert len(CAPTURES) >= 7
