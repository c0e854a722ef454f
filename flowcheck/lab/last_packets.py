"""Waiting for a job's last packets to be in the capture before its sniffers are stopped.

When the lab stops its sniffers the job's processes have ended, but their last segments
(a FIN, the final ACK) may still be on their way: under load the kernel hands received
packets on later (ksoftirqd), and tcpdump writes a packet only once it has read it from
its ring. The lab used to wait a blind 0.5 s for both. It now waits for the events
themselves, at most that long each (a fault that keeps a connection open, a FIN dropped
and sent again, gets the old wait):

1. every TCP socket of both hosts is listening, in TIME_WAIT or gone: each FIN has been
   acknowledged, so every segment of the job has reached its receiver, past each capture
   point on its way (a sniffer's tap sees a packet before the host or router goes on
   with it);
2. each sniffer has written every packet its filter took (`wait_written`: tcpdump's
   counts, printed on SIGUSR1; dumpcap prints none while it runs and waits the rest of
   the old 0.5 s).
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Protocol

LIMIT = 0.5  # seconds: the fixed wait this replaced, now the longest wait of each step
POLL = 0.02  # seconds between two looks at the sockets or the sniffer's counts
# /proc/net/tcp's `st` column (hex): TIME_WAIT, CLOSE, LISTEN. A socket in any other
# state still sends or awaits a segment (data, a SYN-ACK, a FIN, the ACK of a FIN).
_QUIET_STATES = frozenset({"06", "07", "0A"})
NETNS_DIR = Path("/run/netns")  # where `ip netns add` names its namespaces
CLONE_NEWNET = 0x40000000  # setns(2)'s namespace type: a network namespace
_libc = ctypes.CDLL(None, use_errno=True)


class Sniffer(Protocol):
    """A running sniffer (netns._Tcpdump, _Dumpcap)."""

    def wait_written(self, deadline: float, started: float) -> None:
        """Return once every packet taken is written, or at `deadline` (monotonic s);
        `started`: when the wait for the sockets began (monotonic s)."""


def _tcp_tables(namespace: str) -> str:
    """/proc/net/tcp and tcp6 as the network namespace `namespace` has them ("" once it is
    gone), read in a thread moved into it (setns(2) moves the calling thread only): no
    process started for each look."""
    tables: list[str] = []

    def read() -> None:
        try:
            with open(NETNS_DIR / namespace) as handle:
                if _libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
                    return
            for name in ("tcp", "tcp6"):
                with suppress(FileNotFoundError):  # IPv6 off
                    tables.append(Path(f"/proc/thread-self/net/{name}").read_text())
        except FileNotFoundError:  # the namespace is gone
            return

    reader = threading.Thread(target=read, name=f"sockets of {namespace}")
    reader.start()
    reader.join()
    return "".join(tables)


def talking_sockets(namespace: str) -> int:
    """How many TCP sockets (IPv4 and IPv6) of the network namespace `namespace` are in a
    state that still sends or awaits a segment (0 for a namespace already gone)."""
    states = [line.split()[3] for line in _tcp_tables(namespace).splitlines()
              if len(line.split()) > 3 and line.split()[0] != "sl"]  # "sl": a header
    return sum(state not in _QUIET_STATES for state in states)


def wait_for_last_packets(namespaces: Sequence[str], sniffers: Sequence[Sniffer],
                          limit: float = LIMIT) -> None:
    """Wait until the sockets of `namespaces` (the job's hosts) are quiet, at most `limit`
    seconds, then until each of `sniffers` has written what it took, at most `limit`
    seconds more (see the module's docstring). Never raises for a slow sniffer: its
    stop() reports its counts and drops as before."""
    started = time.monotonic()
    while any(talking_sockets(namespace) for namespace in namespaces) and \
            time.monotonic() < started + limit:
        time.sleep(POLL)
    deadline = time.monotonic() + limit
    for sniffer in sniffers:
        sniffer.wait_written(deadline, started)
