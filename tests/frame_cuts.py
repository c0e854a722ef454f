"""Stored captures cut at test time to a range of their frames with `editcap -r`, as a
capture started late (its first frames dropped) or stopped early (its last ones) takes
them, and the check every such test makes of a clean job's cuts: never FAIL."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

from stored import case_config, errors, stored_analysis

from flowcheck.pipeline import Analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
# Clean jobs whose cuts must not read FAIL: (folder under captures/, capture name).
CLEAN_JOBS = [("ndmjob", "v4-backup"), ("ndmjob", "v2-backup"), ("lab", "clean-3-resources")]
_SUFFIXES = (".pcap", ".pcap.gz", ".pcapng", ".pcapng.gz")


def stored_capture(folder: str, name: str) -> Path:
    """captures/FOLDER/NAME.pcap (or .pcap.gz, .pcapng, .pcapng.gz)."""
    return next(p for p in (CAPTURES / folder).iterdir()
                if p.name in {f"{name}{suffix}" for suffix in _SUFFIXES})


def frame_count(capture: Path) -> int:
    """How many frames the capture holds (capinfos -c)."""
    return int(subprocess.run(["capinfos", "-c", "-M", "-T", "-r", str(capture)], check=True,
                              capture_output=True, text=True).stdout.split("\t")[-1])


def frame_range(capture: Path, out: Path, first: int, last: int, *options: str) -> Path:
    """`out`: the capture's frames first..last (1-based, inclusive), written by editcap
    with `options` before its arguments ("-F", "pcap"; "-s", "96")."""
    subprocess.run(["editcap", *options, "-r", str(capture), str(out), f"{first}-{last}"],
                   check=True, capture_output=True)
    return out


def kept_from(capture: Path, out: Path, first: int) -> Path:
    """`out`: the capture's frames from `first` (1-based) on, as a user cuts a capture
    to join it late (editcap -r)."""
    return frame_range(capture, out, first, 10_000_000)


def started_late(tmp_path: Path, folder: str, name: str, dropped: float) -> Path:
    """FOLDER/NAME's capture without its first `dropped` share of frames (editcap)."""
    capture = stored_capture(folder, name)
    total = frame_count(capture)
    first = int(total * dropped) + 1
    return frame_range(capture, tmp_path / f"{name}-from-{first}.pcap", first, total,
                       "-F", "pcap")


def cut_analysis(cut: Path, folder: str, name: str) -> Analysis:
    """The cut analyzed with its stored case's configuration (stored.case_config)."""
    return stored_analysis(cut, config_path=case_config(CAPTURES / folder, name))


def assert_cuts_never_fail(tmp_path: Path, folder: str, name: str,
                           cut: Callable[[Path, str, str, float], Path],
                           shares: Iterable[float]) -> None:
    """Each `cut(tmp_path, folder, name, share)` of a clean job reads anything but FAIL
    (the error codes named when it does)."""
    for share in shares:
        analysis = cut_analysis(cut(tmp_path, folder, name, share), folder, name)
        assert analysis.verdict != "fail", (share, [f.code for f in errors(analysis)])
