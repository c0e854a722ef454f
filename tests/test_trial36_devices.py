"""Field check 36: captures as firewall teams hand them over (captures/trial36-firewall-devices).

A firewall's own recording holds a forwarded packet once per inspection point or stage
(Check Point `fw monitor`: i, I, o, O; Palo Alto: receive, firewall, transmit) and a
dropped one fewer times (at `i` only; in the receive and drop stages). Readings that
took "in the set twice" literally blamed the agent's own firewall (the drop stage's copy
taken for a second capture point on the agent) or the media server's input chain (the
SYNs in it four times, not twice). A drop file alone asked to check --ndmp-port only; a
callback to the media server's address across a NAT the set shows took the media server
for the NAT device. Each is judged whole by the regress expectations; here, the words.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcheck.config import build_config, load_file
from flowcheck.model import Finding, Severity
from flowcheck.pipeline import analyze, read_traffic

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "trial36-firewall-devices"


def _errors(name: str) -> list[Finding]:
    config = build_config(load_file(FOLDER / "flowcheck.toml"))
    result = analyze(read_traffic([str(FOLDER / f"{name}.pcap")], config), config)
    assert result.verdict == "fail"
    return [f for f in result.findings if f.severity == Severity.ERROR]


@pytest.mark.parametrize(("name", "held"), [
    ("pa-data-drop", "are in the capture set 3 times (once per capture point or inspection "
     "point they passed: capture_duplicates) and each of these SYNs twice only"),
    ("fwmon-data-drop", "are in the capture set 4 times (once per capture point or "
     "inspection point they passed: capture_duplicates) and each of these SYNs once only"),
])
def test_syns_a_firewall_dropped_are_lost_between_its_points(name: str, held: str) -> None:
    errors = _errors(name)
    assert [f.code for f in errors] == ["data_unanswered", "data_unanswered"]
    for found in errors:
        assert "something between 10.77.0.1 and 10.77.1.2 drops its SYNs: other packets from " \
            f"10.77.0.1 to 10.77.1.2 {held}" in found.message
        assert "own firewall" not in found.message
        assert found.fix.startswith("Allow TCP from 10.77.0.1 to 10.77.1.2 ports 6001-6100 "
                                    "(agent range) in the forward chain of the router or "
                                    "firewall between the two capture points")


@pytest.mark.parametrize("name", ["pa-return-drop", "fwmon-return-drop"])
def test_synacks_a_firewall_dropped_are_the_return_path_between(name: str) -> None:
    errors = _errors(name)
    assert [f.code for f in errors] == ["handshake_incomplete", "handshake_incomplete"]
    for found in errors:
        assert "the return traffic is blocked between the hosts: the capture set holds two " \
            "capture points, the SYNs as often as 10.77.0.1's other packets (they passed " \
            "every point) and the SYN-ACKs fewer times than" in found.message
        assert found.fix.startswith("In the forward chain of the router or firewall between "
                                    "the two capture points")


def test_a_drop_file_alone_says_it_holds_openings_only() -> None:
    """The drop stage alone: the job's two data connections' SYNs, no control
    connection. It read FAIL no_control_session ("check --ndmp-port"); nothing in it
    shows the control connection was not left out (an IPv4-only cut of a dual-stack job
    looks the same: cbonly), so capture_filtered, the drop capture's reading kept. Its
    SYNs, each resent 3 times and never answered, show the data connections failed
    (contract.md: retransmitted SYNs are evidence): data_unanswered x2, no session, as
    the whole capture (pa-data-drop) reads; it read INCONCLUSIVE, "nothing of the job's
    steps could be judged" (review61a: flowcheck.verify.left_out_failed)."""
    config = build_config(load_file(FOLDER / "flowcheck.toml"))
    result = analyze(read_traffic([str(FOLDER / "pa-data-drop-stage-drop.pcap")], config),
                     config)
    assert result.verdict == "fail"
    failed = [f for f in result.findings if f.severity == Severity.ERROR]
    assert [(f.code, f.uid, f.session) for f in failed] \
        == [("data_unanswered", "C1", None), ("data_unanswered", "C2", None)]
    assert failed[0].message.startswith(
        "The job's data connection C1 10.77.0.1:5002 -> 10.77.1.2:6001 (tied to the job by "
        "its ports, its control connection not in the capture: capture_filtered) was never "
        "answered: 4 SYNs over 3.06 s, no SYN-ACK, RST or ICMP.")
    assert failed[0].fix.startswith("Allow TCP from 10.77.0.1 to 10.77.1.2 ports 6001-6100 "
                                    "(the agent range) and its return traffic")
    [found] = [f for f in result.findings if f.code == "capture_filtered"]
    assert "no_control_session" not in [f.code for f in result.findings]
    assert "2 connections that a job opens only after its control connection asked for " \
        "them were tried in it" in found.message
    assert "Every TCP connection it holds is its opening only, never answered there (4 SYNs " \
        "from 10.77.0.1 to 10.77.1.2:6001; 4 SYNs from 10.77.0.1 to 10.77.1.2:6002): a " \
        "firewall's capture of the packets it dropped" in found.message
    assert "If this is a firewall's drop capture, allow these connections on that " \
        "device" in found.fix


def test_a_callback_to_the_media_servers_address_across_a_nat_names_the_nat_device() -> None:
    [found] = _errors("asa-callback-drop-nat")
    assert found.code == "callback_unanswered"
    assert "10.77.1.101 is the media server 10.77.0.1's address on the agent's side of a " \
        "NAT (the capture set shows 10.77.0.1 as 10.77.1.101: capture_duplicates), so the " \
        "agent called back the right address" in found.message
    assert "10.77.0.1 is then the NAT device" not in found.message
    assert found.fix.startswith("On the NAT device between the hosts (the one that shows "
                                "10.77.0.1 as 10.77.1.101), allow TCP from 10.77.1.2 to "
                                "10.77.1.101 ports 5001-5100 (media range) and translate it "
                                "to 10.77.0.1")


