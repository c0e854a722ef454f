"""Review 61c of words61's "one end of the capture, one finding": a job whose start
request the capture lacks (the sniffer lost DATA_START_BACKUP), its data flowing at the
capture's end and its DMA's DATA_GET_STATE unanswered, read two capture_ended_early
warnings, open_transfer's "The backup's data was flowing at the capture's end ..." and
no_reply's "The capture ended ... after the control connection ... carried
DATA_GET_STATE ...": verify.still_running took the request's warning back, but that job
is reported by open_transfer.report_open_transfer, which did not. So did a running job's
data connection reset just before the end (verify.cut_transfer's warning) beside its
unanswered DATA_GET_STATE.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from lab_edits import last_from, next_seq, segment
from pcap_records import stored_records, write_records
from scapy.all import TCP
from scapy_files import read_packets, write_packets
from stored import CAPTURES, stored_analysis

NDMJOB = CAPTURES / "ndmjob"


def _polled(out: Path, *, unstarted: bool) -> Path:
    """v4-backup's frames 1-1000 (without frame 16, DATA_START_BACKUP, as the sniffer
    loses one, when `unstarted`), its DATA_GET_STATE (2142) and the agent's ACK of it
    (2143) moved to after frames 990 and 995, each a microsecond after its frame: the
    transfer still flowing at the capture's end (frame 1000), the request acknowledged,
    not answered. The control connection carries nothing else from frame 19 to 2142, so
    its sequence numbers stay in order."""
    linktype, records = stored_records(NDMJOB / "v4-backup.pcap")
    kept = []
    for number, record in enumerate(records[:1000], start=1):
        if unstarted and number == 16:
            continue
        kept.append(record)
        if number in (990, 995):
            moved = records[2141 if number == 990 else 2142]
            kept.append(replace(moved, micros=record.micros + 1))
    return write_records(out, linktype, kept)


@pytest.fixture(scope="module")
def polled_unstarted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v4-backup's frames 1-1000 without frame 16 (DATA_START_BACKUP, as the sniffer
    loses one), its DATA_GET_STATE (2142) and the agent's ACK of it (2143) moved to after
    frames 990 and 995, each a microsecond after its frame: the transfer still flowing at
    the capture's end (frame 1000), the request acknowledged, not answered. The control
    connection carries nothing else from frame 19 to 2142, so its sequence numbers stay
    in order."""
    return _polled(tmp_path_factory.mktemp("review61c") / "polled-unstarted.pcap",
                   unstarted=True)


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


def test_a_data_reset_at_the_end_and_an_unanswered_request_are_one_finding(
        tmp_path: Path) -> None:
    """_polled with its start, and the agent's RST on the data connection (6015 -> 5014)
    0.1 ms after the last frame: the reset's capture_ended_early says the request too."""
    polled = read_packets(_polled(tmp_path / "polled.pcap", unstarted=False))
    last = last_from(polled, 6015, 5014)
    reset = segment(last, "RA", next_seq(polled, 6015, 5014), last[TCP].ack,
                    polled[-1].time + Decimal("0.0001"))
    capture = write_packets(tmp_path / "polled-reset.pcap", [*polled, reset])
    analysis = stored_analysis(capture, config_path=NDMJOB / "flowcheck.toml")
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert early.uid == "C2" and early.message.startswith(
        "The capture ended right after the data connection 10.77.0.2:6015 -> "
        "10.77.0.1:5014 was reset mid-transfer (RST, frame 1003), with no capture time "
        "after it")
    assert (" The capture ended 0.144 ms after the backup's request DATA_GET_STATE (frame "
            "991), before the answer came") in early.message
    assert 991 in early.frames and 1003 in early.frames
    assert "at least 30 s after the last NDMP message" in early.fix
    assert analysis.verdict == "inconclusive"
