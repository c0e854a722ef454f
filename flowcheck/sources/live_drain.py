"""When a sniffer asked to stop may end: once it has handed over what it had received.

A sniffer told to stop stops at once: tcpdump and dumpcap, on SIGINT or SIGTERM, break out
of libpcap's loop (pcap_breakloop), scapy's thread at its next turn. What the kernel still
holds for them (the capture ring, the socket's buffer) is lost: the packets of the last
moments before the stop, and many more when flowcheck was busy (its pipe full, the sniffer
waiting on it). So `flowcheck live` stops in two steps: `drain` waits until the reader
has caught up with the stop, then the sniffer is terminated, and the reader reads the
pipe to its end.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable

# Seconds the pipe must stay empty, with nothing read, before the sniffer counts as
# drained: above dumpcap's 250 ms libpcap timeout (it does not ask for immediate mode,
# so the kernel may hold a packet that long) and a busy machine's scheduling.
QUIET = 0.5
# Seconds a drain lasts at most: a reader still behind then (a long burst on a busy
# machine) loses what the sniffer had not handed over yet.
LIMIT = 10.0
_POLL = 0.02  # seconds between looks


def drain(descriptor: int, last_read: Callable[[], tuple[float, float] | None],
          stopped_at: float, hurry: threading.Event, *, quiet: float = QUIET,
          limit: float = LIMIT) -> str:
    """Wait until the sniffer writing into the pipe `descriptor` has nothing left of what
    it received before `stopped_at` (seconds since the epoch, the system clock its
    packets are stamped with); returns why the wait ended:

    "caught up": the reader has read a packet stamped at or after `stopped_at` (a ring
    hands packets over in order); "quiet": the pipe stayed empty, nothing read, for
    `quiet` seconds; "limit": `limit` seconds passed; "hurried": `hurry` was set.

    last_read: (the last packet read: its timestamp, seconds since the epoch; when it was
    read, time.monotonic()), None before the first packet; called from this thread while
    the reader runs in another.
    """
    started = time.monotonic()
    quiet_since, seen = started, last_read()
    while not hurry.wait(_POLL):
        now, read = time.monotonic(), last_read()
        if read is not None and read[0] >= stopped_at:
            return "caught up"
        if read != seen or _holds_data(descriptor):
            quiet_since, seen = now, read
        elif now - quiet_since >= quiet:
            return "quiet"
        if now - started >= limit:
            return "limit"
    return "hurried"


def _holds_data(descriptor: int) -> bool:
    """Whether the pipe has bytes (or its end) waiting for the reader; False once the
    reader has closed it."""
    try:
        return bool(select.select([descriptor], [], [], 0)[0])
    except (OSError, ValueError):
        return False
