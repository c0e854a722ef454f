"""Both hosts' captures of a job over a slow link: a queue is no clock offset.

newuser68 item 1 (captures/newuser68, README.md there): one kernel clock for both
captures (netns), a router shaping to 2 Mbit/s with up to 400 ms of queue. Copies of the
agent's data reached the media server's capture point up to 0.44 s after the agent's,
the media server's ACKs the agent's at once. The offset was the median of all copies:
"slow3-a.pcap's clock reads -0.303 s" (slow2: -0.412 s), and then the queued copies lay
beyond the 10 ms tolerance of that offset and counted as resends: 545 retransmitted
segments where tshark counts 132 in each file (slow2: 770 vs 100). A copy never comes
before its original either way, so the offset lies between the two ways' least times
(flowcheck.connections.offsets.Offset.bounds); a real offset (one file's times moved by
`editcap -t`) is read the same, queue or none.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

CASES = Path(__file__).resolve().parent.parent / "captures" / "newuser68"
# The data connection's (6001) retransmissions as tshark counts them in each file: the
# set's count is the agent's file's, the sender's (slow2's media server file: 98).
TSHARK = {"slow3": 132, "slow2": 100}
TSHARK_FILES = {"slow3-m": 132, "slow3-a": 132, "slow2-m": 98, "slow2-a": 100}


def _analysis(*paths: Path) -> Analysis:
    config = build_config(load_file(CASES / "slow3" / "flowcheck.toml"))
    return analyze(read_traffic([str(p) for p in paths], config), config)


def _tshark_retransmits(path: Path) -> int:
    """tshark's count of retransmissions on the data connection (agent port 6001)."""
    out = subprocess.run(["tshark", "-r", str(path), "-Y",
                          "tcp.analysis.retransmission && tcp.port == 6001"],
                         capture_output=True, text=True, check=True).stdout
    return len(out.splitlines())


def _data(result: Analysis) -> int:
    [conn] = [c for c in result.traffic.connections if 6001 in (c.orig_p, c.resp_p)]
    return conn.retransmits


def _duplicates(result: Analysis) -> str:
    return next(f.message for f in result.findings if f.code == "capture_duplicates")


@pytest.mark.parametrize("case", sorted(TSHARK))
def test_a_queue_one_way_is_no_clock_offset(case: str) -> None:
    """The two files on one clock with a queue one way: their clocks agree, and the data
    connection's retransmits are tshark's in either file (545 / 770 before)."""
    files = sorted((CASES / case).glob("*.pcap.gz"))
    for path in files:
        assert _tshark_retransmits(path) == TSHARK_FILES[path.name.split(".")[0]], path
    result = _analysis(*files)
    said = _duplicates(result)
    assert "their clocks agree" in said and "clock reads" not in said, said
    assert "a queue on the path, not the clocks" in said, said
    assert _data(result) == TSHARK[case]


@pytest.mark.parametrize("shift", ["3.7", "-0.3", "-0.004"])
def test_a_real_offset_is_read_through_the_queue(tmp_path: Path, shift: str) -> None:
    """The agent's capture of slow3 stamped `shift` seconds off (editcap -t): its clock
    reads that against the media server's, and the copies still count once. Under 5 ms
    (offsets.ALIGN_SECONDS) the set is not read again on one clock: the bounds are
    learnt from the copies near the offset within the first batch (678 retransmits,
    the queued copies resends, before they were)."""
    media, agent = (CASES / "slow3" / f"slow3-{h}.pcap.gz" for h in "ma")
    moved = tmp_path / "slow3-a-moved.pcap"
    subprocess.run(["editcap", "-F", "pcap", "-t", shift, str(agent), str(moved)],
                   check=True)
    result = _analysis(media, moved)
    said = _duplicates(result)
    assert _data(result) == TSHARK["slow3"]
    if abs(float(shift)) < 0.005:
        found = re.search(r"their clocks agree \((\S+)'s against (\S+)'s: the middle of "
                          r"([+-][0-9.]+) s to ([+-][0-9.]+) s", said)
        assert found, said
        middle = (float(found.group(3)) + float(found.group(4))) / 2
        if found.group(1) != str(moved):  # said of the media server's file against ours
            middle = -middle
        assert abs(middle - float(shift)) <= 0.0001, said
        return
    found = re.search(r"clock reads ([+-][0-9.]+) s against", said)
    assert found, said
    assert abs(float(found.group(1)) - float(shift)) <= 0.001, said
