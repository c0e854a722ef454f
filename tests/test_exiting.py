"""flowcheck.exiting: a finished command ends without the interpreter's teardown, but
with its output flushed, its atexit handlers run and its exit code kept."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowcheck.exiting import read_once

SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
from flowcheck.exiting import exit_now

marker = Path(sys.argv[1])
atexit.register(lambda: marker.write_text("atexit ran"))
sys.stdout.write("report written before the exit, never flushed by hand")
if sys.argv[2] == "thread":
    # A thread still working: its result must not be cut short by the fast exit.
    def work():
        time.sleep(0.3)
        print(" and the thread's line")
    threading.Thread(target=work).start()
exit_now(int(sys.argv[3]))
"""


def _buffered() -> dict[str, str]:
    """The environment with stdout buffered, as a pipe normally is: the report is still
    unwritten when the command ends."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def _run(tmp_path: Path, mode: str, code: int) -> tuple[subprocess.CompletedProcess, Path]:
    marker = tmp_path / "marker"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(marker), mode, str(code)],
                          capture_output=True, text=True, timeout=30, env=_buffered())
    return done, marker


def test_exit_code_output_and_atexit_kept(tmp_path: Path) -> None:
    done, marker = _run(tmp_path, "alone", 5)
    assert done.returncode == 5
    assert done.stdout == "report written before the exit, never flushed by hand"
    assert marker.read_text() == "atexit ran"
    assert done.stderr == ""


def test_a_running_thread_is_waited_for(tmp_path: Path) -> None:
    done, marker = _run(tmp_path, "thread", 3)
    assert done.returncode == 3
    assert done.stdout.endswith(" and the thread's line\n")
    assert marker.read_text() == "atexit ran"


def test_a_reader_that_left_is_not_an_error(tmp_path: Path) -> None:
    """stdout's reader gone before the flush: the code stays (CPython's own exit would
    print 'Exception ignored ... BrokenPipeError' and end 120)."""
    marker = tmp_path / "marker"
    with subprocess.Popen([sys.executable, "-c", SCRIPT, str(marker), "alone", "7"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=_buffered()) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        stderr = process.stderr.read()
        assert process.wait(timeout=30) == 7
    assert b"BrokenPipeError" not in stderr
    assert marker.read_text() == "atexit ran"


CAPTURE = Path(__file__).resolve().parent.parent / "captures" / "ndmjob" / "v4-backup.pcap"


@pytest.fixture
def collector_restored() -> Iterator[None]:
    collecting = gc.isenabled()
    try:
        yield
    finally:
        gc.unfreeze()
        (gc.enable if collecting else gc.disable)()


@pytest.mark.usefixtures("collector_restored")
@pytest.mark.parametrize("collecting", [True, False])
def test_read_once_freezes_what_was_read_and_restarts_the_count(collecting: bool) -> None:
    (gc.enable if collecting else gc.disable)()
    with read_once():
        assert not gc.isenabled()
        kept = [[n] for n in range(50_000)]  # records that live on, as connections do
    assert gc.isenabled() == collecting
    # Frozen: no later collection walks them; and the count of allocations since the
    # last collection starts again, so the next one is not a walk of the whole read.
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_count()[0] < 1000


@pytest.mark.usefixtures("collector_restored")
def test_a_command_run_in_process_gives_the_collector_back() -> None:
    from flowcheck.cli.main import run

    gc.enable()
    assert run(["connections", "--format", "json", str(CAPTURE)]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == 0


@pytest.mark.usefixtures("collector_restored")
def test_a_command_run_in_process_lets_go_of_what_it_read() -> None:
    """A command's traffic is held to the process's end (keep_to_exit), not freed when
    the command returns; run() without `ending` lets go of it: a test or script that
    goes on does not keep every capture it had read."""
    from flowcheck.cli.app import run
    from flowcheck.exiting import _KEPT
    from flowcheck.pipeline import Traffic

    assert run(["connections", "--format", "json", str(CAPTURE)], ending=True) == 0
    (read,) = [value for value in _KEPT if isinstance(value, Traffic)]
    assert run(["connections", "--format", "json", str(CAPTURE)]) == 0
    assert _KEPT == []
    assert sys.getrefcount(read) == 2  # `read` and getrefcount's argument: nothing else
