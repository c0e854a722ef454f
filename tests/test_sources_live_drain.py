"""sources.live_drain.drain: when live's stopper may end a sniffer, over a real pipe."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from flowcheck.sources.live_drain import drain


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    try:
        yield read_end, write_end
    finally:
        os.close(read_end)
        os.close(write_end)


def test_an_empty_pipe_and_nothing_read_is_quiet(pipe: tuple[int, int]) -> None:
    assert drain(pipe[0], lambda: None, time.time(), threading.Event(), quiet=0.1) == "quiet"


def test_a_pipe_holding_data_is_never_quiet(pipe: tuple[int, int]) -> None:
    """The reader is behind (busy): the sniffer may still hold packets, wait to the limit."""
    os.write(pipe[1], b"x" * 100)
    assert drain(pipe[0], lambda: None, time.time(), threading.Event(), quiet=0.05,
                 limit=0.5) == "limit"


def test_a_packet_stamped_after_the_stop_ends_the_wait(pipe: tuple[int, int]) -> None:
    """Traffic goes on: once a packet from after the stop is read, all before it were."""
    os.write(pipe[1], b"x" * 100)
    stopped_at = time.time()
    assert drain(pipe[0], lambda: (stopped_at + 0.001, time.monotonic()), stopped_at,
                 threading.Event(), limit=60) == "caught up"


def test_reading_on_keeps_the_wait_going(pipe: tuple[int, int]) -> None:
    """Packets read (stamped before the stop) are not quiet: the wait ends only after
    the last of them."""
    stopped_at = time.time()
    reads = iter(range(30))
    last: list[tuple[float, float]] = []

    def last_read() -> tuple[float, float] | None:
        count = next(reads, None)
        if count is not None:  # one more packet read at every look, 30 looks
            last[:] = [(stopped_at - 1 + count * 1e-3, float(count))]
        return last[0] if last else None

    assert drain(pipe[0], last_read, stopped_at, threading.Event(), quiet=0.1,
                 limit=60) == "quiet"
    assert next(reads, None) is None  # it looked on past the last read


def test_hurry_ends_the_wait(pipe: tuple[int, int]) -> None:
    os.write(pipe[1], b"x")
    hurry = threading.Event()
    threading.Timer(0.1, hurry.set).start()
    assert drain(pipe[0], lambda: None, time.time(), hurry, limit=60) == "hurried"
