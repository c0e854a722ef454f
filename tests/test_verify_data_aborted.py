"""A data connection its originator resets right after the SYN-ACK (found by a new-user
trial): `data_aborted`, step 5 failed, on the SYN-ACK and the RST as evidence.

Copies of captures/lab/clean-3-resources.pcap changed by scapy. In it frame 21 is the
DATA_LISTEN reply announcing 10.77.0.2:6001, frames 22-24 the media server's SYN from
port 5002, the agent's SYN-ACK and the ACK; the capture ends 0.151 s after frame 24. The
RST from the responder after its SYN-ACK and a capture that ends right after the
SYN-ACK keep their results; so does a RST that closes the connection after its data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from scapy.all import IP, TCP, Packet, Raw
from scapy_files import read_packets, write_packets
from test_verify_scenarios import A, M, be_backup, codes, conn, ndmp_backup, run, statuses

from flowcheck.config import build_config, load_file
from flowcheck.findings import verdict
from flowcheck.model import Connection, Finding, Severity
from flowcheck.pipeline import Analysis, analyze, read_traffic

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
NAME = "clean-3-resources"
SYN, SYNACK, ACK = 22, 23, 24
MEDIA_PORT, AGENT_PORT = 5002, 6001


def _packets() -> list[Packet]:
    """The capture's packets, copies the caller may change."""
    return list(read_packets(str(LAB / f"{NAME}.pcap")))


@functools.cache
def _unchanged() -> tuple[Packet, ...]:
    """The capture's packets, one copy a process for the edits that change none of them
    (they copy a packet before changing it: _rst): read_packets copies all 669 packets at
    each call, most of such a test's time."""
    return tuple(_packets())


def _is_first_data(packet: Packet) -> bool:
    return TCP in packet and {packet[TCP].sport, packet[TCP].dport} == {MEDIA_PORT, AGENT_PORT}


def _rst(template: Packet, *, seq: int, sport: int | None = None,
         dport: int | None = None) -> Packet:
    """A bare RST built on a packet of the connection (its addresses, time, direction)."""
    packet = template.copy()
    packet[TCP].remove_payload()
    packet[TCP].flags, packet[TCP].seq, packet[TCP].ack = "R", seq, 0
    if sport is not None:
        packet[TCP].sport = sport
    if dport is not None:
        packet[TCP].dport = dport
    del packet[IP].len, packet[IP].chksum, packet[TCP].chksum
    return packet


def _originator_rst(packets: list[Packet]) -> Packet:
    """What the media server's TCP sends for a SYN-ACK no connection waits for: a RST
    with the sequence number the SYN-ACK acknowledged, instead of the ACK (frame 24)."""
    return _rst(packets[ACK - 1], seq=packets[SYNACK - 1][TCP].ack)


def _responder_rst(packets: list[Packet]) -> Packet:
    """The agent resets the connection it has just accepted (refused after accept)."""
    synack = packets[SYNACK - 1]
    reset = _rst(synack, seq=synack[TCP].seq + 1)
    reset.time = packets[ACK - 1].time
    return reset


def _opening_only(tmp_path: Path, third: Callable[[list[Packet]], Packet] | None,
                  name: str) -> Path:
    """The capture with the first data connection cut to its SYN and SYN-ACK, then
    `third` (built from the original packets) in place of its ACK, nothing after."""
    packets = list(_unchanged())
    out = []
    for number, packet in enumerate(packets, 1):
        if not _is_first_data(packet) or number in (SYN, SYNACK):
            out.append(packet)
        elif number == ACK and third is not None:
            out.append(third(packets))
    path = tmp_path / f"{name}.pcap"
    write_packets(str(path), out)
    return path


def _analyze(path: Path) -> Analysis:
    config = build_config(load_file(LAB / f"{NAME}.toml"))
    return analyze(read_traffic([str(path)], config), config)


def _errors(analysis: Analysis) -> list[Finding]:
    return [f for f in analysis.findings if str(f.severity) == "error"]


def _codes(analysis: Analysis) -> list[str]:
    return [f.code for f in analysis.findings]


