"""A full-connect port check of the agent's NDMP port from the media server (new-user
trial 23, D2): connect, the agent's NDMP greeting, the media server closes having sent
nothing. No NDMP session was opened, so no job was started and no callback was due: step
1 ok ("a port check ..., not a job"), the later steps not_applicable, no step_missing
(it read "step 2 ... missing" with a firewall fix, and failed the night).

captures/lab-trial23-probe/connect-check.pcap (the trial's probes.pcap): frames 1-9 a
probe (SYN, SYN-ACK, ACK, the agent's NOTIFY_CONNECTED, the media server's ACK and FIN
0.07 ms later, the agent's ACK and FIN, the last ACK), then one good job (S2, its
callback 0.5 s later proves the callback's way open), then the probe again (frames
266-273). Variants are built from it with scapy.
"""

from __future__ import annotations

from pathlib import Path

from scapy.all import IP, TCP, Packet, Raw
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.findings import verdict
from flowcheck.pipeline import Analysis, analyze, read_traffic

CASE = Path(__file__).resolve().parent.parent / "captures" / "lab-trial23-probe"
NAME = "connect-check"
PROBE = range(1, 10)  # frames of the first probe
GREETING, GREETING_ACK, FIN = 4, 5, 6
JOB_FIRST = 10  # the job's SYN
CALLBACK_PORT = 5971  # the job engine's port of the job's callback


def _analyze(path: Path) -> Analysis:
    config = build_config(load_file(CASE / f"{NAME}.toml"))
    return analyze(read_traffic([str(path)], config), config)


def _packets() -> list[Packet]:
    return list(read_packets(str(CASE / f"{NAME}.pcap")))


def _fixed(packet: Packet) -> Packet:
    del packet[IP].len, packet[IP].chksum, packet[TCP].chksum
    return packet


def _write(tmp_path: Path, packets: list[Packet], name: str) -> Path:
    path = tmp_path / f"{name}.pcap"
    write_packets(str(path), packets)
    return path


def _step_words(analysis: Analysis, number: int) -> str:
    return analysis.sessions[number].steps[0].detail


def test_connect_check_of_the_agent_is_no_job() -> None:
    """The trial's capture: the two probes (S1, S3) are port checks, step 1 ok and saying
    so, the later steps not_applicable with that reason; the job S2 passes; no error."""
    analysis = _analyze(CASE / f"{NAME}.pcap")
    assert verdict(analysis.findings, analysis.sessions) == "pass"
    assert not [f for f in analysis.findings if f.severity.value == "error"]
    probe, job, again = analysis.sessions
    for session in (probe, again):
        assert [s.status for s in session.steps] == ["ok"] + ["not_applicable"] * 4
        first = session.steps[0].detail
        assert "a port check (connect and close), not a job" in first
        assert "sent nothing" in first and "NOTIFY_CONNECTED" in first
        assert all("port check (step 1), not a job" in s.detail for s in session.steps[1:])
        assert session.kind_words().startswith("kind unknown (a port check")
    assert [s.status for s in job.steps] == ["ok"] * 5


def test_connect_check_closed_before_the_greeting_or_reset_is_no_job(tmp_path: Path) -> None:
    """A check that closes before the greeting comes (Test-NetConnection: connect, close),
    and one that resets its connection after the greeting (a load balancer's health check
    with SO_LINGER 0): the same, nothing sent by the media server."""
    packets = _packets()
    # Closed before the greeting: no greeting, the agent's sequence numbers 60 lower.
    early = []
    for number, packet in enumerate(packets, 1):
        if number in (GREETING, GREETING_ACK):
            continue
        packet = packet.copy()
        if number in PROBE and number > GREETING_ACK:
            if packet[IP].src == "10.77.0.2":
                packet[TCP].seq -= 60
            else:
                packet[TCP].ack -= 60
            packet = _fixed(packet)
        early.append(packet)
    analysis = _analyze(_write(tmp_path, early, "early"))
    assert not [f for f in analysis.findings if f.severity.value == "error"]
    assert [s.status for s in analysis.sessions[0].steps] == ["ok"] + ["not_applicable"] * 4
    assert "a port check (connect and close), not a job" in _step_words(analysis, 0)
    assert "NOTIFY_CONNECTED" not in _step_words(analysis, 0)
    # Reset after the greeting: the FIN becomes a RST, nothing after it.
    reset = []
    for number, packet in enumerate(packets, 1):
        if number in PROBE and number > FIN:
            continue
        if number == FIN:
            packet = packet.copy()
            packet[TCP].flags, packet[TCP].ack = "R", 0
            packet = _fixed(packet)
        reset.append(packet)
    analysis = _analyze(_write(tmp_path, reset, "reset"))
    assert not [f for f in analysis.findings if f.severity.value == "error"]
    assert [s.status for s in analysis.sessions[0].steps] == ["ok"] + ["not_applicable"] * 4
    assert "a port check (connect and close), not a job" in _step_words(analysis, 0)


