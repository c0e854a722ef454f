"""Field check 74's lab matrix (captures/field74-matrix, README.md there), seed 137.

Run 3: two routed TLS restores, job 1's agent killed, captured `-Q out` on the agent (its
ACKs only): step 5 gave "10,572,863 B of data if all data connections closed" though one
of the four data connections was reset with no FIN acknowledged on it; the data is
10,572,864 B (flowcheck.verify.bytes_each_way.acked_flow_detail).
Run 14: two TLS-start IPv6 backups, job 2's agent killed, captured `-Q out` on the media
server: steps 4 and 5 said "the capture stopped after resource 1 of 4" though the capture
ran 5.9 s on and the media server's ACK one past the agent's bytes may be the agent's FIN
(flowcheck.verify.unseen_resources), and named the TLS stream's last packet its "last NDMP
message" (unseen_resources.last_message_words).
Run 19: a dual-stack callback whose ACK the media server's input chain drops, captured
on the agent: the accept-queue fix said "restart the agent service" for the media
server's job engine (flowcheck.verify.ack_unheard._queue_fix).
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis

HERE = Path(__file__).resolve().parents[1] / "captures" / "field74-matrix"
RESET = HERE / "restore-tls-two-jobs-agent-killed-routed-agent-out-sll2.pcap.gz"
KILLED = HERE / "ipv6-tls-start-two-jobs-agent-killed-media-out-sll.pcap.gz"
CALLBACK = HERE / "dual-two-jobs-callback-ack-in-dropped-by-media-agent-sll.pcap.gz"


def test_a_reset_data_connection_is_not_counted_as_a_closing_fin() -> None:
    """3 data connections of 3,000,000 B closed and one reset after 1,572,864 B: the
    ACKs' 10,572,867 B are 10,572,864 B of data, as step 3 says, not 10,572,863."""
    analysis = shared_analysis(RESET)
    assert analysis.verdict == "fail"
    assert {f.code for f in analysis.findings if f.severity == "error"} == {"data_reset"}
    [killed] = [s for s in analysis.sessions if s.remote_agent == "10.77.1.2"]
    step5 = {s.step: s for s in killed.steps}[5]
    assert step5.status == "failed"
    assert "acknowledge 10,572,867 B" in step5.detail
    assert "10,572,864 B of data if the 3 data connections not reset closed" in step5.detail
    assert "10,572,863" not in step5.detail
    [other] = [s for s in analysis.sessions if s.remote_agent == "10.77.1.3"]
    assert "12,000,000 B of data if all data connections closed" in {
        s.step: s for s in other.steps}[5].detail


def test_an_unseen_fin_of_the_agent_is_not_said_to_be_the_capture_stopping() -> None:
    """The capture runs 5.9 s past the killed job's control connection: its steps 4 and
    5 stay unknown, but no longer say the capture stopped after resource 1 of 4."""
    analysis = shared_analysis(KILLED)
    assert analysis.verdict == "inconclusive"
    [killed] = [s for s in analysis.sessions if s.remote_agent == "fd77::3"]
    steps = {s.step: s for s in killed.steps}
    for number in (4, 5):
        assert steps[number].status == "unknown"
        assert steps[number].detail.startswith(
            "unknown: the capture holds 1 of the 4 configured resources: it holds no FIN "
            "or RST of the control connection"), steps[number].detail
        assert "fd77::3's FIN, or one last byte" in steps[number].detail
        assert "the capture stopped" not in steps[number].detail


def test_a_tls_control_streams_last_packet_is_not_named_an_ndmp_message() -> None:
    """The killed job's control stream is in TLS from its first byte (frame 9): its last
    packet (frame 142, the media server's record) was named "last NDMP message"."""
    analysis = shared_analysis(KILLED)
    [killed] = [s for s in analysis.sessions if s.remote_agent == "fd77::3"]
    for step in killed.steps[3:]:
        assert "last NDMP message" not in step.detail
        assert ("(its NDMP messages in TLS from frame 9 on; last packet: frame 142)"
                in step.detail), step.detail


def test_a_callback_accept_queue_fix_names_the_job_engine_not_the_agent() -> None:
    analysis = shared_analysis(CALLBACK)
    assert analysis.verdict == "fail"
    [finding] = [f for f in analysis.findings if f.severity == "error"]
    assert finding.code == "handshake_incomplete"
    assert "10.77.0.3:6036 -> 10.77.0.1:5051" in finding.message
    assert ("restart the job engine (the media server's service the agent calls back) on "
            "10.77.0.1") in finding.fix
    assert "agent service" not in finding.fix


def test_one_direction_fix_of_a_capture_taken_on_the_media_server() -> None:
    """`tcpdump -i any -Q out` on the media server: capture_one_direction's fix said
    "Capture both directions: on the media server itself", where the capture was taken;
    its Linux cooked marks prove the point (the media server's SYNs sent by the capture
    host), so the fix says so and names the capture there without -Q, the agent, or a
    SPAN of both directions. An Ethernet capture of one direction, which no mark places,
    names both hosts alike (words64: it said "on the media server itself")."""
    analysis = shared_analysis(KILLED)
    fixes = [f.fix for f in analysis.findings if f.code == "capture_one_direction"]
    assert len(fixes) == 2
    for fix, agent in zip(fixes, ("fd77::2", "fd77::3"), strict=True):
        assert fix.startswith("This capture was taken on the media server fd77::1 itself "
                              "(its Linux cooked headers mark fd77::1's SYNs to "), fix
        assert "on the media server itself" not in fix
        assert "tcpdump without -Q" in fix and f"or on the agent {agent}, or a SPAN" in fix
    plain = shared_analysis(HERE.parent / "lab" / "one-direction-out.pcap")
    [fix] = [f.fix for f in plain.findings if f.code == "capture_one_direction"]
    assert fix.startswith("Capture both directions: tcpdump without -Q (-Q in/out keeps "
                          "one) on the media server 10.77.0.1 or the agent 10.77.0.2, or a "
                          "SPAN session")