def test_originator_reset_after_a_prompt_synack_is_data_aborted(tmp_path: Path) -> None:
    analysis = _analyze(_opening_only(tmp_path, _originator_rst, "rst-after-synack"))
    [finding] = _errors(analysis)
    assert analysis.verdict == "fail" and finding.code == "data_aborted", _codes(analysis)
    assert "capture_ended_early" not in _codes(analysis)
    assert finding.frames == [SYN, SYNACK, ACK] and finding.uid == "C3"
    [session] = analysis.sessions
    assert [s.status for s in session.steps] == ["ok", "ok", "ok", "ok", "failed"]
    # The port answered: step 4 reached it; step 5 failed on the RST.
    assert "then reset by 10.77.0.1 (frame 24)" in session.steps[3].detail
    assert session.steps[4].frames == [ACK]
    assert "reset by its originator 10.77.0.1" in session.steps[4].detail
    assert "400,000 B agent -> media server" in session.steps[4].detail
    message = finding.message
    assert "10.77.0.1:5002 -> 10.77.0.2:6001" in message
    assert "the media server 10.77.0.1" in message
    assert "SYN (frame 22), SYN-ACK from 10.77.0.2 0.0231 ms later (frame 23)" in message
    assert "RST from 10.77.0.1 0.0129 ms after it (frame 24)" in message
    assert "never flowed" in message and "came at once" in message
    assert "cancelled" in message and "timed out" not in message
    assert "job log" in finding.fix and "10.77.0.2 port 6001 to 10.77.0.1 port 5002" in finding.fix


def _late_answer(packets: list[Packet]) -> list[Packet]:
    """The SYN sent three times (at 0, 1 and 3 s), its SYN-ACK 3.5 s after the first,
    then the originator's RST: everything from frame 23 on 3.5 s later."""
    syn = packets[SYN - 1]
    out = []
    for number, packet in enumerate(packets, 1):
        if number > SYN:
            packet.time += Decimal("3.5")
        if number == ACK:
            packet = _originator_rst(packets)
            packet.time = packets[ACK - 1].time  # already moved
        elif _is_first_data(packet) and number > ACK:
            continue
        out.append(packet)
        if number == SYN:
            for delay in (1, 3):
                retry = syn.copy()
                retry.time = syn.time + Decimal(delay)
                out.append(retry)
    return out


def test_originator_reset_after_a_late_synack_reads_as_a_timed_out_connect(
        tmp_path: Path) -> None:
    path = tmp_path / "late-synack.pcap"
    write_packets(str(path), _late_answer(_packets()))
    analysis = _analyze(path)
    [finding] = _errors(analysis)
    assert finding.code == "data_aborted", _codes(analysis)
    assert "SYN sent 3 times (frames 22, 23, 24)" in finding.message
    assert "3.5 s after the first SYN (frame 25)" in finding.message
    assert "timed out" in finding.message and "slow or loses packets" in finding.message
    assert "cancelled" not in finding.message
    assert "connect timeout" in finding.fix
    [session] = analysis.sessions
    assert [s.status for s in session.steps][3:] == ["ok", "failed"]
    assert "SYN-ACK 3.5 s after the first SYN, then reset by 10.77.0.1" in session.steps[3].detail


def test_responder_reset_after_its_synack_is_a_handshake_it_gave_up(tmp_path: Path) -> None:
    """SYN, SYN-ACK, then a RST from the responder, in a capture that ends 0.151 s later:
    the RST is evidence the connection will not complete (step 4 failed at once). It was
    capture_ended_early, "no retransmission, RST or ICMP answer was seen", RST in hand."""
    analysis = _analyze(_opening_only(tmp_path, _responder_rst, "responder-rst"))
    assert analysis.verdict == "fail", _codes(analysis)
    assert "data_aborted" not in _codes(analysis)
    [finding] = [f for f in analysis.findings if f.code == "handshake_incomplete"]
    assert "10.77.0.2 reset it (RST, frame" in finding.message
    assert "stopped listening" in finding.message and "log of the service" in finding.fix
    [conn] = [c for c in analysis.traffic.connections if c.uid == finding.uid]
    assert finding.frames == [*conn.syn_frames, *conn.synack_frames, *conn.rst_frames]
    assert len(finding.frames) == 3  # SYN, SYN-ACK, RST
    step = analysis.sessions[0].steps[3]
    assert step.status == "failed" and "then its RST (frame" in step.detail


