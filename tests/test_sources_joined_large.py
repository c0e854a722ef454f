"""Captures joined end to end past a read chunk read as the same join read in one
(flowcheck.connections.replays).

Five copies of a clean job joined with `cat` (33 MB, above the 16 MiB read chunk) or
appended by `mergecap -a` read FAIL (control_stalled twice): the copies of a packet
were a whole capture back in capture order, past what copies.py keeps across a batch
boundary, and were taken for packets sent again; two copies (one chunk) read PASS with
every packet of the second a copy. The joins are built here from the stored capture
with cat and mergecap; the reference is the same join read in one chunk.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.connections import track_connections
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.json_doc import analysis_document

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
JOB = CAPTURES / "ndmjob" / "v4-three-resources.pcap"  # 5,638 packets, 9.3 s, a clean job
CONFIG = CAPTURES / "ndmjob" / "flowcheck.toml"
JOINED_CODES = {"capture_clock_stepped", "capture_duplicates"}  # what a join adds


def join(out: Path, how: str, parts: list[Path]) -> Path:
    if how == "cat":
        with out.open("wb") as sink:
            subprocess.run(["cat", *map(str, parts)], stdout=sink, check=True)
    else:
        subprocess.run(["mergecap", "-a", "-F", "pcap", "-w", str(out), *map(str, parts)],
                       check=True)
    return out


def document(path: Path, monkeypatch: pytest.MonkeyPatch, chunk_size: int | None = None,
             config_file: Path = CONFIG) -> dict:
    """`analyze --format json` of path (its file description left out), read in chunks
    of chunk_size bytes (None: the reader's default)."""
    if chunk_size is not None:
        monkeypatch.setitem(track_connections.__kwdefaults__, "chunk_size", chunk_size)
    try:
        config = build_config(load_file(config_file))
        result: Analysis = analyze(read_traffic([str(path)], config), config)
    finally:
        monkeypatch.undo()
    doc = json.loads(json.dumps(analysis_document(result), default=str))
    for name in ("captures", "capture_summary", "flowcheck", "config"):
        doc.pop(name, None)
    return doc


def codes(doc: dict) -> list[str]:
    return sorted(finding["code"] for finding in doc["findings"])


def steps(doc: dict) -> list[list[tuple[int, str]]]:
    """Each session's steps and their status."""
    return [[(step["step"], step["status"]) for step in session["steps"]]
            for session in doc["sessions"]]


def duplicates(doc: dict) -> str:
    """capture_duplicates' count: "N of the M TCP packets" (compared)."""
    return next(f["message"].split(" compared")[0] for f in doc["findings"]
                if f["code"] == "capture_duplicates")


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> dict:
    with pytest.MonkeyPatch.context() as monkeypatch:
        return document(JOB, monkeypatch)


@pytest.mark.parametrize("how", ["cat", "mergecap"])
def test_five_copies_joined_read_as_one_chunk(tmp_path: Path, how: str, single: dict,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """cat X X X X X (33 MB, read in 16 MiB chunks) reads PASS as the single file, every
    packet of copies 2-5 a capture copy, the same document as the join read in one
    64 MiB chunk."""
    joined = join(tmp_path / "five.pcap", how, [JOB] * 5)
    assert joined.stat().st_size > 16 << 20
    ours = document(joined, monkeypatch)
    assert ours["verdict"] == single["verdict"] == "pass"
    assert codes(ours) == sorted(codes(single) + sorted(JOINED_CODES))
    assert duplicates(ours) == "22,552 of the 28,190 TCP packets"
    assert steps(ours) == steps(single)
    assert ours == document(joined, monkeypatch, 64 << 20)


# Two cuts of the job (editcap -r: records 1-4000, 2001-5638): the second starts 3.1 s
# before the first ends, its first 2,000 packets the first's last 2,000 captured again.
CUTS = {"later": ("1-3000", "3001-5638"), "overlapping": ("1-4000", "2001-5638"),
        "inside": ("1-5638", "1500-3500")}


@pytest.mark.parametrize("how", ["cat", "mergecap"])
@pytest.mark.parametrize("cut", list(CUTS))
def test_successive_captures_joined_read_as_one_chunk(
        tmp_path: Path, how: str, cut: str, single: dict,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two captures of the same job joined, the second going on after the first
    (later), starting before the first ended (overlapping) or within it (inside),
    read in 256 KiB chunks as in one chunk and as the single file: its verdict and
    sessions, and its findings with those the join adds."""
    parts = []
    for n, records in enumerate(CUTS[cut]):
        part = tmp_path / f"part{n}.pcap"
        subprocess.run(["editcap", "-F", "pcap", "-r", str(JOB), str(part), records],
                       check=True)
        parts.append(part)
    joined = join(tmp_path / "joined.pcap", how, parts)
    ours = document(joined, monkeypatch, 256 << 10)
    assert ours == document(joined, monkeypatch, 64 << 20)
    assert ours["verdict"] == single["verdict"]
    assert steps(ours) == steps(single)
    expected = set() if cut == "later" else JOINED_CODES
    assert codes(ours) == sorted(codes(single) + sorted(expected))
    if cut != "later":
        assert duplicates(ours) == {"overlapping": "2,000 of the 7,638 TCP packets",
                                    "inside": "2,001 of the 7,639 TCP packets"}[cut]


def test_resends_after_a_clock_set_back_stay_resends(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A capture whose clock was set back 20 s halfway (editcap -t on its second half):
    the control connection's resends after the step, stamped within moments its
    direction was captured in and carrying old sequence numbers, carry their sender's
    next IP IDs: no copies, read in 512-byte chunks as in one chunk (11 resends, as
    the capture without the step; taken for copies, 3 were lost)."""
    stored = CAPTURES / "trial37-impairments"
    job = stored / "data-acks-lost-agent.pcap"  # 56 packets, control resends, FAIL
    parts = []
    for n, (records, shift) in enumerate((("1-28", "0"), ("29-56", "-20"))):
        part = tmp_path / f"part{n}.pcap"
        subprocess.run(["editcap", "-F", "pcap", "-t", shift, "-r", str(job), str(part),
                        records], check=True)
        parts.append(part)
    stepped = join(tmp_path / "stepped.pcap", "cat", parts)
    config = stored / "flowcheck.toml"
    ours = document(stepped, monkeypatch, 512, config)
    assert ours == document(stepped, monkeypatch, 64 << 20, config)
    assert "capture_duplicates" not in codes(ours)
    assert "capture_clock_stepped" in codes(ours)
    whole = document(job, monkeypatch, None, config)
    assert [c["retransmits"] for c in ours["connections"]] == [
        c["retransmits"] for c in whole["connections"]] == [11, 0, 0]
    assert ours["verdict"] == whole["verdict"] == "fail"


@pytest.mark.parametrize("how", ["cat", "mergecap"])
def test_a_part_joined_last_that_fills_a_hole_holds_no_copies(
        tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three cuts of the job joined out of order (records 1-3893, 3904-5638, then
    3894-3903: a ring's parts so joined): the last part's control messages (4.1-4.2 s)
    lie between the control connection's packets of the other two (3.1 s and 6.2 s),
    with sequence numbers and IP IDs between theirs, in the 3 s the connection was not
    captured in: packets the capture lacked, not copies; read in 256 KiB chunks as in
    one chunk, which finds no equal packet: the same verdict, findings and packets
    (the connection's duration is not compared: a stretch behind the time reached moves
    no end across a batch boundary, as before)."""
    parts = []
    for n, records in enumerate(("1-3893", "3904-5638", "3894-3903")):
        part = tmp_path / f"part{n}.pcap"
        subprocess.run(["editcap", "-F", "pcap", "-r", str(JOB), str(part), records],
                       check=True)
        parts.append(part)
    joined = join(tmp_path / "joined.pcap", how, parts)
    ours = document(joined, monkeypatch, 256 << 10)
    theirs = document(joined, monkeypatch, 64 << 20)
    assert "capture_duplicates" not in codes(ours)
    assert codes(ours) == codes(theirs) and ours["verdict"] == theirs["verdict"]
    assert steps(ours) == steps(theirs)
    counted = ("uid", "orig_pkts", "resp_pkts", "retransmits", "history", "gaps")
    assert [[c[name] for name in counted] for c in ours["connections"]] == [
        [c[name] for name in counted] for c in theirs["connections"]]


@pytest.mark.parametrize("how", ["cat", "mergecap"])
def test_copies_of_a_join_are_said_to_be_a_join(tmp_path: Path, how: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The job joined with itself, read in one chunk (copies.py finds each copy beside
    its original, stamped alike) and in 256 KiB chunks (connections.replays): the
    capture_duplicates message says every copy is of a packet captured earlier in the
    file, before the capture's clock stepped back (a capture joined with itself), not
    of one captured just before it (a SPAN session's)."""
    joined = join(tmp_path / "two.pcap", how, [JOB, JOB])
    for chunk_size in (None, 256 << 10):
        doc = document(joined, monkeypatch, chunk_size)
        message = next(f["message"] for f in doc["findings"]
                       if f["code"] == "capture_duplicates")
        assert message.startswith(
            "5,638 of the 11,276 TCP packets compared are copies of a packet captured "
            "earlier in the file, before the capture's clock stepped back")
        assert "a capture joined with itself" in message
        assert "just before them" not in message


@pytest.mark.parametrize("chunk_size", [None, 4096])
def test_a_join_of_a_capture_holding_copies_says_which_are_the_join_s(
        tmp_path: Path, chunk_size: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """tcpdump -i any across a bridge (81 of its 162 packets the bridge's copies) joined
    with itself, read in one chunk and in 4 KiB chunks: the message keeps the bridge's
    words ("captured just before them") and says how many copies are the join's: every
    copy in the second part (its packets and the bridge's copies of them), none of the
    first part's 81."""
    stored = CAPTURES / "trial35-bridge"
    joined = join(tmp_path / "two.pcap", "cat", [stored / "data-unanswered-bridge-any.pcap"] * 2)
    doc = document(joined, monkeypatch, chunk_size, stored / "data-unanswered-bridge-any.toml")
    message = next(f["message"] for f in doc["findings"] if f["code"] == "capture_duplicates")
    count = int(duplicates(doc).split(" of ")[0])
    assert ("of the 324 TCP packets compared are copies of a packet captured just before them"
            in message)
    assert message.endswith(
        f". {count - 81} of them are copies of packets captured earlier in the file, before "
        "the capture's clock stepped back: a capture joined with itself, or two captures of "
        "the same moments joined end to end (`cat`, `mergecap -a`): after the first part the "
        "time goes back to moments already captured and the same packets come again.")


def test_a_reused_4_tuple_s_copies_read_in_chunks_as_in_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bridge capture joined with itself holds a 4-tuple reused by a second
    connection (trial 35: the media server's next attempt, another ISN and its IP IDs
    from 0xa851, below the first's 0xb45b): read in 4 KiB chunks, the second part's
    copies of both connections' SYNs are replayed copies, as in one chunk (243 of 324;
    the first connection's numbers alone left 4 of them for SYN retries)."""
    stored = CAPTURES / "trial35-bridge"
    joined = join(tmp_path / "two.pcap", "cat", [stored / "data-unanswered-bridge-any.pcap"] * 2)
    config = stored / "data-unanswered-bridge-any.toml"
    chunked = document(joined, monkeypatch, 4096, config)
    whole = document(joined, monkeypatch, None, config)
    assert duplicates(chunked) == duplicates(whole) == "243 of the 324 TCP packets"
    assert [c["history"] for c in chunked["connections"]] == [
        c["history"] for c in whole["connections"]]
