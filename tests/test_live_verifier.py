"""Live verification reports a finding while the capture is still running."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from live_feed import run_held_back

from flowcheck.config import build_config, load_file
from flowcheck.live import LiveVerifier
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.sources import byte_source

NDMJOB = Path(__file__).resolve().parent.parent / "captures" / "ndmjob"
CAPTURE = NDMJOB / "v4-three-resources.pcap"
# The third session reuses agent port 6015 at 6.2 s; the bulk of the file is read by
# 6.5 s (this byte offset); 19 closing packets (6.5 s to 9.3 s) follow.
HELD_BACK_FROM = 6_577_340


def test_finding_reported_before_the_capture_ends() -> None:
    """port_reused_within_hold comes once the connection on the reused port (C6) has been
    quiet for `settle` seconds (the quiet pipe's wall time counts, `tick`), before the
    tail is written, and equals the final report's: reported at C6's SYN, its fix said
    "carried 1147872 B" of the 2037760 B C6 carried (a loaded machine's batches)."""
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    events, released = run_held_back(config, CAPTURE.read_bytes(), HELD_BACK_FROM,
                                     lambda event: event.kind == "finding",
                                     settle=1.0, tick=0.2)
    assert released
    assert events[0].kind == "finding" and events[0].finding.code == "port_reused_within_hold"
    assert events[-1].kind == "report"
    # The live report equals the offline analysis of the same capture.
    offline = analyze(read_traffic([str(CAPTURE)], config), config)
    final = events[-1].analysis
    assert [f.as_dict() for f in final.findings] == [f.as_dict() for f in offline.findings]
    assert [s.as_dict() for s in final.sessions] == [s.as_dict() for s in offline.sessions]
    assert [c.as_dict() for c in final.traffic.connections] == \
           [c.as_dict() for c in offline.traffic.connections]
    reported = [e.finding.as_dict() for e in events if e.kind == "finding"]
    assert sorted(map(str, reported)) == sorted(str(f.as_dict()) for f in offline.findings)



class _SmallReads(io.RawIOBase):
    """The capture's bytes handed over at most `size` at a time, as a pipe whose writer is
    slow does: its fileno is an empty pipe's, so the reader takes it for a pipe (a live
    capture: each read a batch, a check after each) and, with PIPE_GATHER 0, gathers
    nothing more; the batches are the same on every run, whatever the machine's load."""

    def __init__(self, data: bytes, size: int, quiet_pipe: int) -> None:
        self._data, self._at, self._size, self._pipe = data, 0, size, quiet_pipe

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._pipe

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self._data[self._at:self._at + min(self._size, len(buffer))]
        buffer[:len(chunk)] = chunk
        self._at += len(chunk)
        return len(chunk)


def test_a_reported_finding_reads_as_in_the_final_report_whatever_the_batches(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Read in 64 KiB batches, a check after each (C6's 2037760 B span about 30 of them):
    each finding printed while the capture ran equals the final report's
    (port_reused_within_hold waits for the connection on the reused port to be quiet;
    reported at its SYN it named the bytes carried so far)."""
    monkeypatch.setattr(byte_source, "PIPE_GATHER", 0.0)
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    read_end, write_end = os.pipe()
    try:
        stream = _SmallReads(CAPTURE.read_bytes(), 65536, read_end)
        events = list(LiveVerifier(config, interval=0.0, settle=1.0).run(stream))
    finally:
        os.close(read_end)
        os.close(write_end)
    final = events[-1].analysis
    assert final is not None
    early = [e.finding.as_dict() for e in events[:-1] if e.finding is not None]
    assert "port_reused_within_hold" in {f["code"] for f in early}
    by_key = {(f.code, f.uid, tuple(f.frames)): f.as_dict() for f in final.findings}
    for found in early:
        assert found == by_key[(found["code"], found["uid"], tuple(found["frames"]))]
