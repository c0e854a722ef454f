"""What `analyze` does beyond reading does not grow with the packet count (issue 7).

The NDMP tap, sessions, checks, graph and reports may cost per connection, per sequence
hole or per NDMP message, never per packet. Nothing is timed: a profile hook counts the
Python function calls made in those stages' modules during a whole `analyze` run, and
the count must stay the same when the backup's data connection carries ten times the
packets, or ten times the holes the sniffer left. Before the tap stopped at its control
connections (or any stage walked packets), the count would have followed the packets.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import FrameType

import pytest
from capture_factory import pcap_bytes
from many_sessions import (
    AGENT,
    AGENT_RANGE,
    MEDIA,
    MEDIA_RANGE,
    _Conn,
    backup_control,
    data_halted,
)

from flowcheck.cli.main import run

ROOT = Path(__file__).parent.parent / "flowcheck"
# The stages after the connection engine, and the records they read and write.
STAGES = tuple(str(ROOT / name) for name in (
    "ndmp", "sessions", "verify", "report", "graph.py", "pipeline.py", "findings.py",
    "model"))
DATA_PORT, SEGMENT = 6001, 1000


def backup(segments: int, *, lost_every: int = 0) -> bytes:
    """One Backup Exec 9 NDMP v4 backup (control connection with DATA_LISTEN announcing the agent's
    data port, the agent's callback, the data connection): the data connection carries
    `segments` segments of SEGMENT bytes from the agent, ACKed every second one; with
    `lost_every`, every so many segments one is missing from the capture (the receiver
    still ACKs it: sniffer loss). Ports in many_sessions' ranges: verdict pass."""
    out: list[tuple[float, bytes]] = []
    t = 1_700_000_000.0
    control = backup_control(out, 5002, t, DATA_PORT)
    callback = _Conn(out, (AGENT, 6002), (MEDIA, 5001))
    callback.open(t + 0.05)
    data = _Conn(out, (MEDIA, 5003), (AGENT, DATA_PORT))
    data.open(t + 0.15)
    ts = t + 0.3
    for k in range(segments):
        ts += 0.0001
        if lost_every and k % lost_every == lost_every // 2:
            data.seq["resp"] += SEGMENT  # sent, not captured
            continue
        data.data(ts, "resp", bytes(SEGMENT))
        if k % 2:
            data._send(ts + 0.00001, "orig", 0x10)  # the receiver's ACK
    data.close(ts + 0.01)
    callback.close(ts + 0.02)
    data_halted(control, ts + 0.025)
    control.close(ts + 0.03)
    out.sort(key=lambda item: item[0])
    return pcap_bytes(out)


def calls_in_analyze(tmp_path: Path, capture: bytes, capsys: pytest.CaptureFixture[str],
                     ) -> tuple[int, dict]:
    """(Python calls made in STAGES' modules during `flowcheck analyze --format json
    --graph G.json` on the capture, the JSON document). A first run, not counted, leaves
    out what runs once per process: imports, class bodies, filled caches."""
    path = tmp_path / "job.pcap"
    path.write_bytes(capture)
    argv = ["analyze", str(path), "--format", "json", "--media-range", MEDIA_RANGE,
            "--agent-range", AGENT_RANGE, "--graph", str(tmp_path / "graph.json")]
    run(argv)
    counted = 0

    def count(frame: FrameType, event: str, _: object) -> None:
        nonlocal counted
        if event == "call" and frame.f_code.co_filename.startswith(STAGES):
            counted += 1

    capsys.readouterr()
    sys.setprofile(count)
    try:
        status = run(argv)
    finally:
        sys.setprofile(None)
    assert status == 0, capsys.readouterr().err  # verdict pass: the whole job was seen
    return counted, json.loads(capsys.readouterr().out)


def _data_connection(document: dict) -> dict:
    (data,) = [c for c in document["connections"] if c["resp_p"] == DATA_PORT]
    return data


def test_analyze_work_does_not_follow_the_packets(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    few, few_doc = calls_in_analyze(tmp_path, backup(400), capsys)
    many, many_doc = calls_in_analyze(tmp_path, backup(4000), capsys)
    # The captures differ as intended, and analyze saw the session and its data.
    assert _data_connection(many_doc)["resp_bytes"] == 10 * _data_connection(few_doc)["resp_bytes"]
    assert [s["data_connections"] for s in many_doc["sessions"]] == \
        [s["data_connections"] for s in few_doc["sessions"]] != [[]]
    assert few > 0
    assert many == few


def test_analyze_work_does_not_follow_the_holes(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    some, some_doc = calls_in_analyze(tmp_path, backup(4000, lost_every=200), capsys)
    more, more_doc = calls_in_analyze(tmp_path, backup(4000, lost_every=10), capsys)
    assert _data_connection(some_doc)["gaps"] == 20
    assert _data_connection(more_doc)["gaps"] == 400
    # Both have their capture_loss finding; finding it costs the same.
    assert "capture_loss" in {f["code"] for f in more_doc["findings"]}
    assert "capture_loss" in {f["code"] for f in some_doc["findings"]}
    assert more == some


def test_what_was_read_is_frozen_while_reporting(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The garbage collector does not rescan what was read while the report is made
    (gc.freeze after reading), and a caller of run() gets it back unfrozen."""
    import gc

    from flowcheck.report import json_doc

    path = tmp_path / "job.pcap"
    path.write_bytes(backup(100))
    frozen: list[int] = []
    write = json_doc.write_json

    def recording(document: dict, stream: object, **options: object) -> None:
        frozen.append(gc.get_freeze_count())
        write(document, stream, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(json_doc, "write_json", recording)
    assert run(["analyze", str(path), "--format", "json"]) in (0, 1)
    assert frozen and frozen[0] > 1000  # the connections, streams, findings, ...
    assert gc.get_freeze_count() == 0
    capsys.readouterr()