def test_capture_that_ends_right_after_the_synack_keeps_capture_ended_early(
        tmp_path: Path) -> None:
    path = tmp_path / "cut.pcap"
    write_packets(str(path), list(_unchanged()[:SYNACK]))
    analysis = _analyze(path)
    assert analysis.verdict == "inconclusive", _codes(analysis)
    early = next(f for f in analysis.findings if f.code == "capture_ended_early")
    assert "SYN-ACK of the data connection 10.77.0.1:5002" in early.message
    assert "data_aborted" not in _codes(analysis)


def test_reset_that_closes_the_connection_after_its_data_passes(tmp_path: Path) -> None:
    """The agent's abortive close after the connection's last packet (the trial's
    clean-data-rst-close): the data flowed, nothing to report."""
    packets = list(_unchanged())
    last = max(n for n, p in enumerate(packets, 1) if _is_first_data(p))
    from_agent = [p for p in packets if _is_first_data(p) and p[TCP].sport == AGENT_PORT][-1]
    reset = _rst(from_agent, seq=from_agent[TCP].seq + 1)
    reset.time = packets[last - 1].time + Decimal("0.0001")
    path = tmp_path / "rst-close.pcap"
    write_packets(str(path), packets[:last] + [reset] + packets[last:])
    analysis = _analyze(path)
    assert analysis.verdict == "pass" and _errors(analysis) == [], _codes(analysis)


def test_retry_that_opens_takes_the_reset_attempt_back(tmp_path: Path) -> None:
    """An attempt from port 5010 reset after its SYN-ACK, then the connection from 5002
    that carried the data: the resource's data flowed."""
    packets = _packets()
    syn, synack = packets[SYN - 1].copy(), packets[SYNACK - 1].copy()
    syn[TCP].sport, synack[TCP].dport = 5010, 5010
    del syn[TCP].chksum, synack[TCP].chksum
    reset = _rst(syn, seq=synack[TCP].ack, sport=5010)
    start = packets[SYN - 1].time
    for offset, packet in zip(("0", "0.00002", "0.00003"), (syn, synack, reset), strict=True):
        packet.time = start + Decimal(offset)
    later = packets[SYN - 1:]
    for packet in later:
        packet.time += Decimal("0.001")
    path = tmp_path / "retried.pcap"
    write_packets(str(path), packets[:SYN - 1] + [syn, synack, reset] + later)
    analysis = _analyze(path)
    assert analysis.verdict == "pass", _codes(analysis)
    assert "unannounced_connection" not in _codes(analysis)
    # The retry reached the same listening socket: no port was bound again.
    assert "port_reused_within_hold" not in _codes(analysis)
    [session] = analysis.sessions
    assert len(session.data_connections) == 4


# --- hand-built traffic (hosts as in test_verify_scenarios) -----------------------------

def test_reset_data_connection_is_one_error_not_also_its_consequences() -> None:
    connections, streams = ndmp_backup(data_how="aborted", halt="CONNECT_ERROR")
    sessions, findings = run(connections, streams, profile="ndmp")
    # Not the DATA_CONNECT error reply, not the halt.
    assert codes(findings) == ["data_aborted"]
    assert statuses(sessions[0]) == ["ok", "ok", "ok", "failed"]
    # The agent connects to the mover in plain NDMP: it is the one that gave up.
    assert "its own originator, the agent 10.77.0.2" in findings[0].message
    assert "the agent's log" in findings[0].fix


def test_backup_exec_reset_data_connection_fails_the_verdict() -> None:
    connections, streams = be_backup(data_how="aborted")
    sessions, findings = run(connections, streams)
    assert codes(findings) == ["data_aborted"]
    assert statuses(sessions[0])[3:] == ["ok", "failed"]
    assert verdict(findings, sessions) == "fail"


def _later(ts: float) -> Connection:
    """Unrelated traffic that keeps the capture running until ts."""
    return conn("Clater", "10.77.0.9", 40000, "10.77.0.8", 22, ts - 0.5, end=ts)


def test_control_connection_reset_at_once_and_never_resent_is_a_port_check() -> None:
    """One SYN, a prompt SYN-ACK, the originator's RST 0.1 ms later, the SYN never resent
    in 10 s: a half-open port check (a SYN scan; trial 11), not a job: step 1 ok, no
    error (it was handshake_incomplete "a rule on 10.77.0.1 rejects it")."""
    control = conn("Cctl", M, 5001, A, 10000, 0.0, how="aborted")
    sessions, findings = run([control, _later(10.0)], [])
    assert not [f for f in findings if f.severity == Severity.ERROR]
    assert statuses(sessions[0])[0] == "ok"
    assert "half-open port check" in sessions[0].steps[0].detail
    assert sessions[0].steps[0].frames == sorted(
        [*control.syn_frames, *control.synack_frames, *control.rst_frames])


