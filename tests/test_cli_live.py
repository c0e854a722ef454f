"""`flowcheck live` for real: tcpdump on the loopback interface (CI runs as root)."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from child_signals import sigint_as_default
from live_process import (
    DUMPCAP,
    RST,
    ended,
    ended_if_failing,
    first_line,
    free_port,
    wait_until_listening,
    wait_until_written,
)

from flowcheck.cli.main import run


@pytest.mark.parametrize("sniffer", ["tcpdump", DUMPCAP, "scapy"])
def test_live_reports_a_refused_control_connection(
        tmp_path: Path, sniffer: str, capsys: pytest.CaptureFixture[str]) -> None:
    ndmp_port, served_port = free_port(), free_port()
    saved = tmp_path / "live.pcap"
    process = subprocess.Popen(
        [sys.executable, "-m", "flowcheck", "live", "--interface", "lo", "--duration", "120",
         "--ndmp-port", str(ndmp_port), "--format", "json", "--write", str(saved),
         "--sniffer", sniffer, "--html", str(tmp_path / "live.html"),
         "--capture-filter", f"tcp port {ndmp_port} or tcp port {served_port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with ended_if_failing(process):
        wait_until_listening(process, saved)
        with socket.socket() as server:
            server.bind(("127.0.0.1", served_port))
            server.listen()
            with socket.create_connection(("127.0.0.1", served_port)) as client:
                peer, _ = server.accept()
                client.sendall(b"x" * 100)
                peer.recv(100)
                peer.close()
        with contextlib.suppress(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", ndmp_port), timeout=2).close()
        # Stopped as `kill` stops it once it has read the refusal, the last packet sent
        # (the --duration timer calls the same stop; 120 s only ends a failed test's run).
        wait_until_written(process, saved, ndmp_port, RST)
    process.terminate()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    # Nothing on standard error: it carries errors only (`flowcheck: error: ...`). The
    # sniffer's "listening on" (dumpcap's "Capturing on") was a `flowcheck: ` line there
    # on every run, which a CI wrapper failing on any stderr took for an error (trial 16).
    assert err == ""
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["event"] == "report" and events[-1]["verdict"] == "fail"
    codes = {e["code"] for e in events if e["event"] == "finding"}
    assert "control_refused" in codes
    assert {f["code"] for f in events[-1]["findings"]} == codes
    served = [c for c in events[-1]["connections"] if c["resp_p"] == served_port]
    assert len(served) == 1 and served[0]["orig_bytes"] == 100
    # Each packet once, as libpcap gives it (a packet socket on lo sees it twice).
    assert served[0]["retransmits"] == 0 and served[0]["conn_state"] == "SF"
    # --html: the report at the end, with the ladder; both ends on 127.0.0.1 keep a lane
    # each, and the refused control connection's RST carries its finding.
    html = (tmp_path / "live.html").read_text()
    assert html.count('<g class="lane" data-host="127.0.0.1"') == 2
    assert 'data-kind="rst" data-status="failed"' in html and "control_refused" in html
    # --write keeps a normal capture: the offline analysis agrees with the live one (in
    # this process: test_cli_edges and others run analyze as a process of its own).
    assert run(["analyze", str(saved), "--ndmp-port", str(ndmp_port), "--format",
                "json"]) == 1
    assert {f["code"] for f in json.loads(capsys.readouterr().out)["findings"]} == codes


@pytest.mark.parametrize("sniffer", ["tcpdump", DUMPCAP, "scapy"])
def test_live_missing_interface_exits_3(sniffer: str,
                                       capfd: pytest.CaptureFixture[str]) -> None:
    # In this process: the sniffer fails at its start, before any capture; capfd reads
    # standard error as a process's would be (the sniffer's own lines too). Real live
    # processes: the other tests here (test_live_without_permission_exits_3 the same
    # failure, exit 3 and one line, in one).
    code = run(["live", "--interface", "fcnosuch0", "--duration", "1", "--sniffer", sniffer])
    err = capfd.readouterr().err
    assert code == 3
    # One line: no "Capturing on" or other line of the tool's own.
    assert err.startswith("flowcheck: error:") and err.count("\n") == 1
    assert "fcnosuch0: no such network interface" in err


# Without CAP_NET_RAW and CAP_NET_ADMIN, even as root: what an unprivileged user has.
UNPRIVILEGED = ("setpriv", "--bounding-set=-net_raw,-net_admin", "--inh-caps=-all")


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
@pytest.mark.parametrize("sniffer", ["tcpdump", DUMPCAP, "scapy"])
def test_live_without_permission_exits_3(sniffer: str) -> None:
    result = subprocess.run(
        [*UNPRIVILEGED, sys.executable, "-m", "flowcheck", "live", "--interface", "lo",
         "--duration", "1", "--sniffer", sniffer],
        capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("flowcheck: error:") and result.stderr.count("\n") == 1
    assert "permission denied" in result.stderr


@pytest.mark.parametrize("sniffer", ["tcpdump", DUMPCAP, "scapy"])
def test_live_prints_a_refusal_while_the_link_stays_quiet(tmp_path: Path,
                                                          sniffer: str) -> None:
    """Two packets (SYN, RST), then nothing: the refusal is printed while live still
    captures (the checks ran only as packets came, 5 s of packet time apart, so it came
    with the final report; the scapy sniffer's buffered pipe held both packets until a
    third came)."""
    ndmp_port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "flowcheck", "live", "--interface", "lo", "--ndmp-port",
         str(ndmp_port), "--format", "json", "--sniffer", sniffer,
         "--capture-filter", f"tcp port {ndmp_port}", "--write", str(tmp_path / "live.pcap")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=sigint_as_default)  # stopped by SIGINT however pytest was started
    try:
        wait_until_listening(process, tmp_path / "live.pcap")
        with contextlib.suppress(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", ndmp_port), timeout=2).close()
        line = first_line(process, timeout=60)
        capturing = process.poll() is None
    finally:
        process.send_signal(signal.SIGINT)
        code, out, err = ended(process)
    assert line is not None and capturing, err
    assert json.loads(line)["code"] == "control_refused"
    assert code == 1, err
    assert json.loads(out.splitlines()[-1])["verdict"] == "fail"


def _live_on_terminal(ignore_sigint: bool = False) -> tuple[int, bytes, int]:
    """`live` on lo for 1 s, nothing captured, its standard error a terminal (pty):
    (exit code, what the terminal showed, its pid); ignore_sigint: started with SIGINT
    ignored, as a script's `cmd &` starts it, else with its default (an xdist worker
    runs with SIGINT ignored, and a child inherits that)."""
    import os
    import pty
    import signal

    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "flowcheck", "live", "--interface", "lo", "--duration",
             "1", "--format", "json", "--sniffer", "tcpdump",
             "--capture-filter", f"tcp port {free_port()}"],
            stdout=subprocess.PIPE, stderr=terminal,
            preexec_fn=lambda: signal.signal(
                signal.SIGINT, signal.SIG_IGN if ignore_sigint else signal.SIG_DFL))
    finally:
        os.close(terminal)
    text = b""
    with contextlib.suppress(OSError):  # EIO: the terminal's last writer has exited
        while chunk := os.read(controller, 4096):
            text += chunk
    os.close(controller)
    process.communicate(timeout=60)
    return process.returncode, text, process.pid


def test_live_tells_a_terminal_when_it_listens() -> None:
    """On a terminal, as the other commands' progress bar, a person sees when capturing
    starts: the sniffer's own line, not a `flowcheck: ` one (cli.md: those are errors)."""
    code, text, _ = _live_on_terminal()
    assert code == 5, text  # nothing captured: inconclusive
    assert text.startswith(b"tcpdump: listening on lo"), text
    assert b"flowcheck" not in text
    assert b"SIGINT" not in text  # SIGINT was not ignored: Ctrl-C works


