"""The walk ahead (a second process walking a pcap file's records) gives exactly the
parser's own walk: buffer by buffer against the reference walk of test_sources_walk, on
random record streams (both byte orders, absurd caplens, cut ends), when the child dies
midway, and end to end through the reader on stored captures.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pytest
import test_sources_walk_pcapng as pcapng_walk
from test_sources_walk import check_file, corrupt, reference, stream

from flowcheck.connections import track_connections
from flowcheck.sources import reader, walk_ahead
from flowcheck.sources.pcap import MIN_MAX_CAPLEN, PcapParser
from flowcheck.sources.pcapng import MAX_BLOCK_LENGTH, PcapngParser

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def _with_walk_ahead(path: Path, data: bytes,
                     order: str) -> tuple[PcapParser, walk_ahead.WalkAhead]:
    path.write_bytes(data)
    parser = PcapParser()
    ahead = walk_ahead.WalkAhead(str(path), len(data), order == ">", MIN_MAX_CAPLEN)
    parser.walk_ahead = ahead
    return parser, ahead


def _stopped_before_its_walk(path: Path, data: bytes, order: str,
                             monkeypatch: pytest.MonkeyPatch,
                             ) -> tuple[PcapParser, walk_ahead.WalkAhead]:
    """_with_walk_ahead, its child stopped (SIGSTOP, by itself) before it execs Python,
    waited for until the kernel shows it stopped: it has walked nothing. (A SIGSTOP sent
    once Popen returns can land after the child's first offsets on a machine that runs
    the child first.)"""
    popen = subprocess.Popen

    def stopping(args: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        return popen(["/bin/sh", "-c", 'kill -STOP $$; exec "$0" "$@"', *args],
                     **kwargs)  # type: ignore[call-overload]

    with monkeypatch.context() as patch:
        patch.setattr(subprocess, "Popen", stopping)
        parser, ahead = _with_walk_ahead(path, data, order)
    assert ahead._proc is not None
    stat = Path(f"/proc/{ahead._proc.pid}/stat")
    deadline = time.monotonic() + 30
    while stat.read_text().rsplit(")", 1)[1].split()[0] != "T":
        assert time.monotonic() < deadline, "the walk-ahead child never stopped"
        time.sleep(0.001)
    return parser, ahead


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("seed", range(4))
def test_walk_ahead_matches_the_reference(order: str, seed: int, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(walk_ahead.WalkAhead, "blocking", True)
    monkeypatch.setattr(walk_ahead, "MESSAGE_RECORDS", 1000)  # messages end mid-buffer
    rng = random.Random(100 + seed * 2 + (order == ">"))
    data = stream(rng, order, 20_000)
    if seed % 2:
        data = corrupt(rng, data, order)
    if seed >= 2:
        data = data[:rng.randint(len(data) // 2, len(data) - 1)]  # cut anywhere
    parser, ahead = _with_walk_ahead(tmp_path / "walk.pcap", data, order)
    try:
        assert check_file(data, order, rng, parser) > 3
        # The child did the whole walk (the check above would pass without it).
        assert ahead.records_taken == len(reference(data, 24, order, MIN_MAX_CAPLEN)[0])
    finally:
        ahead.close()


def test_a_child_that_dies_midway_leaves_the_walk_to_the_parser(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(walk_ahead.WalkAhead, "blocking", True)
    rng = random.Random(7)
    data = stream(rng, "<", 20_000)
    parser, ahead = _with_walk_ahead(tmp_path / "dies.pcap", data, "<")
    taken = ahead.take
    calls = []

    def take_then_kill(lo: int, hi: int) -> object:
        calls.append(lo)
        if len(calls) == 3:
            assert ahead._proc is not None
            os.kill(ahead._proc.pid, signal.SIGKILL)
        return taken(lo, hi)

    monkeypatch.setattr(ahead, "take", take_then_kill)
    try:
        assert check_file(data, "<", rng, parser) > 3
        assert ahead.records_taken > 0 and len(calls) > 3
    finally:
        ahead.close()


def _children_recorded(monkeypatch: pytest.MonkeyPatch) -> list[walk_ahead.WalkAhead]:
    """From now on the reader starts a walk ahead for any file (two cores, no minimum,
    read ahead even when its first read takes it whole, waited for); the list of those
    started, filled as they are."""
    started: list[walk_ahead.WalkAhead] = []
    original = walk_ahead.WalkAhead.__init__

    def recorded(self: walk_ahead.WalkAhead, *args: object) -> None:
        original(self, *args)  # type: ignore[arg-type]
        started.append(self)

    monkeypatch.setattr(reader, "WALK_AHEAD_MIN_RECORDS", 0)
    monkeypatch.setattr(reader, "ONE_READ_BELOW", 0)  # the walk ahead rides on read-ahead
    monkeypatch.setattr(walk_ahead.WalkAhead, "blocking", True)
    monkeypatch.setattr(walk_ahead.WalkAhead, "__init__", recorded)
    monkeypatch.setattr(reader, "usable_cores", lambda: 2)
    return started


def _summary(path: Path) -> list[tuple[object, ...]]:
    result = track_connections([str(path)], chunk_size=64 << 10)
    rows = [(c.uid, c.history, c.conn_state, c.orig_pkts, c.resp_pkts, c.orig_bytes,
             c.resp_bytes) for c in result.connections]
    rows += [(i.packets, i.error, i.error_offset, i.truncated) for i in result.captures]
    return rows


def test_the_reader_gives_the_same_connections_with_the_walk_ahead(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Stored plain pcap captures, one cut in the middle of a record and one with an
    # absurd caplen, stored pcapng captures: the same connections and read errors with
    # and without the child.
    files = sorted(p for p in CAPTURES.rglob("*.pcap") if p.read_bytes()[:4] in (
        b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4"))[:12]
    pcapng = sorted(p for p in CAPTURES.rglob("*.pcapng")
                    if p.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a")[:8]
    assert len(files) >= 8 and len(pcapng) >= 4
    data = files[0].read_bytes()
    (tmp_path / "cut.pcap").write_bytes(data[:len(data) * 2 // 3])
    absurd = bytearray(data)
    absurd[24 + 8:24 + 12] = (1 << 30).to_bytes(4, "little")
    (tmp_path / "absurd.pcap").write_bytes(bytes(absurd))
    files += [tmp_path / "cut.pcap", tmp_path / "absurd.pcap"] + pcapng
    alone = {path: _summary(path) for path in files}
    started = _children_recorded(monkeypatch)
    for path in files:
        assert _summary(path) == alone[path], path
    assert len(started) >= len(files) - 1
    assert sum(ahead.records_taken for ahead in started) > 0
    assert all(ahead._proc is None for ahead in started)  # every child ended and waited for


def test_one_child_per_spare_core_when_a_set_is_read_together(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The files of a set whose times overlap are read together (merged by time): on two
    # cores one child, for the first file; the others walk in the main process, with the
    # same result. (Files read one after the other each get one in turn.)
    data = (CAPTURES / "ndmjob" / "v4-backup.pcap").read_bytes()
    files = []
    for name in ("media.pcap", "agent.pcap", "router.pcap"):
        (tmp_path / name).write_bytes(data)
        files.append(str(tmp_path / name))
    # 64 KiB chunks: about 34 a file, interleaved by time; the child takes some 2,000
    # records. (v4-three-resources, 6.6 MB a file, took 2.5 s of tracking for the same
    # branches: one child, the other two files walked in the main process.)
    alone = track_connections(files, chunk_size=64 << 10)
    started = _children_recorded(monkeypatch)
    together = track_connections(files, chunk_size=64 << 10)
    assert len(started) == 1 and started[0].records_taken > 0
    assert walk_ahead.WalkAhead.running == 0
    assert ([(c.uid, c.history, c.orig_pkts, c.resp_pkts) for c in together.connections]
            == [(c.uid, c.history, c.orig_pkts, c.resp_pkts) for c in alone.connections])


@pytest.mark.parametrize("seed", range(6))
def test_walk_ahead_of_pcapng_blocks_matches_the_reference(
        seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pcapng: the child follows the chain of every block's length; the parser finds its
    # runs of Enhanced Packet Blocks in it and handles the other blocks itself. Random
    # block streams (other sections, statistics, custom and Simple Packet Blocks among
    # the runs), corrupt lengths, cut ends; a section in the other byte order stops the
    # child there (the parser walks on alone).
    monkeypatch.setattr(walk_ahead.WalkAhead, "blocking", True)
    rng = random.Random(200 + seed)
    data = pcapng_walk.stream(rng, "<", 15_000)
    if seed % 3 == 1:
        data = pcapng_walk.corrupt(rng, data, "<")
    if seed % 2:
        data = data[:rng.randint(len(data) // 2, len(data) - 1)]  # cut anywhere
    if seed == 4:
        data += pcapng_walk.stream(rng, ">", 3_000)  # files joined: a big-endian section
    path = tmp_path / "walk.pcapng"
    path.write_bytes(data)
    parser = PcapngParser()
    ahead = walk_ahead.WalkAhead(str(path), len(data), False, MAX_BLOCK_LENGTH, "pcapng")
    parser.walk_ahead = ahead
    try:
        assert pcapng_walk.check_file(data, rng, parser) > 1000
        assert ahead.records_taken > 1000 or seed % 3 == 1  # a corrupt block may come early
    finally:
        ahead.close()


def test_the_child_gives_back_the_pages_it_walked(tmp_path: Path) -> None:
    # 160 MB of 60 KB records: the child's RSS stays at a few MB of the map (it gives the
    # walked pages back after each message), not the file's size (first seen at 109 MB
    # on the 1 GB benchmark capture, whose messages spanned 94 MB each).
    record = struct.pack("<IIII", 1_700_000_000, 0, 60_000, 60_000) + bytes(60_000)
    count = 160_000_000 // len(record)
    path = tmp_path / "large.pcap"
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for _ in range(count):
            out.write(record)
    size = path.stat().st_size
    # Spawned from a small process: a child's ru_maxrss starts from its spawner's RSS
    # (Linux keeps the old memory's high-water mark across exec).
    spawner = (
        "import os, sys\n"
        "out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)\n"
        "pid = os.posix_spawn(sys.executable, [sys.executable, '-I', '-S'] + sys.argv[2:],"
        " {}, file_actions=[(os.POSIX_SPAWN_DUP2, out, 1)])\n"
        "_, status, usage = os.wait4(pid, 0)\n"
        "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n")
    offsets = tmp_path / "offsets"
    ran = subprocess.run(
        [sys.executable, "-I", "-S", "-c", spawner, str(offsets), walk_ahead.CHILD, "pcap",
         str(path), str(size), "little", str(MIN_MAX_CAPLEN), str(walk_ahead.MESSAGE_RECORDS)],
        capture_output=True, text=True, check=True)
    code, peak_kib = map(int, ran.stdout.split())
    assert code == 0
    sent = offsets.read_bytes()
    values = np.frombuffer(sent, np.int64)
    assert values[-3:].tolist() == [-1, size, -1]  # the end: the file's, no absurd record
    counts = []
    at = 0
    while values[at] != -1:
        counts.append(int(values[at]))
        at += 1 + int(values[at])
    assert sum(counts) == count and len(counts) > 10
    assert peak_kib < 60_000


def test_a_child_behind_the_parser_is_not_waited_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The child stopped (SIGSTOP, as a busy machine would hold it) from its start: the
    # parser walks those buffers itself (take returns None, or part of a buffer), then
    # takes the child's offsets again once it has caught up within CATCH_UP_SECONDS
    # (made long here); the records are the reference's.
    monkeypatch.setattr(walk_ahead, "MESSAGE_RECORDS", 500)
    monkeypatch.setattr(walk_ahead, "CATCH_UP_SECONDS", 3600.0)
    rng = random.Random(11)
    data = stream(rng, "<", 40_000)
    parser, ahead = _stopped_before_its_walk(tmp_path / "behind.pcap", data, "<",
                                             monkeypatch)
    assert ahead._proc is not None
    pid = ahead._proc.pid
    taken = ahead.take
    results: list[bool | None] = []

    def take_with_a_pause(lo: int, hi: int) -> object:
        if len(results) == 10:
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.5)  # it walks the whole file meanwhile
        got = taken(lo, hi)
        results.append(None if got is None else got[3])
        return got

    monkeypatch.setattr(ahead, "take", take_with_a_pause)
    try:
        assert check_file(data, "<", rng, parser) > 20
        assert results[:10] == [None] * 10  # stopped: nothing waited for
        assert results[10] is True and ahead.records_taken > 0  # caught up, taken again
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
        ahead.close()


def test_a_child_still_behind_the_parser_after_its_start_is_ended(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The child held back (SIGSTOP) past CATCH_UP_SECONDS: the first buffer it is found
    # behind ends it (killed and reaped: it walks no more), the parser walks on alone,
    # and the records are the reference's.
    monkeypatch.setattr(walk_ahead, "CATCH_UP_SECONDS", 0.05)
    rng = random.Random(13)
    data = stream(rng, "<", 40_000)
    parser, ahead = _stopped_before_its_walk(tmp_path / "passed.pcap", data, "<",
                                             monkeypatch)
    assert ahead._proc is not None
    proc = ahead._proc
    time.sleep(0.1)
    taken = ahead.take
    results: list[bool] = []

    def noted(lo: int, hi: int) -> object:
        results.append(ahead._proc is not None)
        return taken(lo, hi)

    monkeypatch.setattr(ahead, "take", noted)
    try:
        assert check_file(data, "<", rng, parser) > 20
        assert results[0] and not any(results[1:]) and len(results) > 10
        assert ahead.records_taken == 0 and proc.returncode == -signal.SIGKILL
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
        ahead.close()


def _until_the_pipe_fills(ahead: walk_ahead.WalkAhead, timeout: float = 60.0) -> None:
    """Until the child's offsets fill half its pipe or more (FIONREAD): a fixed 0.3 s
    sleep was too short for a child started late on a loaded machine (the full suite on
    two cores: `any(parts)` False, the parser had walked alone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = fcntl.ioctl(ahead._pipe.fileno(), termios.FIONREAD, b"\0" * 4)
        if struct.unpack("i", held)[0] >= walk_ahead.PIPE_BYTES // 2:
            return
        time.sleep(0.01)
    raise AssertionError(f"the walk-ahead child wrote too little in {timeout} s")


def test_a_buffer_the_child_covers_in_part_is_walked_on_by_the_parser(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A pipe of one page (512 offsets) and small messages: a large buffer is covered by
    # the child's offsets in part, the parser walks the rest (complete False while the
    # child goes on), and takes the child's again afterwards, dropping those it passed.
    monkeypatch.setattr(walk_ahead, "MESSAGE_RECORDS", 256)
    monkeypatch.setattr(walk_ahead, "PIPE_BYTES", 4096)
    rng = random.Random(12)
    data = stream(rng, "<", 40_000)
    parser, ahead = _with_walk_ahead(tmp_path / "part.pcap", data, "<")
    _until_the_pipe_fills(ahead)
    taken = ahead.take
    parts: list[bool] = []

    def noted(lo: int, hi: int) -> object:
        got = taken(lo, hi)
        if got is not None and not got[3] and ahead._proc is not None:
            parts.append(len(got[0]) > 0)  # part of a buffer, the child still walking
        return got

    monkeypatch.setattr(ahead, "take", noted)
    try:
        assert check_file(data, "<", rng, parser) > 20
        assert any(parts) and ahead.records_taken > 0
    finally:
        ahead.close()
