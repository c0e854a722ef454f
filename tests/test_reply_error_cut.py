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


def test_a_version_retry_whose_answer_was_cut_is_no_version_taken() -> None:
    """CONNECT_OPEN refused (frame 6, the version), the DMA's second CONNECT_OPEN answered
    by a reply the capture cut (frame 8): the cut reply read as the later CONNECT_OPEN that
    succeeded (replies.reply_severity's `not m.error`), "this alone does not fail a job".
    Whether the agent took the version cannot be seen: the refusal a warning that names
    the cut reply, neither a version agreed nor a job stopped by the refusal; a second
    refusal in the place of the cut reply keeps the refusal an error."""
    from test_verify_scenarios import A, M, conn, msg, run

    from flowcheck.model import NdmpStream

    def refusal(second):  # noqa: ANN001, ANN202 - test helper
        control = conn("Nctl", M, 5001, A, 10000, 0.0, end=20.0, orig_bytes=200,
                       resp_bytes=300)
        stream = NdmpStream("Nctl", version=4, messages=[
            msg(4, 0.1, "orig", "request", "CONNECT_OPEN"),
            msg(6, 0.2, "resp", "reply", "CONNECT_OPEN", error=1,
                error_name="NDMP_NOT_SUPPORTED_ERR"),
            msg(7, 0.3, "orig", "request", "CONNECT_OPEN"), second,
            msg(9, 0.5, "orig", "request", "CONNECT_CLIENT_AUTH"),
            msg(10, 0.6, "resp", "reply", "CONNECT_CLIENT_AUTH")])
        _, findings = run([control], [stream])
        return next(f for f in findings if f.code == "ndmp_error_reply" and f.frames == [6])

    cut = msg(8, 0.4, "resp", "reply", "CONNECT_OPEN", error_name=None)  # type: ignore[arg-type]
    cut.partial = True
    assert cut.error_unknown
    finding = refusal(cut)
    assert str(finding.severity) == "warning"
    assert "does not fail a job" not in finding.message
    assert "(frame 8)" in finding.message and "cannot be seen" in finding.message
    assert "NDMP protocol version" in finding.fix and "tape" not in finding.fix
    again = refusal(msg(8, 0.4, "resp", "reply", "CONNECT_OPEN", error=1,
                        error_name="NDMP_NOT_SUPPORTED_ERR"))
    assert str(again.severity) == "error"
    taken = refusal(msg(8, 0.4, "resp", "reply", "CONNECT_OPEN"))
    assert str(taken.severity) == "warning" and "does not fail a job" in taken.message


def test_a_one_way_start_whose_answer_was_cut_still_starts_the_job(tmp_path: Path) -> None:
    """field38-matrix/agent-killed-one-direction-in (the agent's packets only: its
    DATA_START_BACKUP reply, frame 13, stands for the unseen request) cut by the snap
    length (`editcap -s 90`: 24 B of TCP payload, every reply's error word cut). The
    agent closed the control connection while its data connection carried 131,072 B:
    control_closed, as the whole capture reads. leftovers62 left the cut reply out of
    one_way_start.agent_start (no start, nothing judged: PASS, step 5 `ok` on the bytes);
    a cut reply stands for its request as a lost start's does, the words say its error
    was not captured. trial39-server-errors/start-backup-before-data-connect seen so,
    its ILLEGAL_STATE_ERR reply cut (the DMA closed at once: a refusal's signs), is no
    start either way: inconclusive, no control_closed."""
    import subprocess

    folder, name = CAPTURES / "field38-matrix", "agent-killed-one-direction-in"
    cut = tmp_path / "snap90.pcap"
    subprocess.run(["editcap", "-F", "pcap", "-s", "90", str(folder / f"{name}.pcap"), str(cut)],
                   check=True, capture_output=True)
    analysis = stored_analysis(cut, config_path=case_config(folder, name))
    [reply] = _messages(analysis, "DATA_START_BACKUP", 13)
    assert reply.error_unknown
    assert analysis.verdict == "fail"
    [closed] = [f for f in analysis.findings if f.code == "control_closed"]
    assert "(frame 13, its error not captured, and the session went on as after a success)" \
        in " ".join(closed.message.split())

    folder, name = CAPTURES / "trial39-server-errors", "start-backup-before-data-connect"
    one_way = tmp_path / "agent-only.pcap"
    subprocess.run(["tcpdump", "-r", str(folder / f"{name}.pcap"), "-w", str(one_way),
                    "src host 10.77.0.2"], check=True, capture_output=True)
    refused = cut_reply(tmp_path, tmp_path, "agent-only", 7, keep=28)
    analysis = stored_analysis(refused, config_path=case_config(folder, name))
    [reply] = _messages(analysis, "DATA_START_BACKUP", 7)
    assert reply.error_unknown
    assert analysis.verdict == "inconclusive"
    assert not [f for f in analysis.findings if f.code in ("control_closed", "control_reset")]
