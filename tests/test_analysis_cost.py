"""What `analyze` and `connections` do after the engine grows linearly in connections.

Nothing is timed: the connection records are swapped for ones that count every
attribute read (CountedConnection), and the reads of a whole analysis (sessions,
checks, the JSON document written) on a capture of many short connections are compared
with those on one of twice as many. A check or report step that walks every connection
for each connection (quadratic) makes the second count about four times the first; a
linear one, at most twice (less: a fixed part does not grow). The captures hold a real
NDMP backup (captures/ndmjob/v4-backup.pcap: a session, its control, data and
announced endpoints) merged with the benchmark's short connections
(bench/short_connections.py: copies of real short connections, each its own port).

Also: the checks that only concern a few connections (a SYN-ACK without its SYN, a
connection open before the capture, another protocol on the NDMP port) look at no
other connection's handshake beyond a glance, and the capture's clock (CaptureTime) is
sampled only when a check asks it.
"""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

import flowcheck.verify.capture_time as capture_time
from flowcheck.config import Config
from flowcheck.model import Connection
from flowcheck.pipeline import analyze, label_connections, read_traffic
from flowcheck.report.json_doc import analysis_document, traffic_document, write_json

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import short_connections  # noqa: E402

BACKUP = ROOT / "captures" / "ndmjob" / "v4-backup.pcap"
READS = [0]


class CountedConnection(Connection):
    """A Connection whose attribute reads are counted in READS (methods and properties
    included: each is a read, and what it reads counts too)."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> object:
        READS[0] += 1
        return object.__getattribute__(self, name)


def counted(conn: Connection) -> CountedConnection:
    copy = CountedConnection.__new__(CountedConnection)
    for f in fields(Connection):
        object.__setattr__(copy, f.name, getattr(conn, f.name))
    return copy


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """The backup merged with 300 and with 600 short connections, by count."""
    folder = tmp_path_factory.mktemp("many")
    made = {}
    for count in (300, 600):
        short = folder / f"short-{count}.pcap"
        short_connections.build(short, count=count)
        merged = folder / f"backup-and-{count}.pcap"
        subprocess.run(["mergecap", "-F", "pcap", "-w", str(merged), str(BACKUP), str(short)],
                       check=True)
        made[count] = merged
    return made


def _reads(path: Path, command: str) -> tuple[int, int]:
    """(attribute reads of the connection records after the engine, connections) of
    `command` ("analyze" or "connections") on path, its JSON document written."""
    config = Config()
    traffic = read_traffic([str(path)], config)
    traffic.connections = [counted(c) for c in traffic.connections]
    READS[0] = 0
    if command == "analyze":
        document = analysis_document(analyze(traffic, config))
    else:
        label_connections(traffic, config)
        document = traffic_document(traffic)
    write_json(document, io.StringIO())
    return READS[0], len(traffic.connections)


@pytest.mark.parametrize("command", ["analyze", "connections"])
def test_reads_grow_linearly(captures: dict[int, Path], command: str) -> None:
    small, small_count = _reads(captures[300], command)
    large, large_count = _reads(captures[600], command)
    assert large_count - small_count == 300
    assert small > 0
    # About twice the connections: at most about twice the reads (a quadratic step,
    # even one walk of all connections per connection, makes it 3.5 times here).
    assert large <= small * large_count / small_count * 1.05


def test_few_connections_looked_at(captures: dict[int, Path],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-connection judgements of the checks that concern only some connections
    are made for those only, and the clock is sampled only when asked."""
    import flowcheck.verify.late_start as late_start
    import flowcheck.verify.openings as openings
    import flowcheck.verify.other_protocol as fold

    calls = {"outcome": 0, "missed": 0, "other": 0}
    samples: list[capture_time.CaptureTime] = []

    def wrap(module: object, name: str, key: str) -> None:
        original = getattr(module, name)

        def counting(*args: object, **kwargs: object) -> object:
            calls[key] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, counting)

    wrap(late_start, "connection_outcome", "outcome")
    wrap(openings, "_missed", "missed")
    wrap(fold, "other_protocol", "other")
    original_init = capture_time.CaptureTime.__init__

    def keep(self: capture_time.CaptureTime, *args: object, **kwargs: object) -> None:
        original_init(self, *args, **kwargs)
        samples.append(self)

    monkeypatch.setattr(capture_time.CaptureTime, "__init__", keep)
    config = Config()
    traffic = read_traffic([str(captures[600])], config)
    analyze(traffic, config)
    total = len(traffic.connections)
    no_handshake = sum(1 for c in traffic.connections if not c.syn_frames
                       or not c.synack_frames)
    streams = len(traffic.streams)
    assert total > 600
    # late_start judges the connections without a SYN and a SYN-ACK captured only.
    midstream_candidates = sum(1 for c in traffic.connections
                               if not c.syn_frames and not c.synack_frames)
    assert calls["outcome"] <= midstream_candidates * 2 + 10
    # openings judges those only, a SYN the responder sent nothing after at a glance.
    assert calls["missed"] <= no_handshake
    assert calls["other"] <= 2 * streams  # the tapped connections, twice at most
    # Sampled at most once each, and only when a check asked the time after an event.
    assert all(t.samples <= 1 for t in samples)
