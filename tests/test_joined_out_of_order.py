"""Pieces of one capture joined out of time order into one file read as the pieces
given apart do (newuser58).

captures/lab/clean-3-resources.pcap cut by editcap into frames 1-150, 151-400 and
401-644 and joined by mergecap -a in the wrong order read INCONCLUSIVE: a second
session from the control connection's SYN (written last, stamped first), "the capture
ended 21.5 ms after the control connection opened", capture_started_mid_session and
port_reused_within_hold for a SYN stamped before the connection it "reused". Given as
three files they read PASS; joined, the file is now read as its parts merged by time
(connections.joined_order, sources.joined_pieces) and reads the same, with
capture_clock_stepped saying the file was joined out of time order. A real clock set
back (the same capture with its timestamps moved back 2 s from one frame on, shorter
than the step: its two stretches are apart in time too) keeps its reading.
"""

from __future__ import annotations

import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from cli_json import run_json
from lab_edits import LAB, lab_packets, write

NAME = "clean-3-resources"
CONFIG = LAB / f"{NAME}.toml"
CUTS = ("1-150", "151-400", "401-10000")


@pytest.fixture(scope="module")
def pieces(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The lab capture's three pieces (editcap -r), in time order."""
    folder = tmp_path_factory.mktemp("pieces")
    paths = [folder / f"p{n + 1}.pcap" for n in range(len(CUTS))]
    for cut, path in zip(CUTS, paths, strict=True):
        subprocess.run(["editcap", "-r", str(LAB / f"{NAME}.pcap"), str(path), cut],
                       check=True, capture_output=True)
    return paths


def _codes(document: dict) -> list[str]:
    return [finding["code"] for finding in document["findings"]]


def _steps(document: dict) -> list[list[tuple[str, str]]]:
    return [[(step["step"], step["status"]) for step in session["steps"]]
            for session in document["sessions"]]


@pytest.mark.parametrize(("tool", "order"), [
    ("mergecap", (2, 3, 1)), ("mergecap", (3, 2, 1)), ("mergecap", (3, 1, 2)),
    ("cat", (3, 1, 2)),  # read FAIL step_out_of_order (each joined file a stream)
    ("cat", (2, 1, 3)),  # read INCONCLUSIVE (p2 p1 p3: p1 3 spans p2's time)
])
def test_pieces_joined_out_of_order_read_as_apart(pieces: list[Path], tmp_path: Path,
                                                  tool: str, order: tuple[int, ...]) -> None:
    joined = tmp_path / f"joined-{''.join(map(str, order))}.pcap"
    parts = [pieces[n - 1] for n in order]
    if tool == "cat":
        joined.write_bytes(b"".join(part.read_bytes() for part in parts))
    else:
        subprocess.run(["mergecap", "-a", "-w", str(joined), *map(str, parts)], check=True,
                       capture_output=True)
    apart = run_json("analyze", "--format", "json", "--config", str(CONFIG),
                     *map(str, pieces))
    document = run_json("analyze", "--format", "json", "--config", str(CONFIG), str(joined))
    assert apart["verdict"] == "pass"
    assert document["verdict"] == "pass", [(f["code"], f["message"])
                                           for f in document["findings"]]
    codes = _codes(document)
    assert not set(codes) & {"port_reused_within_hold", "capture_started_mid_session",
                             "capture_ended_early"}
    assert len(document["sessions"]) == 1 and _steps(document) == _steps(apart)
    assert len(document["connections"]) == len(apart["connections"])
    assert [c["ts"] for c in document["connections"]] == \
        [c["ts"] for c in apart["connections"]]
    (said,) = [f for f in document["findings"] if f["code"] == "capture_clock_stepped"]
    assert "joined out of time order, not a clock set back" in said["message"]
    assert "clock was set back" not in said["message"]
    # Frames count in time order, as the pieces given apart number them.
    assert [f["frames"] for f in document["findings"] if f["code"] != said["code"]] == \
        [f["frames"] for f in apart["findings"]]


def test_clock_set_back_keeps_its_reading(tmp_path: Path) -> None:
    """Every timestamp from the data SYN (frame 22) on moved back 2 s: the two stretches
    are apart in time as joined pieces' are, but no SYN continues a connection written
    before it: still a clock set back, frames the file's own."""
    packets = lab_packets(NAME)
    for packet in packets[21:]:
        packet.time = Decimal(packet.time) - Decimal(2)
    stepped = write(tmp_path, f"{NAME}-back-2", packets)
    document = run_json("analyze", "--format", "json", "--config", str(CONFIG), str(stepped))
    assert document["verdict"] == "pass"
    (said,) = [f for f in document["findings"] if f["code"] == "capture_clock_stepped"]
    assert "the capturing host's clock was set back" in said["message"]
    assert "at frame 22" in said["message"] and said["frames"] == [22]


def test_time_pieces_and_piece_chunks(pieces: list[Path], tmp_path: Path) -> None:
    """The timestamps' parts of p2 p3 p1 joined: p2 and p3 run on in time (one part),
    p1 goes back before it; each part's reading holds its records only. p1 p3 p2: the
    first reading's part p1 p3 spans p2's time; the second splits it where its time
    passes p2's start."""
    from flowcheck.sources.inputs import resolve_inputs
    from flowcheck.sources.joined_pieces import piece_chunks, time_pieces
    from flowcheck.sources.reader import CaptureFile

    def joined(order: tuple[int, ...]) -> Path:
        path = tmp_path / f"joined-{''.join(map(str, order))}.pcap"
        subprocess.run(["mergecap", "-a", "-w", str(path),
                        *(str(pieces[n - 1]) for n in order)], check=True,
                       capture_output=True)
        return path

    (spec,) = resolve_inputs([str(joined((2, 3, 1)))])
    found = time_pieces(spec, 1 << 14)  # small chunks: parts across chunk ends
    assert found is not None and found.starts == (0, 494)
    counts = []
    for index in range(len(found)):
        chunks = piece_chunks(CaptureFile(spec, 1 << 14, read_ahead=False).chunks(),
                              *found.rows(index))
        times = [t for _buf, records in chunks for t in records.ts.tolist()]
        assert times == sorted(times)
        counts.append(len(times))
    assert counts == [494, 150]
    (spec,) = resolve_inputs([str(joined((1, 3, 2)))])
    found = time_pieces(spec, 1 << 14)
    assert found is not None and found.starts == (0, 150, 394)


def test_a_syn_continues_only_by_the_bytes_its_connection_carried() -> None:
    """continued: the bytes between the SYN's ISN and the later connection's first
    sequence number must be those the SYN's connection sent (within CONTINUES), not
    any number after the ISN (a 4-tuple reused with a random ISN)."""
    from flowcheck.connections.joined_order import CONTINUES, continued
    from flowcheck.model import Connection

    opened = Connection(uid="C2", orig_h="10.77.0.1", orig_p=5039, resp_h="10.77.0.2",
                        resp_p=10000, ts=1.0, last_ts=1.1, first_frame=495,
                        last_frame=644, orig_bytes=316)
    assert continued([(495, 59, 316)], [opened]) == (495, 59)
    assert continued([(495, 59, 316 + 3 * CONTINUES)], [opened]) is None
    assert continued([(400, 59, 316)], [opened]) is None  # no connection opened there


def test_interface_blocks_joined_out_of_order_lose_no_packet(pieces: list[Path],
                                                             tmp_path: Path) -> None:
    """Each piece a dumpcap-style pcapng of two interfaces (one per direction), written
    in interface blocks, joined p2 p3 p1 (mergecap -a, the interfaces merged: one
    section of two). The reader hands each section's records on in time order across
    its interfaces (sources.interface_order), not in file order, so a piece is no range
    of the file's places: read as such, 65 of the 644 packets were dropped (varying
    with the chunk size) and capture_loss said the capture missed 5,792 bytes. Now no
    pieces: the reading of a clock set back, every packet read."""
    from flowcheck.sources import iter_batches
    from flowcheck.sources.inputs import resolve_inputs
    from flowcheck.sources.joined_pieces import time_pieces

    blocks = []
    for number, piece in enumerate(pieces, 1):
        sides = []
        for side, source in (("a", "10.77.0.1"), ("b", "10.77.0.2")):
            path = tmp_path / f"p{number}{side}.pcap"
            subprocess.run(["tshark", "-r", str(piece), "-Y", f"ip.src=={source}", "-w",
                            str(path)], check=True, capture_output=True)
            sides.append(str(path))
        block = tmp_path / f"b{number}.pcapng"
        subprocess.run(["mergecap", "-a", "-I", "none", "-w", str(block), *sides],
                       check=True, capture_output=True)
        blocks.append(str(block))
    joined = tmp_path / "blocks-231.pcapng"
    subprocess.run(["mergecap", "-a", "-I", "all", "-w", str(joined),
                    blocks[1], blocks[2], blocks[0]], check=True, capture_output=True)
    (spec,) = resolve_inputs([str(joined)])
    found = time_pieces(spec, 1 << 14)
    if found is not None:
        read = sum(len(batch) for batch in iter_batches([str(joined)], chunk_size=1 << 14,
                                                        pieces=found))
        assert read == 644
    document = run_json("analyze", "--format", "json", "--config", str(CONFIG), str(joined))
    assert "capture_loss" not in _codes(document), [
        f["message"] for f in document["findings"] if f["code"] == "capture_loss"]


def test_cut_joined_file_loss_is_the_cut(pieces: list[Path], tmp_path: Path) -> None:
    """p2 p3 p1 joined and cut mid-record 50 packets before the end: p1, the first in
    time, loses its end, a gap before p2 once read in time order. capture_loss said
    "the capture's clock also steps back ... packets that lie elsewhere in the file",
    stale once the file is read as its pieces (and they are nowhere in it); now it says
    the cut end may hold them (capture_truncated)."""
    joined = tmp_path / "joined-231.pcap"
    subprocess.run(["mergecap", "-a", "-w", str(joined), str(pieces[1]), str(pieces[2]),
                    str(pieces[0])], check=True, capture_output=True)
    cut = tmp_path / "joined-231-cut.pcap"
    cut.write_bytes(joined.read_bytes()[:600_000])
    document = run_json("analyze", "--format", "json", "--config", str(CONFIG), str(cut))
    assert "capture_truncated" in _codes(document)
    (stepped,) = [f for f in document["findings"] if f["code"] == "capture_clock_stepped"]
    assert "joined out of time order, not a clock set back" in stepped["message"]
    (loss,) = [f for f in document["findings"] if f["code"] == "capture_loss"]
    assert "clock also steps back" not in loss["message"]
    assert "unless the file's cut end took them" in loss["message"]
    assert "capture_truncated" in loss["message"]


def test_joined_reading_is_data_not_words(pieces: list[Path], tmp_path: Path) -> None:
    """The cut joined file of test_cut_joined_file_loss_is_the_cut with its
    capture_clock_stepped reworded before the checks: capture_loss still reads it as a
    file read in time order (Traffic.clock_step.joined), not as a clock stepped (the
    pipeline told them apart by the message's first words, JOINED_WORDS)."""
    from flowcheck.config import build_config, load_file
    from flowcheck.connections.clock_words import ClockStep
    from flowcheck.pipeline import analyze, read_traffic

    joined = tmp_path / "joined-231.pcap"
    subprocess.run(["mergecap", "-a", "-w", str(joined), str(pieces[1]), str(pieces[2]),
                    str(pieces[0])], check=True, capture_output=True)
    cut = tmp_path / "joined-231-cut.pcap"
    cut.write_bytes(joined.read_bytes()[:600_000])
    config = build_config(load_file(CONFIG))
    traffic = read_traffic([str(cut)], config)
    assert traffic.clock_step == ClockStep(joined=True)
    for finding in traffic.findings:
        if finding.code == "capture_clock_stepped":
            finding.message = "Reworded: " + finding.message
    (loss,) = [f for f in analyze(traffic, config).findings if f.code == "capture_loss"]
    assert "clock also steps back" not in loss.message
    assert "unless the file's cut end took them" in loss.message


def test_pieces_cut_between_packets_stamped_alike(tmp_path: Path) -> None:
    """A cut between two packets of the same timestamp (ndmjob-1g-first-200000 cut every
    66,667 packets: piece 1's last packet and piece 2's first share their microsecond)
    left parts that touch, read as overlapping: the 2-3-1 join stayed a clock set back
    with 65,134 packets called copies (capture_duplicates). Touching parts are apart."""
    from flowcheck.sources.inputs import resolve_inputs
    from flowcheck.sources.joined_pieces import time_pieces

    packets = lab_packets(NAME)
    packets[150].time = packets[149].time  # the cut below falls between them
    whole = write(tmp_path, f"{NAME}-tie", packets)
    paths = []
    for number, cut in enumerate(CUTS, 1):
        path = tmp_path / f"t{number}.pcap"
        subprocess.run(["editcap", "-r", str(whole), str(path), cut], check=True,
                       capture_output=True)
        paths.append(str(path))
    joined = tmp_path / "tie-231.pcap"
    subprocess.run(["mergecap", "-a", "-w", str(joined), paths[1], paths[2], paths[0]],
                   check=True, capture_output=True)
    (spec,) = resolve_inputs([str(joined)])
    found = time_pieces(spec, 1 << 14)
    assert found is not None and found.starts == (0, 494)
    document = run_json("analyze", "--format", "json", "--config", str(CONFIG), str(joined))
    (said,) = [f for f in document["findings"] if f["code"] == "capture_clock_stepped"]
    assert "joined out of time order, not a clock set back" in said["message"]
