"""Sniffer loss early in a job hides nothing of its end
(flowcheck.verify.hidden_ends.missed_from)."""

from __future__ import annotations

from pathlib import Path

from pcap_records import read_records, write_records
from stored import errors, stored_analysis

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "ndmjob-idle"


def test_a_request_lost_early_keeps_the_reset_after_the_halt(tmp_path: Path) -> None:
    """idle-rst-agent (a router's RST answered the agent's NOTIFY_DATA_HALTED after the
    control connection sat idle 8.8 s; ndmjob: 'Operation ended in failure') with its
    frame 20, the DMA's first DATA_GET_STATE request (28 bytes), lost by the sniffer
    10 s before the halt: it read PASS, every missed control byte taken as one that may
    hide the job's end."""
    linktype, records = read_records(FOLDER / "idle-rst-agent.pcap.gz")
    kept = records[:19] + records[20:]
    capture = write_records(tmp_path / "lost-request.pcap", linktype, kept)
    analysis = stored_analysis(capture, config_path=FOLDER / "idle-rst-agent.toml")
    assert analysis.verdict == "fail"
    [reset] = errors(analysis)
    assert reset.code == "control_reset"
    assert "after the job halted (NOTIFY_DATA_HALTED" in " ".join(reset.message.split())
    assert any(f.code == "capture_loss" for f in analysis.findings)
