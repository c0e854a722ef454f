"""A ring buffer with a file missing from the middle (found by a new-user trial): the
hole is a capture_ring_gap warning, and the data connection whose announcement fell in
it is matched by direction and ports, as for any control stream the sniffer lost bytes
of. The ring is cut from a stored lab capture with editcap -c, as dumpcap names rings.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import tshark_fork

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sources.ring import ring_member

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def _ring(tmp_path: Path, drop: int | None, per: int = 200) -> Analysis:
    """clean-3-resources split in files of `per` packets (200: 4 files, 100: 7), file
    number `drop` removed."""
    ring = tmp_path / "ring"
    ring.mkdir()
    subprocess.run(["editcap", "-c", str(per), str(LAB / "clean-3-resources.pcap"),
                    str(ring / "p.pcap")], check=True, capture_output=True)
    files = sorted(ring.iterdir())
    assert len(files) == {200: 4, 100: 7}[per]
    if drop is not None:
        files[drop].unlink()
    config = build_config(load_file(LAB / "clean-3-resources.toml"))
    return analyze(read_traffic([str(ring)], config), config)


def test_missing_ring_file_is_reported_and_its_data_connection_matched(
        tmp_path: Path) -> None:
    analysis = _ring(tmp_path, drop=1)
    codes = [f.code for f in analysis.findings]
    assert "unannounced_connection" not in codes, codes
    [gap] = [f for f in analysis.findings if f.code == "capture_ring_gap"]
    assert "number 1 missing" in gap.message and "p_00000_" in gap.message
    # Dated at the hole's start, the first file's last packet (third new-user trial: null).
    [[last]] = tshark_fork.fields(LAB / "clean-3-resources.pcap", "frame.number == 200",
                                  "frame.time_epoch")
    assert gap.ts is not None and abs(gap.ts - float(last)) < 1e-6, (gap.ts, last)
    [session] = analysis.sessions
    assert len(session.data_connections) == 3
    assert session.steps[3].status == "ok"
    assert "before the capture started" not in session.steps[3].detail
    # The data flowed across the hole: what was sent then is in no file (newuser57: PASS).
    assert session.steps[4].status == "unknown", session.steps[4].detail
    assert "the data flowed across the gap between ring files p_00000_" \
        in session.steps[4].detail
    assert analysis.verdict == "inconclusive"


def test_bytes_in_a_ring_hole_are_not_said_the_sniffers(tmp_path: Path) -> None:
    """Review56o: step 5 added the bytes a data connection lacks across the hole as
    "segments the sniffer missed: capture_loss; 600001 B in all", beside capture_loss's
    "the hole's, not the sniffer's loss", and a total that a connection opened and closed
    in the missing file would not be in. Fails before."""
    analysis = _ring(tmp_path, drop=3, per=100)
    [session] = analysis.sessions
    detail = session.steps[4].detail
    assert session.steps[4].status == "unknown", detail
    assert "B more that the capture lacks and the media server acknowledged (sent while a " \
        "file missing from the capture set was written, capture_ring_gap, or segments the " \
        "sniffer missed: capture_loss)" in detail, detail
    assert "B in all" not in detail, detail


def test_whole_ring_has_no_gap(tmp_path: Path) -> None:
    analysis = _ring(tmp_path, drop=None)
    assert "capture_ring_gap" not in [f.code for f in analysis.findings]
    assert analysis.verdict == "pass"


@pytest.mark.parametrize(("name", "number"), [
    ("p_00003_20261126004231.pcap", 3), ("ring_00012_20261126004231.pcapng.gz", 12),
    ("ring.pcap", 0), ("ring.pcap7", 7), ("dir/cap.pcap02", 2), ("capture.pcap.gz", 0)])
def test_ring_file_numbers(name: str, number: int) -> None:
    found = ring_member(name)
    assert found is not None and found[1] == number


def test_other_names_are_no_ring() -> None:
    assert ring_member("notes.txt") is None


def _renamed_ring(tmp_path: Path, names: list[str]) -> Path:
    """clean-3-resources split by editcap in 4 files of 200 packets, renamed in time order
    to `names` ("" leaves that part out)."""
    parts = tmp_path / "parts"
    parts.mkdir(parents=True)
    subprocess.run(["editcap", "-c", "200", str(LAB / "clean-3-resources.pcap"),
                    str(parts / "p.pcap")], check=True, capture_output=True)
    ring = tmp_path / "ring"
    ring.mkdir()
    for part, name in zip(sorted(parts.iterdir()), names, strict=True):
        if name:
            part.rename(ring / name)
    return ring


def _analyze(ring: Path) -> Analysis:
    config = build_config(load_file(LAB / "clean-3-resources.toml"))
    return analyze(read_traffic([str(ring)], config), config)


def test_a_wrapped_tcpdump_ring_is_whole_and_a_file_missing_across_its_wrap_is_a_hole(
        tmp_path: Path) -> None:
    """tcpdump -W 4 that wrapped writes r.pcap2, r.pcap3, r.pcap0, r.pcap1 in time order:
    whole, no gap; without r.pcap0 the hole between r.pcap3 and r.pcap1 was not seen
    (trial 18 D5: the numbers 1..3 looked complete)."""
    whole = _analyze(_renamed_ring(tmp_path / "a", ["r.pcap2", "r.pcap3", "r.pcap0",
                                                    "r.pcap1"]))
    assert "capture_ring_gap" not in [f.code for f in whole.findings]
    assert whole.verdict == "pass"
    holed = _analyze(_renamed_ring(tmp_path / "b", ["r.pcap2", "r.pcap3", "", "r.pcap1"]))
    [gap] = [f for f in holed.findings if f.code == "capture_ring_gap"]
    assert "between r.pcap3 and r.pcap1 (number 0 missing)" in gap.message


def test_a_ring_whose_oldest_files_are_gone_says_so_and_how_to_keep_them(
        tmp_path: Path) -> None:
    """A dumpcap ring counts from 00001: a set from 00008 on lost its head to the ring's
    overwriting. It was told "Start the capture before the job starts" (trial 18 D6)."""
    stamp = "_20261202093616.pcap"
    analysis = _analyze(_renamed_ring(tmp_path, ["", f"r_00008{stamp}", f"r_00009{stamp}",
                                                 f"r_00010{stamp}"]))
    assert "capture_ring_gap" not in [f.code for f in analysis.findings]
    [mid] = [f for f in analysis.findings if f.code == "capture_started_mid_session"]
    assert f"the ring's files older than r_00008{stamp}" in mid.message
    assert "Start the capture before" not in mid.fix and "-b files:N" in mid.fix


def test_bytes_lost_to_a_missing_ring_file_are_the_holes_not_the_sniffers(
        tmp_path: Path) -> None:
    """Trial 18 D8: the payload in a deleted ring file was "lost by the sniffer" (a
    warning to fix the sniffer) beside the capture_ring_gap naming that very file."""
    analysis = _ring(tmp_path, drop=1)
    [loss] = [f for f in analysis.findings if f.code == "capture_loss"]
    assert loss.severity == "info"
    assert "span a hole in the ring buffer" in loss.message or "spans a hole" in loss.message
    assert "so the sniffer lost them" not in loss.message
    assert loss.fix.startswith("Analyze the whole ring")


def test_ndmp_bytes_in_a_missing_ring_file_are_not_the_snap_lengths(tmp_path: Path) -> None:
    """Trial 18 D8: control-stream bytes in a deleted ring file got ndmp_partial's fix
    "tcpdump -s 0" and drops; they are that file's."""
    analysis = _ring(tmp_path, drop=1)
    partial = [f for f in analysis.findings if f.code == "ndmp_partial"]
    assert partial
    for finding in partial:
        assert "the gap between ring files" in finding.message, finding.message
        assert "-s 0" not in finding.fix and finding.fix.startswith("Analyze the whole ring")


