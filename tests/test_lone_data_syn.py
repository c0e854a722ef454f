"""A data connection's lone SYN: one SYN, no answer, never resent, the job stopped after
it (flowcheck.verify.unresent). Stored captures of dropped and rejected data SYNs, their
resends (and the rejects) removed at test time with editcap, as a sniffer that lost them
would have left them; the frames found with tshark's own retransmission analysis.

The capture alone cannot tell a drop from a reject; the control connection can: a
CONNECT request left unanswered (or failed after the retransmission timeout) says the
SYNs were dropped, one failed at once says rejected, one answered NDMP_NO_ERR says the
connection opened (the sniffer lost the rest). Without such a word the fix names both
and which log tells; it named a firewall rule only.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import tshark_fork
from stored import stored_analysis

from flowcheck.pipeline import Analysis

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
# The data SYNs TCP resent (tshark's analysis), and any ICMP reject.
RESENT = "tcp.flags.syn==1 && tcp.flags.ack==0 && tcp.analysis.retransmission"


def _without(tmp_path: Path, capture: Path, display_filter: str) -> Path:
    """The capture less the frames tshark's display filter selects (editcap)."""
    listed = [frame for (frame,) in tshark_fork.fields(capture, display_filter, "frame.number")]
    assert listed, display_filter
    out = tmp_path / f"{capture.stem}-lone.pcap"
    subprocess.run(["editcap", str(capture), str(out), *listed], check=True,
                   capture_output=True)
    return out


def _analysis(tmp_path: Path, folder: str, name: str, display_filter: str = RESENT
              ) -> Analysis:
    capture = CAPTURES / folder / f"{name}.pcap"
    return stored_analysis(_without(tmp_path, capture, display_filter),
                           config_path=CAPTURES / folder / f"{name}.toml")


def _unanswered(analysis: Analysis) -> tuple[str, str]:
    [found] = [f for f in analysis.findings if f.code == "data_unanswered"]
    return " ".join(found.message.split()), " ".join(found.fix.split())


def test_a_connect_left_unanswered_says_dropped(tmp_path: Path) -> None:
    """v4-restore-data-syn-drop-at-media less the agent's 7 resent SYNs: DATA_CONNECT
    stayed unanswered 15 s, so no reject came: dropped, said first (the headline's
    cause), the fix the drop's rule and the sniffer's loss (it read "whether a firewall
    dropped or rejected it the capture cannot tell" with the firewall rule alone)."""
    analysis = _analysis(tmp_path, "ndmjob-firewall", "v4-restore-data-syn-drop-at-media")
    assert analysis.verdict == "fail"
    message, fix = _unanswered(analysis)
    assert ("10.77.0.1:5014 never opened: DATA_CONNECT (frame 13) was never answered by the "
            "agent in the 15 s") in message
    assert "its SYNs were dropped, and the sniffer lost their resends. Its one SYN" in message
    assert fix.startswith("Allow TCP from 10.77.0.2 to 10.77.0.1 ports 5001-5100")
    assert "The capture lacks the SYN's resends (the sniffer lost packets)" in fix
    assert "If rejected" not in fix


def test_a_connect_error_at_once_says_rejected(tmp_path: Path) -> None:
    """v4-media-reject-adminprohib less the resent SYN and both ICMP rejects: the agent's
    CONNECT_ERR came 1 s after the SYN, as a reject makes it: rejected, the reject's fix."""
    analysis = _analysis(tmp_path, "ndmjob-firewall", "v4-media-reject-adminprohib",
                         f"({RESENT}) || icmp")
    assert analysis.verdict == "fail"
    message, fix = _unanswered(analysis)
    assert ("10.77.0.1:5080 never opened: DATA_CONNECT (frame 11) was answered "
            "NDMP_CONNECT_ERR (frame 14) by the agent") in message
    assert "1.01 s after its SYN" in message and "most likely rejected" in message
    # The mover announced the endpoint (DATA_CONNECT, frame 11): it had bound the port,
    # so no port in use to free (newuser61 6).
    assert fix.startswith("If a firewall rejects it: allow TCP from 10.77.0.2 to 10.77.0.1"), fix
    assert "port was in use" not in fix and "around the announcement (frame 11)" in fix
    assert "The capture lacks the reject" in fix


def test_no_word_of_the_connect_names_both_and_the_log(tmp_path: Path) -> None:
    """lab/data-port-dropped (Backup Exec: the media server connects with no CONNECT
    request) less its 3 resent SYNs: still failed (the job stopped after it), and the
    fix says what the capture could not show and where to look, not one rule."""
    analysis = _analysis(tmp_path, "lab", "data-port-dropped")
    assert analysis.verdict == "fail"
    message, fix = _unanswered(analysis)
    assert "whether a firewall dropped or rejected it the capture cannot tell" in message
    assert fix.startswith("The capture cannot tell a drop from a reject here")
    assert "10.77.0.1's log does (\"timed out\": dropped; \"connection refused\"" in fix
    assert "If dropped: allow TCP" in fix and "If rejected: if the port was in use" in fix


def test_the_resent_syns_of_a_real_drop_read_as_before(tmp_path: Path) -> None:
    """The same capture whole (its 8 SYNs): the retries prove the drop, the control
    connection's word is not needed and not added."""
    folder = CAPTURES / "ndmjob-firewall"
    analysis = stored_analysis(folder / "v4-restore-data-syn-drop-at-media.pcap")
    message, fix = _unanswered(analysis)
    assert "10.77.0.1:5014 was never answered: something drops its SYNs" in message
    assert "DATA_CONNECT" not in message
    assert "sniffer" not in fix and "If rejected" not in fix


def test_a_connect_answered_no_err_opened(tmp_path: Path) -> None:
    """trial27/toc-filehist-a less every packet of its data connection but the SYN:
    DATA_CONNECT was answered NDMP_NO_ERR, so it opened and the sniffer lost the rest:
    no data_unanswered (it read "never opened"); the control connection's close stays."""
    analysis = _analysis(tmp_path, "trial27", "toc-filehist-a",
                         "tcp.port==5042 && !(tcp.flags.syn==1 && tcp.flags.ack==0)")
    codes = {f.code for f in analysis.findings}
    assert "data_unanswered" not in codes and "control_closed" in codes
    assert analysis.sessions[0].steps[2].status == "unknown"