def test_control_connection_reset_so_and_resent_is_judged_as_before() -> None:
    """data_aborted is the data connection's: a control connection reset by the media
    server after a prompt SYN-ACK whose SYN came again from the same port (a connect
    whose SYN-ACKs a stateless rule on its host rejects) stays handshake_incomplete, read
    as data_aborted reads it; so does one whose SYN-ACK came late (the connect had timed
    out), or unknown without time after."""
    control = conn("Cctl", M, 5001, A, 10000, 0.0, how="aborted")
    again = conn("Cctl2", M, 5001, A, 10000, 1.0, how="aborted")
    sessions, findings = run([control, again, _later(10.0)], [])
    assert "handshake_incomplete" in codes(findings) and "data_aborted" not in codes(findings)
    assert statuses(sessions[0])[0] == "failed"
    # Its words read the reset as data_aborted's do, not "the return traffic is blocked".
    finding = next(f for f in findings if f.code == "handshake_incomplete")
    assert f"RST from {M}" in finding.message and "came at once" in finding.message
    assert finding.frames == [*control.syn_frames, *control.synack_frames, *control.rst_frames]
    assert f"firewall on {M}" in finding.fix
    late = conn("Cctl", M, 5001, A, 10000, 0.0, how="aborted")
    late.synack_ts, late.rst_ts = 3.5, 3.5001  # the retransmission timeout is 3 s
    late.last_ts = late.rst_ts
    sessions, findings = run([late, _later(10.0)], [])
    [finding] = [f for f in findings if f.code == "handshake_incomplete"]
    assert "its connect timed out" in finding.message
    assert statuses(sessions[0])[0] == "failed"
    control = conn("Cctl", M, 5001, A, 10000, 0.0, how="aborted")
    sessions, findings = run([control], [])
    assert codes(findings) == ["capture_ended_early"]
    assert statuses(sessions[0])[0] == "unknown"
    # The RST is in the capture: what cannot be seen is a retry, not an answer.
    [rst] = control.rst_frames
    assert (f"{M} reset it after the SYN-ACK (RST, frame {rst}) and the capture ended"
            in sessions[0].steps[0].detail)
    assert "no retransmission, RST or ICMP" not in sessions[0].steps[0].detail
    assert f"after {M}'s RST (frame {rst}) that ended the control connection" in \
        findings[0].message
    assert f"whether {M} tried again and got through cannot be seen" in findings[0].message
    assert "whether it was answered" not in findings[0].message
    assert findings[0].frames == [*control.syn_frames, *control.synack_frames, rst]


def test_ladder_puts_the_finding_on_the_reset_under_step_5(tmp_path: Path) -> None:
    from flowcheck.report.ladder_build import build_ladders

    (ladder,) = build_ladders(_analyze(_opening_only(tmp_path, _originator_rst, "ladder")))
    [reset] = [a for a in ladder.arrows if a.uid == "C3" and a.kind == "rst"]
    assert (reset.label, reset.step, reset.status) == ("RST (aborted)", 5, "failed")
    assert (reset.src, reset.dst) == (M, A) and not reset.reply
    assert [m.code for m in reset.findings] == ["data_aborted"]


# --- opened, then reset by its originator before any data --------------------------------

def _opened_then_reset(tmp_path: Path, payload: bytes, name: str) -> Path:
    """The first data connection cut to its SYN, SYN-ACK and ACK (frames 22-24), then
    `payload` from the media server (if any) and its RST 0.1 ms after the ACK, before
    frame 25 (0.105 ms after it); its data packets dropped."""
    packets = list(_unchanged())
    ack = packets[ACK - 1]
    added = []
    if payload:
        data = ack.copy()
        data[TCP].remove_payload()
        data[TCP].flags = "PA"
        data[TCP].add_payload(Raw(payload))
        del data[IP].len, data[IP].chksum, data[TCP].chksum
        data.time = ack.time + Decimal("0.00005")
        added.append(data)
    reset = _rst(ack, seq=ack[TCP].seq + len(payload))
    reset.time = ack.time + Decimal("0.0001")
    added.append(reset)
    rest = [p for n, p in enumerate(packets, 1) if n > ACK and not _is_first_data(p)]
    path = tmp_path / f"{name}.pcap"
    write_packets(str(path), packets[:ACK] + added + rest)
    return path


