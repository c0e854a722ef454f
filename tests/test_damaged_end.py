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
from flowcheck.pipeline import analyze, read_traffic

CLEAN = Path(__file__).resolve().parent.parent / "captures" / "lab" / "clean-3-resources"
DAMAGED_PACKET = 300  # the job's second resource is sending its data


def _findings(path: Path) -> list[Finding]:
    config = build_config(load_file(CLEAN.with_suffix(".toml")))
    return analyze(read_traffic([str(path)], config), config).findings


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
def cuts(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Finding], int, list[Finding]]:
    """(findings of the damaged file, the damage's offset, findings of the clean cut)."""
    folder = tmp_path_factory.mktemp("damaged")
    damaged = folder / "job.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(CLEAN.with_suffix(".pcap")),
                    str(damaged)], check=True, capture_output=True)
    offset = _damage(damaged, DAMAGED_PACKET)
    cut = folder / "cut.pcapng"
    subprocess.run(["editcap", "-r", "-F", "pcapng", str(CLEAN.with_suffix(".pcap")),
                    str(cut), f"1-{DAMAGED_PACKET - 1}"], check=True, capture_output=True)
    return _findings(damaged), offset, _findings(cut)


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