def test_session_that_asked_something_or_was_refused_stays_judged(tmp_path: Path) -> None:
    """Not a port check: a media server that sent a request (its CONNECT_OPEN) before
    closing, whose callback the capture lacks, is judged as a job (the job went on to
    move data, so its callback is unknown, not missing: trial 25 D2); so is a probe whose
    greeting the agent sent with the reason REFUSED (the agent turned the session away:
    not the checker's doing)."""
    packets = _packets()
    # The job with its callback cut out: the media server asked, no callback came.
    asked = [p for p in packets if not (TCP in p and CALLBACK_PORT in (p[TCP].sport,
                                                                       p[TCP].dport))]
    analysis = _analyze(_write(tmp_path, asked, "asked"))
    callback = analysis.sessions[1].steps[1]
    assert callback.status == "unknown" and "went on past it" in callback.detail
    assert "port check" not in analysis.sessions[1].steps[0].detail
    # The greeting's reason (the body's first word) REFUSED (2).
    refused = []
    for number, packet in enumerate(packets, 1):
        packet = packet.copy()
        if number == GREETING:
            body = bytearray(bytes(packet[Raw].load))
            body[4 + 24:4 + 28] = (2).to_bytes(4, "big")
            packet[Raw].load = bytes(body)
            packet = _fixed(packet)
        refused.append(packet)
    analysis = _analyze(_write(tmp_path, refused, "refused"))
    assert "port check" not in analysis.sessions[0].steps[0].detail


def test_one_direction_port_check_does_not_take_the_jobs_callback(tmp_path: Path) -> None:
    # Only the media server's packets (tcpdump -Q out): the callback is known from the
    # job engine's SYN-ACK alone, and the port check before the job, closed 0.7 s before
    # the callback having sent nothing, took it by order (the job's data connection,
    # matched by ports later, gave no earlier deadline): S1 read "callback ok", S2
    # "step 2 unknown".
    path = tmp_path / "media-only.pcap"
    write_packets(str(path), [p for p in _packets() if p[IP].src == "10.77.0.1"])
    analysis = _analyze(path)
    first, job = analysis.sessions[0], analysis.sessions[1]
    assert first.callback_uid is None
    assert [s.status for s in first.steps] == ["ok"] + ["not_applicable"] * 4
    assert "a port check" in first.steps[0].detail
    callback = next(c for c in analysis.traffic.connections if c.uid == job.callback_uid)
    assert callback.resp_p == CALLBACK_PORT
    assert job.steps[1].status == "ok"


def test_one_direction_callback_of_two_open_sessions_says_the_tie_is_a_guess(
        tmp_path: Path) -> None:
    # The same capture of the media server's packets, the first session turned into one
    # that asked something (a request's bytes on its ACK) and whose close the capture
    # lacks: both sessions are open when the callback opens and neither has a data
    # connection yet, so which one the agent called back is a guess; the step says so.
    packets = [p for p in _packets() if p[IP].src == "10.77.0.1"]
    first = [p for p in packets if p[TCP].sport == packets[0][TCP].sport]
    asked = first[2].copy()
    asked[TCP].remove_payload()
    asked = asked / Raw(b"\x00" * 28)
    del asked[IP].len, asked[IP].chksum, asked[TCP].chksum
    kept = [asked if p is first[2] else p for p in packets if p not in first[3:]]
    path = tmp_path / "media-only-two-open.pcap"
    write_packets(str(path), kept)
    analysis = _analyze(path)
    tied = [s for s in analysis.sessions if s.callback_uid is not None]
    assert len(tied) == 1
    [other] = [s for s in analysis.sessions[:2] if s is not tied[0]]
    detail = tied[0].steps[1].detail
    assert f"tied to this session by order: {other.id} (control {other.control_uid}) was " \
           "open too" in detail
    assert "which of them the agent called back the capture cannot tell" in detail
    # The agent did call back: the other session's step 2 is unknown, never missing.
    assert other.steps[1].status == "unknown"
    assert "step_missing" not in {f.code for f in analysis.findings}
