"""Field check 64's lab matrix (captures/field64-matrix, README.md there), seed 127.

Run 13: `tcpdump -i any` (SLL2) on the agent, its input chain dropping every packet to
port 10000 but the SYN: the media server's ACK marked arriving at the capture host, the
agent's SYN-ACKs resent after it marked leaving. handshake_incomplete said the packets
were dropped "after the capture point, or by fd77::2's own firewall", named a stateful
firewall on an asymmetric route, and asked for "a capture on fd77::2", the file being
one (flowcheck.verify.ack_unheard.listener_capture).

Run 2: `tcpdump -i any` on the agent host of two jobs, job 1's agent's SYN-ACKs dropped
by its output chain: the SYNs marked arriving at the capture host at their initial hop
limit, nothing of fd77::2's TCP. control_unanswered (the silent host's reading) said "a
firewall on fd77::2 or between the hosts" and asked for "a capture on fd77::2"
(flowcheck.verify.silent_host); the marks' own words said "its own firewall drops the
SYNs (its input chain ...)" of a host whose output chain dropped its SYN-ACKs
(flowcheck.verify.cooked_host.arrived_words).

Run 19: a TLS backup captured `-Q in` on the media server, the data SYNs dropped by the
agent: the note said the capture's own limits (capture_one_direction) "are not why a
step is unknown", when a capture of both directions holds the data SYNs unanswered
(flowcheck.sessions.unseen.job_unseen, report.verdict_notes).
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis

from flowcheck.report.verdict_notes import INCONCLUSIVE_NOTE, inconclusive_note

HERE = Path(__file__).resolve().parents[1] / "captures" / "field64-matrix"
ACK_IN = HERE / "dual-control-ack-dropped-by-agent-any-on-agent-sll2.pcap.gz"
SILENT = HERE / "two-jobs-dual-control-synacks-dropped-by-agent-any-on-agent-sll2-loss.pcap.gz"
TLS_IN = HERE / "tls-ipv6-data-syns-dropped-by-agent-in-on-media.pcapng.gz"


def test_an_ack_marked_arriving_on_the_listener_blames_its_own_firewall() -> None:
    """The marks place the capture on fd77::2 and its ACK arriving there: its own input
    chain (or its accept queue), no device between, and no capture asked for."""
    analysis = shared_analysis(ACK_IN)
    assert analysis.verdict == "fail"
    [finding] = [f for f in analysis.findings if f.code == "handshake_incomplete"]
    # With the ACK's repeats (10, 12, 18, 25: tshark's duplicate ACKs) among them.
    assert finding.frames == [4, 5, 6, 9, 10, 11, 12, 17, 18, 23, 25, 28, 29, 31]
    assert ("The handshake never completed: this capture was taken on fd77::2 (its Linux "
            "cooked headers mark each SYN, FIN and RST of fd77::2's to fd77::1 sent by the "
            "capture host (outgoing), at hop limit 64" in finding.message)
    assert ("so fd77::1's ACK and what it sent after it arrived there, past every device "
            "between the hosts, and fd77::2 itself drops them: its own firewall"
            in finding.message)
    assert "after the capture point" not in finding.message
    assert "asymmetric route" not in finding.message
    assert "A full accept queue on fd77::2" in finding.message  # still a cause
    assert finding.fix.startswith("On fd77::2 (its input chain), accept the whole "
                                  "connection, not only its SYN")
    assert "any firewall between the hosts" not in finding.fix
    assert "A capture on fd77::2" not in finding.fix
    assert "If its firewall lets them in: on fd77::2, check whether the NDMP service" \
        in finding.fix


def test_syns_marked_arriving_at_a_silent_agent_name_its_own_firewall_both_chains() -> None:
    """fd77::2 sent no TCP but its neighbour advertisement; its SYNs are marked arriving
    at the capture host at hop limit 64: the drop is where they arrived, its input chain
    or its output chain (the fault: its SYN-ACKs), not between the hosts."""
    analysis = shared_analysis(SILENT)
    assert analysis.verdict == "fail"
    [finding] = [f for f in analysis.findings if f.code == "control_unanswered"]
    assert finding.frames == [5, 265, 266, 267]
    assert ("So no answer is missing from the capture: something drops the connection's "
            "packets where the SYNs arrived: fd77::2's own firewall, or the first router "
            "from fd77::1 toward it if this capture was taken there" in finding.message)
    assert "or between the hosts" not in finding.message
    assert ("This capture's Linux cooked headers mark every SYN from fd77::1 as arriving "
            "addressed to the capture host's own link-layer address (incoming), at hop "
            "limit 64" in finding.fix)
    assert ("its own firewall drops them (fd77::2's input chain the SYNs or its output "
            "chain its SYN-ACKs, or that router's forward chain the SYNs)" in finding.fix)
    assert ("which passed none of them on. It holds packets marked leaving the capture host "
            "too (no tcpdump -Q in), so that host answered none of them" in finding.fix)
    assert "A capture on fd77::2 shows whether the SYNs reach it" not in finding.fix
    # The other job's session is whole.
    assert [s.status for s in analysis.sessions[1].steps] == ["ok"] * 5


def test_syns_alone_marked_arriving_keep_the_q_in_hedge() -> None:
    """Field check 56's capture on the agent holds the SYNs alone, nothing marked leaving
    its host: whether it took leaving packets cannot be told, so the `-Q in` hedge
    stays (cooked_host.leaving_taken), beside both chains now."""
    capture = (HERE.parent / "field56-matrix" /
               "ndmjob-control-syns-dropped-by-agent-any-on-agent-sll.pcap.gz")
    [finding] = shared_analysis(capture).findings
    assert ("which passed none of them on. Unless it left out what that host sent (tcpdump "
            "-Q in), that host answered none of them: its own firewall drops them "
            "(10.77.0.2's input chain the SYNs or its output chain its SYN-ACKs, or that "
            "router's forward chain the SYNs)" in finding.fix)
    assert "no tcpdump -Q in" not in finding.fix


def test_a_tls_job_captured_one_way_asks_for_both_directions() -> None:
    """Steps 3-5 unknown for TLS and for the direction the capture lacks, which holds
    the media server's data SYNs: the note asks for a whole capture, the steps cite the
    limit."""
    analysis = shared_analysis(TLS_IN)
    assert analysis.verdict == "inconclusive"
    assert {f.code for f in analysis.findings} == {"capture_one_direction",
                                                   "ndmp_undecodable"}
    assert inconclusive_note(analysis) == INCONCLUSIVE_NOTE
    [session] = analysis.sessions
    assert [s.status for s in session.steps] == ["ok", "ok", "unknown", "unknown", "unknown"]
    for step in session.steps[2:]:
        assert ("and the capture holds only the agent's side of its control connection "
                "(nothing from fd77::1 to fd77::2, though fd77::2 acknowledged 955 B of it): "
                "a limit of this capture (capture_one_direction), where one of both "
                "directions would show a job's data connections, if it opened any"
                in step.detail)
