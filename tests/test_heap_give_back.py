"""The heap's free pages given back to the system before and while the short
connections' records are made (flowcheck.heap, flowcheck.connections.opened_records):
bench's 200,000 short connections' `connections --format json` peaked at 496 MB, 150 MB
of it free pages of the reading's arrays that the records (pymalloc's arenas) could not
reuse; 341 MB with them given back. Nothing is timed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_connections_per_connection_memory import short_connections

from flowcheck import heap
from flowcheck.connections import opened_records, track_connections

PAGE = os.sysconf("SC_PAGE_SIZE")


def resident() -> int:
    """The process's resident bytes (/proc/self/statm)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


def test_free_pages_in_the_heap_given_back() -> None:
    # 64 KiB blocks: malloc's heap (below its mmap threshold), not pymalloc's arenas.
    # Every other one freed: holes between blocks still held, as the reading's freed
    # arrays lie between the parked columns it keeps.
    blocks = [bytearray(1 << 16) for _ in range(800)]
    for block in blocks:
        block[::4096] = b"x" * len(block[::4096])  # every page touched: resident
    before = resident()
    del blocks[::2]  # 25 MiB free
    freed = resident()
    if not heap.give_back():
        pytest.skip("no malloc_trim (not glibc)")
    given = resident()
    assert before - freed < 5 << 20  # free, yet still resident: malloc keeps it
    assert freed - given > 20 << 20  # given back: the free pages


def test_records_made_between_give_backs(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    made = opened_records.Records.as_list

    monkeypatch.setattr(heap, "give_back", lambda: calls.append(1) or True)
    # 300 short connections in 128 KiB reads: parked blocks of a few dozen rows each.
    result = track_connections([str(short_connections(tmp_path / "s.pcap", 300))],
                               chunk_size=1 << 17)
    monkeypatch.setattr(opened_records, "GIVE_BACK_ROWS", 100)
    records = made(result.connections)
    assert len(records) == 300
    # Before the first block, after each 100 rows made or more, and at the end.
    assert 3 <= len(calls) <= 5, calls


def test_few_records_made_without_give_back(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(heap, "give_back", lambda: calls.append(1) or True)
    result = track_connections([str(short_connections(tmp_path / "s.pcap", 300))],
                               chunk_size=1 << 17)
    assert len(list(result.connections)) == 300  # fewer than GIVE_BACK_ROWS
    assert calls == []


@pytest.mark.parametrize("failure", ["windows", "no_ctypes"])
def test_no_malloc_trim_never_raises(failure: str, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    # Windows' ctypes.CDLL(None) raises TypeError (CPython 3.11's ctypes/__init__.py:
    # `if '/' in name` with name None under os.name "nt"), and a Python built without
    # _ctypes raises ImportError on `import ctypes`: before review63g both escaped
    # give_back, so every command making 32,768 records or more, and every one-shot
    # command before its report, ended in a traceback there.
    import ctypes
    import sys

    def windows_cdll(name: object, *args: object, **kwargs: object) -> None:
        raise TypeError("argument of type 'NoneType' is not iterable")

    if failure == "windows":
        monkeypatch.setattr(ctypes, "CDLL", windows_cdll)
    else:
        monkeypatch.setitem(sys.modules, "ctypes", None)
    monkeypatch.setattr(heap, "_trim", None)
    assert heap.give_back() is False
    assert heap.give_back() is False  # remembered: not loaded again
    assert capsys.readouterr() == ("", "")
