"""Field check 77's lab matrix (captures/field77-matrix, README.md there), seed 140.

Run 18: ndmjob's agent connected to the mover on the media server, whose input chain
rejected the SYNs with ICMP host-unreachable; captured on the media server with
`tcpdump -i any -Q in`: the agent's packets only. data_unanswered said "something drops
or rejects its SYNs or drops the SYN-ACKs" and left out the agent's own DATA_CONNECT
reply NDMP_CONNECT_ERR (frame 9), 1.46 ms after its second SYN: a connect that fails
before TCP's next resend failed on an answer, a reject
(flowcheck.verify.fast_connect_error).
Run 8: the router dropped the control SYNs, captured on the agent over IPv6: the agent's
own neighbour discovery alone. flowcheck's inconclusive (`no_control_session`) is right;
the matrix's ground truth was mended (tests/test_lab_matrix.py); stored so its reading
stays.
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis

HERE = Path(__file__).resolve().parents[1] / "captures" / "field77-matrix"
REJECTED = HERE / "ndmjob-data-rejected-by-media-sll2-dir-in.pcap.gz"
NOTHING = HERE / "routed-ipv6-control-syns-dropped-by-router-agent-sll.pcap.gz"


def test_a_connect_error_right_after_a_resent_syn_reads_as_a_reject() -> None:
    """The SYNs (frames 6, 8, 1.01 s apart), the agent's DATA_CONNECT reply
    NDMP_CONNECT_ERR (frame 9) 1.46 ms after the second; no packet of the media
    server's, the way the ICMP reject went."""
    analysis = shared_analysis(REJECTED)
    assert analysis.verdict == "fail"
    [finding] = [f for f in analysis.findings if f.code == "data_unanswered"]
    assert finding.frames == [6, 8, 9]
    assert ("The agent's DATA_CONNECT reply (frame 9) says its connect failed "
            "(NDMP_CONNECT_ERR) 1.46 ms after its last SYN (frame 8), before TCP's next "
            "resend") in finding.message
    assert finding.message.endswith(
        "so they were most likely rejected (unless the agent's own connect timeout ran out "
        "just then).")
    # What the capture cannot show stays hedged.
    assert "something drops or rejects its SYNs or drops the SYN-ACKs" in finding.message


def test_a_capture_past_the_drop_holding_no_tcp_reads_inconclusive() -> None:
    """4 packets, the agent's and the router's neighbour discovery: no job to judge."""
    analysis = shared_analysis(NOTHING)
    assert analysis.verdict == "inconclusive"
    assert [f.code for f in analysis.findings] == ["no_control_session"]
    assert not analysis.sessions
