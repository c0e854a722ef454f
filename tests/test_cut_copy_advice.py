"""A capture's specific advice before the general one (newuser63).

A copy cut short (`head -c $((size/2+7)) x.pcap > cut.pcap` of a clean lab job) read
exit 5 under "capture the whole job, both directions, with tcpdump -s 0 and no port
filter", `capture_ended_early` ("start the capture before the job starts") first and
its cause, `capture_truncated` ("read a complete copy"), second. A tcpdump ring that
wrapped (its oldest parts gone) had the same general line above the ring's own line.
Now the cut file's note, first finding and capture_ended_early's fix lead with reading a
complete copy, and the general line is left out wherever something specific is known,
the specific line first. Real files: the stored lab job, cut by bytes and split by
editcap.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from flowcheck.cli.main import run
from flowcheck.config import build_config
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.verdict_notes import inconclusive_note

# The general advice (report.verdict_notes.WHOLE_JOB).
WHOLE_JOB = ": capture the whole job, both directions, with tcpdump -s 0 and no port filter."
CLEAN = Path(__file__).resolve().parent.parent / "captures" / "lab" / "clean-3-resources.pcap"


def _analysis(path: Path) -> Analysis:
    config = build_config({})  # as the new user ran it: no configuration
    return analyze(read_traffic([str(path)], config), config)


@pytest.fixture(scope="module")
def cut(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab job cut in the middle of a record, as `head -c $((size/2+7))` cuts it."""
    data = CLEAN.read_bytes()
    path = tmp_path_factory.mktemp("cut") / "cut.pcap"
    path.write_bytes(data[:len(data) // 2 + 7])
    return path


def test_cut_file_leads_with_a_complete_copy(cut: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    analysis = _analysis(cut)
    assert analysis.verdict == "inconclusive"
    codes = [f.code for f in analysis.findings]
    assert codes.index("capture_truncated") < codes.index("capture_ended_early")
    note = inconclusive_note(analysis)
    assert note.startswith(f"The capture file {cut} is cut in the middle of a packet record "
                           "after its packet ")
    assert "(capture_truncated)" in note and "read a complete copy first" in note
    assert WHOLE_JOB not in note
    (early,) = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert early.fix.startswith("Read a complete copy of the capture first: "), early.fix
    assert "Only if a complete copy ends here too: capture the whole job" in early.fix
    assert "(capture_truncated): a copy cut short, or a sniffer killed" in early.message
    assert run(["analyze", str(cut)]) == 5
    out = capsys.readouterr().out
    assert "capture the whole job, both directions" not in out
    assert out.index("is cut in the middle of a packet record") < out.index("No error found")


def test_whole_file_keeps_the_general_line(tmp_path: Path) -> None:
    """The same job cut cleanly at a record's end: nothing says the file is a cut copy,
    so the capture's own fix and the general line stand."""
    whole = tmp_path / "first.pcap"
    subprocess.run(["editcap", "-r", str(CLEAN), str(whole), "1-313"], check=True,
                   capture_output=True)
    analysis = _analysis(whole)
    assert analysis.verdict == "inconclusive"
    assert "capture_truncated" not in [f.code for f in analysis.findings]
    assert inconclusive_note(analysis).endswith(WHOLE_JOB)
    early = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert early and all(f.fix.startswith("Capture the whole job") for f in early)


def test_wrapped_ring_says_its_own_line_first(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A tcpdump -W 5 ring that wrapped: parts 5 and 6 of 7 written over numbers 0 and 1,
    the oldest two gone."""
    if shutil.which("editcap") is None:
        pytest.skip("editcap is not installed")
    parts = tmp_path / "parts"
    parts.mkdir()
    subprocess.run(["editcap", "-c", "100", str(CLEAN), str(parts / "p.pcap")], check=True,
                   capture_output=True)
    written = sorted(parts.iterdir())
    assert len(written) == 7
    ring = tmp_path / "ring"
    ring.mkdir()
    for number, part in enumerate((5, 6, 2, 3, 4)):
        shutil.copy2(written[part], ring / f"ring.pcap{number}")
    assert run(["analyze", str(ring)]) == 5
    out = capsys.readouterr().out
    assert "capture the whole job, both directions" not in out
    assert out.index("The capture set starts mid-job (the ring's oldest files are gone") \
        < out.index("No error found, but the capture cannot show whether every step worked "
                    "(steps marked unknown say why).")
