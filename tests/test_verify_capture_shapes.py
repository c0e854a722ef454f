"""A clean lab job captured differently (issue 9): stopped early, one direction only,
`-s 54`. The capture, not the network, lost the packets, so no error may come out:
verdict inconclusive (exit 5) with the step that cannot be seen `unknown`, or pass.

Each shape is cut from the stored lab capture with the real tools a user would have
used (editcap -r, editcap -s, tcpdump -r with a direction filter).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import tshark_fork
from scapy_files import read_packets, write_packets

from flowcheck.cli.main import run as cli
from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
CLEAN = LAB / "clean-3-resources.pcap"
CONFIG = LAB / "clean-3-resources.toml"
# Frames of clean-3-resources: 1 control SYN, 2 its SYN-ACK, 17 the callback's SYN,
# 22 the first data connection's SYN (tshark -r ... lists them).
FIRST_DATA_SYN = 22


def _shape(tmp_path: Path, name: str) -> Path:
    out = tmp_path / f"{name}.pcap"
    if name.startswith("stop-"):
        last = {"stop-control-syn": 1, "stop-control-synack": 2, "stop-callback-syn": 17,
                "stop-data-syn": FIRST_DATA_SYN}[name]
        command = ["editcap", "-r", str(CLEAN), str(out), f"1-{last}"]
    elif name == "snap-54":
        command = ["editcap", "-s", "54", str(CLEAN), str(out)]
    else:
        sender = "10.77.0.1" if name == "media-server-out-only" else "10.77.0.2"
        command = ["tcpdump", "-r", str(CLEAN), "-w", str(out), f"src host {sender}"]
    subprocess.run(command, check=True, capture_output=True)
    return out


def _analyze(capture: Path):  # noqa: ANN202
    config = build_config(load_file(CONFIG))
    return analyze(read_traffic([str(capture)], config), config)


def _step_statuses(analysis) -> list[str]:  # noqa: ANN001
    return [s.status for s in analysis.sessions[0].steps]


@pytest.mark.parametrize(("name", "unknown_steps", "warning"), [
    ("stop-control-syn", [1, 2, 3, 4, 5], "capture_ended_early"),
    ("stop-control-synack", [1, 2, 3, 4, 5], "capture_ended_early"),
    ("stop-callback-syn", [2, 3, 4, 5], "capture_ended_early"),
    ("stop-data-syn", [4, 5], "capture_ended_early"),
    ("snap-54", [3], "ndmp_partial"),
])
def test_capture_shapes_of_a_clean_job_are_inconclusive(tmp_path: Path, name: str,
                                                        unknown_steps: list[int],
                                                        warning: str) -> None:
    capture = _shape(tmp_path, name)
    analysis = _analyze(capture)
    errors = [f.code for f in analysis.findings if str(f.severity) == "error"]
    assert errors == []
    assert warning in {f.code for f in analysis.findings}
    steps = analysis.sessions[0].steps
    assert [s.step for s in steps if s.status == "unknown"] == unknown_steps
    assert all(s.status in ("ok", "unknown") for s in steps)
    assert all(s.detail.startswith("unknown: ") for s in steps if s.status == "unknown")
    assert analysis.verdict == "inconclusive"
    assert cli(["analyze", "--config", str(CONFIG), str(capture)]) == 5


def test_agent_side_only_still_shows_every_step(tmp_path: Path) -> None:
    """Only agent -> media server captured: the agent's SYN-ACKs, replies (with the
    DATA_LISTEN endpoints) and the data itself prove every step."""
    analysis = _analyze(_shape(tmp_path, "agent-out-only"))
    assert _step_statuses(analysis) == ["ok"] * 5
    one_way = [f for f in analysis.findings if f.code == "capture_one_direction"]
    assert len(one_way) == 1 and "from 10.77.0.1 to 10.77.0.2" in one_way[0].message
    assert analysis.verdict == "pass"


def test_media_server_side_only_is_proved_by_its_acks(tmp_path: Path) -> None:
    """Only media server -> agent captured (tcpdump 'src host M', a SPAN port mirroring
    what the media server sends): the agent's data and replies are not in the capture,
    but the media server's ACKs acknowledge the bytes it received (step 5). The
    connections that carried them (matched by direction and ports) show the announced
    ports reached, not the addresses the DATA_LISTEN replies (the missing direction)
    gave (a NAT between the hosts: verify.lost_announcement): step 3 ok, the address
    unchecked, pass with capture_one_direction (new-user trial 54; it was inconclusive with step
    3 unknown, before that pass, before that inconclusive with steps 3 and 5 unknown)."""
    analysis = _analyze(_shape(tmp_path, "media-server-out-only"))
    assert _step_statuses(analysis) == ["ok"] * 5
    steps = analysis.sessions[0].steps
    assert "the media server's ACKs acknowledge 600,003 B of it (backup" in steps[4].detail
    assert "acknowledged by the receiver's ACKs" in steps[2].detail
    # Step 1 no longer says "0 B agent -> media server" of bytes it never saw; the
    # direction comes first, so "not captured" cannot read as the handshake's.
    assert ", agent -> media server not captured (" in steps[0].detail
    # The agent's FIN, which the media server's own FIN and ACK one past prove, is no
    # byte (field check 51: it read "... (N+1 B of it acknowledged)").
    assert "B of it acknowledged, and its FIN)" in steps[0].detail
    assert "0 B agent -> media server" not in steps[0].detail
    assert [f.code for f in analysis.findings if str(f.severity) != "info"] == \
        ["capture_one_direction"]
    assert "cannot be checked" in steps[2].detail
    assert analysis.verdict == "pass"
    [data] = [c for c in analysis.traffic.connections if c.role == "data"][:1]
    assert data.resp_bytes == 0 and data.resp_acked_unseen == 200001  # 200000 B + FIN


def test_one_direction_is_not_claimed_for_a_full_capture() -> None:
    analysis = _analyze(CLEAN)
    assert "capture_one_direction" not in {f.code for f in analysis.findings}
    assert analysis.verdict == "pass"


@pytest.mark.parametrize(("capture", "code"), [
    ("callback-blocked", "callback_unanswered"),
    ("data-port-dropped", "data_unanswered"),
    ("control-dropped", "control_unanswered"),
])
def test_real_drops_keep_their_error(capture: str, code: str) -> None:
    """Negative controls: retransmitted SYNs are evidence, whatever the capture's end."""
    analysis = _analyze_with_own_config(LAB / f"{capture}.pcap")
    assert code in {f.code for f in analysis.findings if str(f.severity) == "error"}
    assert analysis.verdict == "fail"


