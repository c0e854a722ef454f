"""A capture set's frames named as a user finds them (newuser62): the text report of a
set of several files names each frame by its file and its frame number there, as tshark
(Wireshark) numbers that file opened alone, words of findings included; the JSON keeps the
set's merged numbers (contract.md) and says where each finding's frames are
(`file_frames`) and which set frames each file holds (`captures[].first_frame`,
`last_frame`).

Sets: a stored lab capture cut into a ring with editcap -c (dumpcap's names), the stored
tcpdump -C/-W ring captures/lab-ring, and files overlapping in time merged packet by
packet, one of them a pcapng of two interfaces written one interface after the other (out
of time order: mergecap -a -I none), checked frame by frame against tshark.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import tshark_fork

from flowcheck.sources import CaptureSetReader

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "captures" / "lab"
RING = ROOT / "captures" / "lab-ring"


def _flowcheck(*args: str) -> str:
    """flowcheck's standard output for `args`, as a user runs it (wide: no wrapping)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "1000", "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "flowcheck", *args], capture_output=True,
                          text=True, env=env, check=False)
    assert done.returncode in (0, 1, 2), done.stderr
    return done.stdout


def _stamps(capture: Path) -> list[tuple[str, str]]:
    """(time since the epoch, frame length) of each frame of `capture` opened alone, by
    tshark: row n - 1 is its frame n."""
    return [(row[0], row[1]) for row in
            tshark_fork.fields(capture, "", "frame.time_epoch", "frame.len")]


def _oracle(whole: Path, files: list[Path]) -> dict[int, tuple[str, int]]:
    """Frame f of `whole` (the set's frames, in order: a ring cut from it) -> (name of
    the file of `files` holding that packet, its frame number there), by tshark on each
    file alone: the ring's files hold the whole capture's packets in order."""
    out: dict[int, tuple[str, int]] = {}
    frame = 1
    for path in files:
        for number, _ in enumerate(_stamps(path), start=1):
            out[frame] = (path.name, number)
            frame += 1
    assert [stamp for stamp in _stamps(whole)] == [
        stamp for path in files for stamp in _stamps(path)]
    return out


def _runs(numbers: list[int]) -> str:
    """"2-4, 8, 10": runs of three or more as ranges."""
    parts, start = [], 0
    while start < len(numbers):
        end = start
        while end + 1 < len(numbers) and numbers[end + 1] == numbers[end] + 1:
            end += 1
        if end - start >= 2:
            parts.append(f"{numbers[start]}-{numbers[end]}")
        else:
            parts.extend(str(n) for n in numbers[start:end + 1])
        start = end + 1
    return ", ".join(parts)


@pytest.fixture(scope="module")
def cut_ring(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], str, dict]:
    """lab/data-ack-dropped cut into files of 20 packets (editcap -c: 3 files), its text
    report and JSON document."""
    folder = tmp_path_factory.mktemp("ring")
    subprocess.run(["editcap", "-c", "20", str(LAB / "data-ack-dropped.pcap"),
                    str(folder / "ring.pcap")], check=True, capture_output=True)
    files = sorted(folder.iterdir())
    assert len(files) == 3
    config = str(LAB / "data-ack-dropped.toml")
    text = _flowcheck("analyze", str(folder), "--config", config)
    document = json.loads(_flowcheck("analyze", str(folder), "--config", config,
                                     "--format", "json"))
    return folder, files, text, document


def test_a_ring_finding_names_each_file_and_its_own_frames(cut_ring: tuple) -> None:
    """The finding's frames, grouped per file, each file's by tshark's own number: the
    text said "frames 22-24, 28, 30, 36, 42, 45, 50", the set's numbers, no file."""
    _, files, text, document = cut_ring
    oracle = _oracle(LAB / "data-ack-dropped.pcap", files)
    finding = next(f for f in document["findings"] if f["code"] == "handshake_incomplete")
    groups: dict[str, list[int]] = {}
    for frame in finding["frames"]:
        name, number = oracle[frame]
        groups.setdefault(name, []).append(number)
    assert len(groups) == 2  # the finding spans two files of the ring
    where = ", ".join(f"frame{'s' if len(numbers) > 1 else ''} {_runs(numbers)} of {name}"
                      for name, numbers in groups.items())
    assert f"ERROR handshake_incomplete (session S1, connection C3, {where}, at" in text


def test_a_ring_findings_words_name_files_too(cut_ring: tuple) -> None:
    """Frames named inside a finding's words and the steps' details are the file's own:
    "its ACK completing it (frame 4 of ring_00001_...)" where it said "(frame 24)";
    every frame the text names says its file."""
    _, files, text, document = cut_ring
    oracle = _oracle(LAB / "data-ack-dropped.pcap", files)
    finding = next(f for f in document["findings"] if f["code"] == "handshake_incomplete")
    ack = next(c for c in document["connections"] if c["uid"] == finding["uid"])
    first = oracle[ack["first_frame"]]
    assert first[0] != files[0].name  # a frame of a later file: its number differs
    body = text[text.index("Findings ("):]
    name, number = oracle[finding["frames"][3]]  # the SYN-ACK resends
    assert f"frames {number}, " in body and f" of {name}" in body
    mentions = re.findall(r"\bframes? \d+(?:(?:, |-)\d+)*(?: and \d+ more)?(?: of \S+)?",
                          " ".join(text.split()))
    assert mentions
    unnamed = [m for m in mentions if " of " not in m]
    assert unnamed == [], unnamed


