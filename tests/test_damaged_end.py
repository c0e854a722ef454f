"""capture_ended_early of a capture that ends where its file is damaged (newuser57 #4).

A clean lab job (captures/lab/clean-3-resources) written as pcapng by editcap, one
enhanced packet block's length set to 0xfffffff0 in the middle of the job: the reader
stops there (capture_truncated, right), and capture_ended_early asked to "start the
capture before the job starts", where the sniffer had recorded the whole job. Its fix
now says the file is damaged and to read an intact copy first; the same packets cut
cleanly (editcap -r, no damage) keep the capture's own fix. Real components: editcap.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.verdict_notes import inconclusive_note

CLEAN = Path(__file__).resolve().parent.parent / "captures" / "lab" / "clean-3-resources"
DAMAGED_PACKET = 300  # the job's second resource is sending its data


def _analysis(path: Path) -> Analysis:
    config = build_config(load_file(CLEAN.with_suffix(".toml")))
    return analyze(read_traffic([str(path)], config), config)


def _findings(path: Path) -> list[Finding]:
    return _analysis(path).findings


def _damage(path: Path, packet: int) -> int:
    """Set the block length of the pcapng file's `packet`th enhanced packet block to
    0xfffffff0; its byte offset."""
    data = bytearray(path.read_bytes())
    offset, seen = 0, 0
    while offset < len(data):
        kind, length = struct.unpack_from("<II", data, offset)
        if kind == 6:
            seen += 1
            if seen == packet:
                struct.pack_into("<I", data, offset + 4, 0xFFFFFFF0)
                path.write_bytes(bytes(data))
                return offset
        offset += length
    raise ValueError(f"no packet {packet}")


@pytest.fixture(scope="module")
def cut_analyses(tmp_path_factory: pytest.TempPathFactory) -> tuple[Analysis, int, Analysis]:
    """(the damaged file's analysis, the damage's offset, the clean cut's analysis)."""
    folder = tmp_path_factory.mktemp("damaged")
    damaged = folder / "job.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(CLEAN.with_suffix(".pcap")),
                    str(damaged)], check=True, capture_output=True)
    offset = _damage(damaged, DAMAGED_PACKET)
    cut = folder / "cut.pcapng"
    subprocess.run(["editcap", "-r", "-F", "pcapng", str(CLEAN.with_suffix(".pcap")),
                    str(cut), f"1-{DAMAGED_PACKET - 1}"], check=True, capture_output=True)
    return _analysis(damaged), offset, _analysis(cut)


@pytest.fixture(scope="module")
def cuts(cut_analyses: tuple[Analysis, int, Analysis]
         ) -> tuple[list[Finding], int, list[Finding]]:
    """(findings of the damaged file, the damage's offset, findings of the clean cut)."""
    damaged, offset, cut = cut_analyses
    return damaged.findings, offset, cut.findings


def test_the_inconclusive_note_names_the_damaged_file(
        cut_analyses: tuple[Analysis, int, Analysis]) -> None:
    """The note under the verdict said only "capture the whole job, both directions, with
    tcpdump -s 0": it now says the file is damaged where and to read an intact copy
    (task words58); the clean cut's note says nothing of damage."""
    damaged, offset, cut = cut_analyses
    assert damaged.verdict == cut.verdict == "inconclusive"
    path = damaged.traffic.captures[0].path
    # The damage first, the general "capture the whole job" left out (newuser63).
    note = inconclusive_note(damaged)
    assert note.startswith(
        f"The capture file {path} is damaged at byte offset {offset} (capture_truncated): "
        "nothing after the damage was read, so what the job did there was not judged; read "
        "an intact copy first. "), note
    assert "capture the whole job, both directions" not in note
    assert "damaged" not in inconclusive_note(cut)