def test_real_drop_cut_right_after_its_first_retry_keeps_its_error(tmp_path: Path) -> None:
    capture = LAB / "control-dropped.pcap"
    retry = tshark_fork.fields(capture, "tcp.flags.syn==1 && tcp.flags.ack==0",
                               "frame.number")[1][0]
    cut = tmp_path / "cut.pcap"
    subprocess.run(["editcap", "-r", str(capture), str(cut), f"1-{retry}"], check=True,
                   capture_output=True)
    analysis = _analyze_with_own_config(cut, capture.with_suffix(".toml"))
    assert "control_unanswered" in {f.code for f in analysis.findings}


def _analyze_with_own_config(capture: Path, config_path: Path | None = None):  # noqa: ANN202
    config = build_config(load_file(config_path or capture.with_suffix(".toml")))
    return analyze(read_traffic([str(capture)], config), config)


def _sent_by(tmp_path: Path, capture: Path, sender: str) -> Path:
    """Only what sender sent: a SPAN port or tcpdump -Q that sees one way."""
    out = tmp_path / f"{capture.stem}-from-{sender}.pcap"
    subprocess.run(["tcpdump", "-r", str(capture), "-w", str(out), f"src host {sender}"],
                   check=True, capture_output=True)
    return out


@pytest.mark.parametrize(("capture", "sender", "code"), [
    ("callback-blocked", "10.77.0.2", "callback_unanswered"),  # tcpdump -Q in on M
    ("data-port-dropped", "10.77.0.1", "data_unanswered"),  # tcpdump -Q out on M
    ("ndmjob/v4-backup-media-firewall-drop", "10.77.0.2", "data_unanswered"),  # the agent's
])
def test_real_one_way_failure_seen_from_one_direction_stays_an_error(
        tmp_path: Path, capture: str, sender: str, code: str) -> None:
    """SYNs retransmitted with no ACK after them: dropped, whichever direction was kept."""
    path, config = _stored(capture)
    analysis = _analyze_with_own_config(_sent_by(tmp_path, path, sender), config)
    codes = {f.code for f in analysis.findings}
    assert code in codes and "capture_one_direction" in codes
    assert "handshake_incomplete" not in codes and "control_unanswered" not in codes
    assert "unannounced_connection" not in codes
    assert analysis.verdict == "fail"