def test_a_transfer_whose_end_fell_in_the_hole_names_the_hole(tmp_path: Path) -> None:
    """captures/ndmjob/v4-three-resources.pcap in ring files of 500 packets, the fourth
    (frames 1501-2000: the first job's data FIN at 1840, its close, the second job's
    start) gone: the first job's data connection shows no end, and the capture ran on
    for 6 s after it. The hole holds its end, not the capture's stop (third new-user
    trial: "was still open at the capture's end", fix "start the capture before the
    job")."""
    ndmjob = LAB.parent / "ndmjob"
    ring = tmp_path / "ring"
    ring.mkdir()
    subprocess.run(["editcap", "-c", "500", str(ndmjob / "v4-three-resources.pcap"),
                    str(ring / "p.pcap")], check=True, capture_output=True)
    files = sorted(ring.iterdir())
    files[3].unlink()
    config = build_config(load_file(ndmjob / "flowcheck.toml"))
    analysis = analyze(read_traffic([str(ring)], config), config)
    first = analysis.sessions[0]
    assert first.steps[-1].status == "unknown"
    assert "shows no end in the capture" in first.steps[-1].detail
    assert "was still open at the capture's end" not in first.steps[-1].detail
    # The job's warning names the transfer too, and asks for the ring, not a longer
    # capture.
    [open_end] = [f for f in analysis.findings if f.code == "capture_ended_early"
                  and "shows no end in the capture" in f.message]
    assert f"ring files {files[2].name} and {files[4].name} (capture_ring_gap) follows " \
           "its last packet" in open_end.message
    assert "step 4 (the data) is unknown: analyze the whole ring." in open_end.message
    assert "capture until the job ends" not in open_end.message
    assert open_end.fix.startswith("Analyze the whole ring")


def test_a_gap_at_a_files_first_packet_may_be_a_missing_file(tmp_path: Path) -> None:
    """Review56o: a tcpdump `-G 2 -C 1 -W 3` folder lacking its period's last file
    (`job-105153.pcap1`) shows no hole: no number is missing below the highest, the
    names lie a period apart. Its data connection's gap opened at the first packet of the
    next file, and capture_loss said "the sniffer lost them, not the network". Here the
    same set: clean-3-resources in files of 100 packets, the fourth left out and the
    later ones numbered on (no number missing). Fails before: no word of a file."""
    ring = tmp_path / "ring"
    ring.mkdir()
    subprocess.run(["editcap", "-c", "100", str(LAB / "clean-3-resources.pcap"),
                    str(tmp_path / "p.pcap")], check=True, capture_output=True)
    files = sorted(tmp_path.glob("p_*.pcap"))
    for number, path in enumerate(files[:3] + files[4:]):
        path.rename(ring / f"p_{number:05d}_{path.name.split('_')[2]}")
    config = build_config(load_file(LAB / "clean-3-resources.toml"))
    analysis = analyze(read_traffic([str(ring)], config), config)
    assert "capture_ring_gap" not in {f.code for f in analysis.findings}
    [loss] = [f for f in analysis.findings if f.code == "capture_loss"]
    assert "1 gap of them opened at the first packet of a file of the set (frame 1 of " \
        "p_00003_" in loss.message, loss.message
    assert "so these bytes may be in such a file, not lost by the sniffer" in loss.message
