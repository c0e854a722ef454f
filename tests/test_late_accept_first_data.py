"""A connector's data written before the SYN-ACK that came after its job's close
(flowcheck.verify.after_close._late_accept): only data sent once some answer had
reached it says it was answered in time; data in the SYN itself (TCP Fast Open) or
stamped within 5 ms of the SYN-ACK does not (review 51c).

captures/trial41-paths/stray-retry-taken-by-next-job.pcap: job S1's data connection
C2 (10.77.0.2:6049 -> 10.77.0.1:5002) is answered only by S2's listener at frame 35,
after S1 closed: "its SYN retry ... was answered with a SYN-ACK (frame 35) by the
listener session S2 ...".
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pcap_records import Record, read_records, write_records
from stored import errors, sidecar, stored_analysis

from flowcheck.pipeline import Analysis

CAPTURE = (Path(__file__).resolve().parents[1] / "captures" / "trial41-paths"
           / "stray-retry-taken-by-next-job.pcap")
PAYLOAD = b"ndmp-fast"


def _with_payload(record: Record, flags: int | None = None) -> Record:
    """The Ethernet/IPv4/TCP frame carrying PAYLOAD after its TCP header (IP total
    length grown; no checksum kept: flowcheck checks none), its flags replaced."""
    data = bytearray(record.data + PAYLOAD)
    data[16:18] = (int.from_bytes(data[16:18], "big") + len(PAYLOAD)).to_bytes(2, "big")
    if flags is not None:
        data[14 + (data[14] & 0x0F) * 4 + 13] = flags
    return replace(record, data=bytes(data))


def _analysis(tmp_path: Path, records: list[Record], linktype: int) -> Analysis:
    path = write_records(tmp_path / CAPTURE.name, linktype, records)
    return stored_analysis(path, config_path=sidecar(CAPTURE))


def _late_accept_said(analysis: Analysis) -> bool:
    first = errors(analysis)[0]
    return (first.session == "S1" and "was answered with a SYN-ACK (frame 35) by the "
            "listener session S2" in " ".join(first.message.split()))


def test_the_stored_capture_reads_a_late_accept() -> None:
    assert _late_accept_said(stored_analysis(CAPTURE))


def test_fast_open_data_in_the_first_syn_is_no_answer(tmp_path: Path) -> None:
    """The first SYN (frame 12) carrying data, as a TCP Fast Open connect sends it
    (RFC 7413; its retries bare): sent before any answer, so the retry answered after
    the close is still the next job's listener's (95424831 took the SYN's data as the
    connector answered in time)."""
    linktype, records = read_records(CAPTURE)
    records[11] = _with_payload(records[11])
    analysis = _analysis(tmp_path, records, linktype)
    conn = next(c for c in analysis.traffic.connections if c.orig_p == 6049)
    assert conn.orig_first_data is not None and conn.orig_first_data[0] == 12
    assert _late_accept_said(analysis)


@pytest.mark.parametrize(("before", "late"), [(20, True), (20_000, False)])
def test_data_just_before_the_synack(tmp_path: Path, before: int, late: bool) -> None:
    """The connector's first data written `before` microseconds before the SYN-ACK of
    frame 35: 20 us is a capture's queues writing the answer and the data after it the
    other way round, still the late accept; 20 ms before, the data left once some answer
    (one the sniffer lost) had reached it: answered in time, no late accept."""
    linktype, records = read_records(CAPTURE)
    synack, ack = records[34], records[35]  # frames 35 and 36
    data = replace(_with_payload(ack, flags=0x18), micros=synack.micros - before)
    at = next(i for i, r in enumerate(records) if r.micros > data.micros)
    records.insert(at, data)  # in time order: after the SYN retry of frame 34, or before
    analysis = _analysis(tmp_path, records, linktype)
    conn = next(c for c in analysis.traffic.connections if c.orig_p == 6049)
    assert conn.orig_first_data is not None and conn.orig_first_data[0] == at + 1
    assert conn.synack_frames[0] == 36  # the SYN-ACK, after the data
    said = any("was answered with a SYN-ACK (frame 36)" in " ".join(f.message.split())
               for f in analysis.findings)
    assert said is late
