"""A capture stopped while a job's data was still flowing (field check trial 31 D3): the
data connection and its session's control connection still open at the capture's end, no
halt, no FIN from the data's sender, no RST. Whether the transfer completed or failed
after the capture cannot be seen: the data-flow step is `unknown`, the verdict
inconclusive (exit 5), and capture_ended_early says data was flowing. It read PASS with a
"still running" warning only, also for a job that failed later (a reset of the data
connection the capture does not hold). A transfer whose end is in the capture (its
sender's FIN, or its halt) keeps its judgement."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import tshark_fork
from pcap_records import Record, read_records, write_records

from flowcheck.cli.main import run as cli
from flowcheck.config import build_config, load_file
from flowcheck.model import Connection, Step
from flowcheck.pipeline import Analysis, analyze, read_traffic

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def _analyze(capture: Path, config: Path, drop: tuple[str, ...] = ()) -> Analysis:
    values = {k: v for k, v in load_file(config).items() if k not in drop}
    built = build_config(values)
    return analyze(read_traffic([str(capture)], built), built)


def _cut(capture: Path, last: int, tmp_path: Path) -> Path:
    out = tmp_path / f"{capture.stem}-1-{last}.pcap"
    subprocess.run(["editcap", "-r", str(capture), str(out), f"1-{last}"], check=True,
                   capture_output=True)
    return out


def _frames(capture: Path, display_filter: str) -> list[int]:
    return [int(n) for (n,) in tshark_fork.fields(capture, display_filter, "frame.number")]


def _data_step(analysis: Analysis) -> Step:
    """The session's data-flow step: the profile's last (4 in ndmp, 5 in backup-exec-9)."""
    [session] = analysis.sessions
    return session.steps[-1]


def _data_conn(analysis: Analysis) -> Connection:
    [session] = analysis.sessions
    return next(c for c in analysis.traffic.connections
                if c.uid == session.data_connections[-1])


@pytest.mark.parametrize("name", ["art-data-reset-cut", "art-good-cut"])
def test_a_capture_stopped_mid_transfer_is_inconclusive(name: str) -> None:
    """Trial 31's tcpdump -c 300 captures: the first read PASS although its job failed
    later (the router reset the data connection at 1.5 MB), the second's job ended OKAY;
    the capture cannot tell them apart."""
    capture = CAPTURES / "trial31-cut" / f"{name}.pcap.gz"
    config = capture.parent / f"{name}.toml"
    analysis = _analyze(capture, config)
    step = _data_step(analysis)
    assert step.step == 4 and step.status == "unknown"
    assert "data was flowing" in step.detail
    conn = _data_conn(analysis)
    said = f"{conn.orig_bytes:,} B over"  # the agent (originator) sends the backup
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert "data was flowing at the capture's end" in early.message, early.message
    assert said in early.message
    assert "capture until the job ends" in early.message
    # The agent's last data packet, not the media server's ACK after it (frame 300 of
    # art-data-reset-cut): its frame in the words and the evidence.
    [*_, last_data] = _frames(capture, f"ip.src=={conn.orig_h} && tcp.srcport=={conn.orig_p}"
                              " && tcp.len>0")
    assert f"its last data packet frame {last_data}," in early.message, early.message
    assert f"its last data packet frame {last_data}," in step.detail, step.detail
    assert last_data in early.frames
    assert analysis.verdict == "inconclusive"
    assert cli(["analyze", "--config", str(config), str(capture)]) == 5


def test_the_transfer_s_end_in_the_capture_decides(tmp_path: Path) -> None:
    """ndmjob/v4-backup cut around its data connection's close: before the agent's FIN
    (the data's sender) the transfer's end is not in the capture, however little is
    missing; from its FIN on it is, but the job's end (its halt) is not: the warning says
    the data connection closed before the halt was reported, and the data step is
    unknown all the same (a failing job stopped early, its failure after the cut, read
    PASS: the cut sweep's trial37b-firewall-features/meter-reject-media, first 90% of
    its frames)."""
    capture = CAPTURES / "ndmjob" / "v4-backup.pcap"
    config = capture.parent / "flowcheck.toml"
    [sender_fin] = _frames(capture, "tcp.flags.fin==1 && tcp.srcport>=6001 && "
                           "tcp.srcport<=6100")
    for last, flowing in ((sender_fin // 2, True), (sender_fin - 1, True),
                          (sender_fin, False), (sender_fin + 2, False)):
        analysis = _analyze(_cut(capture, last, tmp_path), config)
        step = _data_step(analysis)
        assert step.status == "unknown", (last, step.detail)
        assert ("the job's end is not in the capture" in step.detail) == (not flowing)
        assert analysis.verdict == "inconclusive"
        early = [f.message for f in analysis.findings if f.code == "capture_ended_early"]
        # From the sender's FIN on, the warning says the data connection closed and the
        # halt was not reported, not "still running" (newuser55).
        assert any(("still running" if flowing else "halt was reported") in m
                   for m in early), early
        # The FIN's sender named (the agent, 10.77.0.2; review56b).
        assert any(f"closed (a FIN from 10.77.0.2, frame {sender_fin})" in m
                   for m in early) == (
            last == sender_fin)
        assert any("data was flowing" in m for m in early) == flowing
    whole = _analyze(capture, config)
    assert whole.verdict == "pass" and _data_step(whole).status == "ok"


def test_backup_exec_cut_mid_resource_is_inconclusive_without_resources(
        tmp_path: Path) -> None:
    """Backup Exec-style job (step 5 the data), no `resources` configured (trial 32's
    unseen_resources needs it): cut inside resource 1's data, and inside resource 2's
    after resource 1 halted and closed; cut right after resource 1's data connection
    closed (FIN both ways), its halt not yet in: the job's end is not in the capture
    either (it kept its pass before the cut sweep)."""
    capture = CAPTURES / "lab" / "clean-3-resources.pcap"
    config = capture.with_suffix(".toml")
    fins = _frames(capture, "tcp.flags.fin==1 && tcp.srcport>=6001 && tcp.srcport<=6003")
    for last in (fins[0] // 2, (fins[0] + fins[1]) // 2, fins[0] + 1):
        analysis = _analyze(_cut(capture, last, tmp_path), config, drop=("resources",))
        step = _data_step(analysis)
        assert step.step == 5 and step.status == "unknown", (last, step.detail)
        assert analysis.verdict == "inconclusive"


def test_a_job_started_before_its_one_way_capture_has_its_own_warning() -> None:
    """lab-trial22/clean-listener-only: `tcpdump -Q in` on the media server, its first 40
    frames; the DMA's DATA_START_BACKUP is not in it (one direction), so no "still
    running" warning names the open transfer: capture_ended_early of its own, on the
    data connection, and step 5 unknown (it read PASS)."""
    capture = CAPTURES / "lab-trial22" / "clean-listener-only.pcap"
    analysis = _analyze(capture, capture.with_suffix(".toml"))
    step = _data_step(analysis)
    assert step.step == 5 and step.status == "unknown" and "data was flowing" in step.detail
    conn = _data_conn(analysis)
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert early.uid == conn.uid and conn.last_frame in early.frames
    assert early.message.startswith("The backup's data was flowing at the capture's end")
    assert "step 5 (the data) is unknown" in early.message
    assert analysis.verdict == "inconclusive"


def test_a_transfer_quiet_before_the_capture_s_end_is_said_still_open(
        tmp_path: Path) -> None:
    """The sniffer ran on 5 s past the data's last packet (one unrelated UDP packet then,
    scapy-built): the data connection is still open with no end, so step 4 stays unknown,
    and the words say it was still open, not that data was flowing. The cut's records
    are copied as they are (pcap_records: scapy's rdpcap and wrpcap of the 1,000 frames
    took 2 s for the same file)."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    capture = CAPTURES / "ndmjob" / "v4-backup.pcap"
    cut = _cut(capture, 1000, tmp_path)
    linktype, records = read_records(cut)
    later = bytes(Ether() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=5353, dport=5353))
    ran_on = write_records(tmp_path / "ran-on.pcap", linktype,
                           [*records, Record(records[-1].micros + 5_000_000, len(later), later)])
    analysis = _analyze(ran_on, capture.parent / "flowcheck.toml")
    step = _data_step(analysis)
    assert step.status == "unknown" and "was still open at the capture's end" in step.detail
    assert "data was flowing" not in step.detail
    assert analysis.verdict == "inconclusive"


