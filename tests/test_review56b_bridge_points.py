"""Review 56b: two real capture points one bridge apart are not "the same capture given
twice, one copy's times shifted (editcap -t)".

words56 read every copy lying within 1 us of the first copy's time difference, at least
8 of them, as one capture given twice with one copy's times shifted. Two ports of one
Linux bridge (tests/data/review56b, README there) captured by two tcpdumps on one
kernel clock hold copies whose times differ by 2 or 3 us, or, for a few ACKs, by 3 us
to the microsecond: the finding then said "the same capture given twice" and its fix
"give each capture once", which would have the user throw away one of two points.
editcap -t moves every time by exactly the same amount (offsets.STEADY, SHIFTED_COPIES).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from flowcheck.config import build_config
from flowcheck.connections.offsets import Offset, same_capture
from flowcheck.pipeline import Analysis, analyze, read_traffic

DATA = Path(__file__).resolve().parent / "data" / "review56b"
EXACT = ("bridge-port-a-acks.pcap", "bridge-port-b-acks.pcap")  # 11 copies, each 3 us
JITTER = ("bridge-port-a-acks-12.pcap", "bridge-port-b-acks-12.pcap")  # 2 or 3 us
NANO = ("bridge-port-a-acks-nano.pcap", "bridge-port-b-acks-nano.pcap")  # 0.6-1.5 us


def duplicates(*paths: Path) -> tuple[str, str]:
    """(message, fix) of the capture_duplicates finding of the files read together."""
    config = build_config()
    result: Analysis = analyze(read_traffic([str(p) for p in paths], config), config)
    found = next(f for f in result.findings if f.code == "capture_duplicates")
    return found.message, found.fix


@pytest.mark.parametrize("pair", [EXACT, JITTER, NANO],
                         ids=["exact-3us", "jitter-2-3us", "nanosecond-75-copies"])
@pytest.mark.parametrize("shift", ["", "2.5"], ids=["own-clocks", "editcap-shifted"])
def test_two_bridge_ports_are_two_points(tmp_path: Path, pair: tuple[str, str],
                                         shift: str) -> None:
    first, second = DATA / pair[0], DATA / pair[1]
    if shift:  # a second host whose clock reads 2.5 s ahead
        shifted = tmp_path / "shifted.pcap"
        subprocess.run(["editcap", "-t", shift, str(second), str(shifted)], check=True)
        second = shifted
    said, fix = duplicates(first, second)
    assert "two capture points' captures of the same traffic" in said, said
    assert "the same capture given twice" not in said, said
    assert "same packets as" not in said, said
    assert fix != "give each capture once."


def test_a_microsecond_apart_is_not_one_offset() -> None:
    """Copies 2 and 3 us after their originals (whole microseconds, as a pcap's times),
    read as float64 epoch times: those whose differences read within 1 us of the first
    one's (0.95 us: k3's pair in tests/data/review56b read so) are not at one fixed
    offset; the same times shifted by exactly 2.5 s are, float64's rounding within
    STEADY."""
    micro = 1_796_000_000_000_000 + np.arange(400, dtype=np.int64) * 13_701
    late = np.where(np.arange(400) % 3, 2, 3)
    diffs = (micro + 2_500_000 + late) / 1e6 - micro / 1e6
    near = np.abs(diffs - diffs[0]) <= 1e-6  # words56's STEADY took these for one offset
    assert len(set(late[near].tolist())) == 2 and near.sum() >= 64
    apart = Offset((0, 1))
    apart.copies = int(near.sum())
    apart.count_steady(diffs[near])
    assert apart.steady < apart.copies
    assert not same_capture(apart)
    shifted = Offset((0, 1))
    shifted.copies = micro.shape[0]
    shifted.count_steady((micro + 2_500_000) / 1e6 - micro / 1e6)
    assert shifted.steady == shifted.copies
    assert same_capture(shifted)


def test_only_microsecond_clocks_tell_a_shifted_copy(tmp_path: Path) -> None:
    """Each file's timestamp unit is read (CaptureInfo.tick: a pcap's magic, a pcapng
    interface's if_tsresol). A nanosecond file and its `editcap -t` copy cannot be told
    from two points one bridge apart (test above): read as two points whose clocks
    differ, as before words56; the same file twice, at the very same times, still is one
    capture given twice."""
    nano = DATA / NANO[0]
    shifted, ng_micro, ng_nano = (tmp_path / name for name in (
        "shifted.pcap", "micro.pcapng", "nano.pcapng"))
    for argv in (["editcap", "-t", "2.5", str(nano), str(shifted)],
                 ["editcap", "-F", "pcapng", str(DATA / EXACT[0]), str(ng_micro)],
                 ["editcap", "-F", "pcapng", str(nano), str(ng_nano)]):
        subprocess.run(argv, check=True, capture_output=True)
    config = build_config()
    ticks = {Path(info.path).name: info.tick for info in read_traffic(
        [str(DATA / EXACT[0]), str(nano), str(ng_micro), str(ng_nano)], config).captures}
    assert ticks == {EXACT[0]: 1e-6, NANO[0]: 1e-9, "micro.pcapng": 1e-6,
                     "nano.pcapng": 1e-9}
    said, fix = duplicates(nano, shifted)
    assert "two capture points' captures of the same traffic" in said, said
    assert "clock reads +2.500 s" in said, said
    said, fix = duplicates(nano, ng_nano)
    assert "the same packets as" in said and "at the very same times" in said, said
    assert fix == "give each capture once."
