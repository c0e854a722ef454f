"""The --write file of a live capture: what is left of it when the sniffer never
listened, and the line for a write that failed mid-capture. Shared by the capture
tools' runner (sources.live) and the scapy sniffer (sources.scapy_live)."""

from __future__ import annotations

import contextlib
import os

PCAP_HEADER = 24  # bytes: the pcap file header a sniffer writes (dumpcap -P) once it captures


def remove_unused(path: str) -> None:
    """Remove a --write file a sniffer that never listened left: a regular file holding
    no packet (at most the pcap header). Anything else (/dev/full, a FIFO) stays."""
    with contextlib.suppress(OSError):
        if os.path.isfile(path) and os.path.getsize(path) <= PCAP_HEADER:
            os.unlink(path)


def write_error_line(path: str, exc: OSError) -> str:
    """The one line for a --write file that could not be written mid-capture."""
    return f"--write {path}: cannot write the capture ({exc.strerror or exc}); capture stopped"
