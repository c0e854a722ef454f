"""A data connection that never opened, in a capture of the listener's direction only
(trial 22 D3): `tcpdump -Q in` on the media server holds every packet the agent sent;
had the media server's connection to the agent's announced port opened, the agent's
SYN-ACK would be among them. The job read "No error found" (inconclusive)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import Analysis, analyze, read_traffic

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
    assert error.message.startswith(
        "DATA_LISTEN (frame 11) announced 10.77.0.2:6001 for the data connection, but no "
        "connection to it opened: the capture holds 10.77.0.2's packets to 10.77.0.1 for 3.5 s "
        "after it (one direction only), and no answer from 10.77.0.2:6001")
    assert "whether 10.77.0.1 sent SYNs that were dropped on the way, or none, cannot be seen" \
        in error.message
    assert error.fix.startswith("Allow TCP from 10.77.0.1 to 10.77.0.2:6001 on every firewall")
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