def test_control_syns_alone_may_have_lost_their_syn_ack_on_the_way_back(
        tmp_path: Path) -> None:
    """Only the media server's SYNs to the NDMP port (tcpdump -Q out on it, trial 8 D6),
    cut from a capture where the agent answered each and the SYN-ACKs were dropped at the
    media server: nothing shows the other direction was captured, nor that it was not
    (no capture_one_direction). The retries prove no answer arrived, so step 1 failed and
    control_unanswered stands (the connection never opened), but it no longer blames the
    SYNs alone: the SYN-ACK may have been sent and lost, and the fix names both rules."""
    path, config = _stored("ndmjob/v4-control-synack-dropped-at-media")
    one_way = _sent_by(tmp_path, path, "10.77.0.1")
    analysis = _analyze_with_own_config(one_way, config)
    [unanswered] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert unanswered.code == "control_unanswered"
    assert "capture_one_direction" not in {f.code for f in analysis.findings}
    message, fix = unanswered.message, unanswered.fix
    assert "or the answers on the way back" in message
    assert ("holds no packet at all from 10.77.0.2 to 10.77.0.1, so it may hold one "
            "direction only") in message
    assert "a SYN-ACK sent by 10.77.0.2 and lost on the return path, or a reject (RST, ICMP " \
        "unreachable) the capture lacks, looks the same as no answer at all. The retried " \
        "SYNs show that no SYN-ACK or RST reached 10.77.0.1 (an ICMP unreachable may have" \
        in message
    assert "Allow TCP from 10.77.0.1 to 10.77.0.2 port 10000 (NDMP port) outbound on the " \
        "media server and inbound on the agent" in fix
    assert "TCP from 10.77.0.2 port 10000 back to 10.77.0.1 ports 5001-5100 (the media " \
        "range: this connection's source port 5095 is drawn from it anew each time) " \
        "outbound on the agent and inbound on the media server" in fix
    [step] = [s for s in analysis.sessions[0].steps if s.step == 1]
    assert step.status == "failed" and analysis.verdict == "fail"
    # With the agent's packets in the capture, its SYN-ACKs show the return path.
    full = _analyze_with_own_config(path, config)
    assert [f.code for f in full.findings if str(f.severity) == "error"] == [
        "handshake_incomplete"]
    # A capture that holds packets from the agent to the media server (another
    # connection) shows that direction was captured: the SYNs were dropped on the way.
    answered = _analyze_with_own_config(LAB / "control-dropped.pcap")
    [dropped] = [f for f in answered.findings if f.code == "control_unanswered"]
    assert "or the answers on the way back" in dropped.message  # the same shape alone
    both = tmp_path / "both.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(both), str(LAB / "control-dropped.pcap"),
                    str(_sent_by(tmp_path, LAB / "clean-3-resources.pcap", "10.77.0.2"))],
                   check=True, capture_output=True)
    seen = _analyze_with_own_config(both, LAB / "control-dropped.toml")
    [dropped] = [f for f in seen.findings if f.code == "control_unanswered"]
    # No SYN-ACK of it anywhere: the SYNs or their answers, as for the data connection.
    assert "or the SYN-ACKs on the way back: the capture holds no SYN-ACK" in dropped.message
    assert "holds no packet at all" not in dropped.message
    assert "TCP from 10.77.0.2 port 10000 back to 10.77.0.1 port" in dropped.fix


