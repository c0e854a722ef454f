"""A callback's lone SYN: one SYN, no answer, never resent, the job stopped after it
(flowcheck.verify.unresent, flowcheck.verify.lone_callback_syn). Stored captures of
dropped callbacks, their resent SYNs removed at test time with editcap, as a sniffer
that lost them would have left them; the frames found with tshark's own retransmission
analysis.

The capture alone cannot tell a drop from a reject, and unlike a data connection's
CONNECT no NDMP message answers for the callback: what the control connection shows is
that the job stopped (the session closed after the SYN with nothing further). The
message says so and what the capture lacks; the fix names both readings and the
agent's log that tells them apart (it named the allow rule for a drop alone).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import tshark_fork
from stored import stored_analysis

from flowcheck.pipeline import Analysis
from flowcheck.report.answer import gist

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
RESENT = "tcp.flags.syn==1 && tcp.flags.ack==0 && tcp.analysis.retransmission"


def _without_resends(tmp_path: Path, capture: Path) -> Path:
    """The capture less the SYNs tshark marks as retransmissions (editcap)."""
    source = capture
    if capture.suffix == ".gz":
        source = tmp_path / capture.stem
        source.write_bytes(subprocess.run(["gzip", "-dc", str(capture)], check=True,
                                          capture_output=True).stdout)
    listed = [frame for (frame,) in tshark_fork.fields(source, RESENT, "frame.number")]
    assert listed
    out = tmp_path / f"{capture.name.split('.')[0]}-lone.pcap"
    subprocess.run(["editcap", str(source), str(out), *listed], check=True,
                   capture_output=True)
    return out


def _callback(analysis: Analysis) -> tuple[str, str]:
    [found] = [f for f in analysis.findings if f.code == "callback_unanswered"]
    return " ".join(found.message.split()), " ".join(found.fix.split())


def test_a_lone_callback_syn_names_the_stop_and_both_readings(tmp_path: Path) -> None:
    """lab/callback-blocked less the agent's 3 resent SYNs: still failed (the media
    server closed the session 5.5 s after the SYN with nothing further), said first so
    the headline's cause carries it; what the capture lacks and that no NDMP message
    tells the callback's end; the fix both readings, the agent's log and the sniffer."""
    folder = CAPTURES / "lab"
    analysis = stored_analysis(_without_resends(tmp_path, folder / "callback-blocked.pcap"),
                               config_path=folder / "callback-blocked.toml")
    assert analysis.verdict == "fail"
    assert analysis.sessions[0].steps[1].status == "failed"
    message, fix = _callback(analysis)
    assert ("tried to call the job engine back at 10.77.0.1:5001 (step 2) and failed: the "
            "media server closed the session (CONNECT_CLOSE, frame 19) 5.5 s after its SYN "
            "with nothing further, so the job stopped after it; whether a firewall dropped or "
            "rejected it the capture cannot tell. Its one SYN (frame 17) got no answer in the "
            "capture and was never resent") in message
    assert ("no NDMP message reports how the agent's connect ended (the job engine's address "
            "travels in a vendor message, frame 15)") in message
    assert gist(message).endswith("and failed: the media server closed the session 5.5 s "
                                  "after its SYN with nothing further, so the job stopped "
                                  "after it")
    assert fix.startswith("The capture cannot tell a drop from a reject here, and no NDMP "
                          "message says how the callback failed: the agent 10.77.0.2's log "
                          "does (\"timed out\": dropped; \"connection refused\": rejected, or "
                          "nothing listened on 10.77.0.1:5001)")
    assert "If dropped: allow TCP from 10.77.0.2 to 10.77.0.1 ports 5001-5100" in fix
    assert "If rejected: if the port was in use: on 10.77.0.1 find what holds TCP port 5001" \
        in fix
    assert "The capture lacks the SYN's resends or the reject that stopped them" in fix


def test_the_resent_callback_syns_of_a_real_drop_read_as_before() -> None:
    """The same capture whole (its 4 SYNs): the resends prove the drop; no word of the
    close, no reject, no sniffer."""
    folder = CAPTURES / "lab"
    analysis = stored_analysis(folder / "callback-blocked.pcap")
    assert analysis.verdict == "fail"
    message, fix = _callback(analysis)
    assert "(step 2) and never got an answer: something drops its SYNs" in message
    assert "CONNECT_CLOSE" not in message and "cannot be seen" not in message
    assert fix.startswith("Allow TCP from 10.77.0.2 to 10.77.0.1 ports 5001-5100")
    assert "sniffer" not in fix and "If rejected" not in fix


def test_a_limited_callback_keeps_the_limit_first(tmp_path: Path) -> None:
    """trial43-callback-limit/callback-limited-second-job less the second job's resent
    callback SYNs: the first job's callback through the same way still points at a limit
    first; then both readings, not the allow rule alone."""
    folder = CAPTURES / "trial43-callback-limit"
    capture = _without_resends(tmp_path, folder / "callback-limited-second-job.pcapng.gz")
    analysis = stored_analysis(capture, config_path=folder / "callback-limited-second-job.toml")
    assert analysis.verdict == "fail"
    message, fix = _callback(analysis)
    assert "(step 2) and failed: the media server closed the session (CONNECT_CLOSE" in message
    # Another job's callback passed: a limit, a rule for some ports, or a rule changed
    # between the jobs, none the likelier (flowcheck.verify.limit_words; trial 56).
    assert "opened 8.98 s before through the same path, in an earlier job (session S1; " in message
    assert "so what stops this one is a limit on new connections" in message
    assert "or a rule changed between the two jobs" in message
    assert "more likely" not in message
    assert fix.startswith("On the firewalls between 10.43.1.2 and 10.43.1.1, look for a limit")
    assert "else: the capture cannot tell a drop from a reject here" in fix
    assert "If dropped: allow TCP" in fix and "If rejected:" in fix


def test_a_lone_rejected_callback_reads_the_same(tmp_path: Path) -> None:
    """lab/callback-rejected less the ICMP reject (administratively prohibited) that
    answered its one SYN: its control connection is the dropped one's (the media server
    closes the session 5.5 s later, nothing from the agent between), so the words and
    the fix are the same, both readings named (it read the allow rule alone)."""
    folder = CAPTURES / "lab"
    capture = tmp_path / "callback-rejected-lone.pcap"
    subprocess.run(["editcap", str(folder / "callback-rejected.pcap"), str(capture), "18"],
                   check=True, capture_output=True)
    analysis = stored_analysis(capture, config_path=folder / "callback-rejected.toml")
    assert analysis.verdict == "fail"
    message, fix = _callback(analysis)
    assert ("(step 2) and failed: the media server closed the session (CONNECT_CLOSE, frame "
            "19) 5.5 s after its SYN with nothing further") in message
    assert "If dropped: allow TCP" in fix and "If rejected: if the port was in use" in fix
