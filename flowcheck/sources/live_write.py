"""The --write file of a live capture: what is left of it when the sniffer never
listened, and the line for a write that failed mid-capture. Shared by the capture
tools' runner (sources.live) and the scapy sniffer (sources.scapy_live)."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import BinaryIO

PCAP_HEADER = 24  # bytes: the pcap file header a sniffer writes (dumpcap -P) once it captures


def open_sink(path: str) -> BinaryIO:
    """The --write file opened for writing; `-` is standard output (a copy of its
    descriptor: `live --write - | wireshark -k -i -`). OSError when it cannot be opened."""
    if path == "-":
        return os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    return open(path, "wb")  # noqa: SIM115 - lives as long as the capture


def remove_unused(path: str) -> None:
    """Remove a --write file a sniffer that never listened left: a regular file holding
    no packet (at most the pcap header). Anything else (/dev/full, a FIFO, standard
    output `-`, even redirected to a file) stays."""
    if path == "-":
        return
    with contextlib.suppress(OSError):
        if os.path.isfile(path) and os.path.getsize(path) <= PCAP_HEADER:
            os.unlink(path)


def write_error_line(path: str, exc: OSError) -> str:
    """The one line for a --write file that could not be written mid-capture."""
    return f"--write {path}: cannot write the capture ({exc.strerror or exc}); capture stopped"
