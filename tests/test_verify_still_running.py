"""capture_ended_early of a job still running where the capture ends
(flowcheck.verify.still_running) reads every control connection of a three-way job, as
the open transfer rule does (flowcheck.verify.open_transfer.last_halt): the tape
server's NOTIFY_MOVER_HALTED on the DMA's other control connection ends the data
server's session's job too. It said "no NOTIFY_DATA_HALTED or NOTIFY_MOVER_HALTED came
after it" for the data server's session, reading only its own control connection, while
the data step, reading both, kept its ok."""

from __future__ import annotations

import subprocess
from pathlib import Path

import tshark_fork

from flowcheck.config import build_config, load_file
from flowcheck.model import endpoint
from flowcheck.pipeline import Analysis, analyze, read_traffic

CAPTURE = (Path(__file__).resolve().parent.parent / "captures" / "ndmjob-threeway"
           / "C-v4-3way-bridge.pcap.gz")
CONFIG = CAPTURE.parent / "C-v4-3way-bridge.toml"


def _keep(ranges: list[str], tmp_path: Path) -> Analysis:
    """The analysis of CAPTURE with only the frame ranges `ranges` (editcap -r)."""
    out = tmp_path / f"threeway-{'_'.join(ranges)}.pcap"
    subprocess.run(["editcap", "-r", str(CAPTURE), str(out), *ranges], check=True,
                   capture_output=True)
    built = build_config(load_file(CONFIG))
    return analyze(read_traffic([str(out)], built), built)


def _ndmp_frames(op: str) -> list[int]:
    """Frames of CAPTURE holding an NDMP message named `op` (tshark's ndmp.msg)."""
    return [int(n) for (n,) in tshark_fork.fields(CAPTURE, f"ndmp.msg == {op}", "frame.number")]


def test_a_halt_on_the_other_control_connection_ends_the_job(tmp_path: Path) -> None:
    """Cut after the tape server's NOTIFY_MOVER_HALTED (on 5878 -> 10.77.1.3) and before
    the data server's NOTIFY_DATA_HALTED (on 5510 -> 10.77.1.2), the data connection's
    last FIN/ACK left out: neither session is still running."""
    [mover_halted] = _ndmp_frames("0x503")[:1]  # NDMP_NOTIFY_MOVER_HALTED
    [data_halted] = _ndmp_frames("0x501")[:1]  # NDMP_NOTIFY_DATA_HALTED
    assert mover_halted < data_halted
    analysis = _keep(["1-249", f"251-{data_halted - 1}"], tmp_path)
    assert len(analysis.sessions) == 2
    running = [f.message for f in analysis.findings if "still running" in f.message]
    assert not running, running
    for session in analysis.sessions:
        assert session.steps[3].status == "ok", session.steps[3].detail


def test_a_three_way_job_cut_mid_transfer_names_both_control_connections(
        tmp_path: Path) -> None:
    """Cut at frame 150, inside the data: each session's warning says no halt came on
    either of the job's control connections, naming the other one; the data server's
    names the open transfer."""
    analysis = _keep(["1-150"], tmp_path)
    controls = {s.id: next(c for c in analysis.traffic.connections if c.uid == s.control_uid)
                for s in analysis.sessions}
    assert len(controls) == 2
    for session in analysis.sessions:
        [other] = [c for sid, c in controls.items() if sid != session.id]
        [early] = [f.message for f in analysis.findings if f.session == session.id
                   and f.code == "capture_ended_early" and "still running" in f.message]
        assert ("came after it on either of the job's control connections (the other: "
                f"{endpoint(other.orig_h, other.orig_p)} -> "
                f"{endpoint(other.resp_h, other.resp_p)})") in early, early
    assert any("data was flowing" in f.message for f in analysis.findings
               if f.code == "capture_ended_early")
