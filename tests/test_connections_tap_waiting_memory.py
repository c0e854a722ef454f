"""Memory per connection of what short connections keep for the tap (issue 7).

Nothing is timed. With a tap (the CLI's: is this payload NDMP?), a connection keeps its
first packets until its first payload decides (ConnState.pre_tap), so a connection that
never carries one (bench's short-connections: 200,000 handshakes and FINs) keeps them
to the capture's end. Captures of N such connections are tracked in small read chunks,
with a tap and without, and python's allocation tracer gives what the tracker holds when
it begins to finish: the difference per connection (slope between 2,000 and 6,000
connections, so fixed costs cancel) is what waiting for the tap costs. It was 1,200
bytes (a new flow's packets in int64 columns, and a flow continuing across a batch's end,
as most here, as a list of tuples); kept column-wise, narrow and end to end
(flowcheck.connections.pre_tap): 260 (a continuing flow's earlier block keeps its copy).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_connections_per_connection_memory import CHUNK, held_at_finish
from test_connections_states import pkt
from test_connections_util import ACK, FIN, SYN
from test_connections_util import write_pcap as write

from flowcheck.connections import track_connections

BOUND = 400  # bytes per connection waiting for the tap (260 now, 1,200 before)


class NullSink:
    """A segment sink that takes nothing (the tap never wants these connections)."""

    def segment(self, *args: object, **kwargs: object) -> bool:
        return False

    def close(self, uid: str) -> None:
        pass


SERVER = 5001  # not NDMP's port: the short-connection pass takes these connections
GROUP = 500  # connections open at once: most continue across a read chunk's end


def empty_connections(path: Path, count: int) -> Path:
    """count connections without payload (handshake, both FINs, the last ACK), client
    ports 20000 upward, GROUP at a time, packet by packet (each group's first packets,
    then their second ones, ...)."""
    packets = []
    for first in range(0, count, GROUP):
        lanes = [[pkt(True, SYN, 100, mport=port, aport=SERVER),
                  pkt(False, SYN | ACK, 900, 101, mport=port, aport=SERVER),
                  pkt(True, ACK, 101, 901, mport=port, aport=SERVER),
                  pkt(True, FIN | ACK, 101, 901, mport=port, aport=SERVER),
                  pkt(False, FIN | ACK, 901, 102, mport=port, aport=SERVER),
                  pkt(True, ACK, 102, 902, mport=port, aport=SERVER)]
                 for port in range(20000 + first, 20000 + min(count, first + GROUP))]
        for step in range(6):
            packets += [lane[step] for lane in lanes]
    return write(path, 1, packets)


def _held(path: Path, count: int, tapped: bool, monkeypatch: pytest.MonkeyPatch) -> int:
    """held_at_finish of the short connections (history ShAFf), with a tap that never
    decides them when `tapped`."""
    return held_at_finish(path, count, monkeypatch, "ShAFf", **_options(tapped))


def _options(tapped: bool) -> dict[str, object]:
    """track_connections' options: a sink and a tap that never decides, or none."""
    return {"sink": NullSink(), "tap": lambda payload: False} if tapped else {}


def test_waiting_for_the_tap_costs_little_memory(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """What a tap adds to the tracker's hold, per connection that never decides it,
    stays under BOUND: its few packets, not padded columns or lists of tuples."""
    few, many = 2_000, 6_000
    paths = {count: empty_connections(tmp_path / f"{count}.pcap", count)
             for count in (few, many)}
    slope = {}
    for tapped in (False, True):  # what the process makes once, made before measuring
        # Untraced, as test_connections_per_connection_memory's: the same slopes to the
        # byte, without tracemalloc's cost on every allocation (4.4 -> 0.6 s).
        track_connections([str(paths[many])], chunk_size=CHUNK, **_options(tapped))
    for tapped in (False, True):
        low = _held(paths[few], few, tapped, monkeypatch)
        high = _held(paths[many], many, tapped, monkeypatch)
        slope[tapped] = (high - low) / (many - few)
    assert slope[True] - slope[False] < BOUND, slope
