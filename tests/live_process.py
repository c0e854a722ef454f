"""What the tests of `flowcheck live` share: a free loopback port, the dumpcap sniffer
parameter, and ending a live process that runs in its own process group."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess

import pytest

# dumpcap comes with tshark (CI installs it); as root it keeps its user, as tcpdump -Z root.
DUMPCAP = pytest.param("dumpcap", marks=pytest.mark.skipif(
    shutil.which("dumpcap") is None, reason="needs dumpcap"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ended(process: subprocess.Popen) -> tuple[int, str, str]:
    """The exit code, stdout and stderr of a live run started with start_new_session;
    if it does not end within 120 s (the test failed), live and its sniffer are killed
    as a group."""
    try:
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    return process.returncode, out, err
