"""Feeding LiveVerifier through a real pipe, the tail held back until it reports."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from flowcheck.config import Config
from flowcheck.live import LiveEvent, LiveVerifier


def run_held_back(config: Config, data: bytes, held_back_from: int,
                  release: Callable[[LiveEvent], bool],
                  **options: float) -> tuple[list[LiveEvent], bool]:
    """Write data[:held_back_from] to a pipe the verifier reads, then wait (60 s at most)
    for an event that `release` accepts before writing the rest. Returns the events and
    whether the release came before the wait ran out: an event that only comes at the
    end of the capture leaves the tail waiting, and the caller's test failing.

    interval=0: a check after every batch, so the outcome does not depend on how the
    pipe happens to split the stream into batches. options: LiveVerifier's others
    (settle, tick).
    """
    read_end, write_end = os.pipe()
    released = threading.Event()
    held: list[bool] = []

    def feed() -> None:
        with os.fdopen(write_end, "wb") as pipe:
            for start in range(0, held_back_from, 65536):
                pipe.write(data[start:min(start + 65536, held_back_from)])
                pipe.flush()
            held.append(released.wait(timeout=60))
            pipe.write(data[held_back_from:])

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    events: list[LiveEvent] = []
    # Unbuffered, as live reads its sniffer (sources/live.py): a buffered reader holds
    # the bytes beyond the magic and waits for more before returning them.
    with os.fdopen(read_end, "rb", buffering=0) as stream:
        for event in LiveVerifier(config, interval=0.0, **options).run(stream):
            events.append(event)
            if release(event):
                released.set()
    feeder.join(timeout=60)
    return events, held == [True]
