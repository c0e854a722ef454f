"""Captures that start in the middle of a job (found by a new-user trial, defect 2).

Copies of the stored lab captures as if tcpdump had been started at some frame
(editcap -r). What the capture holds is judged as on a full capture: a data connection
or callback whose SYNs are in it fails on them; what went before it is unknown, never
not_applicable, and a session whose start was not captured is never proven a browse.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def _from_frame(name: str, first: int, tmp_path: Path, keep: str = "") -> Analysis:
    """Analysis of captures/lab/NAME.pcap from frame `first` on (display filter `keep`
    applied too, when given), with the capture's own configuration."""
    late = tmp_path / f"{name}-from{first}.pcap"
    subprocess.run(["editcap", "-r", str(LAB / f"{name}.pcap"), str(late),
                    f"{first}-1000000"], check=True, capture_output=True)
    if keep:
        kept = tmp_path / f"{name}-kept.pcap"
        subprocess.run(["tshark", "-r", str(late), "-Y", keep, "-w", str(kept)], check=True,
                       capture_output=True)
        late = kept
    config = build_config(load_file(LAB / f"{name}.toml"))
    return analyze(read_traffic([str(late)], config), config)


@pytest.mark.parametrize(("name", "code"), [("data-port-dropped", "data_unanswered"),
                                            ("data-port-rejected", "data_refused"),
                                            ("data-port-in-use", "data_refused")])
def test_data_connection_whose_announcement_predates_the_capture_fails_on_its_syns(
        tmp_path: Path, name: str, code: str) -> None:
    # Frame 22 is the data connection's first SYN; its DATA_LISTEN reply was frame 21.
    analysis = _from_frame(name, 22, tmp_path)
    codes = [f.code for f in analysis.findings]
    assert analysis.verdict == "fail" and code in codes, codes
    assert "unannounced_connection" not in codes
    [session] = analysis.sessions
    assert session.kind == "backup"
    assert [s.status for s in session.steps][3] == "failed"


def test_callback_whose_syns_are_in_the_capture_is_judged_on_them(tmp_path: Path) -> None:
    # Frame 17 is the first of the callback's 4 unanswered SYNs.
    analysis = _from_frame("callback-blocked", 17, tmp_path)
    codes = [f.code for f in analysis.findings]
    assert analysis.verdict == "fail" and "callback_unanswered" in codes, codes
    assert "unannounced_connection" not in codes
    [session] = analysis.sessions
    assert session.steps[1].status == "failed"
    assert "before the capture started" not in session.steps[1].detail
    # Whether a backup followed cannot be seen: unknown, not a browse.
    assert [s.status for s in session.steps[2:]] == ["unknown"] * 3


def test_clean_job_from_its_callback_syn_passes(tmp_path: Path) -> None:
    analysis = _from_frame("clean-3-resources", 17, tmp_path)
    codes = [f.code for f in analysis.findings]
    assert analysis.verdict == "pass", codes
    assert "unannounced_connection" not in codes
    [session] = analysis.sessions
    assert session.callback_uid is not None
    assert [s.status for s in session.steps] == ["ok"] * 5
    callback = session.steps[1].detail
    assert "handshake" in callback and "before the capture started" not in callback


def test_session_whose_start_was_not_captured_is_not_a_proven_browse(tmp_path: Path) -> None:
    # From frame 27 on: CONNECT_CLOSE and the closes; the job's DATA_LISTEN and its
    # dropped data connection went before the capture.
    analysis = _from_frame("data-port-dropped", 27, tmp_path)
    assert analysis.verdict == "inconclusive"
    [session] = analysis.sessions
    assert [s.status for s in session.steps[2:]] == ["unknown"] * 3
    assert "capture_started_mid_session" in [f.code for f in analysis.findings]


def test_missing_callback_of_a_session_open_before_the_capture_is_unknown(
        tmp_path: Path) -> None:
    # From frame 20 on the callback (frames 17-19) is gone, the data connection open.
    analysis = _from_frame("data-port-in-use", 20, tmp_path, keep="not tcp.port == 5001")
    [session] = analysis.sessions
    assert session.callback_uid is None
    assert session.steps[1].status == "unknown"


def test_running_connection_before_the_control_packets_is_not_the_callback(
        tmp_path: Path) -> None:
    # From frame 112 on, the data connection (no SYN: its direction is a guess, agent
    # 6002 -> media 5003 by who sent first) comes before the control connection's first
    # packet; the callback to the job engine port 5001 is running too.
    analysis = _from_frame("data-port-in-use", 112, tmp_path)
    [session] = analysis.sessions
    callback = next(c for c in analysis.traffic.connections if c.uid == session.callback_uid)
    assert callback.resp_p == 5001


def test_data_connection_open_before_the_capture_is_the_jobs_whoever_sent_first(
        tmp_path: Path) -> None:
    """Trial 20 D3: from frame 235 on, resource 2's data connection (media 5003 -> agent
    6002, its SYN in frame 216) is first seen by the agent's data: its originator is only
    that packet's sender. By its ports it is the job's data connection, matched to the
    session; not an unannounced connection, nor one opened the wrong way. The job began
    before the capture (resource 1 is not in it): its resources' steps are unknown for
    the whole job, the verdict inconclusive, not PASS (verify.late_job)."""
    analysis = _from_frame("clean-3-resources", 235, tmp_path)
    codes = [f.code for f in analysis.findings]
    assert analysis.verdict == "inconclusive", codes
    assert "unannounced_connection" not in codes and "step_out_of_order" not in codes
    [session] = analysis.sessions
    first = analysis.traffic.connections[0]
    assert (first.orig_p, first.resp_p) == (6002, 5003)  # the agent's data came first
    assert first.uid in session.data_connections and first.uid in session.port_matched
    assert [s.status for s in session.steps] == ["ok"] * 2 + ["unknown"] * 3
    [mid] = [f for f in analysis.findings if f.code == "capture_started_mid_session"]
    assert "1 data connection whose announcement" in mid.message


