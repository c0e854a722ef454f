"""`flowcheck live` stopped by a signal: SIGTERM (`timeout`, systemd, docker stop) and
SIGHUP end it as Ctrl-C does, one ignored at its start (nohup) does not, and SIGKILL
leaves the --write file readable; the sniffer never outlives flowcheck. Real tcpdump on
the loopback interface (CI runs as root)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import shutil
import signal
import socket
import subprocess
import sys
import termios
import time
from pathlib import Path

import psutil
import pytest
from child_signals import started_ignoring
from cli_json import run_json
from live_process import DUMPCAP, ended, ended_if_failing, free_port, wait_until_listening

from flowcheck.sources import iter_batches

pytestmark = pytest.mark.skipif(
    shutil.which("tcpdump") is None or os.geteuid() != 0,
    reason="needs tcpdump and root")

PAYLOAD = b"flowcheck signal test"


def _start_live(tmp_path: Path, ndmp_port: int, served_port: int,
                prefix: tuple[str, ...] = (), terminal: int | None = None,
                sniffer: str = "tcpdump",
                ignored: tuple[signal.Signals, ...] = ()) -> subprocess.Popen:
    """live --format json, its stdout a pipe, or the pseudo-terminal `terminal` (the
    controlling terminal of its session, so that closing it sends SIGHUP); SIGINT,
    SIGTERM and SIGHUP at their default but those `ignored` (as nohup starts it)."""
    signals = started_ignoring(*ignored)

    def preexec() -> None:
        signals()
        if terminal is not None:
            fcntl.ioctl(1, termios.TIOCSCTTY, 0)  # standard output: the pseudo-terminal

    process = subprocess.Popen(
        [*prefix, sys.executable, "-m", "flowcheck", "live", "--interface", "lo",
         "--duration", "600", "--ndmp-port", str(ndmp_port), "--format", "json",
         "--sniffer", sniffer, "--write", str(tmp_path / "live.pcap"),
         "--html", str(tmp_path / "live.html"),
         "--capture-filter", f"tcp port {ndmp_port} or tcp port {served_port}"],
        stdout=subprocess.PIPE if terminal is None else terminal, stderr=subprocess.PIPE,
        text=True, start_new_session=True,  # its own group: a failed test kills it, tcpdump too
        preexec_fn=preexec)
    wait_until_listening(process, tmp_path / "live.pcap")
    return process


def _traffic(ndmp_port: int, served_port: int) -> None:
    """A connection the NDMP port refuses (control_refused: verdict fail), then one that
    carries PAYLOAD and closes."""
    with contextlib.suppress(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", ndmp_port), timeout=2).close()
    with socket.socket() as server:
        server.bind(("127.0.0.1", served_port))
        server.listen()
        with socket.create_connection(("127.0.0.1", served_port)) as client:
            peer, _ = server.accept()
            with peer:
                client.sendall(PAYLOAD)
                assert peer.recv(len(PAYLOAD)) == PAYLOAD


def _saved_payloads(path: Path) -> list[bytes]:
    """The TCP payloads of the IPv4 frames saved so far (libpcap's loopback is Ethernet)."""
    found = []
    for batch in iter_batches([str(path)]):
        view = bytes(batch.buf)
        for n in range(len(batch)):
            start = int(batch.data_off[n])
            frame = view[start:start + int(batch.caplen[n])]
            if frame[12:14] == b"\x08\x00" and frame[23] == 6:
                tcp = frame[14 + (frame[14] & 0x0F) * 4:]
                found.append(tcp[(tcp[12] >> 4) * 4:])
    return found


def _wait_until_saved(path: Path, live: subprocess.Popen | None = None) -> None:
    """Until the --write file holds the payload: it is written as packets come, not at
    the end (60 s at most); fails at once when `live` has ended before."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if live is not None and live.poll() is not None:
            pytest.fail(f"live ended (exit {live.returncode}) before it saved the payload")
        with contextlib.suppress(Exception):  # not yet a whole pcap header
            if PAYLOAD in _saved_payloads(path):
                return
        time.sleep(0.2)
    pytest.fail(f"{path} does not hold the payload while live runs: "
                f"{path.stat().st_size if path.exists() else 'no'} bytes")


def _ignores(pid: int, number: signal.Signals) -> bool:
    """Whether process `pid` ignores signal `number` (SIG_IGN): its bit in the SigIgn mask
    of /proc/PID/status (bit n - 1 for signal n, proc(5))."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:"))
    return bool(int(mask, 16) >> (number - 1) & 1)


