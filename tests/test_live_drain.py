"""`flowcheck live` stopped right after a burst keeps the burst's last packets.

A terminal's Ctrl-C sends SIGINT to its whole foreground process group. When the sniffer
shared flowcheck's group, it got the signal too and stopped at once (libpcap's
pcap_breakloop): the packets still in its kernel ring, the last milliseconds before the
Ctrl-C, never reached the analysis. Here live runs in a process group of its own (as a
shell's job), a connection sends a burst to its end (FIN both ways), and the sender
signals the group the moment its last packet is out; a second tcpdump, in its own
session and stopped later, is the reference. Root only (CI runs as root); each test
makes and removes its own namespaces.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from child_signals import sigint_as_default
from cli_json import run_json
from live_process import DUMPCAP, ended, wait_until_listening

from flowcheck.lab.netns import Lab, lab_network

pytestmark = [pytest.mark.lab, pytest.mark.skipif(
    shutil.which("tcpdump") is None or os.geteuid() != 0, reason="needs tcpdump and root")]

PORT = 7031
# Bytes: about 2,200 full-size segments on the lab's veth (MTU 1500), sent faster than
# live reads them (a short burst live kept up with lost only its last packets, and not
# on every run with tcpdump).
BURST = 3 << 20

# In the agent's namespace: read a connection to its end, then close it (its FIN).
_SERVER = ("import socket,sys\n"
           "s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
           "s.bind((sys.argv[1],int(sys.argv[2])));s.listen();print('ready',flush=True)\n"
           "c,_=s.accept();n=0\n"
           "while d:=c.recv(1<<20):n+=len(d)\n"
           "c.close();print(n,flush=True)\n")
# In the media server's namespace: send the burst, half-close, wait for the peer's FIN
# (the kernel has acknowledged it: the connection's last packet is out), then, without
# a moment's wait, SIGINT to the process group given, as a terminal's Ctrl-C does
# ("group"), or SIGTERM to that process alone, as `kill` does ("process"); 0: none.
_SENDER = ("import os,signal,socket,sys\n"
           "c=socket.create_connection((sys.argv[1],int(sys.argv[2])))\n"
           "c.sendall(b'x'*int(sys.argv[3]));c.shutdown(socket.SHUT_WR)\n"
           "while c.recv(1<<16):pass\n"
           "p=int(sys.argv[4])\n"
           "p and (os.killpg(p,signal.SIGINT) if sys.argv[5]=='group' else "
           "os.kill(p,signal.SIGTERM))\n"
           "c.close()\n")
WARM_UP = 100_000  # bytes, on PORT + 1


@pytest.fixture
def written() -> Iterator[Path]:
    """The path live writes its capture to, in a directory of its own removed after the
    test (232 such directories had piled up in /tmp)."""
    directory = Path(tempfile.mkdtemp(prefix="drain-"))
    yield directory / "live.pcap"
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def lab() -> Iterator[Lab]:
    """The lab's two namespaces joined by a veth (media 10.77.0.1 on m0, agent
    10.77.0.2 on a0), offloads off: wire-sized segments."""
    with lab_network() as made:
        yield made


def _reference(lab: Lab, path: Path) -> subprocess.Popen:
    """A tcpdump of its own on m0, in its own session (no signal meant for live reaches
    it), once it listens."""
    process = subprocess.Popen(
        lab.exec_argv("m", ["tcpdump", "-i", "m0", "-s", "0", "-U", "--immediate-mode",
                            "-B", "32768", "-n", "-Z", "root", "-w", str(path),
                            f"tcp portrange {PORT}-{PORT + 1}"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    assert process.stderr is not None
    line = process.stderr.readline()
    assert "listening on" in line, line
    return process


def _connection(document: dict, port: int = PORT) -> dict:
    found = [c for c in document["connections"] if c["resp_p"] == port]
    assert len(found) == 1, document["connections"]
    return found[0]


def _serve(lab: Lab, port: int) -> subprocess.Popen:
    """_SERVER in the agent's namespace, once it listens."""
    server = subprocess.Popen(lab.exec_argv("a", [sys.executable, "-c", _SERVER,
                                                  "10.77.0.2", str(port)]),
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    return server


def _send(lab: Lab, port: int, size: int, stopped: int, how: str = "group") -> None:
    """_SENDER in the media server's namespace, to its end; then it stops `stopped`
    (0: nothing) as `how` says."""
    subprocess.run(lab.exec_argv("m", [sys.executable, "-c", _SENDER, "10.77.0.2",
                                       str(port), str(size), str(stopped), how]),
                   check=True, timeout=120)


def _warm_up(lab: Lab, live: subprocess.Popen) -> None:
    """One connection read and analysed: live waits for packets again, its reader not
    busy with its first batch (a burst then loses only what the kernel ring holds).
    Idle: under 0.05 s of CPU in half a second (its idle check runs once a second)."""
    server = _serve(lab, PORT + 1)
    try:
        _send(lab, PORT + 1, WARM_UP, 0)
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate()
    process = psutil.Process(live.pid)
    deadline = time.monotonic() + 60
    used = sum(process.cpu_times()[:2])
    while time.monotonic() < deadline:
        time.sleep(0.5)
        used, before = sum(process.cpu_times()[:2]), used
        if used - before < 0.05:
            return
    pytest.fail("live stayed busy after the warm-up connection")


_CASES = [pytest.param(sniffer, warm, "group", id=f"{sniffer}-{reader}-ctrl-c", marks=marks)
          for sniffer, marks in (("tcpdump", ()), ("dumpcap", DUMPCAP.marks), ("scapy", ()))
          for warm, reader in ((True, "reader-idle"), (False, "reader-busy"))]
_CASES.append(pytest.param("tcpdump", False, "process", id="tcpdump-reader-busy-sigterm"))


@pytest.mark.parametrize(("sniffer", "warm", "how"), _CASES)
def test_stopped_right_after_a_burst_live_keeps_its_last_packets(
        lab: Lab, tmp_path: Path, written: Path, sniffer: str, warm: bool, how: str) -> None:
    """reader-idle: live has read and analysed a first connection, then the burst.
    reader-busy: the burst comes first, while live still starts its analysis on it.
    Either way the sniffer, waiting on live's full pipe, still held part of the burst in
    its kernel ring at the stop: a Ctrl-C to live's process group (ctrl-c), or SIGTERM
    to live alone (sigterm: `kill`, `timeout`; it stopped the sniffer at once)."""
    reference_path = tmp_path / "reference.pcap"
    reference = _reference(lab, reference_path)
    server = _serve(lab, PORT)
    live = subprocess.Popen(
        lab.exec_argv("m", [sys.executable, "-m", "flowcheck", "live", "-i", "m0",
                            "--format", "json", "--sniffer", sniffer, "--write",
                            str(written), "--capture-filter",
                            f"tcp portrange {PORT}-{PORT + 1}"]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own group, as a shell's job: the group is signalled
        preexec_fn=sigint_as_default)  # Ctrl-C reaches it however pytest was started
    try:
        wait_until_listening(live, written)
        if warm:
            _warm_up(lab, live)
        _send(lab, PORT, BURST, live.pid, how)
        assert server.wait(timeout=60) == 0
        assert server.stdout is not None
        assert server.stdout.readline().strip() == str(BURST)
    finally:
        if live.poll() is None and server.returncode is None:  # the sender never signalled
            os.killpg(live.pid, signal.SIGKILL)
        if server.poll() is None:
            server.kill()
        server.communicate()
        code, out, err = ended(live)
        reference.send_signal(signal.SIGINT)  # to it alone: it flushes and exits
        reference.communicate(timeout=60)
    assert "Traceback" not in err, err
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert events and events[-1]["event"] == "report", (code, err)
    got = _connection(events[-1])
    expected = _connection(run_json("connections", str(reference_path), "--format",
                                    "json", exit_codes=(0,)))
    # The reference has it all (a segment sent again counts twice in orig_bytes).
    assert expected["orig_bytes"] >= BURST and "f" in expected["history"], expected
    fields = ("orig_pkts", "resp_pkts", "orig_bytes", "resp_bytes", "history")
    assert {k: got[k] for k in fields} == {k: expected[k] for k in fields}
    assert events[-1]["captures"][0]["kernel_dropped"] in (0, None), events[-1]["captures"]
