"""Feeding LiveVerifier a stored capture in fixed batches, and what it printed early that
the final report words otherwise.

`live` prints a finding while the capture runs once it is certain (flowcheck.live) and
never again: its words must already be the final report's. Where a pipe's reads fall
decides which packets each check sees, so a finding whose words read packets after the
check that printed it comes out differently on a loaded machine. Here the reads fall at
fixed byte offsets (`size` bytes each, a check after each): the same on every run.
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flowcheck.config import Config
from flowcheck.fields_dataclass import fields_dataclass
from flowcheck.live import LiveEvent, LiveVerifier, _finding_key
from flowcheck.sources import byte_source


class SmallReads(io.RawIOBase):
    """The capture's bytes handed over at most `size` at a time, as a pipe whose writer is
    slow does: its fileno is an empty pipe's, so the reader takes it for a pipe (a live
    capture: each read a batch, a check after each) and, with PIPE_GATHER 0, gathers
    nothing more; the batches are the same on every run, whatever the machine's load."""

    def __init__(self, data: bytes, size: int, quiet_pipe: int) -> None:
        self._data, self._at, self._size, self._pipe = data, 0, size, quiet_pipe
        self.ended = False  # whether a read has met the end (the capture stopped)

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._pipe

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self._data[self._at:self._at + min(self._size, len(buffer))]
        buffer[:len(chunk)] = chunk
        self._at += len(chunk)
        self.ended = self.ended or not chunk
        return len(chunk)


@contextmanager
def _quiet_pipe() -> Iterator[int]:
    """An empty pipe's read end (closed after)."""
    read_end, write_end = os.pipe()
    try:
        yield read_end
    finally:
        os.close(read_end)
        os.close(write_end)


def capture_bytes(capture: Path) -> bytes:
    """The capture file's pcap or pcapng bytes, inflated when gzipped (a sniffer's pipe
    carries them plain)."""
    data = capture.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def batch_events(data: bytes, config: Config, size: int, *, settle: float = 10.0,
                 interval: float = 0.0) -> tuple[list[LiveEvent], int]:
    """LiveVerifier's events for `data` read `size` bytes at a time, a check after every
    read (interval 0) and no wall-time tick, and how many of them came while the capture
    ran (the first ones: before the read that met its end). PIPE_GATHER is 0 meanwhile
    (restored after): a read takes what one read of the stream gives."""
    gather = byte_source.PIPE_GATHER
    byte_source.PIPE_GATHER = 0.0
    events: list[LiveEvent] = []
    running = 0
    try:
        with _quiet_pipe() as pipe:
            stream = SmallReads(data, size, pipe)
            for event in LiveVerifier(config, interval=interval, settle=settle).run(stream):
                events.append(event)
                running += not stream.ended
    finally:
        byte_source.PIPE_GATHER = gather
    return events, running


@fields_dataclass(slots=True)
class Mismatch:
    """A finding printed before the final report that the report does not hold as printed:
    `final` is the report's finding of the same key (flowcheck.live._finding_key), None
    when the report holds none (the end took it back)."""

    early: dict
    final: dict | None

    def fields(self) -> list[str]:
        """The fields that differ (all of them when the report holds none)."""
        if self.final is None:
            return ["absent"]
        return [name for name in self.early if self.early[name] != self.final[name]]


def early_mismatches(events: list[LiveEvent]) -> list[Mismatch]:
    """Every finding printed before the report (the run's events, its report last) that
    the report does not hold word for word under its key: `final` is the report's first
    finding of that key, None when it holds none."""
    report = events[-1].analysis
    assert events[-1].kind == "report" and report is not None
    final: dict[tuple, list[dict]] = {}
    for finding in report.findings:
        final.setdefault(_finding_key(finding), []).append(finding.as_dict())
    mismatches = []
    for event in events[:-1]:
        assert event.finding is not None
        ending = final.get(_finding_key(event.finding), [])
        early = event.finding.as_dict()
        if early not in ending:
            mismatches.append(Mismatch(early, ending[0] if ending else None))
    return mismatches


def unprinted(events: list[LiveEvent]) -> list[dict]:
    """The report's findings no event printed word for word: one whose key an earlier
    event had is never printed (flowcheck.live prints a key once)."""
    report = events[-1].analysis
    assert report is not None
    printed = [e.finding.as_dict() for e in events[:-1] if e.finding is not None]
    return [f.as_dict() for f in report.findings if f.as_dict() not in printed]