def _sniffer_of(process: subprocess.Popen, name: str = "tcpdump") -> psutil.Process:
    (child,) = psutil.Process(process.pid).children()
    assert child.name() == name
    return child


def _has_ended(sniffer: psutil.Process, wait: float = 30.0) -> bool:
    """Whether the sniffer ended (a zombie nobody reaped has ended too), waiting up to
    `wait` seconds for it."""
    deadline = time.monotonic() + wait
    while True:
        try:
            if sniffer.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def _check_final_report(tmp_path: Path, out: str | None, err: str) -> None:
    """The JSON report on standard output (unless it went to a terminal), --html and
    --write complete."""
    if out is not None:
        events = [json.loads(line) for line in out.splitlines()]
        assert events and events[-1]["event"] == "report", (out, err)
        assert events[-1]["verdict"] == "fail"
        assert "control_refused" in {f["code"] for f in events[-1]["findings"]}
    assert "control_refused" in (tmp_path / "live.html").read_text()
    # The saved capture is whole: every other command reads it to the end.
    offline = run_json("connections", str(tmp_path / "live.pcap"), "--format", "json",
                       exit_codes=(0,))
    assert offline["captures"][0]["truncated"] is False
    assert PAYLOAD in _saved_payloads(tmp_path / "live.pcap")


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_live_stopped_by_a_signal_reports_as_on_ctrl_c(tmp_path: Path, number: int) -> None:
    """Each signal at its default when live started (a shell's foreground job)."""
    ndmp_port, served_port = free_port(), free_port()
    process = _start_live(tmp_path, ndmp_port, served_port)
    with ended_if_failing(process):
        sniffer = _sniffer_of(process)
        _traffic(ndmp_port, served_port)
        _wait_until_saved(tmp_path / "live.pcap")
        process.send_signal(number)  # to flowcheck alone, as `kill` does
    code, out, err = ended(process)
    assert code == 1, err  # the verdict's, as on Ctrl-C
    _check_final_report(tmp_path, out, err)
    assert _has_ended(sniffer, wait=0)
    assert "Traceback" not in err


@pytest.mark.parametrize(("ignored", "stopper"), [
    (signal.SIGHUP, signal.SIGTERM),  # nohup flowcheck live ... &
    (signal.SIGINT, signal.SIGTERM),  # flowcheck live ... & in a script: SIGINT ignored
    (signal.SIGTERM, signal.SIGINT),
], ids=["SIGHUP", "SIGINT", "SIGTERM"])
def test_live_keeps_capturing_through_a_signal_ignored_at_its_start(
        tmp_path: Path, ignored: signal.Signals, stopper: signal.Signals) -> None:
    """A signal ignored when live started stays ignored, as nohup and a shell's background
    job mean it (it stopped the capture: the engineer's overnight `nohup flowcheck live`
    ended when they logged out); a signal it catches still stops it as Ctrl-C does."""
    ndmp_port, served_port = free_port(), free_port()
    process = _start_live(tmp_path, ndmp_port, served_port, ignored=(ignored,))
    with ended_if_failing(process):
        sniffer = _sniffer_of(process)
        # Ignored (SIG_IGN), the kernel discards the signal when it is sent: it cannot
        # stop live, however long the test would wait for it to (a live that took it
        # stopped within a second, its capture ending before the traffic below). Caught,
        # it would be in SigCgt instead: live installed its handlers before it read the
        # sniffer's first bytes, the --write header _start_live waited for.
        assert _ignores(process.pid, ignored), f"{ignored.name} is not ignored by live"
        process.send_signal(ignored)
        assert _ignores(process.pid, ignored), f"{ignored.name} is not ignored by live"
        assert process.poll() is None, f"{ignored.name} ignored at the start stopped live"
        _traffic(ndmp_port, served_port)
        _wait_until_saved(tmp_path / "live.pcap", process)
        assert process.poll() is None and not _has_ended(sniffer, wait=0)
        process.send_signal(stopper)
    code, out, err = ended(process)
    assert code == 1, err  # the verdict's, as on Ctrl-C
    _check_final_report(tmp_path, out, err)  # the traffic sent after the ignored signal
    assert "Traceback" not in err


