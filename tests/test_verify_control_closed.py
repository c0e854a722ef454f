"""A control connection closed (FIN) while its job is running: `control_closed` (error).

A side that ends its NDMP session in the middle of a resource, with no NOTIFY_DATA_HALTED
or NOTIFY_MOVER_HALTED, has given the job up: its service stopped, restarted or
crashed (the system closes a process's connections with FIN when it ends). The job
fails ("Communication Failure has occurred between the Job Engine and Remote Agent"),
yet every step the capture holds worked, so it passed.

Built from captures/lab/clean-3-resources.pcap: cut inside its second resource (frame
219 is that resource's DATA_START_BACKUP, no halt until later), then a FIN exchange on
the control connection begun by one side.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import tshark_fork
from lab_edits import LAB, analyze_lab, fin_close, lab_packets, write
from scapy.all import TCP

from flowcheck.pipeline import Analysis

NAME = "clean-3-resources"
CUT = 300  # inside resource 2: after its DATA_START_BACKUP (219), before its halt


def _closed_capture(tmp_path: Path, cut: int, closer_port: int, name: str) -> Path:
    """The first `cut` frames, then a FIN exchange on the control connection begun by
    the side whose port is `closer_port` (10000: the agent), 1 ms after the cut."""
    packets = lab_packets(NAME, cut)
    media_port = packets[0][TCP].sport
    other_port = media_port if closer_port == 10000 else 10000
    close = fin_close(packets, closer_port, other_port, packets[-1].time + Decimal("0.001"))
    return write(tmp_path, name, [*packets, *close])


def _analyze(path: Path) -> Analysis:
    return analyze_lab(path, NAME)


def test_agent_closing_the_control_connection_mid_resource_is_an_error(
        tmp_path: Path) -> None:
    analysis = _analyze(_closed_capture(tmp_path, CUT, 10000, "agent-closed"))
    [finding] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert finding.code == "control_closed" and analysis.verdict == "fail"
    assert "was closed by the agent 10.77.0.2 (FIN, frame 301) while the job's resource 2 " \
        "was running (DATA_START_BACKUP, frame 219" in finding.message
    assert "NDMP service" in finding.message and "agent's" in finding.fix
    assert 219 in finding.frames and 301 in finding.frames
    assert "capture_ended_early" not in {f.code for f in analysis.findings}


def test_media_server_closing_it_mid_resource_names_the_job_engine(tmp_path: Path) -> None:
    analysis = _analyze(_closed_capture(tmp_path, CUT, 5039, "media-closed"))
    [finding] = [f for f in analysis.findings if f.code == "control_closed"]
    assert "was closed by the media server 10.77.0.1 (FIN, frame 301)" in finding.message
    assert "job engine" in finding.message and "media server's" in finding.fix


def test_a_close_after_the_last_halt_is_the_normal_end(tmp_path: Path) -> None:
    """Cut after the last resource's NOTIFY_DATA_HALTED: the job was over; a FIN then
    ends the session as every job does."""
    halts = [int(n) for (n,) in tshark_fork.fields(
        LAB / f"{NAME}.pcap", "ndmp.msg==0x501", "frame.number")]  # NOTIFY_DATA_HALTED
    assert len(halts) == 3
    for closer in (10000, 5039):
        path = _closed_capture(tmp_path, halts[-1] + 1, closer, f"after-{closer}")
        assert "control_closed" not in {f.code for f in _analyze(path).findings}


def test_a_state_reply_saying_halted_is_a_halt(tmp_path: Path) -> None:
    """A DMA that polls DATA_GET_STATE learns of the end from a reply in state HALTED
    (2), with no NOTIFY_DATA_HALTED: its close then ends a finished job."""
    from flowcheck.config import build_config
    from flowcheck.model import NdmpMessage, NdmpStream
    from flowcheck.profiles import load_profile
    from flowcheck.verify.context import Context
    from flowcheck.verify.open_transfer import polled_halted

    def reply(state: int, ts: float) -> NdmpMessage:
        return NdmpMessage(frame=1, ts=ts, direction="resp", sequence=2, type="reply",
                           code=0x400, name="NDMP_DATA_GET_STATE", error=0,
                           reply_sequence=1, body={"state": state})

    halted = NdmpStream(uid="C1", messages=[reply(2, 5.0)])
    active = NdmpStream(uid="C1", messages=[reply(1, 5.0)])
    ctx = Context([], [halted], [], build_config({}), load_profile("ndmp"))
    assert polled_halted(ctx, halted, 1, 4.0)
    assert not polled_halted(ctx, halted, 1, 6.0)
    assert not polled_halted(ctx, active, 1, 4.0)
