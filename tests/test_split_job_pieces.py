"""One job's capture cut into files is one piece, not a set of captures (review58f).

mergedone split a capture set wherever no file covers the time between two files
(sources.pieces), but every file of a capture cut by a tool flowcheck does not name as
a ring or a rotation (`tcpdump -C 100 -w trace`: trace, trace1; a -G rotation of two
files; editcap -r) ends a few microseconds before the next one starts: ndmjob's v4
backup cut after its control connection's 11th packet read FAIL no_control_session "No
NDMP control connection in the file second.pcap of the capture set: none of the 1 TCP
connections goes to the NDMP port 10000" (its data connection), PASS before mergedone.
A connection with packets on both sides of the time between files makes them one piece.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from pcap_records import moved_back, stored_records, write_records
from stored import CAPTURES

from flowcheck.config import build_config, load_file
from flowcheck.model import CaptureInfo, Connection, RingGap
from flowcheck.pipeline import analyze, read_traffic
from flowcheck.sources.pieces import set_pieces

NDMJOB = CAPTURES / "ndmjob"


def _conn(first: float, last: float) -> Connection:
    """A stand-in with the two times set_pieces reads (ts, last_ts: seconds)."""
    return cast(Connection, SimpleNamespace(ts=first, last_ts=last))


def test_a_connection_across_the_time_between_files_joins_them() -> None:
    """Three files with two gaps: a connection from the first file into the second joins
    those two; the third, which no connection reaches, stays its own piece. A connection
    that ends at the first gap's start, or starts at its end, joins nothing."""
    infos = [CaptureInfo("/x/a", span=(0.0, 10.0)), CaptureInfo("/x/a1", span=(10.5, 20.0)),
             CaptureInfo("/x/a2", span=(900.0, 950.0))]
    gaps = [RingGap("a", "a1", 10.0, 10.5, ring=False),
            RingGap("a1", "a2", 20.0, 900.0, ring=False)]
    assert len(set_pieces(infos, gaps, [_conn(0.0, 10.0), _conn(10.5, 20.0)])) == 3
    pieces = set_pieces(infos, gaps, [_conn(0.0, 10.0), _conn(10.0, 10.5), _conn(930.0, 940.0)])
    assert len(pieces) == 2 and pieces.start(1) == 900.0 and pieces.end(0) == 20.0
    assert pieces.words(0) == "the files a and a1 of the capture set"
    assert len(set_pieces(infos, gaps, [_conn(5.0, 920.0)])) == 1


@pytest.mark.skipif(shutil.which("editcap") is None, reason="needs editcap (wireshark)")
@pytest.mark.parametrize("names", [("first.pcap", "second.pcap"), ("trace", "trace1")])
def test_a_job_cut_into_two_files_reads_as_it_reads_whole(
        tmp_path: Path, names: tuple[str, str]) -> None:
    """ndmjob's v4 backup cut by editcap after frame 11 (the control connection's
    DATA_CONNECT; the data connection opens in the second file, the control connection
    goes on in it): PASS, its four steps ok, no finding, as the one file reads."""
    whole = NDMJOB / "v4-backup.pcap"
    first, second = (str(tmp_path / name) for name in names)
    subprocess.run(["editcap", "-r", str(whole), first, "1-11"], check=True)
    subprocess.run(["editcap", "-r", str(whole), second, "12-2163"], check=True)
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    alone = analyze(read_traffic([str(whole)], config), config)
    cut = analyze(read_traffic([first, second], config), config)
    assert alone.verdict == "pass" and not alone.findings
    assert [(f.code, f.message) for f in cut.findings] == []
    assert cut.verdict == "pass"
    assert [s.status for s in cut.sessions[0].steps] == ["ok"] * 4


@pytest.mark.skipif(shutil.which("editcap") is None or shutil.which("tshark") is None,
                    reason="needs editcap and tshark (wireshark)")
