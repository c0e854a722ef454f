"""A display filter's result (tshark -Y ndmp -w) of one direction: the DMA's requests
only (flowcheck.verify.kept.greeting_first, flowcheck.verify.answer_seen)."""

from __future__ import annotations

import socket
from pathlib import Path

from pcap_records import read_records, write_records
from stored import errors, stored_analysis

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "ndmjob-filtered-packets"
MEDIA = socket.inet_aton("10.77.0.1")


def _media_side(tmp_path: Path) -> Path:
    linktype, records = read_records(FOLDER / "yndmp-media.pcap")
    kept = [r for r in records if r.data[26:30] == MEDIA]  # Ethernet, IPv4 source
    assert 0 < len(kept) < len(records)
    return write_records(tmp_path / "media-requests.pcap", linktype, kept)


def test_the_dmas_requests_alone_under_a_protocol_filter_judge_no_data_connection(
        tmp_path: Path) -> None:
    """yndmp-media (a good backup's capture saved with -Y ndmp) cut to the media server's
    packets: CONNECT_OPEN first, every packet carrying data, none of the agent's. It
    read `announced_not_used` for DATA_CONNECT's endpoint: no SYN-ACK from the media
    server although its packets were captured for 3 s after, but the filter keeps no
    SYN-ACK. Now the filter is named (capture_filtered) and steps 3-4 are unknown."""
    analysis = stored_analysis(_media_side(tmp_path),
                               config_path=FOLDER / "yndmp-media.toml")
    assert not errors(analysis)
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    assert [s.status for s in session.steps[2:]] == ["unknown", "unknown"]
    [filtered] = [f for f in analysis.findings if f.code == "capture_filtered"]
    assert "starts with the DMA's CONNECT_OPEN (frame 1), its first request on a new " \
        "connection" in " ".join(filtered.message.split())
    assert not any(f.code == "capture_started_mid_session" for f in analysis.findings)


def test_the_dmas_data_stop_alone_is_the_jobs_end(tmp_path: Path) -> None:
    """The same cut: the DMA's DATA_STOP (frame 10) follows the halt it was told of (NDMP
    v4 accepts DATA_STOP in the HALTED state only) and the agent's direction, with the
    NOTIFY_DATA_HALTED and the reply, is not in the capture. It read `capture_ended_early`
    'the capture stopped while the backup was still running'."""
    analysis = stored_analysis(_media_side(tmp_path),
                               config_path=FOLDER / "yndmp-media.toml")
    assert not any(f.code == "capture_ended_early" for f in analysis.findings)
