"""tshark's per-packet TCP and NDMP fields of a capture, for the tests that compare
flowcheck's connection counts with Wireshark's (test_tshark_counts, test_connections_unacked,
test_connections_acked_unseen, test_connections_fills) and its NDMP messages
(test_ndmp_tshark).

One tshark run per capture reads every field they use, kept on disk by the capture's
path, size and mtime, tshark's version and the run's options, so that the five tests,
whichever xdist worker runs them, read each capture once instead of five times. Each
worker starts tshark once (about 0.3 s of CPU a start, most of it tshark registering
its dissectors) and forks it for each capture (tshark_fork: the same rows as a tshark
started for the capture alone; a tshark a capture where no C compiler builds it), each
child without Wireshark's name files (OUIs, port names, enterprise numbers: about 40% of
a child's CPU on the stored captures, parsed again by each), which the run's numeric
fields, names not resolved (-n), never show: the same rows byte for byte on every stored
capture, both reassembly options, when this was added. (sharkd,
one process loading capture after capture, was measured instead and is not used: it
dissects twice, as tshark -2, and 15 stored captures then differ, the NDMP messages
before a TLS upgrade decoded as TLS among them.) TCP desegmentation
is on, as NDMP's messages need: a frame's own TCP fields (stream, addresses, ports,
flags, tcp.len, sequence numbers, tcp.analysis.retransmission) are the same with it off,
and with out-of-order reassembly on or off, on every stored capture (checked on all of
them when this run was shared; tests/test_tshark_shared_run.py keeps checking the
captures with holes, reordering, tunnels and ICMP quotes).

A lock file per capture keeps a worker from starting tshark on a capture the other is
running it on: both workers walk the stored captures in the same order (say
test_connections_acked_unseen on one, test_connections_fills on the other), so without
it they ran tshark side by side on each capture, each paying every start (CI's two
workers: about 160 s of the suite's test time). The worker that finds the lock taken
runs tshark on the next stored capture not yet kept instead of waiting idle (waiting
made the two workers take turns: the tshark tests alone, cold, 129 -> 73 s).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import subprocess
from collections.abc import Iterator, Sequence
from operator import itemgetter
from pathlib import Path

import tshark_fork

FIELDS = ("tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst",
          "tcp.dstport", "tcp.flags", "tcp.len", "tcp.seq_raw", "tcp.ack_raw",
          "tcp.analysis.retransmission", "frame.protocols", "ndmp.sequence", "ndmp.msg",
          "ndmp.msg_type", "ndmp.reply_sequence", "ndmp.error", "ndmp.addr.ip",
          "ndmp.addr.tcp_port")
# The stored captures, in the order the tests walk them (test_tshark_counts.CAPTURES).
STORED = sorted(p for p in (Path(__file__).resolve().parent.parent / "captures").rglob("*")
                if p.is_file() and p.name.endswith((".pcap", ".pcapng", ".pcap.gz",
                                                    ".pcapng.gz")))
CACHE = tshark_fork.CACHE  # the kept rows beside the compiled library


@functools.cache
def _version() -> str:
    return subprocess.run(["tshark", "--version"], capture_output=True, text=True,
                          check=True).stdout.splitlines()[0]


def command(path: Path, fields: Sequence[str], out_of_order: bool = True) -> list[str]:
    """The shared run's tshark command line for `fields`: TCP desegmentation on (NDMP
    messages over several segments), X11 off (its heuristics on ports 6000-6063 take the
    lab's data connections), each field's occurrences joined by commas."""
    args = ["tshark", "-n", "-r", str(path), "-o", "tcp.desegment_tcp_streams:TRUE",
            "-o", f"tcp.reassemble_out_of_order:{'TRUE' if out_of_order else 'FALSE'}",
            "--disable-protocol", "x11", "-T", "fields", "-E", "occurrence=a",
            "-E", "aggregator=,"]
    for name in fields:
        args += ["-e", name]
    return args


def _kept(path: Path, run: list[str]) -> Path:
    """Where the output of `run` on path is kept."""
    stat = path.stat()
    return CACHE / hashlib.sha256(repr((str(path.resolve()), stat.st_size, stat.st_mtime_ns,
                                        _version(), run[4:])).encode()).hexdigest()


def _fill(path: Path, out_of_order: bool, *, wait: bool) -> str | None:
    """The shared run's output for path, from the cache or from tshark (then kept).
    None when another worker holds the capture's lock and `wait` is False."""
    run = command(path, FIELDS, out_of_order)
    kept = _kept(path, run)
    if kept.exists():
        return kept.read_text(encoding="utf-8")
    CACHE.mkdir(exist_ok=True)
    with kept.with_suffix(".lock").open("a") as lock:
        try:  # released when closed, or when the worker dies
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return None
        if kept.exists():  # the other worker ran tshark before this one had the lock
            return kept.read_text(encoding="utf-8")
        partial = kept.with_suffix(f".{os.getpid()}")  # whole or not at all: readers skip the lock
        try:
            _tshark(run, path, partial)
            out = partial.read_text(encoding="utf-8")
            partial.replace(kept)
        finally:
            partial.unlink(missing_ok=True)  # tshark failed: nothing half-written kept
    return out


# This worker's fork servers (tshark_fork), by command line without its capture; None:
# the server gave no answer once, tshark is started for each capture instead.
_SERVERS: dict[tuple[str, ...], tshark_fork.Server | None] = {}


def _tshark(run: list[str], path: Path, out: Path) -> None:
    """Write tshark's output for `run` (the command line of `command`, capture `path`) to
    the file `out`: by this worker's fork server for run's options, started on the first
    capture asked for (one tshark start a worker instead of one a capture), or by a tshark
    of its own where there is no server or the forked one fails (its errors then name the
    capture). subprocess.CalledProcessError as before when tshark fails."""
    key = (*run[:3], *run[4:])
    preload = tshark_fork.library(CACHE)
    if preload is not None and _SERVERS.get(key, True) is not None:
        if key not in _SERVERS:
            _SERVERS[key] = tshark_fork.Server(run, preload, names=False)
        server = _SERVERS[key]
        assert server is not None
        errors = out.with_name(out.name + ".err")
        try:
            status = server.run(path, out, errors)
        except tshark_fork.Gone:
            server.close()
            _SERVERS[key] = None
            status = None
        errors.unlink(missing_ok=True)
        if status == 0:
            return
    with out.open("w", encoding="utf-8") as output:
        output.write(subprocess.run(run, capture_output=True, text=True, check=True).stdout)


def _run_one_ahead(path: Path) -> bool:
    """Run tshark on the first stored capture after path (in the order the tests walk
    them) that is neither kept nor being run by the other worker. False: none left."""
    if path not in STORED:
        return False
    for later in STORED[STORED.index(path) + 1:]:
        if (not _kept(later, command(later, FIELDS)).exists()
                and _fill(later, True, wait=False) is not None):
            return True
    return False


def _all_fields(path: Path, out_of_order: bool) -> str:
    out = _fill(path, out_of_order, wait=False)
    while out is None:
        # The other worker runs tshark on this capture: rather than wait idle, take a
        # later one (both walk the stored captures in the same order, so it is needed
        # soon), then look again; wait once nothing is left to take.
        ahead = _run_one_ahead(path)
        out = _fill(path, out_of_order, wait=not ahead)
    return out


def is_icmp(protocols: str) -> bool:
    """Whether a frame.protocols value ("eth:ethertype:ip:icmp:ip:tcp") is an ICMP
    message (one quoting TCP shows the quote's tcp fields too). A tunnelled packet's
    ip.src lists the outer addresses before the inner one, as an ICMP quote's does: the
    protocols tell them apart."""
    # The substring first: most frames are not ICMP, and the set of names is most of
    # tcp_fields' time on every stored capture.
    return "icmp" in protocols and bool({"icmp", "icmpv6"} & set(protocols.split(":")))


_ADDRESSES = ("ip.src", "ip.dst", "ipv6.src", "ipv6.dst")


def tcp_fields(path: Path, fields: Sequence[str], *, own: bool = False,
               out_of_order: bool = True) -> str:
    """What tshark prints for `fields` (each one of FIELDS) with `command`'s options: a
    line per frame, tab-separated. own: each frame as its TCP connection's own packet:
    an ICMP error quoting TCP (not a packet of the connection) prints empty fields, and
    a tunnelled packet's addresses are the inner ones (tshark lists the outer ones
    first). out_of_order: tshark's tcp.reassemble_out_of_order (only NDMP's messages
    depend on it; a capture whose holes stay open decodes more without it:
    test_ndmp_tshark)."""
    if not fields:
        return "\n" * len(_all_fields(path, out_of_order).splitlines())
    return "".join("\t".join(values) + "\n"
                   for values in _rows(path, fields, own, out_of_order))


def own_rows(path: Path, fields: Sequence[str]) -> list[list[str]]:
    """tcp_fields(path, fields, own=True) split into rows of values (one list a frame, a
    value a field), made without joining and splitting each line again and without
    touching the fields not asked for: the tests that hold every stored capture to
    tshark (test_connections_unacked, _acked_unseen, _fills) spent most of their time
    in tcp_fields' own=True pass over all of FIELDS."""
    return list(_rows(path, fields, True, True))


def _rows(path: Path, fields: Sequence[str], own: bool, out_of_order: bool
          ) -> Iterator[list[str]]:
    """tcp_fields' frames as lists of the values of `fields` (at least one), each a
    frame's own (tcp_fields' `own`) when own."""
    columns = [FIELDS.index(name) for name in fields]
    # The protocols, then the asked columns (a tuple even for one column); only the asked
    # address columns are made a frame's own.
    pick = itemgetter(FIELDS.index("frame.protocols"), *columns)
    addresses = [k for k, i in enumerate(columns) if FIELDS[i] in _ADDRESSES]
    for line in _all_fields(path, out_of_order).splitlines():
        protocols, *values = pick(line.split("\t"))
        if own:
            if is_icmp(protocols):
                yield [""] * len(columns)  # an ICMP error's line: every field empty
                continue
            for k in addresses:
                values[k] = values[k].rpartition(",")[2]  # the last occurrence, the inner
        yield values