def test_damaged_end_says_read_an_intact_copy(
        cuts: tuple[list[Finding], int, list[Finding]]) -> None:
    findings, offset, _ = cuts
    assert [f.code for f in findings].count("capture_truncated") == 1
    early = [f for f in findings if f.code == "capture_ended_early"]
    assert early
    for finding in early:
        assert finding.fix.startswith("Read an intact copy of the capture: "), finding.fix
        assert f"damaged at byte offset {offset}" in finding.fix
        assert "start the capture before the job starts" not in finding.fix.split(
            "Only if an intact copy ends here too")[0]
        assert f"is damaged at byte offset {offset} (capture_truncated)" in finding.message


def test_clean_cut_keeps_the_capture_fix(
        cuts: tuple[list[Finding], int, list[Finding]]) -> None:
    """The same packets, the file cut cleanly after them: the capture did end there."""
    _, _, findings = cuts
    early = [f for f in findings if f.code == "capture_ended_early"]
    assert early and "capture_truncated" not in [f.code for f in findings]
    for finding in early:
        assert finding.fix.startswith("Capture the whole job"), finding.fix
        assert "damaged" not in finding.message


def _ring(folder: Path, damage: int | None, cut: bool = False) -> list[Finding]:
    """The clean job as an `editcap -c 200` pcapng ring (4 parts, dumpcap's names), its
    part `damage` (0-based) given a corrupt first packet block, or the last part cut to
    half its size (`cut`: a sniffer killed mid-write): the ring's findings."""
    folder.mkdir()
    subprocess.run(["editcap", "-F", "pcapng", "-c", "200", str(CLEAN.with_suffix(".pcap")),
                    str(folder / "ring.pcapng")], check=True, capture_output=True)
    parts = sorted(folder.iterdir())
    assert len(parts) == 4, parts
    if damage is not None:
        _damage(parts[damage], 1)
    if cut:
        parts[-1].write_bytes(parts[-1].read_bytes()[:parts[-1].stat().st_size // 2])
    return _findings(folder)


@pytest.fixture(scope="module")
def rings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Finding]]:
    """Findings of the ring with its last part damaged before its first packet, its
    second part so (the later parts fine), and its last part cut at its end."""
    folder = tmp_path_factory.mktemp("rings")
    return {"last": _ring(folder / "last", 3), "middle": _ring(folder / "middle", 1),
            "cut": _ring(folder / "cut", None, cut=True)}


def test_ring_part_damaged_before_its_first_packet_asks_for_an_intact_copy(
        rings: dict[str, list[Finding]]) -> None:
    """review56n: the ring's last part unreadable (its first packet block's length
    0xfffffff0) read "start the capture before the job starts", the sniffer having
    written the job's end into that part."""
    findings = rings["last"]
    assert "capture_unreadable" in [f.code for f in findings]
    early = [f for f in findings if f.code == "capture_ended_early"]
    assert early
    for finding in early:
        assert finding.fix.startswith("Read an intact copy of the capture: "), finding.fix
        assert "ring_00003_" in finding.fix.split(" is damaged")[0]
        assert "before its first packet (capture_unreadable)" in finding.message
        assert "if that file is the ring's newest" in finding.message


def test_ring_part_damaged_in_the_middle_names_no_end(
        rings: dict[str, list[Finding]]) -> None:
    """A damaged part the later parts go on after does not end the capture."""
    findings = rings["middle"]
    assert "capture_unreadable" in [f.code for f in findings]
    assert not [f for f in findings if f.code == "capture_ended_early"
                or "intact copy" in f.fix]


def test_ring_cut_at_its_end_keeps_the_capture_fix(
        rings: dict[str, list[Finding]]) -> None:
    """The last part cut mid-block (a sniffer killed): the capture did end there."""
    findings = rings["cut"]
    early = [f for f in findings if f.code == "capture_ended_early"]
    assert early and "capture_truncated" in [f.code for f in findings]
    for finding in early:
        assert finding.fix.startswith("Capture the whole job"), finding.fix
        assert "damaged" not in finding.message
