"""A data connection that never opened, in a capture of the listener's direction only
(trial 22 D3): `tcpdump -Q in` on the media server holds every packet the agent sent;
had the media server's connection to the agent's announced port opened, the agent's
SYN-ACK would be among them. The job read "No error found" (inconclusive)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.report.answer import answer_rows

FOLDER = Path(__file__).resolve().parent.parent / "captures" / "lab-trial22"


def _analysis(capture: Path, config: str) -> Analysis:
    settings = build_config(load_file(FOLDER / config))
    return analyze(read_traffic([str(capture)], settings), settings)


def test_no_answer_among_the_listener_s_packets_is_a_connection_that_never_opened() -> None:
    analysis = _analysis(FOLDER / "data-drop-listener-only.pcap", "data-drop-listener-only.toml")
    assert analysis.verdict == "fail"
    [session] = analysis.sessions
    assert [s.status for s in session.steps] == ["ok", "ok", "ok", "missing", "missing"]
    [error] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert error.code == "announced_not_used" and error.frames == [11]
    # What the capture shows, not that no connection was tried (trial 32 D4).
    assert error.message.startswith(
        "DATA_LISTEN (frame 11) announced 10.77.0.2:6001, but no answer from it is in the "
        "capture, which holds only 10.77.0.2's direction: 10.77.0.1's SYNs or 10.77.0.2's "
        "SYN-ACKs were dropped on the way, or the SYNs never sent (the capture holds "
        "10.77.0.2's packets to 10.77.0.1 for 3.5 s after it, and no answer from "
        "10.77.0.2:6001"), error.message
    assert "whether 10.77.0.1 sent SYNs cannot be seen" in error.message
    assert session.steps[3].detail.startswith("no answer from 10.77.0.2:6001 in the capture")
    assert error.fix.startswith("Allow TCP from 10.77.0.1 to 10.77.0.2:6001 inbound on "
                                "10.77.0.2 and on every firewall")
    assert "capture_one_direction" in {f.code for f in analysis.findings}


def test_the_listener_s_packets_must_outlast_a_retransmission_timeout(tmp_path: Path) -> None:
    """Cut at frame 11 (the announcement): nothing of the agent's after it, so whether a
    connection opened cannot be seen: unknown as before."""
    cut = tmp_path / "cut.pcap"
    subprocess.run(["editcap", "-r", str(FOLDER / "data-drop-listener-only.pcap"), str(cut),
                    "1-11"], check=True, capture_output=True)
    analysis = _analysis(cut, "data-drop-listener-only.toml")
    assert analysis.verdict == "inconclusive"
    assert "announced_not_used" not in {f.code for f in analysis.findings}
    assert analysis.sessions[0].steps[3].status == "unknown"


def test_an_answer_among_the_listener_s_packets_is_an_opened_connection() -> None:
    analysis = _analysis(FOLDER / "clean-listener-only.pcap", "clean-listener-only.toml")
    assert analysis.sessions[0].steps[3].status == "ok"
    assert not [f for f in analysis.findings if str(f.severity) == "error"]


def test_no_answer_to_a_callback_among_the_job_engine_s_packets() -> None:
    """The callback twin (trial 22 D3, left by the first fix): `tcpdump -Q out` on the
    media server, whose firewall drops the callback's SYNs. The capture holds every packet
    the media server sent for 5.5 s after its last request (the vendor message, frame 8)
    until it closed the session: had the agent's callback opened, the job engine's
    SYN-ACK would be among them. Whether the agent sent SYNs, or refused the job in a
    reply the capture lacks, cannot be seen: the message says so."""
    analysis = _analysis(FOLDER / "callback-drop-listener-only.pcap",
                         "callback-drop-listener-only.toml")
    assert analysis.verdict == "fail"
    [session] = analysis.sessions
    assert session.steps[1].status == "missing"
    [error] = [f for f in analysis.findings if str(f.severity) == "error"]
    assert error.code == "step_missing" and error.frames == [8]
    assert "a flowcheck bug" not in error.message
    assert ("the capture holds 10.77.0.1's packets to 10.77.0.2 for 5.5 s after its last "
            "request before the callback was due (frame 8)") in error.message, error.message
    assert "no answer from 10.77.0.1 on a port in 5001-5100" in error.message
    assert "cannot be seen" in error.message and "CONNECT_CLIENT_AUTH" in error.message
    assert error.fix.startswith("Allow TCP from 10.77.0.2 to 10.77.0.1 ports 5001-5100")
    # Its cause line says what is seen, not that no callback opened (trial 32 D4's twin).
    [(_, cause), _] = answer_rows(session, analysis.findings)
    assert "opened" not in cause, cause
    # Up to the either-or, never half of it (review56m: "... were dropped on the way"
    # left out ", or the SYNs never sent"); the message says both.
    assert cause == \
        ("step 2 of the backup-exec-9 profile is missing: "
            "no answer from 10.77.0.1's media ports is in the capture (its direction "
            "only)"), cause
    assert ", or the SYNs never sent (the agent's callback" in error.message
    assert session.steps[1].detail.startswith(
        "no answer from 10.77.0.1 on a media port in the capture, which holds only "
        "10.77.0.1's direction"), session.steps[1].detail
    # The SYN-ACKs' drop is named as in the data version (field check 60), whose fix the
    # callback's already had: the answers' way out.
    assert session.steps[1].detail.endswith(
        "the agent's callback SYNs or 10.77.0.1's SYN-ACKs were dropped on the way, or the "
        "SYNs never sent"), session.steps[1].detail
    assert "its answers back out" in error.fix


def test_a_callback_due_too_close_to_the_end_of_the_job_engine_s_packets(
        tmp_path: Path) -> None:
    """Cut at frame 9: the media server's packets end 0.04 s after its last request (an
    agent that refused the job makes the media server close that soon): unknown."""
    cut = tmp_path / "cut.pcap"
    subprocess.run(["editcap", "-r", str(FOLDER / "callback-drop-listener-only.pcap"),
                    str(cut), "1-9"], check=True, capture_output=True)
    analysis = _analysis(cut, "callback-drop-listener-only.toml")
    assert analysis.verdict == "inconclusive"
    assert analysis.sessions[0].steps[1].status == "unknown"


def test_a_callback_given_to_another_session_is_no_evidence(tmp_path: Path) -> None:
    """The media server's packets of the trial-23 probes capture (a port check, a job, a
    port check), the last port check moved 5 s later: with one direction the job's
    callback was tied to the first port check's session, so the job had none of its own
    and its step 2 had to be unknown, never step_missing. A port check asked nothing and
    takes no callback since trial 25 (sessions.classify.asked_nothing): the job's is its
    own (a callback given to another session: test_verify_connect_check's two open
    sessions)."""
    probes = FOLDER.parent / "lab-trial23-probe" / "connect-check.pcap"
    sent = tmp_path / "sent.pcap"
    subprocess.run(["tcpdump", "-r", str(probes), "-w", str(sent), "src host 10.77.0.1"],
                   check=True, capture_output=True)
    parts = [tmp_path / name for name in ("a.pcap", "b.pcap", "late.pcap", "all.pcap")]
    for command in (["editcap", "-r", str(sent), str(parts[0]), "1-99"],
                    ["editcap", "-r", str(sent), str(parts[1]), "100-104"],
                    ["editcap", "-t", "5", str(parts[1]), str(parts[2])],
                    ["mergecap", "-F", "pcap", "-w", str(parts[3]), str(parts[0]),
                     str(parts[2])]):
        subprocess.run(command, check=True, capture_output=True)
    settings = build_config({"media_range": ["5001-5999"], "agent_range": ["6001-6999"],
                             "media_servers": ["10.77.0.1"]})
    analysis = analyze(read_traffic([str(parts[3])], settings), settings)
    assert "step_missing" not in {f.code for f in analysis.findings}
    assert analysis.sessions[0].callback_uid is None
    assert analysis.sessions[1].steps[1].status == "ok"