def _keep(capture: Path, ranges: list[str], tmp_path: Path) -> Path:
    """editcap -r capture with only the frame ranges `ranges` ("1-434", "436-438")."""
    out = tmp_path / f"{capture.name.split('.')[0]}-{'_'.join(ranges)}.pcap"
    subprocess.run(["editcap", "-r", str(capture), str(out), *ranges], check=True,
                   capture_output=True)
    return out


@pytest.mark.parametrize("ranges", [
    ["1-434", "436-438"],  # the media server's FIN (435) lost, the agent's FIN ACKs it
    ["1-434", "438", "440-442"],  # FIN and its ACKs lost, halts lost: DATA_STOP's reply
    ["1-434", "436-438", "440-442"],  # both (review's rl1)
])
def test_a_restore_that_ended_keeps_its_pass(ranges: list[str], tmp_path: Path) -> None:
    """lab restore-2-resources without resource 2's end as captured (frame 435: the media
    server's FIN, the data's sender; 439: NOTIFY_DATA_HALTED and NOTIFY_MOVER_HALTED):
    the agent's FIN acknowledging one past the last byte proves the sender's FIN, and a
    successful DATA_STOP reply (frame 442) says the data service halted. It read PASS at
    871cd83, INCONCLUSIVE since the open transfer rule. Stopped before the DATA_STOP
    reply (the first set, its capture ending at 438), the job's end is not in it: the
    data step is unknown for that, not for data still flowing."""
    capture = CAPTURES / "lab" / "restore-2-resources.pcap"
    analysis = _analyze(_keep(capture, ranges, tmp_path), capture.with_suffix(".toml"))
    step = _data_step(analysis)
    assert not any("data was flowing" in f.message for f in analysis.findings)
    if ranges[-1].endswith("438"):
        assert step.step == 5 and step.status == "unknown", step.detail
        assert "the job's end is not in the capture" in step.detail
        assert analysis.verdict == "inconclusive"
        return
    assert step.step == 5 and step.status == "ok", step.detail
    assert analysis.verdict == "pass"