def test_live_tells_a_terminal_that_ctrl_c_cannot_stop_it() -> None:
    """Started with SIGINT ignored (a script's `flowcheck live ... &`), Ctrl-C cannot stop
    it (flowcheck.dispositions): the person at the terminal is told how to (second
    new-user trial: 10 minutes lost before finding it in the docs)."""
    code, text, pid = _live_on_terminal(ignore_sigint=True)
    assert code == 5, text
    assert (f"SIGINT is ignored in this process (started in the background by a script): "
            f"stop it with `kill {pid}` (SIGTERM) or --duration").encode() in text, text


def test_live_help_says_how_to_stop_a_backgrounded_live() -> None:
    """`live --help` names SIGTERM beside Ctrl-C: a script's `flowcheck live ... &` runs
    with SIGINT ignored and, its standard error not a terminal, is told nothing at its
    start (newuser67: a lab run left hanging 10 minutes)."""
    shown = subprocess.run([sys.executable, "-m", "flowcheck", "live", "--help"],
                           capture_output=True, text=True, check=True,
                           env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"}).stdout
    shown = " ".join(shown.split())  # the help is wrapped at 80 columns whatever COLUMNS says
    assert "until Ctrl-C or SIGTERM" in shown, shown
    assert "Ctrl-C is ignored: use kill" in shown, shown