def test_originator_reset_after_the_handshake_before_any_data_is_data_aborted(
        tmp_path: Path) -> None:
    analysis = _analyze(_opened_then_reset(tmp_path, b"", "opened-then-rst"))
    [finding] = _errors(analysis)
    assert analysis.verdict == "fail" and finding.code == "data_aborted", _codes(analysis)
    assert finding.uid == "C3" and finding.frames == [SYN, SYNACK, ACK + 1]
    [session] = analysis.sessions
    assert [s.status for s in session.steps] == ["ok", "ok", "ok", "ok", "failed"]
    assert "handshake" in session.steps[3].detail and "reset" not in session.steps[3].detail
    assert session.steps[4].frames == [ACK + 1]
    assert "opened, then reset by its originator 10.77.0.1 (RST, frame 25)" in \
        session.steps[4].detail
    assert "400,000 B agent -> media server" in session.steps[4].detail
    message = finding.message
    assert ("The data connection 10.77.0.1:5002 -> 10.77.0.2:6001 opened (SYN at frame 22, "
            "SYN-ACK from 10.77.0.2 at frame 23, ACK from 10.77.0.1: handshake") in message
    assert ("and then was reset by its own originator, the media server 10.77.0.1, "
            "0.113 ms after the SYN-ACK (RST, frame 25), before any data") in message
    assert "instead of the ACK" not in message and "never flowed" in message
    assert "cancelled" in message and "timed out" not in message
    assert "firewall" not in message + finding.fix and "job log" in finding.fix


def test_ladder_shows_the_reset_after_the_handshake_under_step_5(tmp_path: Path) -> None:
    from flowcheck.report.ladder_build import build_ladders

    (ladder,) = build_ladders(_analyze(_opened_then_reset(tmp_path, b"", "ladder-opened")))
    [reset] = [a for a in ladder.arrows if a.uid == "C3" and a.kind == "rst"]
    assert (reset.label, reset.step, reset.status) == ("RST (aborted)", 5, "failed")
    assert [m.code for m in reset.findings] == ["data_aborted"]


def test_one_payload_byte_before_the_reset_is_not_data_aborted(tmp_path: Path) -> None:
    """A byte moved: the connection was used, however little; judged as before (the
    other connections carried the job's data)."""
    analysis = _analyze(_opened_then_reset(tmp_path, b"x", "one-byte-then-rst"))
    assert analysis.verdict == "pass" and _errors(analysis) == [], _codes(analysis)
    assert [s.status for s in analysis.sessions[0].steps][3:] == ["ok", "ok"]


def test_retry_that_opens_takes_the_opened_and_reset_attempt_back(tmp_path: Path) -> None:
    """An attempt from port 5010 opened and reset before any data, then the connection
    from 5002 that carried the data: the resource's data flowed."""
    packets = _packets()
    attempt = [packets[n - 1].copy() for n in (SYN, SYNACK, ACK)]
    for packet in attempt:
        if packet[TCP].sport == MEDIA_PORT:
            packet[TCP].sport = 5010
        else:
            packet[TCP].dport = 5010
        del packet[TCP].chksum
    attempt.append(_rst(attempt[2], seq=attempt[2][TCP].seq))
    start = packets[SYN - 1].time
    for offset, packet in zip(("0", "0.00002", "0.00003", "0.00004"), attempt, strict=True):
        packet.time = start + Decimal(offset)
    later = packets[SYN - 1:]
    for packet in later:
        packet.time += Decimal("0.001")
    path = tmp_path / "retried-opened.pcap"
    write_packets(str(path), packets[:SYN - 1] + attempt + later)
    analysis = _analyze(path)
    assert analysis.verdict == "pass", _codes(analysis)
    assert "unannounced_connection" not in _codes(analysis)
    assert "port_reused_within_hold" not in _codes(analysis)
    assert len(analysis.sessions[0].data_connections) == 4
