"""Stored captures cut to 96 bytes a frame (`tcpdump -s 96`): a halt's absence after a
job's start is evidence only when every record sent after the start kept its header
(flowcheck.verify.snapped_halts); a close mid-job with records unread after the start
leaves the data step unknown."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pcap_records import read_records, write_records
from stored import errors, stored_analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def _snapped(tmp_path: Path, capture: Path, snap: int = 96) -> Path:
    """capture with each record cut to its first `snap` bytes (wire lengths kept)."""
    linktype, records = read_records(capture)
    return write_records(tmp_path / f"s{snap}.pcap", linktype,
                         [replace(r, data=r.data[:snap]) for r in records])


def test_a_killed_agent_with_loss_before_the_start_under_a_snap_length(
        tmp_path: Path) -> None:
    """field38-matrix/agent-killed-loss-before-start (one reply lost before
    DATA_START_BACKUP) cut to 96 bytes: every header from the start on is in it, so the
    agent's FIN with no halt after the start is control_closed (it passed: a snap-cut
    stream counted as readable only with no byte missed anywhere)."""
    folder = CAPTURES / "field38-matrix"
    analysis = stored_analysis(
        _snapped(tmp_path, folder / "agent-killed-loss-before-start.pcap.gz"),
        config_path=folder / "agent-killed-loss-before-start.toml")
    [closed] = errors(analysis)
    assert closed.code == "control_closed"
    assert "kept every header from the job's start on" in " ".join(closed.message.split())


def test_a_close_mid_job_with_records_unread_after_the_start_is_unknown(
        tmp_path: Path) -> None:
    """ndmjob-pathloss/dma-killed-pathloss-media cut to 96 bytes: the agent's file
    history packs several records a packet, their headers cut, so a halt may hide among
    them before the DMA's FIN: the data step unknown, inconclusive (it passed)."""
    folder = CAPTURES / "ndmjob-pathloss"
    analysis = stored_analysis(_snapped(tmp_path, folder / "dma-killed-pathloss-media.pcap.gz"),
                               config_path=folder / "dma-killed-pathloss-media.toml")
    assert not errors(analysis)
    assert analysis.verdict == "inconclusive"
    step = analysis.sessions[0].steps[-1]
    assert step.status == "unknown"
    assert "the snap length cut the headers of records sent after the start (the last in " \
        "frame 416): a halt may be among them" in " ".join(step.detail.split())


def test_a_job_its_dma_stopped_after_an_unread_halt_still_passes(tmp_path: Path) -> None:
    """lab/clean-3-resources cut to 96 bytes: each resource's NOTIFY_DATA_HALTED shares a
    packet with a LOG_FILE record and loses its header, but the DMA's DATA_STOP after it
    ends each resource as a job ends: pass."""
    folder = CAPTURES / "lab"
    analysis = stored_analysis(_snapped(tmp_path, folder / "clean-3-resources.pcap"),
                               config_path=folder / "clean-3-resources.toml")
    assert analysis.verdict == "pass"


def test_a_stall_whose_halt_lost_its_reason_is_unknown(tmp_path: Path) -> None:
    """lab-trial23/midjob-agent-firewall cut to 96 bytes: the media server's FIN on the
    data connection resent, never acknowledged (the agent's own firewall), and the halt
    of the resource, CONNECT_ERROR in the whole capture, lost its reason: a normal end
    and a failure cannot be told apart, so the data step is unknown (it passed)."""
    folder = CAPTURES / "lab-trial23"
    analysis = stored_analysis(_snapped(tmp_path, folder / "midjob-agent-firewall.pcap.gz"),
                               config_path=folder / "midjob-agent-firewall.toml")
    assert analysis.verdict == "inconclusive"
    step = analysis.sessions[0].steps[-1]
    assert step.status == "unknown"
    words = " ".join(step.detail.split())
    assert "stopped delivering (resent, never acknowledged" in words
    assert "NOTIFY_DATA_HALTED (frame 365) lost its reason to the snap length" in words


def test_a_reset_whose_halt_lost_its_reason_is_unknown(tmp_path: Path) -> None:
    """trial39-server-errors/resident-tape-full-dma-abort cut to 96 bytes: the media
    server reset the data connection (its tape full) and the agent's halt, ABORTED in
    the whole capture, lost its reason: unknown, not a pass."""
    folder = CAPTURES / "trial39-server-errors"
    analysis = stored_analysis(
        _snapped(tmp_path, folder / "resident-tape-full-dma-abort.pcap.gz"),
        config_path=folder / "flowcheck.toml")
    assert analysis.verdict == "inconclusive"
    assert "was reset (RST, frame 791)" in " ".join(analysis.sessions[0].steps[-1].detail.split())
