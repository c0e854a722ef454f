"""pcapng Interface Statistics Blocks: when the capture stopped and what the capture tool
dropped (dumpcap writes one per interface as it stops; pcapng draft, section 4.6).

Inputs are the stored lab captures rewritten as pcapng, with or without the statistics
block dumpcap would have written.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from capture_factory import idb, isb
from scapy_files import read_packets

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
NAME = "data-port-dropped"  # frame 22: the media server's first SYN to the agent's data port


def _as_pcapng(tmp_path: Path, last_frame: int, statistics: bytes | None,
               seconds_after: float = 0.0, name: str = NAME) -> Path:
    """Frames 1..last_frame of the lab capture as dumpcap's pcapng, its statistics block
    (built by `statistics(ended)`, ended = last packet + seconds_after) at the end."""
    cut = tmp_path / "cut.pcap"
    subprocess.run(["editcap", "-r", str(LAB / f"{name}.pcap"), str(cut), f"1-{last_frame}"],
                   check=True, capture_output=True)
    out = tmp_path / "cut.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(cut), str(out)], check=True,
                   capture_output=True)
    if statistics is not None:
        out.write_bytes(out.read_bytes() + statistics)
    return out


def _analyze(path: Path, name: str = NAME) -> Analysis:
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(path)], config), config)


def _last_ts(last_frame: int, name: str = NAME) -> float:
    return float(read_packets(LAB / f"{name}.pcap", last_frame)[last_frame - 1].time)


def test_capture_that_ran_on_after_the_last_syn_shows_it_unanswered(tmp_path: Path) -> None:
    """The capture's last packet is the data connection's first SYN. Without statistics
    the capture may have stopped right after it (inconclusive); dumpcap's isb_endtime
    says it ran 5 s longer with no answer: the capture did not end too early. Yet TCP
    would have resent the SYN in those 5 s and the job did not visibly stop, so whether it
    opened cannot be seen (trial 25 D4: no drop without evidence)."""
    without = _analyze(_as_pcapng(tmp_path, 22, None))
    assert without.verdict == "inconclusive"
    assert "capture_ended_early" in {f.code for f in without.findings}
    ended = _last_ts(22) + 5.0
    with_end = _analyze(_as_pcapng(tmp_path, 22, isb(0, ended, ifdrop=0)))
    codes = {f.code for f in with_end.findings}
    assert "capture_ended_early" not in codes
    assert with_end.verdict == "inconclusive" and "data_unanswered" not in codes
    data_step = with_end.sessions[0].steps[3]
    assert data_step.status == "unknown" and "never resent in the 5 s" in data_step.detail


def test_drops_the_capture_tool_counted_are_capture_loss(tmp_path: Path) -> None:
    ended = _last_ts(33)
    # Totals per interface: a second block for the same interface replaces the first.
    blocks = isb(0, ended - 1, ifdrop=100) + isb(0, ended, ifdrop=400, osdrop=100)
    analysis = _analyze(_as_pcapng(tmp_path, 33, blocks))
    assert analysis.traffic.captures[0].kernel_dropped == 500
    [loss] = [f for f in analysis.findings if f.code == "capture_loss"]
    assert "500 packets dropped" in loss.message and loss.severity == "warning"


def test_statistics_block_of_an_undescribed_interface_is_ignored(tmp_path: Path) -> None:
    analysis = _analyze(_as_pcapng(tmp_path, 33, isb(3, _last_ts(33), ifdrop=9)))
    assert analysis.traffic.captures[0].kernel_dropped is None
    assert analysis.verdict == "fail"


def test_real_dumpcap_capture_counts_no_drop() -> None:
    """captures/lab/clean-dumpcap.pcapng, written by dumpcap: isb_ifdrop 0."""
    config = build_config(load_file(LAB / "clean-dumpcap.toml"))
    analysis = analyze(read_traffic([str(LAB / "clean-dumpcap.pcapng")], config), config)
    (capture,) = analysis.traffic.captures
    assert capture.kernel_dropped == 0 and capture.stopped_at is not None
    assert capture.stopped_at >= max(c.last_ts for c in analysis.traffic.connections)
    assert analysis.verdict == "pass"



def test_a_job_end_the_sniffer_may_have_dropped_is_not_blamed_on_the_stop(
        tmp_path: Path) -> None:
    """Trial 15 D5: the sniffer lost the end of a job that had ended 7 s before it
    stopped, and capture_ended_early said "The capture stopped while the backup was
    still running". Frames 1-100 of a backup (resource 1's data flowing since
    DATA_START_BACKUP, frame 25), the sniffer on for 10 s more: with drops counted, the
    message says the end may be among them; without, the capture's stop stays the cause."""
    name = "clean-3-resources"
    ended = _last_ts(100, name) + 10.0
    for dropped, said in (
            (50, ("although the capture went on for 10 s",
                  "the sniffer reported 50 packets dropped by the kernel")),
            (0, ("The capture stopped while the backup was still running",))):
        path = _as_pcapng(tmp_path, 100, isb(0, ended, ifdrop=dropped), name=name)
        [early] = [f for f in _analyze(path, name).findings
                   if f.code == "capture_ended_early"]
        assert all(words in early.message for words in said), early.message


def test_drops_of_an_interface_without_packets_are_not_the_capture_s(tmp_path: Path) -> None:
    """Trial 24 D4: dumpcap on Windows with the Npcap loopback adapter ticked too wrote
    its drops (5,000) beside the job's interface's 0: "99.4% of the packets" lost in a
    capture that lost none. Drops count only for interfaces with packets in the file."""
    ended = _last_ts(33)
    loopback = idb(0)  # interface 1 (DLT_NULL), after the packets: no packet of it
    quiet = isb(1, ended, ifdrop=5000) + isb(0, ended, ifdrop=0)
    analysis = _analyze(_as_pcapng(tmp_path, 33, loopback + quiet))
    assert analysis.traffic.captures[0].kernel_dropped == 0
    assert "capture_loss" not in {f.code for f in analysis.findings}
    lossy = isb(1, ended, ifdrop=5000) + isb(0, ended, ifdrop=7)
    analysis = _analyze(_as_pcapng(tmp_path, 33, loopback + lossy))
    assert analysis.traffic.captures[0].kernel_dropped == 7
    [loss] = [f for f in analysis.findings if f.code == "capture_loss"]
    assert "7 packets dropped" in loss.message
