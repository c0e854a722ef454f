"""Benchmark captures made in the project's lab (real sockets, captured by tcpdump).

- `ndmjob_backup`: a real ndmjob NDMP v4 backup of about `size` bytes between the lab's
  two namespaces, captured in M's namespace by tcpdump as an administrator would run it
  (no immediate mode, a large buffer). Whatever the sniffer drops stays dropped: sniffer
  loss is what real captures of backups have. Needs root, ndmjob (amanda-common), tcpdump.
- `ndmjob_backup_sniffloss`: the same backup captured as a busy host's tcpdump captures
  it (`StallingSniffer`): a small kernel buffer and a writer that stalls now and then,
  as a disk under writeback does. tcpdump stops reading while its output is blocked, the
  kernel's ring fills and the kernel drops what does not fit: bursts of consecutive
  frames, counted in tcpdump's "dropped by kernel" line.
- `mixed_traffic`: request/response traffic of irregular sizes (bench/traffic_peer.py)
  on many concurrent and short-lived connections, with TCP_NODELAY: packet sizes and ACK
  patterns as the kernel makes them for interactive and mixed traffic.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from flowcheck.lab import ndmjob
from flowcheck.lab.netns import Lab, lab_network

HERE = Path(__file__).resolve().parent
CHUNK = 8 << 20


def _netns_prefix() -> str | None:
    """BENCH_NETNS_PREFIX names the lab's namespaces (a shared machine's helpers tell
    theirs apart by it); without it, the lab's own ("fc<pid>-<n>")."""
    return os.environ.get("BENCH_NETNS_PREFIX") or None


class Sniffer:
    """tcpdump in M's namespace, no immediate mode: the kernel hands over blocks."""

    buffer_kib = 32768  # tcpdump -B: the kernel's ring, KiB

    def __init__(self, lab: Lab, path: Path, packet_filter: str = "tcp or icmp") -> None:
        argv = ["tcpdump", "-i", lab.backup_link.media_if, "-s", "0",
                "-B", str(self.buffer_kib), "-n", "-Z", "root",
                "-w", self._output(path), packet_filter]
        self.process = subprocess.Popen(lab.exec_argv("m", argv), stdout=self._stdout(),
                                        stderr=subprocess.PIPE, text=True)
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if "listening on" in line:
                return
        raise RuntimeError("tcpdump did not start")

    def _output(self, path: Path) -> str:
        return str(path)

    def _stdout(self) -> int:
        return subprocess.DEVNULL

    def stop(self) -> str:
        """SIGINT (tcpdump flushes and writes its statistics); returns them."""
        time.sleep(0.5)
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)
        self._stopped()
        assert self.process.stderr is not None
        tail = self.process.stderr.read()
        return " ".join(line.strip() for line in tail.splitlines() if "packets" in line)

    def _stopped(self) -> None:
        """After tcpdump has exited (a subclass's writer finishes here)."""


class StallingSniffer(Sniffer):
    """tcpdump as on a busy host: a small kernel buffer (`-B 8192`: 8 MiB, where (a)'s
    has 32), its pcap stream (`-w -`) written to `path` by a writer that stops writing
    for `stall` seconds every `period` seconds (a disk flushing dirty pages, a host
    short of CPU). While the pipe is full tcpdump blocks in write(2) and reads nothing;
    the kernel drops whatever the full ring cannot take, and tcpdump's statistics count
    it ("dropped by kernel"). Nothing is removed afterwards: every frame in the file is
    one tcpdump wrote."""

    def __init__(self, lab: Lab, path: Path, packet_filter: str = "tcp or icmp", *,
                 period: float = 0.1, stall: float = 0.020, buffer_kib: int = 8192) -> None:
        self.path, self.period, self.stall = path, period, stall
        self.buffer_kib = buffer_kib
        super().__init__(lab, path, packet_filter)
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._writer.start()

    def _output(self, path: Path) -> str:
        return "-"

    def _stdout(self) -> int:
        return subprocess.PIPE

    def _write(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        pipe = stdout.fileno()  # read raw: the text wrapper is never used
        next_stall = time.monotonic() + self.period
        with self.path.open("wb") as out:
            while chunk := os.read(pipe, 1 << 16):
                out.write(chunk)
                if time.monotonic() >= next_stall:
                    time.sleep(self.stall)
                    next_stall = time.monotonic() + self.period

    def _stopped(self) -> None:
        self._writer.join(timeout=60)


def ndmjob_backup(target: Path, size: int = 1 << 30,
                  sniffer: Callable[[Lab, Path], Sniffer] = Sniffer) -> str:
    """A real ndmjob backup of `size` bytes of file data; returns tcpdump's statistics."""
    with lab_network(prefix=_netns_prefix()) as lab, tempfile.TemporaryDirectory(
            prefix="fc-bench-", dir=target.resolve().parent) as workdir:
        workspace = ndmjob.prepare_workspace(Path(workdir), data_bytes=1000)
        with (workspace.source / "payload.bin").open("wb") as out:
            for _ in range(size // CHUNK):
                out.write(os.urandom(CHUNK))
        daemon = ndmjob.NdmjobDaemon(lab, workspace)
        capture = sniffer(lab, target)
        try:
            code, log = ndmjob.run_backup(lab, workspace, time_limit=600)
        finally:
            stats = capture.stop()
            daemon.stop()
        if code or "Operation ended OKAY" not in log:
            raise RuntimeError(f"ndmjob exit {code}: {log[-600:]}")
    return stats


def ndmjob_backup_sniffloss(target: Path, size: int = 1 << 30,
                            stalls: tuple[float, ...] = (0.020, 0.050, 0.100)) -> str:
    """`ndmjob_backup` captured by a StallingSniffer (a stall every 100 ms); returns
    tcpdump's statistics. How much a stall drops depends on the machine (the ring drains
    as fast as tcpdump is scheduled): a build whose tcpdump dropped nothing is made again
    with the next, longer stall of `stalls`; RuntimeError if the longest dropped none."""
    for stall in stalls:

        def sniffer(lab: Lab, path: Path, stall: float = stall) -> Sniffer:
            return StallingSniffer(lab, path, stall=stall)

        stats = ndmjob_backup(target, size, sniffer)
        if dropped(stats):
            return f"{stats} (the writer stalled {stall * 1000:.0f} ms every 100 ms)"
    raise RuntimeError(f"tcpdump dropped nothing with stalls up to {stalls[-1]} s: {stats}")


def mixed_traffic(target: Path, seconds: float = 15.0, connections: int = 48) -> str:
    """Irregular request/response traffic for `seconds`; returns tcpdump's statistics."""
    peer = [sys.executable, str(HERE / "traffic_peer.py")]
    # A wide ephemeral range: closed connections sit in TIME_WAIT on the client.
    with lab_network(media_range=(20000, 60000), prefix=_netns_prefix()) as lab:
        server = subprocess.Popen(lab.exec_argv("a", [*peer, "serve", "--port", "7000"]),
                                  stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None
        server.stdout.readline()  # "listening"
        sniffer = Sniffer(lab, target)
        try:
            subprocess.run(lab.exec_argv("m", [
                *peer, "client", "--host", lab.backup_link.agent_ip, "--port", "7000",
                "--seconds", str(seconds), "--connections", str(connections)]),
                check=True, timeout=seconds + 60)
        finally:
            stats = sniffer.stop()
            server.terminate()
            server.wait(timeout=10)
    return stats


def dropped(stats: str) -> int:
    match = re.search(r"(\d+) packets? dropped by kernel", stats)
    return int(match.group(1)) if match else 0
