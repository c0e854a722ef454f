"""Evidence before verdict (issue 9), on hand-built traffic: a silence is a failure only
when the capture could have seen the answer; otherwise the step is unknown and the
verdict inconclusive. Hosts, ports and helpers as in test_verify_scenarios."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from test_verify_scenarios import LAB, A, M, announce, be_backup, codes, conn, run, statuses

from flowcheck.findings import verdict
from flowcheck.model import Connection, Severity

LINUX = replace(LAB, retransmission_timeout=1.0)


def single_syn(uid: str, orig: str, oport: int, resp: str, rport: int, ts: float) -> Connection:
    """One SYN, nothing else: what a capture stopped right after it holds."""
    c = conn(uid, orig, oport, resp, rport, ts, how="unanswered")
    c.syn_frames, c.syn_retries, c.last_ts = c.syn_frames[:1], 0, ts
    return c


def later(ts: float) -> Connection:
    """Unrelated traffic that keeps the capture running until ts."""
    return conn("Clater", "10.77.0.9", 40000, "10.77.0.8", 22, ts - 0.5, end=ts)


def test_control_syn_at_the_end_of_the_capture_is_unknown_not_dropped() -> None:
    control = single_syn("Cctl", M, 5001, A, 10000, 0.0)
    sessions, findings = run([control], [])
    assert codes(findings) == ["capture_ended_early"]
    assert statuses(sessions[0]) == ["unknown"] * 5
    assert "retransmission timeout" in sessions[0].steps[0].detail
    assert verdict(findings, sessions) == "inconclusive"
    assert "ended right after the SYN" in findings[0].message


def test_control_syn_with_capture_time_for_a_retry_never_resent_is_unknown() -> None:
    """Capture time enough for a retry and no retry: the capture's silence contradicts
    TCP (the sniffer lost the resends, or a reject that stopped them), so it is no
    evidence of a drop (trial 29 D4), nor a capture that ended early."""
    control = single_syn("Cctl", M, 5001, A, 10000, 0.0)
    sessions, findings = run([control, later(3.5)], [])
    assert not {"control_unanswered", "capture_ended_early"} & set(codes(findings))
    assert statuses(sessions[0])[0] == "unknown"
    assert "never resent in the 3.5 s" in sessions[0].steps[0].detail
    assert verdict(findings, sessions) == "inconclusive"


def test_retransmission_timeout_setting_decides_how_long_is_enough() -> None:
    control = single_syn("Cctl", M, 5001, A, 10000, 0.0)
    _, default = run([control, later(1.5)], [])
    linux_sessions, linux = run([control, later(1.5)], [], config=LINUX)
    assert "control_unanswered" not in codes(default)
    assert "capture_ended_early" in codes(default)
    # Past Linux's 1 s: not ended early, but a retry TCP would have sent is missing.
    assert not {"control_unanswered", "capture_ended_early"} & set(codes(linux))
    assert "never resent in the 1.5 s" in linux_sessions[0].steps[0].detail


def test_retransmitted_syn_is_evidence_even_when_the_capture_ends() -> None:
    control = conn("Cctl", M, 5001, A, 10000, 0.0, how="unanswered")
    control.last_ts = 1.0  # the retry, then the capture ends
    _, findings = run([control], [])
    assert codes(findings) == ["control_unanswered"]


def test_single_synack_at_the_end_is_unknown() -> None:
    control = conn("Cctl", M, 5001, A, 10000, 0.0, how="handshake")
    control.synack_frames, control.last_ts = control.synack_frames[:1], 0.001
    sessions, findings = run([control], [])
    assert codes(findings) == ["capture_ended_early"]
    assert "SYN-ACK" in findings[0].message
    assert statuses(sessions[0])[0] == "unknown"


def test_callback_syn_at_the_end_is_unknown() -> None:
    connections, streams = be_backup()
    control, callback, _ = connections
    callback = single_syn("Ccb", A, 6002, M, 5002, 1.0)
    control.last_ts = 1.0
    sessions, findings = run([control, callback], streams)
    assert "callback_unanswered" not in codes(findings)
    assert "capture_ended_early" in codes(findings)
    assert statuses(sessions[0])[1] == "unknown"
    assert verdict(findings, sessions) == "inconclusive"


def test_no_callback_yet_when_the_capture_ended_is_unknown() -> None:
    control = conn("Cctl", M, 5001, A, 10000, 0.0, end=0.5, orig_bytes=10, resp_bytes=10)
    sessions, findings = run([control], [])
    assert "step_missing" not in codes(findings)
    assert statuses(sessions[0])[1] == "unknown"
    assert "callback may have come later" in sessions[0].steps[1].detail


def test_no_callback_in_a_closed_session_is_still_missing() -> None:
    control = conn("Cctl", M, 5001, A, 10000, 0.0, end=0.5, orig_bytes=10, resp_bytes=10)
    control.fin_frames = [control.last_frame]
    sessions, findings = run([control], [])
    assert "step_missing" in codes(findings)
    assert statuses(sessions[0])[1] == "missing"


def test_data_syn_at_the_end_is_unknown_and_so_is_the_flow() -> None:
    connections, streams = be_backup()
    control, callback, _ = connections
    data = single_syn("Cdata", M, 5003, A, 6001, 3.0)
    control.last_ts = callback.last_ts = 3.0
    sessions, findings = run([control, callback, data], streams)
    assert "data_unanswered" not in codes(findings)
    assert statuses(sessions[0])[3:] == ["unknown", "unknown"]


def test_announcement_just_before_the_end_is_not_announced_not_used() -> None:
    connections, streams = be_backup()
    control, callback, _ = connections
    control.last_ts = callback.last_ts = 2.2  # DATA_LISTEN reply at 2.1
    control.history, control.conn_state = "ShADad", "S1"  # still open at the end
    sessions, findings = run([control, callback], streams)
    assert "announced_not_used" not in codes(findings)
    assert "capture_ended_early" in codes(findings)
    assert statuses(sessions[0])[3] == "unknown"


def test_announcement_just_before_the_session_closed_is_announced_not_used() -> None:
    # Trial 17 D7: the control connection closed with a FIN each way right after the
    # announcement: the session is over, the capture did not end early for it.
    connections, streams = be_backup()
    control, callback, _ = connections
    control.last_ts = callback.last_ts = 2.2  # DATA_LISTEN reply at 2.1; FINs by 2.2
    sessions, findings = run([control, callback], streams)
    assert "capture_ended_early" not in codes(findings)
    assert "announced_not_used" in codes(findings)
    assert statuses(sessions[0])[3] == "missing"


def test_error_beats_unknown_in_the_verdict() -> None:
    connections, streams = be_backup(callback_how="refused")
    control, callback, _ = connections
    data = single_syn("Cdata", M, 5003, A, 6001, 3.0)
    control.last_ts = callback.last_ts = 3.0
    sessions, findings = run([control, callback, data], streams)
    assert "callback_refused" in codes(findings)
    assert verdict(findings, sessions) == "fail"


# --- announced_address_mismatch ------------------------------------------------------

OTHER = "10.88.0.2"  # the agent's second interface, which the media server cannot reach


def mismatch_backup(data_to: str, data_how: str, *, start: bool = True) -> tuple[list, list]:
    connections, streams = be_backup(announce_data=False, data_how=data_how, start=start)
    control, callback, data = connections
    data.resp_h = data_to
    streams[0].announcements.append(
        announce("Cctl", OTHER, 6001, 21, 2.1, "NDMP_DATA_LISTEN", "data"))
    return [control, callback, data], streams


def test_unanswered_syns_to_another_announced_address_blame_the_address() -> None:
    connections, streams = mismatch_backup(OTHER, "unanswered")
    sessions, findings = run(connections, streams)
    assert codes(findings) == ["announced_address_mismatch"]
    (finding,) = findings
    assert finding.severity == Severity.ERROR
    assert OTHER in finding.message and A in finding.message
    assert "preferred network" in finding.fix and "NAT" in finding.fix
    assert "6001-6100" not in finding.fix  # not the firewall fix that would not help
    assert statuses(sessions[0])[3] == "failed"


def test_nat_rewrote_the_address_connection_matched_by_port() -> None:
    connections, streams = mismatch_backup(A, "ok")
    sessions, findings = run(connections, streams)
    assert codes(findings) == ["announced_address_mismatch"]
    assert findings[0].severity == Severity.ERROR  # the contract's severity for the code
    assert "matched to the announcement by its port" in findings[0].message
    assert sessions[0].data_connections == ["Cdata"]
    assert statuses(sessions[0]) == ["ok"] * 5
    assert "(NAT)" in sessions[0].steps[3].detail
    assert verdict(findings, sessions) == "fail"


def test_nat_port_match_that_fails_is_an_error() -> None:
    connections, streams = mismatch_backup(A, "unanswered")
    _, findings = run(connections, streams)
    assert codes(findings) == ["announced_address_mismatch", "data_unanswered"]
    assert all(f.severity == Severity.ERROR for f in findings)


def test_nat_port_match_is_judged_as_any_data_connection() -> None:
    """The connection that reached the port under the control address is judged on its
    own (steps 4-5): its failure is reported as for any data connection, and the
    mismatch names it and adds its fix instead of saying a firewall rule does not help."""
    for how, code in (("refused", "data_refused"), ("icmp", "data_refused"),
                      ("handshake", "handshake_incomplete"), ("aborted", "data_aborted")):
        connections, streams = mismatch_backup(A, how)
        _, findings = run(connections, streams)
        assert sorted(codes(findings)) == sorted(["announced_address_mismatch", code]), how
        failure = next(f for f in findings if f.code == code)
        mismatch = next(f for f in findings if f.code == "announced_address_mismatch")
        assert failure.uid == mismatch.uid == "Cdata"
        assert f"reported as {code}" in mismatch.message
        assert "does not help" not in mismatch.fix and failure.fix in mismatch.fix


def test_mismatched_address_nobody_reached_is_the_mismatch() -> None:
    """The agent announced another address, no connection reached it, and the job never
    started."""
    connections, streams = mismatch_backup(OTHER, "ok", start=False)
    connections = connections[:2]
    _, findings = run(connections, streams)
    assert codes(findings) == ["announced_address_mismatch"]
    assert "no connection to" in findings[0].message


def test_mismatched_address_the_job_started_after_is_unknown() -> None:
    """The same with DATA_START_BACKUP accepted after it: NDMP accepts it only from a
    data server whose connection is made, so the data connection went to the other
    address, off the capture's path (another interface): unknown, not the mismatch
    (lab-trial19-announce/mh2-other-nic-capture-m0 cut to 128 bytes failed)."""
    connections, streams = mismatch_backup(OTHER, "ok")
    sessions, findings = run(connections[:2], streams)
    assert codes(findings) == ["capture_filtered"]
    step = sessions[0].steps[3]
    assert step.status == "unknown"
    assert "report its data connection made (DATA_START_BACKUP accepted, frame 31)" in \
        step.detail


def test_multi_homed_agent_whose_other_address_works_is_fine() -> None:
    connections, streams = mismatch_backup(OTHER, "ok")
    sessions, findings = run(connections, streams)
    assert findings == []
    assert statuses(sessions[0]) == ["ok"] * 5


# --- details of ok steps (issue 11 item 2) -------------------------------------------

def test_ok_details_say_what_was_seen_not_the_connection() -> None:
    connections, streams = be_backup()
    connections[0].rtt = 0.0004
    sessions, _ = run(connections, streams)
    control, callback, announcement, data, flow = (s.detail for s in sessions[0].steps)
    assert "handshake 0.4 ms" in control and "700 B agent -> media server" in control
    assert "media port 5002 in 5001-5100" in callback
    assert "agent port 6002 in 6001-6100" in callback
    assert "DATA_LISTEN (frame 21) announced 10.77.0.2:6001" in announcement
    assert "agent port 6001 in 6001-6100" in data and "media port 5003 in" in data
    assert "50,000 B agent -> media server" in flow
    for detail in (control, callback, data, flow):
        assert "->" not in detail.replace("media server -> agent", "").replace(
            "agent -> media server", "")


def test_v4_alternatives_including_the_control_address_are_not_a_mismatch() -> None:
    connections, streams = mismatch_backup(OTHER, "ok", start=False)
    streams[0].announcements.append(
        announce("Cctl", A, 6001, 21, 2.1, "NDMP_DATA_LISTEN", "data"))
    _, findings = run(connections[:2], streams)
    assert codes(findings) == ["announced_not_used"]


def test_data_connection_opened_just_before_the_end_has_unknown_flow() -> None:
    connections, streams = be_backup()
    control, callback, data = connections
    data.resp_bytes, data.last_ts = 0, 3.1
    control.last_ts = callback.last_ts = 3.1
    sessions, findings = run([control, callback, data], streams)
    assert statuses(sessions[0])[3:] == ["ok", "unknown"]
    assert "capture_ended_early" in codes(findings)
    assert "data connection Cdata opened" in next(
        f.message for f in findings if f.code == "capture_ended_early")


def test_data_connection_closed_without_data_is_data_aborted() -> None:
    """The job's only data connection opened and was closed (FIN) before any byte: step 5
    failed on that evidence (it was "missing", with a step_missing that called itself a
    flowcheck bug)."""
    connections, streams = be_backup()
    control, callback, data = connections
    data.resp_bytes, data.last_ts, data.fin_frames = 0, 3.1, [data.last_frame]
    control.last_ts = callback.last_ts = 3.1
    sessions, findings = run([control, callback, data], streams)
    assert statuses(sessions[0])[4] == "failed"
    assert codes(findings) == ["data_aborted"]


def test_announcement_lost_by_the_sniffer_leaves_its_address_unchecked() -> None:
    """Sniffer loss hid the DATA_LISTEN reply: the data connection that carried the
    job's bytes (matched by direction and ports) shows the announcement reached the
    media server (step 3 ok, new-user trial 54), not the address announced (a NAT between the
    hosts), and no DATA_GET_STATE reply names the endpoint: the detail says that cannot
    be checked."""
    connections, streams = be_backup(announce_data=False)
    connections[0].missed_bytes = 120
    sessions, findings = run(connections, streams)
    assert "unannounced_connection" not in codes(findings)
    assert sessions[0].data_connections == ["Cdata"]
    assert statuses(sessions[0]) == ["ok"] * 5
    assert "the capture misses part of the control connection" in sessions[0].steps[2].detail
    assert "whether it named the address Cdata reached cannot be checked" \
        in sessions[0].steps[2].detail
    assert verdict(findings, sessions) == "pass"


def test_announcement_lost_by_the_sniffer_without_data_is_unknown() -> None:
    connections, streams = be_backup(announce_data=False)
    connections[0].missed_bytes = 120
    sessions, findings = run(connections[:2], streams)
    assert "step_missing" not in codes(findings)
    assert statuses(sessions[0])[2] == "unknown"
    assert verdict(findings, sessions) == "inconclusive"


def test_the_capture_ends_at_its_last_packet_of_any_kind(tmp_path: Path) -> None:
    """Cut just after the first DATA_LISTEN reply (frame 21): with nothing after it the
    data connection's absence cannot be judged (capture_ended_early, inconclusive); a UDP
    datagram and an ICMP echo 10 s later show the sniffer ran on, so the endpoint no
    connection tried is announced_not_used (a new user's capture filtered by host only
    was inconclusive: the capture's end was its last TCP packet)."""
    from decimal import Decimal

    from lab_edits import analyze_lab, lab_packets, write
    from scapy.all import ICMP, IP, UDP, Ether

    packets = lab_packets("clean-3-resources", 21)
    assert analyze_lab(write(tmp_path, "cut", packets), "clean-3-resources").verdict \
        == "inconclusive"
    later = packets[-1].time + Decimal(10)
    ether = packets[-1][Ether]
    udp = Ether(src=ether.src, dst=ether.dst) / IP(src="10.77.0.1", dst="10.77.0.2") / \
        UDP(sport=5353, dport=5353) / b"x"
    ping = Ether(src=ether.src, dst=ether.dst) / IP(src="10.77.0.1", dst="10.77.0.2") / ICMP()
    udp.time, ping.time = later, later + Decimal(1)
    analysis = analyze_lab(write(tmp_path, "tail", [*packets, udp, ping]), "clean-3-resources")
    assert analysis.verdict == "fail"
    assert "announced_not_used" in {f.code for f in analysis.findings}
    assert "capture_ended_early" not in {f.code for f in analysis.findings}
