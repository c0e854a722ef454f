"""A data connection matched to a session by direction and ports only (its announcement
lost by the sniffer) is no evidence of the order of its steps
(flowcheck.verify.order.check_order)."""

from __future__ import annotations

from pathlib import Path

from pcap_records import read_records, write_records
from stored import stored_analysis

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "lab"


def test_a_guessed_data_connection_does_not_put_the_callback_out_of_order(
        tmp_path: Path) -> None:
    """lab/concurrent-jobs (two backups at once, both passing) without its frame 24, the
    agent's DATA_LISTEN reply of the first session: its data connections were matched by
    direction and ports, the other job's among them, and the first session's callback
    'came after the data connection' (step_out_of_order, FAIL)."""
    linktype, records = read_records(FOLDER / "concurrent-jobs.pcap")
    capture = write_records(tmp_path / "lost-listen-reply.pcap", linktype,
                            records[:23] + records[24:])
    analysis = stored_analysis(capture, config_path=FOLDER / "concurrent-jobs.toml")
    assert "step_out_of_order" not in {f.code for f in analysis.findings}
    assert analysis.verdict == "pass"
    assert any(s.port_matched for s in analysis.sessions)
