"""tshark's per-packet TCP fields of a capture, for the tests that compare flowcheck's
connection counts with Wireshark's (test_tshark_counts, test_connections_unacked,
test_connections_acked_unseen, test_connections_fills).

One tshark run per capture reads every field they use (desegmentation off: each
segment as captured; `tcp.analysis.retransmission` does not depend on it, the same on
every stored capture either way), kept on disk by the capture's path, size and mtime
and tshark's version, so that the four tests, whichever xdist worker runs them, start
tshark once per capture instead of four times (about 0.3 s a start). A lock file per
capture makes a worker that asks while the other runs tshark on it wait for that run
instead of starting its own: both workers walk the stored captures in the same order
(test_connections_acked_unseen on one, test_connections_fills on the other), so without
it they ran tshark side by side on each capture, each paying every start (CI's two
workers: about 160 s of the suite's test time).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

FIELDS = ("tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst",
          "tcp.dstport", "tcp.flags", "tcp.len", "tcp.seq_raw", "tcp.ack_raw",
          "tcp.analysis.retransmission", "frame.protocols")
CACHE = Path(tempfile.gettempdir()) / f"flowcheck-tests-tshark-{os.getuid()}"


@functools.cache
def _version() -> str:
    return subprocess.run(["tshark", "--version"], capture_output=True, text=True,
                          check=True).stdout.splitlines()[0]


def _all_fields(path: Path) -> str:
    stat = path.stat()
    key = hashlib.sha256(repr((str(path.resolve()), stat.st_size, stat.st_mtime_ns,
                               _version(), FIELDS)).encode()).hexdigest()
    kept = CACHE / key
    if kept.exists():
        return kept.read_text(encoding="utf-8")
    CACHE.mkdir(exist_ok=True)
    with (CACHE / f"{key}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed, or when the worker dies
        if kept.exists():  # the other worker ran tshark while this one waited
            return kept.read_text(encoding="utf-8")
        command = ["tshark", "-n", "-r", str(path), "-o", "tcp.desegment_tcp_streams:FALSE",
                   "-T", "fields"]
        for name in FIELDS:
            command += ["-e", name]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        partial = CACHE / f"{key}.{os.getpid()}"  # whole or not at all: readers skip the lock
        partial.write_text(out, encoding="utf-8")
        partial.replace(kept)
    return out


def is_icmp(protocols: str) -> bool:
    """Whether a frame.protocols value ("eth:ethertype:ip:icmp:ip:tcp") is an ICMP
    message (one quoting TCP shows the quote's tcp fields too). A tunnelled packet's
    ip.src lists the outer addresses before the inner one, as an ICMP quote's does: the
    protocols tell them apart."""
    return bool({"icmp", "icmpv6"} & set(protocols.split(":")))


_ADDRESSES = ("ip.src", "ip.dst", "ipv6.src", "ipv6.dst")


def tcp_fields(path: Path, fields: Sequence[str], *, own: bool = False) -> str:
    """What `tshark -n -r PATH -o tcp.desegment_tcp_streams:FALSE -T fields -e F...`
    prints for `fields` (each one of FIELDS): a line per frame, tab-separated. own: each
    frame as its TCP connection's own packet: an ICMP error quoting TCP (not a packet of
    the connection) prints empty fields, and a tunnelled packet's addresses are the
    inner ones (tshark lists the outer ones first)."""
    columns = [FIELDS.index(name) for name in fields]
    protocols = FIELDS.index("frame.protocols")
    lines = []
    for line in _all_fields(path).splitlines():
        values = line.split("\t")
        if own and is_icmp(values[protocols]):
            values = [""] * len(values)
        elif own:
            values = [v.split(",")[-1] if FIELDS[i] in _ADDRESSES else v
                      for i, v in enumerate(values)]
        lines.append("\t".join(values[i] for i in columns))
    return "".join(f"{line}\n" for line in lines)
