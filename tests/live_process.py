"""What the tests of `flowcheck live` share: a free loopback port, a connection sent on
the loopback, the dumpcap sniffer parameter, waiting until it listens, until its --write
copy holds a segment, its first line, and ending a live process that runs in its own
process group (or killing it when its test fails)."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowcheck.sources import iter_batches

# dumpcap comes with tshark (CI installs it); as root it keeps its user, as tcpdump -Z root.
DUMPCAP = pytest.param("dumpcap", marks=pytest.mark.skipif(
    shutil.which("dumpcap") is None, reason="needs dumpcap"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def send_on_loopback(size: int) -> int:
    """One TCP connection on the loopback carrying `size` bytes one way, then closed;
    its listening port."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            peer, _ = server.accept()
            with peer:
                client.sendall(b"x" * size)
                client.shutdown(socket.SHUT_WR)
                while peer.recv(65536):
                    pass
    return port


PCAP_HEADER = 24  # bytes: the pcap file header


def wait_until_listening(process: subprocess.Popen, written: Path,
                         timeout: float = 60) -> None:
    """Wait until live's --write file `written` holds its capture file header: the
    sniffer listens (docs/cli.md, `live`: the sign a script waits for; live prints no
    line on a standard error that is not a terminal)."""
    deadline = time.monotonic() + timeout
    while _size(written) < PCAP_HEADER:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{written}: no capture header"
        time.sleep(0.05)


def _size(path: Path) -> int:
    """`path`'s size in bytes, 0 while it does not exist (checked and read in one step:
    a file seen to exist may be gone by its stat, as one full run met)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


# TCP flags a test waits for in live's --write copy.
FIN, RST = 0x01, 0x04


def _holds_segment(path: Path, port: int, flag: int) -> bool:
    """Whether the loopback capture `path` (Ethernet frames, as libpcap and scapy give
    lo's) holds an IPv4 TCP segment from `port` with `flag` set; False while the file is
    not yet a whole pcap header."""
    try:
        for batch in iter_batches([str(path)]):
            view = bytes(batch.buf)
            for n in range(len(batch)):
                start = int(batch.data_off[n])
                frame = view[start:start + int(batch.caplen[n])]
                if frame[12:14] != b"\x08\x00" or len(frame) < 34 or frame[23] != 6:
                    continue
                tcp = frame[14 + (frame[14] & 0x0F) * 4:]
                if len(tcp) >= 14 and int.from_bytes(tcp[:2], "big") == port \
                        and tcp[13] & flag:
                    return True
    except Exception:  # noqa: BLE001 - a file still being written: not yet
        return False
    return False


def wait_until_written(process: subprocess.Popen, written: Path, port: int, flag: int,
                       timeout: float = 60) -> None:
    """Wait until live's --write copy `written` (a file, or its redirected standard
    output) holds a TCP segment from `port` with `flag` (FIN, RST) set: live has read it
    (the copy is of what it reads, sources.live) and everything sent before it. Fails
    when live ends first, or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not _holds_segment(written, port, flag):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{written}: no segment from port {port}"
        time.sleep(0.05)


def ended(process: subprocess.Popen) -> tuple[int, str, str]:
    """The exit code, stdout and stderr of a live run started with start_new_session;
    if it does not end within 120 s (the test failed), its process group is killed (its
    sniffer, in a session of its own, ends with it: sources.live._end_with_parent)."""
    try:
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    return process.returncode, out, err


@contextlib.contextmanager
def ended_if_failing(process: subprocess.Popen) -> Iterator[None]:
    """A test that fails while live runs kills it (its process group when it leads one,
    started with start_new_session), rather than leave it running out its --duration
    beside the other workers' tests; its sniffer, in a session of its own, ends with it
    (sources.live._end_with_parent)."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(ProcessLookupError):  # it ended already (and was reaped)
            if os.getpgid(process.pid) == process.pid:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        process.communicate()
        raise


def first_line(process: subprocess.Popen, timeout: float) -> bytes | None:
    """The first line a live run started with binary pipes prints, None if none comes
    within timeout seconds. Read from the descriptor itself: communicate() afterwards
    gets the rest (a buffered read would keep it)."""
    assert process.stdout is not None
    fd, line = process.stdout.fileno(), b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n"):
        if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            return None
        chunk = os.read(fd, 1)
        if not chunk:
            return None
        line += chunk
    return line


def wait_for_size(path: Path, size: int) -> None:
    """Until the file holds size bytes (the sniffer has handed on what was sent), at most
    a minute: a sniffer stopped sooner drops what its kernel buffer still holds, and a
    timer can end a capture before a loaded machine has sent anything."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not path.exists() or path.stat().st_size < size):
        time.sleep(0.1)


def wait_until_still(path: Path, quiet: float = 0.5) -> None:
    """Until the file has not grown for `quiet` seconds, at most a minute: the sniffer
    has written the last packets (a burst's FINs after its data) before it is stopped."""
    deadline = time.monotonic() + 60
    size = -1
    while time.monotonic() < deadline:
        now = path.stat().st_size if path.exists() else 0
        if now == size:
            return
        size = now
        time.sleep(quiet)