def test_a_piece_holding_a_sessions_data_connection_holds_that_session(tmp_path: Path) -> None:
    """The sniffer restarted an hour on: the v4 backup's control connection up to its
    DATA_CONNECT (frames 1-11) in one file, its data connection alone in a file an hour
    later; no connection crosses the hour, so the files are two pieces. Step 3 takes the
    data connection as the job's: the later file holds the job, no no_control_session
    ("none of the 1 TCP connections goes to the NDMP port 10000") there."""
    whole = str(NDMJOB / "v4-backup.pcap")
    first, data, later = (str(tmp_path / n) for n in ("first.pcap", "data.pcap", "later.pcap"))
    subprocess.run(["editcap", "-r", whole, first, "1-11"], check=True)
    subprocess.run(["tshark", "-r", whole, "-Y", "tcp.stream == 1", "-w", data], check=True,
                   capture_output=True)
    subprocess.run(["editcap", "-t", "3600", data, later], check=True)
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    cut = analyze(read_traffic([first, later], config), config)
    assert [f.message for f in cut.findings if f.code == "no_control_session"] == []
    [session] = cut.sessions
    assert [s.status for s in session.steps] == ["ok"] * 4
    assert cut.verdict == "pass"


def _late_data(path: Path) -> Path:
    """v4-backup's data connection (frames 12-2163's, agent port 6015) from frame 20 on,
    its opening left out, the agent port made 6016 and a day later: a capture started
    during a backup's data transfer, its control connection idle (verify.late_start)."""
    linktype, records = stored_records(NDMJOB / "v4-backup.pcap")
    late = []
    for record in records[19:]:
        frame = record.data
        ihl = (frame[14] & 0x0F) * 4
        ports = frame[14 + ihl:18 + ihl]
        if b"\x17\x7f" not in (ports[:2], ports[2:]):  # 6015: the data connection's
            continue
        ports = ports.replace(b"\x17\x7f", b"\x17\x80")
        late.append(replace(record, data=frame[:14 + ihl] + ports + frame[18 + ihl:]))
    return write_records(path, linktype, moved_back(late, 0, -86_400_000_000))


def test_a_piece_started_during_a_transfer_reads_the_late_start_as_alone(
        tmp_path: Path) -> None:
    """That late capture alone: no_control_session's late-start warning, INCONCLUSIVE.
    Given after the v4 backup a day earlier it read FAIL "No NDMP control connection in
    the file late.pcap of the capture set: none of the 1 TCP connections goes to the NDMP
    port 10000": the explanation read the whole set, whose v4 control connection touches
    the port. Now the piece's own files and connections: the warning, naming the file.
    Its unannounced_connection said "open before the capture started or its handshake
    lost by the sniffer (the capture holds an opening before it ...)": the v4 backup's
    SYNs, a day earlier. Now as alone."""
    late = str(_late_data(tmp_path / "late.pcap"))
    config = build_config(load_file(NDMJOB / "flowcheck.toml"))
    alone = analyze(read_traffic([late], config), config)
    merged = analyze(read_traffic([str(NDMJOB / "v4-backup.pcap"), late], config), config)
    assert alone.verdict == merged.verdict == "inconclusive"
    [said] = [f for f in merged.findings if f.code == "no_control_session"]
    assert said.severity.value == "warning"
    assert said.message.startswith(
        "No NDMP control connection in the file late.pcap of the capture set, which started "
        "during a job's data transfer: it holds a connection already open"), said.message
    # Nor another file's SYNs, days before, an opening before it (verify.unannounced).
    [unannounced] = [f.message for f in merged.findings if f.code == "unannounced_connection"]
    assert "open before the capture started (which end opened it is not in it)" in \
        unannounced, unannounced


def test_a_tcpdump_ring_without_an_extension_is_one_capture(tmp_path: Path) -> None:
    """captures/lab-ring (tcpdump -C 1: connections straddle the file boundaries) named as
    `tcpdump -C 1 -w trace` names its files, trace, trace1, trace2 (no ring numbering
    flowcheck reads): PASS, five steps ok, as lab-ring reads; mergedone's pieces read
    FAIL no_control_session "in the file trace1 of the capture set"."""
    ring = CAPTURES / "lab-ring"
    names = []
    for number, suffix in enumerate(("", "1", "2")):
        names.append(str(tmp_path / f"trace{suffix}"))
        shutil.copyfile(ring / f"ring.pcap{number}", names[-1])
    config = build_config(load_file(ring / "flowcheck.toml"))
    analysis = analyze(read_traffic(names, config), config)
    assert [f.code for f in analysis.findings] == ["ndmp_vendor_message"]
    assert analysis.verdict == "pass"
