"""data_refused names NDMP's own confirmation of the refusal (field check 72, lab matrix
seed 135 run 14: ndmjob's data connection rejected admin-prohibited at the media server,
its DATA_CONNECT answered NDMP_CONNECT_ERR, which data_refused left unmentioned).

captures/ndmjob-firewall/v4-media-reject-adminprohib.pcap is the same shape: the agent's
SYNs (frames 12, 15) rejected by ICMP (13, 16), DATA_CONNECT (frame 11) answered
NDMP_CONNECT_ERR (frame 17). NDMPv2 carries the address in DATA_START_BACKUP, whose
error reply confirms it the same way (v2-media-reject-icmp); Backup Exec's job in
captures/lab/data-port-rejected.pcap ends with no error reply to name.
"""

from __future__ import annotations

from pathlib import Path

from stored import stored_analysis

from flowcheck.model import Finding

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
FOLDER = CAPTURES / "ndmjob-firewall"
CONFIRMED = ("NDMP's own word confirms the refusal: DATA_CONNECT (frame 11) was answered "
             "NDMP_CONNECT_ERR (frame 17) by the agent: its connect to the endpoint failed.")


def _refused(capture: Path) -> Finding:
    [finding] = [f for f in stored_analysis(capture).findings if f.code == "data_refused"]
    return finding


def test_the_connect_error_reply_confirms_the_refusal_with_its_frames() -> None:
    finding = _refused(FOLDER / "v4-media-reject-adminprohib.pcap")
    assert finding.message.endswith(" " + CONFIRMED), finding.message
    assert {11, 17} <= set(finding.frames), finding.frames


def test_a_v2_start_error_confirms_it_and_no_reply_names_none() -> None:
    finding = _refused(FOLDER / "v2-media-reject-icmp.pcap")
    assert finding.message.endswith(
        " NDMP's own word confirms the refusal: DATA_START_BACKUP (frame 11) was answered "
        "NDMP_UNDEFINED_ERR (frame 17) by the agent: its connect to the endpoint failed."), \
        finding.message
    assert {11, 17} <= set(finding.frames), finding.frames
    finding = _refused(CAPTURES / "lab" / "data-port-rejected.pcap")
    assert "confirms" not in finding.message, finding.message
