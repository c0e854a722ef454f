"""New-user trial 67's router resets (captures/lab-trial67, README.md there): a router's
`reject with tcp reset` on the data connection, captured on both hosts.

Item 1: the RSTs in one host's name arrive with the router's TTL (64, where that host's
own packets arrive with 63); the other host's own RSTs that follow are its TCP answering
packets of a connection the forged RST ended. It read "reset by both ends" and sent the
user to the hosts' logs (flowcheck.verify.cut_transfer._forged_sides).
Item 3: captured on the agent, no RST reaches it; the media server closed control with
the data connection still open: "its service stopped, restarted or crashed" was stated
as fact (flowcheck.verify.control_closed._data_left_open).
review64c: each pair given together, a point on each host, places each end's RSTs
(flowcheck.verify.reset_crossed).
Item 4: captured on the media server, the agent halted with CONNECT_ERROR, the data
connection silent 30 s, the media server's FIN answered by the agent's bare RST: step 5
read "ok" (flowcheck.verify.mid_transfer_resets.halted_drops).
"""

from __future__ import annotations

from pathlib import Path

from stored import shared_analysis, stored_analysis

from flowcheck.model import Finding
from flowcheck.pipeline import Analysis

HERE = Path(__file__).resolve().parents[1] / "captures" / "lab-trial67"


def _one(capture: str, code: str) -> tuple[Analysis, Finding]:
    """The stored case's analysis (verdict fail) and its one finding `code`."""
    analysis = shared_analysis(HERE / capture)
    assert analysis.verdict == "fail"
    [finding] = [f for f in analysis.findings if f.code == code]
    return analysis, finding


def test_a_router_reset_in_the_agents_name_is_not_both_ends() -> None:
    """Frames 605 on: RSTs "from" 10.67.2.2 at TTL 64 (its own packets 63); 640 on: the
    media server's own RSTs, at its own TTL, after them."""
    _, finding = _one("restore-rst-media.pcap.gz", "data_reset")
    assert "reset by both ends" not in finding.message
    assert "was reset by a device between them, in the name of the agent 10.67.2.2 (" \
        in finding.message
    assert "its TTL 64, where the agent 10.67.2.2's own packets arrive with 63" \
        in finding.message
    assert ("the media server 10.67.1.1's own RSTs (from frame 640, at its own TTL) came "
            "after: its TCP answering 10.67.2.2's later packets") in finding.message
    assert finding.fix.startswith("Look for the firewall, NAT or IPS between 10.67.1.1 and "
                                  "10.67.2.2 that reset it")
    assert finding.frames == [605, 640]


def test_a_router_reset_in_the_media_servers_name_is_not_both_ends() -> None:
    """Captured on the agent: RSTs "from" 10.67.1.1 at TTL 64 (frame 440), the agent's
    own after them (472)."""
    _, finding = _one("backup-rst-agent.pcap.gz", "data_reset")
    assert ("was reset by a device between them, in the name of the media server "
            "10.67.1.1 (") in finding.message
    assert "the agent 10.67.2.2's own RSTs (from frame 472, at its own TTL)" \
        in finding.message
    assert "the hosts did not" in finding.fix


def test_both_capture_points_together_read_the_same_device() -> None:
    """review64c: backup-rst-media and backup-rst-agent given together (one job, a point
    on each host): the RST in 10.67.1.1's name is in the set at the agent's point only
    (frame 440 there), the agent's own RSTs (472 on) crossed to the media server's point,
    after it. The TTLs cannot tell (the router's RST has 64, as the media server's own at
    its point); it read "reset by both ends", the fix both hosts' logs
    (flowcheck.verify.reset_crossed)."""
    analysis = stored_analysis(HERE / "backup-rst-media.pcap.gz",
                               HERE / "backup-rst-agent.pcap.gz")
    [finding] = [f for f in analysis.findings if f.code == "data_reset"]
    assert "reset by both ends" not in finding.message
    assert ("was reset by a device between them, in the name of the media server "
            "10.67.1.1 (") in finding.message
    assert ("the RSTs in 10.67.1.1's name are in it at one capture point only, with one "
            "TTL") in finding.message
    assert "the agent 10.67.2.2's own RSTs (from frame 472 of backup-rst-agent.pcap.gz) " \
        "crossed, after them" in finding.message
    assert finding.fix.startswith("Look for the firewall, NAT or IPS between 10.67.1.1 and "
                                  "10.67.2.2 that reset it")


