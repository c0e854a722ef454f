""""backup or restore": why the capture cannot tell (flowcheck.verify.kind_guess).

Lab matrix seed 141 (field check 78) runs 8, 13, 14 and 17: Backup Exec backups and a
restore whose data connection failed read alike, "backup or restore (no DATA_START_*
or data in the capture to tell which)". Their captures hold DATA_LISTEN (an address
type, no direction), the failed data connection and the CONNECT_CLOSE that stopped the
job before its DATA_START_*: the words now say that (checked in tshark: run 17's stored
capture, DATA_LISTEN requests frames 23, 32, 39, 47, 55, CONNECT_CLOSE frame 62, no
DATA_START_* or MOVER_* message).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pcap_records import read_records, write_records
from stored import shared_analysis, sidecar, stored_analysis

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
SYNACKS = (CAPTURES / "field78-matrix" /
           "dual-data-synacks-dropped-by-agent-output-media-sll2-loss.pcap.gz")


def test_a_job_stopped_at_its_data_connection_says_why_its_kind_is_not_known() -> None:
    """Run 17 (a backup): the 5 data connections unanswered, then CONNECT_CLOSE."""
    [session] = shared_analysis(SYNACKS).sessions
    assert session.kind == "backup"
    assert session.kind_candidates() == ["backup", "restore"]
    assert session.kind_words() == (
        "backup or restore (the job stopped after step 4 failed, before a "
        "DATA_START_BACKUP or DATA_START_RECOVER would tell which; its DATA_LISTEN names "
        "no direction, nor does which end opened the data connection)")
    assert session.as_dict()["kind_text"] == session.kind_words()
    assert session.kind_words(short=True) == "backup or restore"


def test_a_capture_ended_before_the_data_flowed_names_the_requests_seen() -> None:
    """captures/lab/stopped-after-data-syn.pcap: the capture ended at the data SYN, no
    step failed: nothing tells the kind, and the request seen names no direction."""
    [session] = shared_analysis(CAPTURES / "lab" / "stopped-after-data-syn.pcap").sessions
    assert session.kind_words() == (
        "backup or restore (no DATA_START_* or data in the capture to tell which; its "
        "DATA_LISTEN names no direction, nor does which end opened the data connection)")


def test_a_job_whose_messages_are_in_tls_is_not_said_to_stop_before_data_start() -> None:
    """review64m: field48-tls-start-matrix/dual-stack-data-ack-dropped-tls-start, TLS
    from the control connection's first byte (frame 11), the data connection's ACK
    dropped (the media server held it open, and could have sent DATA_START_BACKUP): the
    capture cannot show that the job stopped before a DATA_START_*; it read "the job
    stopped after step 4 failed, before a DATA_START_BACKUP ..."."""
    capture = (CAPTURES / "field48-tls-start-matrix" /
               "dual-stack-data-ack-dropped-tls-start.pcapng")
    [session] = shared_analysis(capture).sessions
    assert session.kind_words() == (
        "backup or restore (step 4 failed, and its control connection's NDMP messages are "
        "in TLS from frame 11 on, where a DATA_START_BACKUP or DATA_START_RECOVER would "
        "tell which)")


def test_a_request_unread_after_the_failed_step_is_named(tmp_path: Path) -> None:
    """field48-matrix/lost-listen-reply-data-refused (a hole in the agent's side at frame
    24, every request read, none a DATA_START_*: the job stopped before one) with its
    CONNECT_CLOSE request (frame 31) cut to 10 bytes of its record, as a snap length
    would: a request the capture cannot read came after step 4 failed, so it may have
    been a DATA_START_*."""
    source = CAPTURES / "field48-matrix" / "lost-listen-reply-data-refused.pcap.gz"
    [session] = shared_analysis(source).sessions
    assert session.kind_words().startswith("backup or restore (the job stopped after step 4")
    linktype, records = read_records(source)
    close = records[30]
    assert len(close.data) == 100  # 72 of headers, its 28-byte CONNECT_CLOSE record
    cut = [*records[:30], replace(close, data=close.data[:82]), *records[31:]]
    capture = write_records(tmp_path / "cut.pcap", linktype, cut)
    [session] = stored_analysis(capture, config_path=sidecar(source)).sessions
    assert session.kind_words() == (
        "backup or restore (step 4 failed, and the capture could not read a record of its "
        "control connection after it (frame 31: cut by the snap length, a hole, or not "
        "NDMP), where a DATA_START_BACKUP or DATA_START_RECOVER would tell which; its "
        "DATA_LISTEN names no direction, nor does which end opened the data connection)")


def test_a_mover_request_whose_mode_is_cut_is_not_said_to_name_no_direction(
        tmp_path: Path) -> None:
    """review64m: NDMP v4's MOVER_LISTEN names its direction (ndmp4_mover_listen_request:
    mode READ or WRITE, then the address type). ndmjob-threeway/D-v4-3way-datadrop-dma
    with the tape server's MOVER_LISTEN request (frame 29) cut before its body, as a snap
    length would: its kind a guess, it read "its MOVER_LISTEN names no direction"."""
    source = CAPTURES / "ndmjob-threeway" / "D-v4-3way-datadrop-dma.pcap.gz"
    linktype, records = read_records(source)
    listen = records[28]
    assert len(listen.data) == 102  # 66 of headers, 4 + 24 + mode and address type
    capture = write_records(tmp_path / "cut.pcap", linktype,
                            [*records[:28], replace(listen, data=listen.data[:94]),
                             *records[29:]])
    tape = next(s for s in stored_analysis(capture, config_path=sidecar(source)).sessions
                if s.remote_agent == "10.77.1.3")
    assert tape.kind_words() == (
        "backup or restore (no DATA_START_* or data in the capture to tell which; the mode "
        "of its MOVER_LISTEN (READ or WRITE), which would tell, is not in the capture)")
