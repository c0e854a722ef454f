"""The tcpdump test-suite corpus (tests/data/tcpdump-tests, 830 files): every file is
read without a crash or a hang, and its connections equal tshark's.

tshark is the oracle, as for the project's own captures: per tcp.stream (desegmentation
off) the first frame, the packet count and the sum of tcp.len must equal one connection's
first_frame, packets and payload bytes. Starting tshark costs ~0.3 s of CPU, 830 times
minutes, so the files are concatenated (mergecap -a) into one pcapng per core with a
marker frame between files; tshark reads those two in parallel. Files mergecap cannot
write (link types wiretap does not know), and the files of any tcp.stream that spans a
marker (a 4-tuple two files share), are read by tshark one at a time instead.

Where tshark is wrong (or its answer is not traffic), EXPECTED_DIFFERENCES says why.
"""

from __future__ import annotations

import collections
import signal
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tshark_fork

from flowcheck.connections import ConnectionTracker
from flowcheck.errors import InputError
from flowcheck.sources import iter_batches

CORPUS = Path(__file__).resolve().parent / "data" / "tcpdump-tests"
FILES = sorted(p for p in CORPUS.iterdir() if p.suffix in (".pcap", ".pcapng"))
GROUPS = 2  # one merged file per core
HANG_SECONDS = 30
MARKER_MAC = "02:46:4c:4f:57:43"  # locally administered, "\x02FLOWC"

# sFlow samples carry the first bytes of other packets: TCP tshark finds in them is a
# sample of traffic elsewhere, not traffic on this wire. flowcheck reads no sFlow.
SFLOW_SAMPLES = "sflow_expanded.pcap"

Counts = tuple[int, int, int]  # (first frame, packets, tcp.len sum)


@dataclass
class Theirs:
    streams: list[Counts] = field(default_factory=list)
    # Frames tshark 4.0 leaves undissected because a length field is 0 in a segmentation
    # offload super-frame: Linux BIG TCP over VXLAN/Geneve (the UDP length cannot hold
    # more than 64 KiB: 0, "Bad length value 0 < 8") and IPv6 BIG TCP without the jumbo
    # option (payload length 0, no hop-by-hop header since Linux 6.x). tcpdump 4.99 gives
    # up on them too, but the frames are whole TCP segments that the sending host put on
    # the wire in pieces of MSS bytes: flowcheck counts them from the frame's length, as
    # tshark does for IPv4's total length 0 (TSO) and the IPv6 jumbo option.
    offload_frames: set[int] = field(default_factory=set)


def _marker(path: Path) -> Path:
    """A one-packet pcap whose Ethernet source is MARKER_MAC."""
    mac = bytes.fromhex(MARKER_MAC.replace(":", ""))
    frame = b"\xff" * 6 + mac + b"\x88\xb5" + b"flowcheck corpus marker".ljust(46, b".")
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    record = struct.pack("<IIII", 0, 0, len(frame), len(frame))
    path.write_bytes(header + record + frame)
    return path


TSHARK_FIELDS = ("frame.number", "eth.src", "tcp.stream", "tcp.len", "icmp.type",
                 "icmpv6.type", "udp.length", "ipv6.plen")


def _tshark(path: Path) -> list[list[str]]:
    # A malformed file makes tshark exit non-zero after printing what it read: kept.
    # One tshark start a thread, forked for each file (tshark_fork: the same output),
    # each child without Wireshark's name files (OUIs, port names, enterprise numbers):
    # these numeric fields, names not resolved, are the same without them (every file of
    # the corpus, merged or alone, and test_tunnel_halves' files, when this was added).
    return tshark_fork.fields(path, "", *TSHARK_FIELDS, check=False, timeout=600,
                              options=("-o", "tcp.desegment_tcp_streams:FALSE"),
                              name_files=False)


def _parse(rows: list[list[str]], first_frame: int = 1) -> tuple[Theirs, set[int]]:
    """Per file's rows: its streams and offload frames, frame numbers made relative to
    `first_frame`; also the tshark stream ids seen."""
    theirs = Theirs()
    streams: dict[int, list[int]] = {}
    for frame, _mac, stream, length, icmp, icmp6, udp_length, plen in rows:
        number = int(frame) - first_frame + 1
        if not stream:
            if "0" in udp_length.split(",") or "0" in plen.split(","):
                theirs.offload_frames.add(number)
            continue
        if icmp or icmp6:
            continue  # an ICMP error quoting TCP: attached to a connection, not a packet
        # A TCP header inside another's payload (never in this corpus but for ICMP): the
        # innermost one is the packet's.
        counts = streams.setdefault(int(stream.split(",")[-1]), [number, 0, 0])
        counts[1] += 1
        counts[2] += int(length.split(",")[-1] or 0)  # no tcp.len on a first fragment
    theirs.streams = sorted(tuple(c) for c in streams.values())  # type: ignore[misc]
    return theirs, set(streams)


