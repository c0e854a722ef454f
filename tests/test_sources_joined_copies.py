"""Capture files joined with `cat` read as the same files appended by `mergecap -a`
(flowcheck.sources.joined_chunks).

A new user joined a capture with itself by `cat`: it read FAIL (control_stalled twice,
3 of 11,276 packets copies) where the same files appended by mergecap read PASS with
5,638 copies. The joined file's second header ended a read chunk there, and the copies
(at the times of their originals, a file's length back) were lost across that batch
boundary. The files are joined here at test time, with cat (bytes one after the other,
as `cat` writes them) and with mergecap -a, and both readings compared.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.json_doc import analysis_document
from flowcheck.sources import iter_batches
from flowcheck.sources.readahead import Reads

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
JOB = CAPTURES / "ndmjob" / "v4-three-resources.pcap"  # 5,638 packets, a clean job
RING = CAPTURES / "lab-ring"


def cat(out: Path, *parts: Path) -> Path:
    with out.open("wb") as sink:
        subprocess.run(["cat", *map(str, parts)], stdout=sink, check=True)
    return out


def mergecap(out: Path, *parts: Path, pcapng: bool = False) -> Path:
    # A pcap file's packets on the pcapng file's interface (mergecap's default -I all).
    kind = ["-F", "pcapng" if pcapng else "pcap"]
    subprocess.run(["mergecap", "-a", *kind, "-w", str(out), *map(str, parts)], check=True)
    return out


def as_pcapng(tmp_path: Path) -> Path:
    out = tmp_path / "job.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(JOB), str(out)], check=True)
    return out


def gzipped(tmp_path: Path) -> Path:
    out = tmp_path / "job.pcap.gz"
    out.write_bytes(gzip.compress(JOB.read_bytes()))
    return out


def document(path: Path, config_file: Path) -> dict:
    """The analysis as `analyze --format json` gives it, without the file's own
    description (name, size, format)."""
    config = build_config(load_file(config_file))
    result: Analysis = analyze(read_traffic([str(path)], config), config)
    doc = json.loads(json.dumps(analysis_document(result), default=str))
    for name in ("captures", "capture_summary", "flowcheck", "config"):
        doc.pop(name, None)
    return doc


def duplicates(doc: dict) -> str:
    """capture_duplicates' count: "N of the M TCP packets" (compared)."""
    return next(f["message"].split(" compared")[0] for f in doc["findings"]
                if f["code"] == "capture_duplicates")


def test_a_file_joined_after_another_goes_on_in_the_same_chunk(tmp_path: Path) -> None:
    """The records of both files are handed on as the appended file's are: one batch
    (the two files are below a chunk), the same times, frames and packet bytes."""
    joined = cat(tmp_path / "two.pcap", JOB, JOB)
    appended = mergecap(tmp_path / "two-ap.pcap", JOB, JOB)
    read = [list(iter_batches([str(path)])) for path in (joined, appended)]
    assert [len(batch) for batch in read[0]] == [len(batch) for batch in read[1]] == [11276]
    ours, theirs = read[0][0], read[1][0]
    assert np.array_equal(ours.ts, theirs.ts) and np.array_equal(ours.caplen, theirs.caplen)
    assert ours.frame0 == theirs.frame0 == 1 and ours.frames is None
    assert all(bytes(ours.buf[a:a + n]) == bytes(theirs.buf[b:b + n]) for a, b, n in zip(
        ours.data_off.tolist(), theirs.data_off.tolist(), ours.caplen.tolist(), strict=True))


