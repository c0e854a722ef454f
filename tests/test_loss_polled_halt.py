"""A halt the sniffer lost, whose reason the DMA's state poll still read: the state reply
stands for it (flowcheck.verify.replies._polled_halts)."""

from __future__ import annotations

from pathlib import Path

from pcap_records import read_records, write_records
from stored import errors, stored_analysis

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "trial39-server-errors"


def test_a_lost_abnormal_halt_is_read_from_the_state_reply(tmp_path: Path) -> None:
    """tape-full-mover-paused-eom (the tape filled, the DMA aborted the mover: its
    NOTIFY_MOVER_HALTED ABORTED, frame 77) without frame 77 read PASS; its
    MOVER_GET_STATE reply (frame 80) says HALTED, halt_reason ABORTED."""
    linktype, records = read_records(FOLDER / "tape-full-mover-paused-eom.pcap")
    capture = write_records(tmp_path / "lost-halt.pcap", linktype,
                            records[:76] + records[77:])
    analysis = stored_analysis(capture, config_path=FOLDER / "flowcheck.toml")
    assert analysis.verdict == "fail"
    [halted] = errors(analysis)
    assert halted.code == "data_halted_abnormally"
    words = " ".join(halted.message.split())
    assert "halted with reason ABORTED (MOVER_GET_STATE reply, frame 79" in words
    assert "paused before it with reason EOM" in words
