"""The reader of standard output leaves early (`flowcheck ... | head`), on real pipes.

A report (every command's table or JSON) ends with the exit code it would have had; the
stream of `live` stops, and live then ends as on Ctrl-C, with its verdict's code.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from live_process import ended, free_port, wait_until_listening

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
V4_BACKUP = str(CAPTURES / "ndmjob" / "v4-backup.pcap")
LAB = CAPTURES / "lab"


def _lab(name: str) -> list[str]:
    return ["--config", str(LAB / f"{name}.toml"), str(LAB / f"{name}.pcap")]


def _environment(buffered: bool) -> dict[str, str]:
    """Python's own stdout buffering (a user's shell) or none (PYTHONUNBUFFERED, as CI
    may have it): a short document then fails at exit rather than at its write."""
    environment = dict(os.environ)
    environment.pop("PYTHONUNBUFFERED", None)
    if not buffered:
        environment["PYTHONUNBUFFERED"] = "1"
    return environment


REPORTS = [
    (["analyze", "--profile", "ndmp", V4_BACKUP], 0),
    (["analyze", *_lab("data-port-dropped")], 1),
    (["analyze", *_lab("snaplen-54")], 5),
    (["connections", V4_BACKUP], 0),
    (["ndmp", V4_BACKUP], 0),
    # The ranges set: without them `plan` and `firewall` warn on stderr (nearly every
    # port counted or opened).
    (["plan", "--resources", "2", "--media-range", "5001-5100", "--agent-range", "6001-6100"],
     0),
    (["plan", "--resources", "2", "--media-range", "5001-5002", "--agent-range", "6001-6100"],
     1),
    (["firewall", "--media-range", "5001-5100", "--agent-range", "6001-6100"], 0),
]


# (REPORTS index, format): JSON documents longer than Python's 8 KiB buffer, whose write
# fails as it is made, buffered or not: both ran the same lines and branches of
# flowcheck, rich, typer and click (branch coverage of each child, session 52: analyze
# v4-backup 14,862 lines either way, data-port-dropped 14,780, connections 8,341, ndmp
# 10,380, firewall 3,121; no arc apart). Where they differ they stay both ways: a short
# document (plan's 953 B: buffered, the write passes and report_output's flush fails),
# firewall's 13 kB table (two lines of rich's console apart). Run buffered only.
LONG_EITHER_WAY = {(0, "json"), (1, "json"), (3, "json"), (4, "json"), (7, "json")}
CASES = [pytest.param(arguments, status, output, buffered,
                      id=" ".join(arguments[:1] + arguments[-1:]) + f"={status}-{output}-"
                         + ("buffered" if buffered else "unbuffered"))
         for index, (arguments, status) in enumerate(REPORTS) for output in ("table", "json")
         for buffered in (True, False)
         if buffered or (index, output) not in LONG_EITHER_WAY]


@pytest.mark.parametrize(("arguments", "status", "output", "buffered"), CASES)
def test_a_report_whose_reader_left_keeps_its_exit_code(
        arguments: list[str], status: int, output: str, buffered: bool) -> None:
    """The reader is gone before the report is written: every write fails with EPIPE.
    The exit code is still the command's (typer's handler exits 1, a failed
    verification, even for a pass; a JSON document still in Python's buffer failed at
    exit with 120), and nothing is printed on stderr."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "flowcheck", *arguments, "--format", output],
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120, check=False,
            env=_environment(buffered))
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (status, "")


HELP_AND_USAGE = [(["--help"], 0), (["analyze", "-h"], 0), (["connections", "--help"], 0),
                  (["analyze", "--help", "--", "-h.pcap"], 0),
                  (["analyze"], 2), (["analyze", "--", "--help"], 3)]


@pytest.mark.parametrize(("arguments", "status"), HELP_AND_USAGE,
                         ids=[" ".join(a) for a, _ in HELP_AND_USAGE])
def test_help_whose_reader_left_ends_as_help_does(arguments: list[str], status: int) -> None:
    """`flowcheck --help | head`: the help was shown as far as it was read, exit 0 (typer
    made it 1, a failed verification). A usage error, or a file named like an option
    after `--`, keeps its own code."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "flowcheck", *arguments],
                              stdout=write_end, stderr=subprocess.PIPE, text=True,
                              timeout=120, check=False, env=_environment(True))
    finally:
        os.close(write_end)
    assert done.returncode == status


def test_flowcheck_alone_shows_its_commands() -> None:
    """No arguments: the help on stderr (its commands), usage exit 2; before, only its
    first line, "Usage: flowcheck [OPTIONS] COMMAND [ARGS]...", as an error."""
    done = subprocess.run([sys.executable, "-m", "flowcheck"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 2 and done.stdout == ""
    for command in ("analyze", "connections", "ndmp", "live", "regress", "firewall", "plan"):
        assert f"\n  {command} " in done.stderr


def test_regress_whose_reader_left_keeps_its_exit_code() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "flowcheck", "regress", str(LAB / "control-refused.pcap")],
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120, check=False,
            env=_environment(buffered=True))
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")


def _refused(ndmp_port: int) -> None:
    """On the loopback: one connection refused by the NDMP port (control_refused; live
    prints it once the connection has been quiet 2 s, its check on a quiet link)."""
    with contextlib.suppress(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", ndmp_port), timeout=2).close()


def _start_live(tmp_path: Path, stdout: int, ndmp_port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "flowcheck", "live", "--interface", "lo", "--duration", "600",
         "--ndmp-port", str(ndmp_port), "--format", "json", "--sniffer", "tcpdump",
         "--html", str(tmp_path / "live.html"), "--write", str(tmp_path / "live.pcap"),
         "--capture-filter", f"tcp port {ndmp_port}"],
        stdout=stdout, stderr=subprocess.PIPE, text=True,
        start_new_session=True)  # its own group: a failed test kills it (tcpdump ends with it)
    wait_until_listening(process, tmp_path / "live.pcap")
    return process


def test_live_stops_when_its_reader_leaves_after_the_first_line(tmp_path: Path) -> None:
    """`flowcheck live ... | head -1`: the reader takes the first finding and leaves.
    live sees it without writing again (nothing else may come for hours), stops the
    capture as Ctrl-C would, writes --html, and exits with the verdict's code: fail,
    the NDMP port refused the control connection."""
    ndmp_port = free_port()
    process = _start_live(tmp_path, subprocess.PIPE, ndmp_port)
    assert process.stdout is not None
    _refused(ndmp_port)
    first = json.loads(process.stdout.readline())
    process.stdout.close()  # the reader leaves; no traffic follows
    status, _out, err = ended(process)
    assert first["event"] == "finding"
    assert status == 1 and err == "", err
    assert "control_refused" in (tmp_path / "live.html").read_text()


def test_live_stops_when_a_finding_cannot_be_written(tmp_path: Path) -> None:
    """Standard output is a socket whose reader has gone (not watched like a pipe): the
    first finding's write fails, and live stops there, as above."""
    ours, theirs = socket.socketpair()
    theirs.close()
    ndmp_port = free_port()
    try:
        process = _start_live(tmp_path, ours.fileno(), ndmp_port)
    finally:
        ours.close()
    _refused(ndmp_port)
    status, _out, err = ended(process)
    assert status == 1 and err == "", err
    assert "control_refused" in (tmp_path / "live.html").read_text()