@pytest.mark.parametrize("build", ["pcap+pcap", "pcap+pcapng", "pcapng+pcap", "gz+gz"])
def test_a_capture_joined_with_itself_shows_its_copies(tmp_path: Path, build: str) -> None:
    """cat X X reads as mergecap -a X X: PASS, every packet of the second copy a capture
    copy (not a retransmission: no control_stalled), the same findings and sessions."""
    pcapng = as_pcapng(tmp_path) if "pcapng" in build else None
    first, second = {
        "pcap+pcap": (JOB, JOB), "pcap+pcapng": (JOB, pcapng),
        "pcapng+pcap": (pcapng, JOB), "gz+gz": (gzipped(tmp_path),) * 2}[build]
    joined = cat(tmp_path / "joined", first, second)
    appended = mergecap(tmp_path / "appended", first, second, pcapng=pcapng is not None)
    config = CAPTURES / "ndmjob" / "flowcheck.toml"
    ours, theirs = document(joined, config), document(appended, config)
    assert ours["verdict"] == theirs["verdict"] == "pass"
    assert duplicates(ours) == duplicates(theirs) == "5,638 of the 11,276 TCP packets"
    assert ours == theirs


def test_ring_parts_joined_out_of_order_read_as_appended(tmp_path: Path) -> None:
    """A ring's parts joined out of order (the last first) read as mergecap -a joins
    them, no bytes missed (no capture_loss): both as the ring's parts merged by time
    (connections.joined_order: the control connection's SYN, in the part written
    last, continues the connection the first part holds mid-session), PASS as the
    ring's files given apart, not INCONCLUSIVE with a second session and
    port_reused_within_hold (newuser58)."""
    parts = [RING / f"ring.pcap{n}" for n in (2, 0, 1)]
    joined = cat(tmp_path / "ring-out.pcap", *parts)
    appended = mergecap(tmp_path / "ring-out-ap.pcap", *parts)
    ours = document(joined, RING / "flowcheck.toml")
    theirs = document(appended, RING / "flowcheck.toml")
    codes = {f["code"] for f in ours["findings"]}
    assert "capture_loss" not in codes and "port_reused_within_hold" not in codes
    assert ours["verdict"] == "pass" and len(ours["sessions"]) == 1
    (said,) = [f for f in ours["findings"] if f["code"] == "capture_clock_stepped"]
    assert "joined out of time order, not a clock set back" in said["message"]
    assert ours == theirs


def small_files(tmp_path: Path) -> Path:
    """The job's 5,638 packets as 282 pcap files of 20 (a ring of small parts), joined."""
    subprocess.run(["editcap", "-F", "pcap", "-c", "20", str(JOB), str(tmp_path / "p.pcap")],
                   check=True)
    parts = sorted(tmp_path.glob("p_*.pcap"))
    assert len(parts) == 282
    return cat(tmp_path / "joined.pcap", *parts)


def test_many_small_files_joined_hold_their_bytes_alone(tmp_path: Path) -> None:
    """Read in 1 MiB chunks, the files held for the next one's chunk keep their own
    bytes, not each its read buffer (which may hold the files after it too: 256 MiB at
    the peak where they did)."""
    joined = small_files(tmp_path)
    tracemalloc.start()
    try:
        packets = sum(len(batch) for batch in iter_batches([str(joined)], chunk_size=1 << 20))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert packets == 5638
    assert peak < 64 << 20, peak


def test_the_rest_of_a_buffer_after_a_joined_header_is_read_in_place(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bytes after a joined file's header are parsed where they were read, not
    copied into a new read at each file (a new buffer with the rest of the last: 940 MB
    carried for the 6.5 MB in 1 MiB chunks; 14 s for 1,410 such files of 33 MB read in
    16 MiB chunks, 0.7 s appended by mergecap)."""
    joined = small_files(tmp_path)
    carried: list[int] = []
    allocate = Reads._allocate

    def counted(self: Reads, carry: bytes, missing: int, chunk_size: int) -> object:
        carried.append(len(carry))
        return allocate(self, carry, missing, chunk_size)

    monkeypatch.setattr(Reads, "_allocate", counted)
    packets = sum(len(batch) for batch in iter_batches([str(joined)], chunk_size=1 << 20))
    assert packets == 5638
    assert sum(carried) < joined.stat().st_size // 8, (len(carried), sum(carried))