def test_a_ring_json_keeps_the_set_numbers_and_maps_them(cut_ring: tuple) -> None:
    """`frames` stay the set's (here the whole capture's, the ring in its order);
    `file_frames` and each capture's first/last set frame map them to tshark's."""
    _, files, _, document = cut_ring
    oracle = _oracle(LAB / "data-ack-dropped.pcap", files)
    names = [Path(c["path"]).name for c in document["captures"]]
    finding = next(f for f in document["findings"] if f["code"] == "handshake_incomplete")
    assert finding["frames"][0] == 22  # as the whole capture numbers it
    assert [(names[i], n) for i, n in finding["file_frames"]] == [
        oracle[f] for f in finding["frames"]]
    assert [(c["first_frame"], c["last_frame"]) for c in document["captures"]] == [
        (1, 20), (21, 40), (41, 52)]


def test_the_tcpdump_ring_names_its_announcements_by_file() -> None:
    """captures/lab-ring (tcpdump -C 1 -W 3): the third DATA_LISTEN reply is set frame
    1435, frame 463 of ring.pcap1 by tshark; the step's detail said "(frame 1435)"."""
    files = sorted(RING.glob("ring.pcap*"))
    text = _flowcheck("analyze", str(RING))
    document = json.loads(_flowcheck("ndmp", str(RING), "--format", "json"))
    listens = [m for s in document["ndmp"] for m in s["messages"]
               if m["name"] == "NDMP_DATA_LISTEN" and m["type"] == "reply"]
    assert len(listens) == 3
    stamps = {name: _stamps(path) for name, path in ((p.name, p) for p in files)}
    for message in listens:
        found = [(name, n) for name, rows in stamps.items()
                 for n, (ts, _) in enumerate(rows, start=1)
                 if abs(float(ts) - message["ts"]) < 5e-7]
        assert len(found) == 1
        name, number = found[0]
        assert f"DATA_LISTEN (frame {number} of {name})" in text
    assert "DATA_LISTEN (frame 1435)" not in text


def _split(source: Path, odd: Path, even: Path) -> None:
    """source's packets (a microsecond pcap) in turn to odd and even: two files of one
    time span, overlapping packet by packet."""
    data = source.read_bytes()
    header, at = data[:24], 24
    assert struct.unpack("<I", header[:4])[0] == 0xA1B2C3D4
    outs = [bytearray(header), bytearray(header)]
    turn = 0
    while at < len(data):
        length = struct.unpack("<I", data[at + 8:at + 12])[0]
        outs[turn] += data[at:at + 16 + length]
        at += 16 + length
        turn ^= 1
    odd.write_bytes(outs[0])
    even.write_bytes(outs[1])


def test_merged_files_and_a_pcapng_of_two_interfaces_match_tshark(tmp_path: Path) -> None:
    """Every frame of a set merged by time (files overlapping packet by packet, one a
    pcapng whose second interface's packets come after the first's in the file, out of
    time order) located at the frame tshark shows with its time and length."""
    whole = LAB / "data-ack-dropped.pcap"
    odd, even = tmp_path / "odd.pcap", tmp_path / "even.pcap"
    _split(whole, odd, even)
    quarter = [tmp_path / "q1.pcap", tmp_path / "q2.pcap"]
    _split(odd, *quarter)
    blocks = tmp_path / "blocks.pcapng"  # interface 0: q1's packets, then interface 1: q2's
    subprocess.run(["mergecap", "-a", "-I", "none", "-F", "pcapng", "-w", str(blocks),
                    *map(str, quarter)], check=True, capture_output=True)
    assert len(tshark_fork.fields(blocks, "", "frame.interface_id")) == len(_stamps(odd))
    reader = CaptureSetReader([str(blocks), str(even)], read_ahead=False)
    seen: list[tuple[float, int]] = []
    for batch in reader:
        seen += list(zip(batch.ts.tolist(), batch.wirelen.tolist(), strict=True))
    assert reader.frame_files is not None and len(seen) == len(_stamps(whole))
    rows = {i: _stamps(Path(info.path)) for i, info in enumerate(reader.captures)}
    files_seen = set()
    in_blocks: list[int] = []  # blocks.pcapng's frame numbers in the merged order
    for frame, (ts, length) in enumerate(seen, start=1):
        located = reader.frame_files.locate(frame)
        assert located is not None
        file, number = located
        stamp, wire = rows[file][number - 1]
        assert abs(float(stamp) - ts) < 5e-7 and int(wire) == length, frame
        files_seen.add(file)
        if reader.captures[file].path == str(blocks):
            in_blocks.append(number)
    assert files_seen == {0, 1}
    # The pcapng is read in time order across its interfaces, its numbers kept.
    assert in_blocks != sorted(in_blocks) and sorted(in_blocks) == list(
        range(1, len(in_blocks) + 1))
    # Both files interleave in the merged order (no file's frames are one run).
    spans = reader.frame_files.spans()
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]
    assert reader.frame_files.locate(0) is None
    assert reader.frame_files.locate(len(seen) + 1) is None


def test_one_file_keeps_its_document_and_words() -> None:
    """One file: no `file_frames`, no `first_frame` in `captures[]`, frames named bare."""
    from flowcheck.config import build_config, load_file
    from flowcheck.pipeline import analyze, read_traffic
    from flowcheck.report.json_doc import analysis_document

    config = build_config(load_file(LAB / "data-ack-dropped.toml"))
    analysis = analyze(read_traffic([str(LAB / "data-ack-dropped.pcap")], config), config)
    document = analysis_document(analysis)
    assert analysis.traffic.frame_files is None
    assert "first_frame" not in document["captures"][0]
    assert all("file_frames" not in f for f in document["findings"])
    finding = next(f for f in analysis.findings if f.code == "handshake_incomplete")
    assert "(frames 28, 30)" in finding.message, finding.message
