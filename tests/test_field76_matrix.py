"""Field check 76's lab matrix (captures/field76-matrix, README.md there), seed 139.

Run 6: two dual-stack Backup Exec backups, the agent host's input chain dropping job 2's
control SYNs to fd77::3, both hosts' `tcpdump -i any -y LINUX_SLL2` merged. fd77::3
sent no TCP packet, only a neighbour advertisement, so the silent host's reading
(flowcheck.verify.silent_host.report_silent) took it, and said "a firewall on fd77::3 or
between the hosts" and asked for "A capture on fd77::3": the SYNs' Linux cooked marks
show each leaving the media server and arriving at the agent's point at the hop limit it
left with (flowcheck.verify.arrival.arrived_silent), so nothing before that point
dropped them and the capture asked for is in the file.
Run 17: a routed backup whose first data port the agent held (its RST answering the
SYN), captured `tcpdump -i any -Q in` on the agent: the media server's packets only. The
lone SYN's finding said the media server closed the session "with no data moved" and
"so the job cannot move data", though the media server's ACKs acknowledge the three
later data connections' 600,000 B before the close (flowcheck.verify.gave_up.
moved_between, flowcheck.verify.failed_data._whose_data: captured payload alone).
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis

HERE = Path(__file__).resolve().parents[1] / "captures" / "field76-matrix"
MERGED = HERE / "dual-two-jobs-control-syns-dropped-by-agent-both-sll2-loss.pcap.gz"
ONE_WAY = HERE / "routed-data-port-in-use-agent-sll2-dir-in.pcap.gz"


def test_a_silent_agent_whose_syns_arrived_at_its_point_is_not_asked_for_a_capture() -> None:
    """The SYNs (frames 13, 1777, 1779, 1781 leaving fd77::1; 14, 1778, 1780, 1782
    arriving) reached a capture point on fd77::3 or on the first router toward it: the
    drop is there, not anywhere between the hosts, and no capture is asked for."""
    analysis = shared_analysis(MERGED)
    assert analysis.verdict == "fail"
    [finding] = [f for f in analysis.findings if f.code == "control_unanswered"]
    assert finding.frames[:4] == [13, 1777, 1779, 1781]
    message = finding.message
    # What the silent host's reading says of the neighbour advertisement stays.
    assert ("fd77::3 sent no TCP packet in the whole capture, though it sent a neighbour "
            "discovery packet from that address (frame 12)") in message
    assert ("something drops the connection's packets where the SYNs arrived: fd77::3's "
            "own firewall, or the first router from fd77::1 toward it") in message
    assert "or between the hosts that drops the SYNs" not in message
    assert "A capture on fd77::3 shows" not in finding.fix
    assert ("The SYNs reached a capture point on fd77::3, or on the first router from "
            "fd77::1 toward it (its Linux cooked headers mark each arriving there, at the hop "
            "limit it left fd77::1 with)") in finding.fix
    assert "and the allow rule belongs there." in finding.fix
    # The job the fault left alone is read whole.
    [fine] = [s for s in analysis.sessions if s.remote_agent == "fd77::2"]
    assert {step.status for step in fine.steps} == {"ok"}


def test_data_the_acks_show_moved_is_not_read_as_none_moved() -> None:
    """The SYN to 6001 (frame 11), CONNECT_CLOSE (frame 256) 133 ms later; C4-C6 opened
    between and their every packet (the media server's ACKs of 200,000 B each, and its
    FIN) came before it."""
    analysis = shared_analysis(ONE_WAY)
    assert analysis.verdict == "fail"
    [finding] = [f for f in analysis.findings if f.code == "data_unanswered"]
    message = finding.message
    assert ("closed the session (CONNECT_CLOSE, frame 256) 133 ms after it (the session's "
            "data connections opened after it, C4, C5, C6, carried data in between)") in message
    assert "with no data moved" not in message
    assert message.endswith("so the job cannot move this connection's data (its other data "
                            "connections, C4, C5, C6, carried theirs).")
    [session] = analysis.sessions
    assert {s.step: s.status for s in session.steps}[5] == "ok"