def test_a_restores_two_capture_points_place_each_end_s_resets() -> None:
    """review64c: restore-rst-media and restore-rst-agent given together. The RSTs in
    10.67.2.2's name (frame 605 on, TTL 64) are only in the media server's file, never in
    the agent's, whose point its packets leave through: the router's. The media server's
    own RSTs (640 on) are in its own file only, the router dropping them: neither end's
    crossed, and it read "a device ... in the name of both ends", the media server's
    answers called the device's (flowcheck.verify.reset_crossed._placed_own)."""
    analysis = stored_analysis(HERE / "restore-rst-media.pcap.gz",
                               HERE / "restore-rst-agent.pcap.gz")
    [finding] = [f for f in analysis.findings if f.code == "data_reset"]
    assert "in the name of both ends" not in finding.message
    assert ("was reset by a device between them, in the name of the agent 10.67.2.2 ("
            in finding.message)
    assert ("the RSTs in 10.67.2.2's name are in it only at 10.67.1.1's capture point "
            "(restore-rst-media.pcap.gz), never at 10.67.2.2's own "
            "(restore-rst-agent.pcap.gz)") in finding.message
    assert ("the media server 10.67.1.1's own RSTs (from frame 640 of "
            "restore-rst-media.pcap.gz) are at its own point only, after them") \
        in finding.message
    assert finding.fix.startswith("Look for the firewall, NAT or IPS between 10.67.1.1 and "
                                  "10.67.2.2 that reset it")


def test_a_close_with_the_data_connection_left_open_is_not_called_a_crash() -> None:
    """C3's last packet frame 590, no FIN or RST; the media server's control FIN 591."""
    _, finding = _one("restore-rst-agent.pcap.gz", "control_closed")
    assert "its service stopped, restarted or crashed" not in finding.message
    assert ("a service that stopped or crashed closes all its connections at once, so "
            "the capture does not show that") in finding.message
    assert ("its data connection C3 (10.67.1.1:5005 -> 10.67.2.2:6002) shows no FIN and "
            "no RST, open mid-transfer (its last packet frame 590") in finding.message
    assert "C3's end was not seen here" in finding.message
    assert "crashed" not in finding.fix and "to see how C3 ended" in finding.fix
    assert 590 in finding.frames


def test_a_crash_whose_capture_ends_at_its_fin_is_not_read_as_left_open() -> None:
    """review64c: the media server killed mid-restore, captured on the agent and cut at
    its control FIN (411, the callback's 410): its data connection's FIN went out 0.2 s
    later, behind its unsent data, after the capture's end. The capture cannot show the
    data connection's end: the crash words stay, no "open mid-transfer"."""
    _, finding = _one("restore-kill-cut-agent.pcap.gz", "control_closed")
    assert "open mid-transfer" not in finding.message
    assert "its service stopped, restarted or crashed" in finding.message
    assert finding.frames == [25, 26, 411]


def test_step_5_fails_on_a_transfer_cut_before_its_halt() -> None:
    """The halt CONNECT_ERROR (frame 413), the media server's FIN (419) 30 s later
    answered by the agent's bare RST (420)."""
    analysis, _ = _one("backup-rst-media.pcap.gz", "data_halted_abnormally")
    [step] = [s for s in analysis.sessions[0].steps if s.step == 5]
    assert step.status == "failed"
    assert ("the agent 10.67.2.2's side had already dropped it mid-transfer: its RST "
            "(frame 420) answered the FIN of the media server 10.67.1.1 (frame 419) after "
            "30 s of silence; its job had halted with CONNECT_ERROR (NOTIFY_DATA_HALTED, "
            "frame 413) before that FIN") in step.detail
    assert {419, 420} <= set(step.frames)