def test_a_three_way_job_halted_on_the_other_control_connection(tmp_path: Path) -> None:
    """ndmjob-threeway C-v4-3way-bridge without frame 250 (the data connection's last
    FIN/ACK) and from 262 on: the tape server's NOTIFY_MOVER_HALTED (frame 255 of the
    capture, on the DMA's other control connection) ends the job of the data server's
    session, which holds the data connection: both sessions' step 4 keep their ok."""
    capture = CAPTURES / "ndmjob-threeway" / "C-v4-3way-bridge.pcap.gz"
    cut = _keep(capture, ["1-249", "251-261"], tmp_path)
    analysis = _analyze(cut, capture.parent / "C-v4-3way-bridge.toml")
    assert len(analysis.sessions) == 2
    for session in analysis.sessions:
        assert session.steps[3].status == "ok", session.steps[3].detail
    assert not any("data was flowing" in f.message for f in analysis.findings)


def test_a_late_start_cut_mid_transfer_is_inconclusive() -> None:
    """trial 32's restore-2-resources.tbf.m.pcap cut to frames 283-342: no NDMP message of
    the control connection in the capture (a late start), its control connection and the
    data connection open at the end, data flowing: step 4 unknown, not PASS."""
    capture = Path(__file__).parent / "data" / "trial32-late" / "restore-late-mid-transfer.pcap"
    analysis = _analyze(capture, capture.with_suffix(".toml"))
    step = _data_step(analysis)
    assert step.step == 4 and step.status == "unknown", step.detail
    assert "data was flowing" in step.detail
    assert any("data was flowing" in f.message for f in analysis.findings
               if f.code == "capture_ended_early")
    assert analysis.verdict == "inconclusive"


def test_the_words_name_the_data_s_direction(tmp_path: Path) -> None:
    """lab one-direction-out (a backup: the media server connects to the agent, the agent
    sends the data) cut at frame 150, inside resource 2's data: the words say the data
    went from the agent's end to the media server's, then the connection's direction
    (review of the open transfer rule: they named the connection only, media -> agent)."""
    capture = CAPTURES / "lab" / "one-direction-out.pcap"
    analysis = _analyze(_cut(capture, 150, tmp_path), capture.with_suffix(".toml"))
    [session] = analysis.sessions
    agent, media = session.remote_agent, session.media_server
    step = _data_step(analysis)
    assert step.status == "unknown"
    assert f"from {agent}:" in step.detail and f"(connection {media}:" in step.detail, \
        step.detail


def test_the_words_count_the_open_connection_s_payload(tmp_path: Path) -> None:
    """lab one-direction-out (the media server's packets only) cut inside resource 2's
    data (frame 150): resource 1's connection, whose resource the DMA started the next
    after (DATA_START_BACKUP), is not open; the bytes are resource 2's payload, not the
    closing FINs the ACK numbers count (it said "375,961 B"). The receiver that closed
    last, its FIN's ACK counting the sender's FIN: tests/test_verify_open_transfer_restart."""
    last = 150
    capture = CAPTURES / "lab" / "one-direction-out.pcap"
    analysis = _analyze(_cut(capture, last, tmp_path), capture.with_suffix(".toml"))
    conn = _data_conn(analysis)  # resource 2's
    step = _data_step(analysis)
    assert step.status == "unknown" and "data was flowing" in step.detail
    assert "data connections" not in step.detail.split(";")[0], step.detail
    acked = conn.resp_acked_unseen - ("f" in conn.history or "F" in conn.history)
    # No packet of the agent's (the sender's) in the capture: the receiver's last one.
    assert f"its last packet frame {conn.last_frame} (the receiver's" in step.detail, \
        step.detail
    assert f"({acked:,} B over" in step.detail, (acked, step.detail)


def test_a_cut_after_the_receivers_fin_holds_the_transfer_s_end(tmp_path: Path) -> None:
    """The same capture cut after resource 2's receiver's FIN (frame 169: ACK 200002, one
    past its ACK 200001 of the data): the agent's FIN, which the capture lacks, ended the
    transfer. The job's end (the control connection's) is still not in the capture, but
    no data was flowing at its end (it said so, counting "400,000 B")."""
    capture = CAPTURES / "lab" / "one-direction-out.pcap"
    analysis = _analyze(_cut(capture, 170, tmp_path), capture.with_suffix(".toml"))
    conn = _data_conn(analysis)
    assert conn.resp_fin_unseen and not conn.resp_pkts
    step = _data_step(analysis)
    assert step.status == "unknown" and "data was flowing" not in step.detail, step.detail
    assert "the agent's FIN, which the capture lacks" in step.detail
    assert not any("data was flowing" in f.message for f in analysis.findings)
