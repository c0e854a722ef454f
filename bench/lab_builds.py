"""Benchmark captures made in the project's lab (real sockets, captured by tcpdump).

- `ndmjob_backup`: a real ndmjob NDMP v4 backup of about `size` bytes between the lab's
  two namespaces, captured in M's namespace by tcpdump as an administrator would run it
  (no immediate mode, a large buffer). Whatever the sniffer drops stays dropped: sniffer
  loss is what real captures of backups have. Needs root, ndmjob (amanda-common), tcpdump.
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
import time
from pathlib import Path

from flowcheck.lab import ndmjob
from flowcheck.lab.netns import Lab, lab_network

HERE = Path(__file__).resolve().parent
CHUNK = 8 << 20


class Sniffer:
    """tcpdump in M's namespace, no immediate mode: the kernel hands over blocks."""

    def __init__(self, lab: Lab, path: Path, packet_filter: str = "tcp or icmp") -> None:
        argv = ["tcpdump", "-i", lab.backup_link.media_if, "-s", "0", "-B", "32768", "-n",
                "-Z", "root", "-w", str(path), packet_filter]
        self.process = subprocess.Popen(lab.exec_argv("m", argv), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if "listening on" in line:
                return
        raise RuntimeError("tcpdump did not start")

    def stop(self) -> str:
        """SIGINT (tcpdump flushes and writes its statistics); returns them."""
        time.sleep(0.5)
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)
        assert self.process.stderr is not None
        tail = self.process.stderr.read()
        return " ".join(line.strip() for line in tail.splitlines() if "packets" in line)


def ndmjob_backup(target: Path, size: int = 1 << 30) -> str:
    """A real ndmjob backup of `size` bytes of file data; returns tcpdump's statistics."""
    with lab_network() as lab, tempfile.TemporaryDirectory(prefix="fc-bench-",
                                                           dir=target.resolve().parent) as workdir:
        workspace = ndmjob.prepare_workspace(Path(workdir), data_bytes=1000)
        with (workspace.source / "payload.bin").open("wb") as out:
            for _ in range(size // CHUNK):
                out.write(os.urandom(CHUNK))
        daemon = ndmjob.NdmjobDaemon(lab, workspace)
        sniffer = Sniffer(lab, target)
        try:
            code, log = ndmjob.run_backup(lab, workspace, time_limit=600)
        finally:
            stats = sniffer.stop()
            daemon.stop()
        if code or "Operation ended OKAY" not in log:
            raise RuntimeError(f"ndmjob exit {code}: {log[-600:]}")
    return stats


def mixed_traffic(target: Path, seconds: float = 15.0, connections: int = 48) -> str:
    """Irregular request/response traffic for `seconds`; returns tcpdump's statistics."""
    peer = [sys.executable, str(HERE / "traffic_peer.py")]
    # A wide ephemeral range: closed connections sit in TIME_WAIT on the client.
    with lab_network(media_range=(20000, 60000)) as lab:
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