def _stored(name: str) -> tuple[Path, Path]:
    """(capture, its configuration): lab captures by name, ndmjob/NAME the ndmjob ones."""
    if name.startswith("ndmjob/"):
        folder = LAB.parent / "ndmjob"
        return folder / f"{name.removeprefix('ndmjob/')}.pcap", folder / "flowcheck.toml"
    return LAB / f"{name}.pcap", LAB / f"{name}.toml"


@pytest.mark.parametrize(("capture", "sender", "step"), [
    # The agent's data SYNs (dropped by M's firewall) are not in what M sent.
    ("ndmjob/v4-backup-media-firewall-drop", "10.77.0.1", 3),
    # M's data SYNs (dropped by A's firewall) are not in what A sent.
    ("data-port-dropped", "10.77.0.2", 4),
])
def test_a_data_connection_the_kept_listener_never_answered_never_opened(
        tmp_path: Path, capture: str, sender: str, step: int) -> None:
    """Trial 22 D3: the capture holds the listener's packets for seconds after the
    announcement, none an answer from the announced endpoint: had the data connection
    opened, its SYN-ACK would be there. announced_not_used (it was unknown: "No error
    found"), saying whether SYNs were sent cannot be seen."""
    path, config = _stored(capture)
    analysis = _analyze_with_own_config(_sent_by(tmp_path, path, sender), config)
    errors = [f for f in analysis.findings if str(f.severity) == "error"]
    assert [f.code for f in errors] == ["announced_not_used"]
    assert f"the capture holds {sender}'s packets to " in errors[0].message
    # What is seen, not that nothing tried it (trial 32 D4).
    assert f"no answer from it is in the capture, which holds only {sender}'s direction" \
        in errors[0].message, errors[0].message
    assert "SYNs or " in errors[0].message
    assert "'s SYN-ACKs were dropped on the way, or the SYNs never sent" in errors[0].message
    (missing,) = [s for s in analysis.sessions[0].steps if s.step == step]
    assert missing.status == "missing" and analysis.verdict == "fail"


def test_a_callback_the_kept_job_engine_never_answered_never_opened(tmp_path: Path) -> None:
    """The callback's twin of the test above (trial 22 D3, re-check of trials 22-24): the
    agent's callback SYNs (dropped by M's firewall) are not in what M sent, but M's packets
    go on for seconds after its last request, none an answer from a media port: had the
    callback opened, M's SYN-ACK would be there. step_missing (it was unknown: "No error
    found"), saying whether SYNs were sent cannot be seen."""
    path, config = _stored("callback-blocked")
    analysis = _analyze_with_own_config(_sent_by(tmp_path, path, "10.77.0.1"), config)
    errors = [f for f in analysis.findings if str(f.severity) == "error"]
    assert [f.code for f in errors] == ["step_missing"]
    assert "the capture holds 10.77.0.1's packets to 10.77.0.2 for " in errors[0].message
    assert "a flowcheck bug" not in errors[0].message
    assert analysis.sessions[0].steps[1].status == "missing" and analysis.verdict == "fail"


@pytest.mark.parametrize(("capture", "sender", "step", "gone"), [
    # M's ICMP reject is not in what A sent: one SYN, no retry, is not "unanswered".
    ("callback-rejected", "10.77.0.2", 2, "callback_unanswered"),
])
def test_failure_the_kept_direction_cannot_show_is_unknown(
        tmp_path: Path, capture: str, sender: str, step: int, gone: str) -> None:
    """A real failure captured from the side that never saw it: whatever would show it
    (the connector's SYNs, the answer to them) travels the direction the capture lacks,
    so the step is unknown and the verdict inconclusive, never an error. (A data
    connection or callback whose listener's packets are kept is another case: the tests
    above.)"""
    path, config = _stored(capture)
    one_way = _sent_by(tmp_path, path, sender)
    analysis = _analyze_with_own_config(one_way, config)
    codes = {f.code for f in analysis.findings}
    assert gone not in codes and "capture_one_direction" in codes
    assert [f.code for f in analysis.findings if str(f.severity) == "error"] == []
    (unknown,) = [s for s in analysis.sessions[0].steps if s.step == step]
    assert unknown.status == "unknown" and "one direction only" in unknown.detail
    assert analysis.verdict == "inconclusive"
    assert cli(["analyze", "--config", str(config), str(one_way)]) == 5


