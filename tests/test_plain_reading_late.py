"""A plain NDMP capture started a moment late, its control connection's handshake (or
part of it) not in it but every NDMP message of the session from the agent's greeting
on, analyzed with no profile given, is judged by the ndmp profile (latestart:
flowcheck.verify.plain_reading._seen_from_start, stream_opening).

captures/ndmjob/v4-backup.pcap kept from frame 4 (`editcap -r ... 4-100000`: the SYN,
SYN-ACK and ACK gone, the greeting NOTIFY_CONNECTED first) read FAIL step_out_of_order
("the backup-exec-9 profile expects the media server to open it"), step 2 `unknown`,
where the whole file reads PASS: the plain reading asked for the control connection's
SYN before the first mover-listening announcement. Backup Exec's signs (its vendor
message, its agent's callback to the job engine port the control connection carries)
come after the session's first message, so with that message captured the capture
cannot have missed them. A capture that joined the session later (its first message
read a CONNECT_OPEN reply or later) keeps the doubt, and a Backup Exec lab case (its
profile line removed) cut the same ways never reads as plain NDMP.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from capture_factory import read_pcap, write_pcap
from frame_cuts import kept_from
from stored import CAPTURES

from flowcheck.config import build_config
from flowcheck.config_file import load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.verdict_notes import mid_job_note
from flowcheck.verify.plain_reading import stream_opening

V4 = CAPTURES / "ndmjob" / "v4-backup.pcap"
LAB = CAPTURES / "lab"


def _analysis(capture: Path, values: dict | None = None) -> Analysis:
    """`capture` analyzed with `values` (configuration keys; none: the defaults, no
    profile given)."""
    config = build_config(values or {})
    return analyze(read_traffic([str(capture)], config), config)


def _codes(analysis: Analysis) -> set[str]:
    return {f.code for f in analysis.findings}


@pytest.mark.parametrize("first", [3, 4, 5, 6])
def test_v4_backup_without_its_handshake_reads_plain(tmp_path: Path, first: int) -> None:
    """From frame 3 (the handshake's ACK), 4 (the greeting), 5 (an ACK, then the DMA's
    CONNECT_OPEN request: the greeting alone gone) or 6 (CONNECT_OPEN first): judged by
    the ndmp profile, PASS as the whole file (before: FAIL step_out_of_order)."""
    analysis = _analysis(kept_from(V4, tmp_path / "late.pcap", first))
    assert "profile_inferred" in _codes(analysis), _codes(analysis)
    assert "step_out_of_order" not in _codes(analysis)
    assert [s.profile for s in analysis.sessions] == ["ndmp"]
    assert analysis.verdict == "pass"


def test_v4_backup_ring_without_its_handshake_file_reads_plain(tmp_path: Path) -> None:
    """The same capture as a ring whose oldest file (frames 1-3, the handshake) is gone
    (the ring's head: _gap_may_hide) reads plain too: the greeting, in the file kept,
    comes after the hole."""
    ring = tmp_path / "ring"
    ring.mkdir()
    kept_from(V4, ring / "ring_00002_20261125210206.pcap", 4)
    analysis = _analysis(ring)
    assert "profile_inferred" in _codes(analysis), _codes(analysis)
    assert analysis.verdict == "pass"


@pytest.mark.parametrize("first", [7, 8])
def test_v4_backup_joined_after_its_opening_keeps_the_doubt(tmp_path: Path,
                                                           first: int) -> None:
    """From frame 7 (the CONNECT_OPEN reply first: the DMA's request gone) or 8: the
    session's first message is not in the capture, so neither is proof that nothing of
    Backup Exec came before it: not read as plain NDMP."""
    analysis = _analysis(kept_from(V4, tmp_path / "late.pcap", first))
    assert "profile_inferred" not in _codes(analysis)
    assert [s.profile for s in analysis.sessions] == ["backup-exec-9"]


@pytest.mark.parametrize("case", ["agent-connects-data", "callback-blocked"])
def test_backup_exec_kept_from_later_frames_never_plain(tmp_path: Path, case: str) -> None:
    """A Backup Exec lab job (profile line removed) kept from frame 2, 4 (its greeting
    first), 6, 8, 16 (its vendor request gone) or 20 (vendor message and callback
    handshake gone): its vendor message, its callback, or the doubt of a capture that
    joined the session after its first message keeps backup-exec-9."""
    values = {key: value for key, value in load_file(LAB / f"{case}.toml").items()
              if key != "profile"}
    for first in (2, 4, 6, 8, 16, 20):
        analysis = _analysis(kept_from(LAB / f"{case}.pcap", tmp_path / f"{first}.pcap",
                                        first), values)
        assert "profile_inferred" not in _codes(analysis), (first, _codes(analysis))
        assert {s.profile for s in analysis.sessions} == {"backup-exec-9"}, first
        assert analysis.verdict != "pass", first


def test_v4_backup_without_its_handshake_says_only_the_handshake_is_missing(
        tmp_path: Path) -> None:
    """capture_started_mid_session said "what came before its first captured packet (its
    handshake, any announcement) is not in the capture" and the verdict "The capture
    started mid-job ...: the verdict covers only what the capture holds of it", of a
    capture holding every NDMP message of the job: now it names the greeting it holds,
    and no mid-job note stands under the verdict. From frame 7 (the greeting and the
    CONNECT_OPEN request gone) both keep their words."""
    analysis = _analysis(kept_from(V4, tmp_path / "late.pcap", 4))
    [started] = [f for f in analysis.findings if f.code == "capture_started_mid_session"]
    assert ("its handshake is not in the capture, but the session's first NDMP message is "
            "(the agent's greeting, NOTIFY_CONNECTED, frame 1)") in started.message
    assert "any announcement" not in started.message
    assert started.fix.startswith("Nothing to change for this job")
    assert mid_job_note(analysis) == ""
    later = _analysis(kept_from(V4, tmp_path / "later.pcap", 7))
    [started] = [f for f in later.findings if f.code == "capture_started_mid_session"]
    assert "(its handshake, any announcement) is not in" in started.message
    assert mid_job_note(later).startswith("The capture started mid-job")


def _shutdown_notice(length: int, sequence: int, stamp: int) -> bytes:
    """An NDMP v4 NOTIFY_CONNECTION_STATUS post with the reason SHUTDOWN (1), `length`
    bytes with its record mark, its text padding it out."""
    text = length - 4 - 24 - 12
    body = struct.pack(">III", 1, 4, text) + b"shutting down".ljust(text, b" ")
    header = struct.pack(">IIIIII", sequence, stamp, 0, 0x502, 0, 0)
    return struct.pack(">I", 0x80000000 | (24 + len(body))) + header + body


def _with_shutdown_notice(dst: Path, frame: int) -> Path:
    """v4-backup.pcap with the agent's control message in `frame` (one record, one
    packet) made a SHUTDOWN notice of the same length and sequence number, its TCP
    checksum made again."""
    records = read_pcap(V4)
    ts, data = records[frame - 1]
    ip = data[14:]
    ihl = (ip[0] & 15) * 4
    tcp_length = (ip[ihl + 12] >> 4) * 4
    payload = ip[ihl + tcp_length:]
    sequence, stamp = struct.unpack_from(">II", payload, 4)
    tcp = bytearray(ip[ihl:ihl + tcp_length] + _shutdown_notice(len(payload), sequence,
                                                               stamp))
    tcp[16:18] = b"\0\0"
    summed = ip[12:20] + struct.pack(">BBH", 0, 6, len(tcp)) + bytes(tcp)
    total = sum(struct.unpack(f">{len(summed) // 2}H", summed + b"\0" * (len(summed) % 2)))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    tcp[16:18] = struct.pack(">H", ~total & 0xFFFF)
    records[frame - 1] = (ts, data[:14 + ihl] + bytes(tcp))
    return write_pcap(dst, records)


def test_capture_from_a_shutdown_notice_did_not_start_with_the_session(
        tmp_path: Path) -> None:
    """NOTIFY_CONNECTION_STATUS with the reason SHUTDOWN is the agent's notice that it
    ends the session (NDMP v4; verify.port_check reads it so too), its last message, no
    greeting. The v4 backup with its last DATA_GET_STATE reply (frame 2160) made such a
    notice and kept from it (the capture started after the whole job) said "its
    handshake is not in the capture, but the session's first NDMP message is (the
    agent's greeting, ...): nothing of its job came before the capture", fix "Nothing to
    change for this job", with no mid-job note (review56i): it keeps the mid-session
    words."""
    notice = _with_shutdown_notice(tmp_path / "notice.pcap", 2160)
    analysis = _analysis(kept_from(notice, tmp_path / "late.pcap", 2160))
    [stream] = [s for s in analysis.traffic.streams if s.messages]
    assert stream.messages[0].body.get("reason") == "SHUTDOWN"
    assert stream_opening(stream) is None
    [started] = [f for f in analysis.findings if f.code == "capture_started_mid_session"]
    assert "(its handshake, any announcement) is not in" in started.message
    assert "nothing of its job came before" not in started.message
    assert started.fix.startswith("Start the capture before the job starts")
    assert mid_job_note(analysis).startswith("The capture started mid-job")


def test_greeting_whose_reason_is_cut_opens_with_the_connect_open_next(
        tmp_path: Path) -> None:
    """The v4 backup from its greeting (frame 4) at a snap length of 96 bytes: the
    greeting's reason is cut (a SHUTDOWN notice reads the same), the DMA's CONNECT_OPEN
    request next is the session's opening."""
    cut = tmp_path / "snapped.pcap"
    subprocess.run(["editcap", "-s", "96", str(kept_from(V4, tmp_path / "late.pcap", 4)),
                    str(cut)], check=True, capture_output=True)
    [stream] = [s for s in _analysis(cut).traffic.streams if s.messages]
    assert "reason" not in stream.messages[0].body
    opening = stream_opening(stream)
    assert opening is not None and (opening.frame, opening.type) == (3, "request")
    assert opening.name.endswith("CONNECT_OPEN")


def test_lone_shutdown_notice_is_no_filtered_handshake(tmp_path: Path) -> None:
    """The same notice alone (a capture of data packets from frame 2160 on: the one
    packet) read as a display filter's capture whose session "starts with the agent's
    NOTIFY_CONNECTED (frame 1), its first message on a new connection, but no handshake"
    (verify.kept.greeting_first): it started after the job, capture_started_mid_session."""
    notice = _with_shutdown_notice(tmp_path / "notice.pcap", 2160)
    alone = tmp_path / "alone.pcap"
    subprocess.run(["editcap", "-r", str(notice), str(alone), "2160"], check=True,
                   capture_output=True)
    codes = _codes(_analysis(alone))
    assert "capture_filtered" not in codes, codes
    assert "capture_started_mid_session" in codes, codes
