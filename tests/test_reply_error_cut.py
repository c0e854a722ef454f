"""Replies whose error word the snap length cut (NdmpMessage.error_unknown, error_name
None: field70 made such records messages) read as replies that said NDMP_NO_ERR by the
checks that ask "did it succeed?" (leftovers62, after review62b's running._start_refused).
Each capture is a stored case with one reply cut to 24 B of TCP payload (the record mark
and the header, the body's error word cut: `-s 90` on Ethernet), its length on the wire
kept, as test_start_error_cut cuts them; `tshark -r` reads the cut reply's header whole
and its body "[Packet size limited during capture]".
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pcap_records import read_records, tcp_of, write_records
from stored import case_config, stored_analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def cut_reply(tmp_path: Path, folder: Path, name: str, frame: int, keep: int = 24) -> Path:
    """folder/name with frame `frame` (1-based, an Ethernet IPv4 TCP frame) cut to `keep`
    B of TCP payload, its length on the wire kept."""
    capture = next(p for p in folder.iterdir() if p.name in (f"{name}.pcap", f"{name}.pcap.gz"))
    linktype, records = read_records(capture)
    record = records[frame - 1]
    tcp = tcp_of(record.data)
    assert tcp is not None and tcp.payload > keep
    records[frame - 1] = replace(record, data=record.data[:len(record.data) - tcp.payload + keep])
    return write_records(tmp_path / f"{name}-{frame}-{keep}.pcap", linktype, records)


def _messages(analysis, op: str, frame: int):  # noqa: ANN001, ANN202 - test helper
    return [m for s in analysis.traffic.streams for m in s.messages
            if m.frame == frame and m.name == f"NDMP_{op}"]


def test_a_tape_retry_whose_answer_was_cut_is_no_drive_got(tmp_path: Path) -> None:
    """trial40-rules/tape-busy-retry-succeeds: TAPE_OPEN answered DEVICE_BUSY_ERR (frame
    69), the session's later TAPE_OPEN reply (frame 127) cut: its error unknown read as a
    retry that succeeded ("Nothing to fix for this job: a later TAPE_OPEN of the session
    succeeded"). Whether the drive was got cannot be seen: a hedged warning that names
    the cut reply, neither the drive got nor the job stopped by the refusal."""
    folder, name = CAPTURES / "trial40-rules", "tape-busy-retry-succeeds"
    path = cut_reply(tmp_path, folder, name, 127)
    analysis = stored_analysis(path, config_path=case_config(folder, name))
    [reply] = _messages(analysis, "TAPE_OPEN", 127)
    assert reply.error_unknown and reply.error_name is None
    [busy] = [f for f in analysis.findings
              if f.code == "ndmp_error_reply" and 69 in (f.frames or [])]
    assert str(busy.severity) == "warning"
    assert "succeeded" not in busy.fix
    assert "frame 127" in busy.message + busy.fix and "cannot be seen" in busy.message


def test_a_start_whose_answer_was_cut_is_not_said_answered(tmp_path: Path) -> None:
    """trial25-cause/pmtu-blackhole-no-data: its DATA_START_BACKUP reply (frame 26) cut.
    The data connection's stall read "for 30 s after DATA_START_BACKUP was answered
    (frame 26)", a start accepted that the capture does not show: the reply is named
    with its error not captured, and no wait is counted from a start accepted."""
    folder, name = CAPTURES / "trial25-cause", "pmtu-blackhole-no-data"
    path = cut_reply(tmp_path, folder, name, 26)
    analysis = stored_analysis(path, config_path=case_config(folder, name))
    [reply] = _messages(analysis, "DATA_START_BACKUP", 26)
    assert reply.error_unknown
    [stall] = [f for f in analysis.findings if f.code == "data_stalled"]
    assert "was answered (frame 26)" not in stall.message
    assert "error not captured" in stall.message