def test_cut_announcement_the_kept_direction_cannot_follow_is_unknown(tmp_path: Path) -> None:
    """-s 100 cuts the address out of the agent's DATA_LISTEN reply; with only what the
    agent sent, M's SYNs to it cannot be seen: not announced_not_used, and step 4 is
    unknown (it was "missing" with no error: a pass)."""
    cut = tmp_path / "s100.pcap"
    subprocess.run(["editcap", "-s", "100", str(LAB / "data-port-dropped.pcap"), str(cut)],
                   check=True, capture_output=True)
    analysis = _analyze_with_own_config(_sent_by(tmp_path, cut, "10.77.0.2"),
                                        LAB / "data-port-dropped.toml")
    assert "announced_not_used" not in {f.code for f in analysis.findings}
    assert [s.status for s in analysis.sessions[0].steps][3:] == ["unknown", "unknown"]
    assert analysis.verdict == "inconclusive"


def test_retransmission_timeout_flag_reaches_the_analysis(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    capture = _shape(tmp_path, "stop-control-syn")
    code = cli(["analyze", "--config", str(CONFIG), "--retransmission-timeout", "1",
                "--format", "json", str(capture)])
    document = json.loads(capsys.readouterr().out)
    assert code == 5 and document["verdict"] == "inconclusive"
    assert document["config"]["retransmission_timeout"] == 1.0
    (early,) = [f for f in document["findings"] if f["code"] == "capture_ended_early"]
    assert "(1 s retransmission timeout)" in early["message"]


def test_restore_seen_from_the_agent_side_only_is_not_a_backup_without_data(
        tmp_path: Path) -> None:
    """The agent's DATA_START_RECOVER reply says the job is a restore: its bytes went the
    way the capture lacks (it was a backup with step 5 missing and no error finding: a
    pass), and the agent's ACKs acknowledge them (step 5 was then unknown)."""
    out = tmp_path / "restore-agent-side.pcap"
    subprocess.run(["tcpdump", "-r", str(LAB / "restore-2-resources.pcap"), "-w", str(out),
                    "src host 10.77.0.2"], check=True, capture_output=True)
    config = build_config(load_file(LAB / "restore-2-resources.toml"))
    analysis = analyze(read_traffic([str(out)], config), config)
    [session] = analysis.sessions
    assert session.kind == "restore"
    assert session.steps[4].status == "ok"
    assert "the agent's ACKs acknowledge 400,002 B of it (restore" in session.steps[4].detail
    assert analysis.verdict == "pass"


def test_ndmp_on_another_port_than_configured_is_said_in_step_1(tmp_path: Path) -> None:
    """The agent's NDMP service on 10001 while the configuration says 10000: flowcheck
    finds the control connection by its content; step 1 says the port is not the
    configured one, and never compares the NDMP port with the agent's dynamic range (it
    said "agent port 10001 outside 6001-6100", a new-user trial)."""
    from scapy.all import TCP

    packets = read_packets(str(CLEAN))
    for packet in packets:
        if TCP in packet:
            for field in ("sport", "dport"):
                if getattr(packet[TCP], field) == 10000:
                    setattr(packet[TCP], field, 10001)
            del packet[TCP].chksum
    moved = tmp_path / "ndmp-10001.pcap"
    write_packets(str(moved), packets)
    analysis = _analyze(moved)
    step = analysis.sessions[0].steps[0]
    assert step.status == "ok"
    assert "NDMP port 10001 (NDMP by its content, not the configured ndmp_port 10000" in \
        step.detail
    assert "agent port 10001" not in step.detail
    plain = _analyze(CLEAN).sessions[0].steps[0].detail
    assert "NDMP port 10000, media port" in plain and "configured" not in plain
