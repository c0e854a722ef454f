"""Edges of the command line a script meets (trial 16, D10): `--version`, and SIGTERM
ending a command as Ctrl-C does."""

from __future__ import annotations

import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from child_signals import sigint_as_default, started_ignoring

from flowcheck import __version__
from flowcheck.cli.main import run

# A pcap file header (microseconds, Ethernet) and no record: the reader then waits on the
# pipe for the first one.
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def test_version_prints_the_version_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out == f"flowcheck {__version__}\n"


def _reading_its_standard_input(process: subprocess.Popen) -> None:
    """Wait until `process` blocks reading the pipe on its standard input (the kernel's
    wait channel names it): it has started its command, the reading of the capture."""
    wchan = Path(f"/proc/{process.pid}/wchan")
    while "pipe" not in wchan.read_text():
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("command", ["analyze", "connections", "ndmp"])
@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_interrupts_a_command_as_ctrl_c_does(command: str,
                                                     sent: signal.Signals) -> None:
    """A CI job's timeout or `kill` sends SIGTERM: the documented interrupted exit, one
    line and 130, as Ctrl-C (it was a silent 143; Ctrl-C was a silent 130 with typer
    0.2x, which turns KeyboardInterrupt into its exit code)."""
    process = subprocess.Popen([sys.executable, "-m", "flowcheck", command, "-"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, preexec_fn=sigint_as_default)
    assert process.stdin is not None
    try:
        process.stdin.write(PCAP_HEADER)
        process.stdin.flush()
        _reading_its_standard_input(process)
        process.send_signal(sent)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    assert (out, err) == (b"", b"flowcheck: error: interrupted\n")


@pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("ignored", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ignored_at_the_start_does_not_interrupt_a_command(
        ignored: signal.Signals) -> None:
    """Started with SIGTERM (or SIGINT: a script's `cmd &`) ignored, the command reads on
    through it, as the shell meant (flowcheck.dispositions; SIGTERM ended it as
    interrupted, 130): here to its input's end, a pcap header and no packet (exit 3)."""
    process = subprocess.Popen([sys.executable, "-m", "flowcheck", "analyze", "-"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, preexec_fn=started_ignoring(ignored))
    assert process.stdin is not None
    try:
        process.stdin.write(PCAP_HEADER)
        process.stdin.flush()
        _reading_its_standard_input(process)
        process.send_signal(ignored)
        out, err = process.communicate(timeout=60)  # closes its input: the capture ends
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 3, err
    assert b"holds no packets" in err and b"interrupted" not in err


def test_a_text_report_naming_a_file_that_is_not_utf8_on_a_strict_stream(
        tmp_path: Path) -> None:
    """In a UTF-8 locale Python's standard output is strict: a finding naming a file
    whose name is not UTF-8 (an empty file beside a good capture: capture_unreadable)
    ended the text report in an internal error (exit 4). Now written as `\\udcNN`, as
    standard error writes it."""
    import os
    import shutil

    good = Path(__file__).resolve().parent.parent / "captures" / "lab" / "clean-3-resources"
    shutil.copy(good.with_suffix(".pcap"), tmp_path / "good.pcap")
    empty = os.fsdecode(os.fsencode(tmp_path) + b"/emp\xfety.pcap")
    Path(empty).write_bytes(b"")
    result = subprocess.run(
        [sys.executable, "-m", "flowcheck", "analyze", str(tmp_path / "good.pcap"), empty,
         "--config", str(good.with_suffix(".toml"))],
        capture_output=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"}, check=False,
        timeout=120)
    assert result.returncode == 0, result.stderr
    assert b"emp\\udcfety.pcap: empty file" in result.stdout