def test_whole_copies_counts_only_payload_held_equally_often() -> None:
    from flowcheck.verify.copy_counts import whole_copies
    assert whole_copies(0, 0) == 0  # no payload: nothing told
    assert whole_copies(300, 0) == 1
    assert whole_copies(600, 300) == 2  # two capture points
    assert whole_copies(1200, 900) == 4  # fw monitor's four points
    assert whole_copies(1000, 400) == 0  # some bytes more often than others


def test_fw_monitor_views_across_a_nat_are_one_job() -> None:
    """fw monitor with a static NAT: each packet at i, I and o under one address, at O
    under the other; the two views' payload compared with their copies in it never
    matched, and the job read as two sessions."""
    config = build_config(load_file(FOLDER / "flowcheck.toml"))
    result = analyze(read_traffic([str(FOLDER / "fwmon-clean-nat.pcap")], config), config)
    assert result.verdict == "pass"
    assert len(result.sessions) == 1
    views = [f for f in result.findings if f.code == "capture_duplicates"
             and "under two addresses: on both sides of a NAT" in f.message]
    assert len(views) == 1 and "10.77.0.1 seen as 10.77.1.101" in views[0].message


def test_handshakes_only_name_a_firewall_recording_first_packets() -> None:
    """fw monitor with SecureXL on (before R80.20): each connection's handshake only,
    the callback and data connections after the control connection's showing the job
    went on; capture_ended_early names that, and its fix fw monitor's own switches."""
    config = build_config(load_file(FOLDER / "flowcheck.toml"))
    result = analyze(read_traffic([str(FOLDER / "fwmon-clean-securexl.pcap")], config),
                     config)
    assert result.verdict == "inconclusive"
    [found] = [f for f in result.findings if f.code == "capture_ended_early"]
    assert "Every connection in it is its handshake only (4 of them, none carrying a " \
        "byte), although those opened after the first show the job went on" in found.message
    assert found.fix.startswith("If this is a fw monitor capture, take it again with "
                                "acceleration off (fwaccel off) or with fw monitor -F")


def test_an_asa_drop_capture_is_no_second_capture_point() -> None:
    """Inside, outside and asp-drop captures merged (an ASA keeps the TTL): the data
    SYNs' second copy has the Ethernet addresses they arrived with, the control
    connection's copies the ASA's (TrackResult.copy_legs): the SYNs never left it."""
    from flowcheck.connections import track_connections
    result = track_connections([str(FOLDER / "asa-data-drop-asp-drop.pcap")])
    control = next(c for c in result.connections if c.resp_p == 10000)
    data = [c for c in result.connections if c.resp_p in (6001, 6002)]
    assert result.copy_legs[control.orig_h, control.orig_p, control.resp_h, 10000]
    assert len(data) == 2 and all(c.orig_pkts == 8 for c in data)  # 4 SYNs, twice each
    assert all(result.copy_legs[c.orig_h, c.orig_p, c.resp_h, c.resp_p] is False
               for c in data)
    errors = _errors("asa-data-drop-asp-drop")
    assert [f.code for f in errors] == ["data_unanswered", "data_unanswered"]
    for found in errors:
        assert "each of these SYNs is in it twice with the addresses it arrived with only, " \
            "TTL 64 as 10.77.0.1 sent it: they never left that device" in found.message
        assert "own firewall" not in found.message


def test_the_connections_table_names_the_views_it_left_out(
        capsys: pytest.CaptureFixture[str]) -> None:
    """fw monitor with a static NAT: the second view of each connection is left out of
    the table (its packets are the capture's too, tshark lists them): a line says so
    (field check 36b: the rows added up to half the capture's packets, unexplained)."""
    from flowcheck.cli.main import run
    code = run(["connections", str(FOLDER / "fwmon-clean-nat.pcap"), "--config",
                str(FOLDER / "flowcheck.toml")])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0
    assert "C2, C4, C6, C8: the same connections captured a second time (in another " \
        "tunnel, or on the other side of a NAT), left out of the table: 496 packets of " \
        "the capture's" in out


def test_synacks_only_across_the_nat_are_the_nat_devices_drop() -> None:
    """ASA inside and outside captures, static NAT: the agent's SYN-ACKs are in the
    outside view only (left out as the NAT's far view); the inside view's SYNs read
    unanswered both ways. The far view's SYN-ACKs now reach the kept connection
    (Connection.far_synack_frames)."""
    errors = _errors("asa-return-drop-nat")
    assert [f.code for f in errors] == ["handshake_incomplete", "handshake_incomplete"]
    first = errors[0]
    assert "10.77.1.2 answered with 4 SYN-ACKs, which the capture set holds only in this " \
        "connection's view across a NAT" in first.message
    assert "the NAT device between them (or a device between it and that capture point) " \
        "drops the return traffic" in first.message
    assert first.fix.startswith("On the NAT device between the hosts, accept the return "
                                "traffic of the connections it translates")


def test_step_4_names_every_failed_data_connection() -> None:
    """Both data connections' SYNs dropped: step 4's detail named the first only (field
    check 36c, a live run of the same fault)."""
    config = build_config(load_file(FOLDER / "flowcheck.toml"))
    result = analyze(read_traffic([str(FOLDER / "pa-data-drop.pcap")], config), config)
    [step] = [s for s in result.sessions[0].steps if s.step == 4]
    assert step.status == "failed"
    assert step.detail.startswith("10.77.1.2:6001: ")
    assert "; 10.77.1.2:6002: " in step.detail