def test_live_on_a_closed_terminal_ends_as_on_ctrl_c(tmp_path: Path) -> None:
    """The terminal live prints to is closed (an SSH session lost): SIGHUP, and every
    later write to it fails with EIO; the report is lost, nothing else is."""
    ndmp_port, served_port = free_port(), free_port()
    controller, terminal = pty.openpty()
    try:
        process = _start_live(tmp_path, ndmp_port, served_port, terminal=terminal)
    finally:
        os.close(terminal)
    with ended_if_failing(process):
        sniffer = _sniffer_of(process)
        _traffic(ndmp_port, served_port)
        _wait_until_saved(tmp_path / "live.pcap")
        os.close(controller)  # the hang-up
    code, _out, err = ended(process)
    assert code == 1, err
    assert "Traceback" not in err and "error" not in err, err
    _check_final_report(tmp_path, None, err)
    assert _has_ended(sniffer, wait=0)


def test_live_under_timeout_leaves_a_report_and_a_whole_file(tmp_path: Path) -> None:
    """`timeout 600 flowcheck live ...`: timeout sends SIGTERM to live and its group when
    its time is up. Its timer is SIGALRM (coreutils timeout.c: alarm, or timer_settime
    on SIGALRM; its handler takes SIGALRM as "timed out"), so the test ends the time
    once the traffic is saved instead of waiting for a fixed one that a loaded machine
    could end before the traffic, or long after it."""
    ndmp_port, served_port = free_port(), free_port()
    process = _start_live(tmp_path, ndmp_port, served_port, prefix=("timeout", "600"))
    with ended_if_failing(process):
        _traffic(ndmp_port, served_port)
        _wait_until_saved(tmp_path / "live.pcap", process)
        process.send_signal(signal.SIGALRM)  # to timeout (the process started): time up
    code, out, err = ended(process)
    assert code == 124, err  # timeout's own code for "timed out"
    _check_final_report(tmp_path, out, err)


@pytest.mark.parametrize("name", ["tcpdump", DUMPCAP])
def test_killed_live_keeps_what_it_saved_and_its_sniffer_ends(tmp_path: Path,
                                                              name: str) -> None:
    ndmp_port, served_port = free_port(), free_port()
    process = _start_live(tmp_path, ndmp_port, served_port, sniffer=name)
    with ended_if_failing(process):
        sniffer = _sniffer_of(process, name)
        _traffic(ndmp_port, served_port)
        _wait_until_saved(tmp_path / "live.pcap")
        process.kill()  # SIGKILL: no handler runs, nothing is flushed at the end
        process.communicate(timeout=60)
        # No packet comes after the kill, so tcpdump never writes into the closed pipe,
        # and it runs in a session of its own (no group signal reaches it): only the
        # death signal the kernel sends ends it.
        assert _has_ended(sniffer), f"{name} outlived the killed flowcheck"
    assert PAYLOAD in _saved_payloads(tmp_path / "live.pcap")