def test_connection_open_before_the_capture_names_no_opener(tmp_path: Path) -> None:
    """Trial 20 D3: the step detail, the ladder, the connections table and the text
    report's head say the capture cannot show who opened a connection it holds no
    opening of, nor state that its first packet's sender did."""
    from rich.console import Console

    from flowcheck.report.analyze import render_analysis
    from flowcheck.report.connections import render_connections
    from flowcheck.report.ladder_build import build_ladders

    analysis = _from_frame("clean-3-resources", 235, tmp_path)
    first = analysis.traffic.connections[0]
    [session] = analysis.sessions
    assert "C1 matched by ports (its opening is not in the capture, so which end opened " \
        "it cannot be seen)" in session.steps[3].detail, session.steps[3].detail
    [ladder] = build_ladders(analysis)
    [arrow] = [a for a in ladder.arrows if a.uid == first.uid and a.kind == "syn"]
    assert arrow.label == "(open before the capture, opener not in it) :6002 \u2194 :5003"
    console = Console(width=200, record=True, color_system=None)
    render_connections(analysis.traffic.connections, console, packets=1)
    table = console.export_text()
    assert "C1, C2, C4: their opening is not in the capture" in table, table
    console = Console(width=200, record=True, color_system=None)
    render_analysis(analysis, console, ladder=False)
    text = console.export_text()
    # Under the verdict, the inconclusive note's (verify.late_job: the job began before
    # the capture) and this one.
    head = text.splitlines()[:7]
    assert any("The capture started mid-job" in line for line in head), head
    # The step table's connection column: "<->", not the first packet's way as "->".
    assert "10.77.0.2:6002 <-> 10.77.0.1:5003" in text
    assert "10.77.0.2:6002 -> 10.77.0.1:5003" not in text


def test_unannounced_connection_open_before_the_capture_names_no_opener(
        tmp_path: Path) -> None:
    """Trial 20 D3: with the agent range leaving its port 6002 out, the data connection
    open before the capture is no session's: the warning says "between", not "from
    10.77.0.2 to", and reads its ports as a guess."""
    late = tmp_path / "late.pcap"
    subprocess.run(["editcap", "-r", str(LAB / "clean-3-resources.pcap"), str(late),
                    "235-1000000"], check=True, capture_output=True)
    config = build_config({**load_file(LAB / "clean-3-resources.toml"),
                           "agent_range": "6003-6100"})
    analysis = analyze(read_traffic([str(late)], config), config)
    [finding] = [f for f in analysis.findings if f.code == "unannounced_connection"]
    assert "from 10.77.0.2" not in finding.message
    assert finding.message.startswith("A connection between 10.77.0.2:6002 and "
                                      "10.77.0.1:5003, open before the capture started "
                                      "(which end opened it is not in it),"), finding.message


def test_unannounced_connection_after_a_captured_opening_may_have_lost_its_own() -> None:
    """newuser58: a connection first seen after an opening the capture holds was "open
    before the capture started", which the capture disproves no more than it proves (the
    sniffer may have lost its handshake: a NAT'd job's data connection whose handshake
    was lost read so before sessions.matching took it): the words give both readings.
    callbackmatch/keepalive-beside-job: a keepalive between the hosts, first seen after
    the job's control connection's SYN."""
    stored = LAB.parent / "callbackmatch"
    config = build_config(load_file(stored / "keepalive-beside-job.toml"))
    analysis = analyze(read_traffic([str(stored / "keepalive-beside-job.pcap")], config),
                       config)
    [finding] = [f for f in analysis.findings if f.code == "unannounced_connection"]
    assert finding.message.startswith(
        "A connection between 10.77.0.2:7000 and 10.77.0.1:5050, open before the capture "
        "started or its handshake lost by the sniffer (the capture holds an opening before "
        "it; which end opened it is not in it),"), finding.message


@pytest.mark.parametrize(("name", "first", "unknown"), [
    ("clean-3-resources", 17, ""),  # every step shown by what followed
    ("data-port-dropped", 27, "steps 3, 4, 5 stay unknown")])
def test_mid_session_message_agrees_with_the_steps(tmp_path: Path, name: str, first: int,
                                                   unknown: str) -> None:
    """Trial 13 (D8): 'the steps before its first captured packet cannot be checked
    (unknown)' while the table showed steps 1-2 ok (proved by what followed)."""
    analysis = _from_frame(name, first, tmp_path)
    [finding] = [f for f in analysis.findings if f.code == "capture_started_mid_session"]
    assert "cannot be checked" not in finding.message
    assert "judged on what followed it" in finding.message
    if unknown:
        assert unknown in finding.message
    else:
        assert "unknown" not in finding.message
        assert {s.status for s in analysis.sessions[0].steps} == {"ok"}
