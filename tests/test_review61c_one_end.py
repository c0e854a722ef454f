"""Review 61c of words61's "one end of the capture, one finding": a job whose start
request the capture lacks (the sniffer lost DATA_START_BACKUP), its data flowing at the
capture's end and its DMA's DATA_GET_STATE unanswered, read two capture_ended_early
warnings, open_transfer's "The backup's data was flowing at the capture's end ..." and
no_reply's "The capture ended ... after the control connection ... carried
DATA_GET_STATE ...": verify.still_running took the request's warning back, but that job
is reported by open_transfer.report_open_transfer, which did not.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pcap_records import stored_records, write_records
from stored import CAPTURES, stored_analysis

NDMJOB = CAPTURES / "ndmjob"


@pytest.fixture(scope="module")
def polled_unstarted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v4-backup's frames 1-1000 without frame 16 (DATA_START_BACKUP, as the sniffer
    loses one), its DATA_GET_STATE (2142) and the agent's ACK of it (2143) moved to after
    frames 990 and 995, each a microsecond after its frame: the transfer still flowing at
    the capture's end (frame 1000), the request acknowledged, not answered. The control
    connection carries nothing else from frame 19 to 2142, so its sequence numbers stay
    in order."""
    linktype, records = stored_records(NDMJOB / "v4-backup.pcap")
    kept = []
    for number, record in enumerate(records[:1000], start=1):
        if number == 16:
            continue
        kept.append(record)
        if number in (990, 995):
            moved = records[2141 if number == 990 else 2142]
            kept.append(replace(moved, micros=record.micros + 1))
    out = tmp_path_factory.mktemp("review61c") / "polled-unstarted.pcap"
    return write_records(out, linktype, kept)


def test_an_open_transfer_and_an_unanswered_request_are_one_finding(
        polled_unstarted: Path) -> None:
    """One capture_ended_early, the open transfer's, saying the unanswered request with
    its frame and asking for 30 s more of capture."""
    analysis = stored_analysis(polled_unstarted, config_path=NDMJOB / "flowcheck.toml")
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert early.message.startswith("The backup's data was flowing at the capture's end")
    assert (" The capture ended 0.0439 ms after the backup's request DATA_GET_STATE (frame "
            "990), before the answer came (an NDMP peer answers at once; 30 s of silence "
            "would show it stopped): whether it came cannot be seen.") in early.message
    assert 990 in early.frames
    assert "at least 30 s after the last NDMP message" in early.fix
    assert analysis.verdict == "inconclusive"