def _merged(paths: list[Path], marker: Path, work: Path) -> tuple[dict[Path, Theirs], list[Path]]:
    """tshark's answer per file from one merged run; and the files to read alone."""
    alone: list[Path] = []
    while paths:
        merged = work / f"merged-{paths[0].stem}.pcapng"
        inputs = [str(p) for path in paths for p in (path, marker)]
        run = subprocess.run(["mergecap", "-a", "-I", "none", "-F", "pcapng", "-w", str(merged),
                              *inputs], capture_output=True, text=True, timeout=600)
        if run.returncode == 0:
            break
        # mergecap names the file it cannot write (an unknown link type): read it alone.
        bad = next((p for p in paths if f'"{p}"' in run.stderr or f'"{p.name}"' in run.stderr),
                   None)
        if bad is None:
            return {}, alone + paths
        paths = [p for p in paths if p != bad]
        alone.append(bad)
    if not paths:
        return {}, alone
    per_file: list[list[list[str]]] = [[]]
    starts = [1]
    for row in _tshark(merged):
        if row[1] == MARKER_MAC:
            per_file.append([])
            starts.append(int(row[0]) + 1)
        else:
            per_file[-1].append(row)
    if len(per_file) != len(paths) + 1 or per_file[-1]:
        return {}, alone + paths  # the merge lost a file: trust nothing of it
    answers: dict[Path, Theirs] = {}
    owners: dict[int, list[Path]] = collections.defaultdict(list)
    for path, rows, start in zip(paths, per_file, starts, strict=False):
        answers[path], ids = _parse(rows, start)
        for stream in ids:
            owners[stream].append(path)
    # A 4-tuple two files share is one tcp.stream to tshark: read those files alone.
    shared = {path for files in owners.values() if len(files) > 1 for path in files}
    for path in shared:
        del answers[path]
    return answers, alone + sorted(shared)


def tshark_answers(work: Path) -> dict[Path, Theirs]:
    marker = _marker(work / "marker.pcap")
    groups = [FILES[i::GROUPS] for i in range(GROUPS)]
    answers: dict[Path, Theirs] = {}
    alone: list[Path] = []
    with ThreadPoolExecutor(GROUPS) as pool:
        for found, single in pool.map(lambda g: _merged(g, marker, work), groups):
            answers.update(found)
            alone += single
        for path, rows in zip(alone, pool.map(_tshark, alone), strict=True):
            answers[path] = _parse(rows)[0]
    return answers


class Hang(Exception):
    pass


def _alarm(signum, frame):  # noqa: ANN001, ANN202 - signal handler signature
    raise Hang


def ours(path: Path) -> list[Counts]:
    """flowcheck's connections as (first frame, packets, payload bytes); a hang raises."""
    tracker = ConnectionTracker()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_SECONDS)
    try:
        for batch in iter_batches([str(path)]):
            tracker.feed(batch)
    except InputError:
        pass  # a file flowcheck refuses with a one-line error: no connections, no crash
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return sorted((c.first_frame, c.orig_pkts + c.resp_pkts, c.orig_bytes + c.resp_bytes)
                  for c in tracker.finish())


def differences(mine: list[Counts], theirs: Theirs
                ) -> tuple[list[Counts], list[Counts], list[Counts]]:
    """(connections only flowcheck has, streams only tshark has, connections only
    flowcheck has that are made of offload frames tshark cannot read: expected)."""
    only_mine = sorted(set(mine) - set(theirs.streams))
    only_theirs = sorted(set(theirs.streams) - set(mine))
    offload = theirs.offload_frames
    excused = [c for c in only_mine if c[0] in offload and c[1] <= len(offload)]
    return [c for c in only_mine if c not in excused], only_theirs, excused


@dataclass
class Comparison:
    crashed: list[str] = field(default_factory=list)
    disagree: dict[str, tuple[list[Counts], list[Counts]]] = field(default_factory=dict)
    excused: dict[str, list[Counts]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> Comparison:
    answers = tshark_answers(tmp_path_factory.mktemp("corpus"))
    assert set(answers) == set(FILES)
    result = Comparison()
    for path in FILES:
        try:
            mine = ours(path)
        except Exception as error:  # noqa: BLE001 - every crash and hang is the finding
            result.crashed.append(f"{path.name}: {type(error).__name__}: {error}")
            continue
        only_mine, only_theirs, excused = differences(mine, answers[path])
        if only_mine or only_theirs:
            result.disagree[path.name] = (only_mine, only_theirs)
        if excused:
            result.excused[path.name] = excused
    return result


def test_the_corpus_is_there() -> None:
    assert len(FILES) == 830
    assert (CORPUS / "README.md").is_file() and (CORPUS / "LICENSE").is_file()


def test_every_file_is_read_and_its_connections_equal_tsharks(comparison: Comparison) -> None:
    assert comparison.crashed == []
    disagree = dict(comparison.disagree)
    # The sampled TCP header is there, tshark counts it; flowcheck does not read sFlow.
    assert disagree.pop(SFLOW_SAMPLES) == ([], [(1, 1, 0)])
    assert disagree == {}


def test_offload_super_frames_are_read_where_tshark_gives_up(comparison: Comparison) -> None:
    """The exception above is taken by kind; here is all it may cover, so that it cannot
    silently grow (a tshark that reads these frames leaves less to excuse). Each is one
    super-frame of a bulk transfer (netperf): 80000 bytes of TCP payload as the sender
    handed them to the NIC (fewer when the send ended)."""
    assert set(comparison.excused) <= {
        "bigtcp-ipv6.pcap",
        *(f"bigtcp-ipv{outer}-{tunnel}-ipv{inner}.pcap" for outer in (4, 6)
          for tunnel in ("geneve", "vxlan") for inner in (4, 6))}
    # Whatever tshark reads, flowcheck reads them.
    assert ours(CORPUS / "bigtcp-ipv4-vxlan-ipv4.pcap") == [(1, 1, 80000)]
    assert ours(CORPUS / "bigtcp-ipv6-geneve-ipv6.pcap") == [(1, 1, 80000)]
    assert ours(CORPUS / "bigtcp-ipv6.pcap") == [(1, 1, 79968)]
    assert all(len(found) == 1 and found[0][2] >= 79924
               for found in comparison.excused.values())
