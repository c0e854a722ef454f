"""A handshake the capture shows complete that never completed at the listener (field
check trial 34): a firewall lets the SYN through and drops the packets after it, so the
listener resends its SYN-ACK after the originator's captured ACK and acknowledges
nothing more: `handshake_incomplete`, the step failed, its consequences not reported.

The whole results of the trial's captures are regress expectations
(captures/trial34-ack-dropped); here the rule's limits, on scapy-built connections and on
a copy of a stored capture changed by scapy: a SYN-ACK resent once under random loss
after which data flowed, a capture of one direction, and the same capture without the
resent SYN-ACKs are read as before.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from capture_factory import tcp_packet, write_pcap
from scapy.all import TCP
from scapy_files import read_packets, write_packets

from flowcheck.config import build_config, load_file
from flowcheck.connections import short_flows, track_connections
from flowcheck.model import Connection
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.unheard_ack import ack_unheard, acks_repeated

DIR = Path(__file__).resolve().parent.parent / "captures" / "trial34-ack-dropped"
REVIEW = Path(__file__).resolve().parent / "data" / "trial34-review"
# The sidecar of the stored capture the review captures were made from (one
# configuration for all of them: a NAME.toml here would be taken for a case of its own).
CONTROL_SIDECAR = (Path(__file__).resolve().parent.parent / "captures" / "trial34-ack-dropped"
                   / "control-ack-dropped-at-agent.toml")
M, A = "10.77.0.1", "10.77.0.2"
ISN_M, ISN_A = 1000, 5000


def _analyze(path: Path, name: str) -> Analysis:
    config = build_config(load_file(DIR / f"{name}.toml"))
    return analyze(read_traffic([str(path)], config), config)


def _handshake(t: float = 100.0) -> list[tuple[float, bytes]]:
    """M's SYN to A's port 6001, A's SYN-ACK, M's ACK completing it."""
    return [(t, tcp_packet(M, A, 5002, 6001, "S", ISN_M)),
            (t + 0.0001, tcp_packet(A, M, 6001, 5002, "SA", ISN_A, ISN_M + 1)),
            (t + 0.0002, tcp_packet(M, A, 5002, 6001, "A", ISN_M + 1, ISN_A + 1))]


def _synack_again(t: float) -> list[tuple[float, bytes]]:
    """A's SYN-ACK resent at t and M's ACK answering it."""
    return [(t, tcp_packet(A, M, 6001, 5002, "SA", ISN_A, ISN_M + 1)),
            (t + 0.0001, tcp_packet(M, A, 5002, 6001, "A", ISN_M + 1, ISN_A + 1))]


def _connection(tmp_path: Path, packets: list[tuple[float, bytes]]) -> Connection:
    path = tmp_path / "c.pcap"
    write_pcap(path, packets)
    [conn] = track_connections([str(path)]).connections
    return conn


def test_synack_resent_after_the_captured_ack_is_a_handshake_never_completed(
        tmp_path: Path) -> None:
    conn = _connection(tmp_path, [*_handshake(), *_synack_again(101.0),
                                  *_synack_again(103.0)])
    assert conn.established  # the capture holds the ACK
    assert ack_unheard(conn) == [4, 6]
    assert connection_outcome(conn) == "handshake_incomplete"


def test_one_resend_and_the_originators_fin_resent_unacknowledged(tmp_path: Path) -> None:
    fin = [(t, tcp_packet(M, A, 5002, 6001, "FA", ISN_M + 1, ISN_A + 1))
           for t in (101.5, 101.7, 102.1)]
    conn = _connection(tmp_path, [*_handshake(), *_synack_again(101.0), *fin])
    assert ack_unheard(conn) == [4]
    assert connection_outcome(conn) == "handshake_incomplete"


def test_one_resend_and_nothing_after_it_is_not_evidence_enough(tmp_path: Path) -> None:
    conn = _connection(tmp_path, [*_handshake(), *_synack_again(101.0)])
    assert ack_unheard(conn) == []
    assert connection_outcome(conn) == "established"


def test_a_resend_under_random_loss_then_data_acknowledged_is_no_finding(
        tmp_path: Path) -> None:
    """The ACK lost once: the listener resends its SYN-ACK twice, then the originator's
    data completes the handshake and the listener acknowledges it."""
    data = [(102.0, tcp_packet(M, A, 5002, 6001, "PA", ISN_M + 1, ISN_A + 1, b"x" * 100)),
            (102.0001, tcp_packet(A, M, 6001, 5002, "A", ISN_A + 1, ISN_M + 101)),
            (102.1, tcp_packet(A, M, 6001, 5002, "PA", ISN_A + 1, ISN_M + 101, b"y" * 500)),
            (102.1001, tcp_packet(M, A, 5002, 6001, "A", ISN_M + 101, ISN_A + 501))]
    conn = _connection(tmp_path, [*_handshake(), *_synack_again(101.0),
                                  *_synack_again(101.5), *data])
    assert ack_unheard(conn) == []
    assert connection_outcome(conn) == "established"


def test_a_capture_of_one_direction_is_no_finding(tmp_path: Path) -> None:
    """Only the listener's packets: its SYN-ACKs, none of the originator's ACKs (the
    capture cannot show which arrived); only the originator's: no SYN-ACK resend."""
    both = [*_handshake(), *_synack_again(101.0), *_synack_again(103.0)]
    listener = [p for i, p in enumerate(both) if i in (1, 3, 5)]
    assert ack_unheard(_connection(tmp_path, listener)) == []
    originator = [p for i, p in enumerate(both) if i not in (1, 3, 5)]
    assert ack_unheard(_connection(tmp_path, originator)) == []


def _originator_only(packets: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    """What `tcpdump -Q out` on M keeps: M's packets (its IPv4 source at bytes 26-30)."""
    m = bytes(map(int, M.split(".")))
    return [(t, p) for t, p in packets if p[26:30] == m]


_FINS = [(t, tcp_packet(M, A, 5002, 6001, "FA", ISN_M + 1, ISN_A + 1))
         for t in (130.0, 130.2, 130.6)]


def test_one_direction_ack_repeated_and_fin_resent(tmp_path: Path, either_pass: str) -> None:
    """Only M's packets: its ACK answering each SYN-ACK A resent (at +1 s, +3 s) and its
    FIN resent, none acknowledged: the ACK never reached A (field check 35, seed 35 run
    0). Either path keeps the repeats (SideEvidence.handshake_ack_repeats)."""
    both = [*_handshake(), *_synack_again(101.0), *_synack_again(103.0), *_FINS]
    conn = _connection(tmp_path, _originator_only(both))
    assert conn.evidence("orig").handshake_ack_repeats == 2
    assert acks_repeated(conn) == 2
    assert connection_outcome(conn) == "handshake_incomplete"


def test_one_direction_limits_of_the_repeated_ack(tmp_path: Path, either_pass: str) -> None:
    """Not evidence: the ACK repeated without the FIN resent (a receiver whose peer's
    first segment was lost repeats it until the resend, which a cut capture lacks); one
    repeat only; keepalives (sequence number one below: RFC 9293 3.8.4), which the peer
    answers; data M sent; a repeat that acknowledges more of A's bytes."""
    repeated = [*_handshake(), *_synack_again(101.0), *_synack_again(103.0)]
    conn = _connection(tmp_path, _originator_only(repeated))
    assert conn.evidence("orig").handshake_ack_repeats == 2
    assert acks_repeated(conn) == 0
    assert connection_outcome(conn) == "established"
    once = _originator_only([*_handshake(), *_synack_again(101.0), *_FINS])
    assert acks_repeated(_connection(tmp_path, once)) == 0
    keepalives = [(t, tcp_packet(M, A, 5002, 6001, "A", ISN_M, ISN_A + 1))
                  for t in (110.0, 120.0)]
    kept = _connection(tmp_path, _originator_only([*_handshake(), *keepalives, *_FINS]))
    assert kept.evidence("orig").handshake_ack_repeats == 0
    sent = [(100.5, tcp_packet(M, A, 5002, 6001, "PA", ISN_M + 1, ISN_A + 1, b"x" * 10))]
    sent_fins = [(t, tcp_packet(M, A, 5002, 6001, "FA", ISN_M + 11, ISN_A + 1))
                 for t in (130.0, 130.2)]
    conn = _connection(tmp_path, _originator_only([*repeated, *sent, *sent_fins]))
    assert acks_repeated(conn) == 0
    acked = [(104.0, tcp_packet(M, A, 5002, 6001, "A", ISN_M + 1, ISN_A + 101))]
    conn = _connection(tmp_path, _originator_only([*repeated, *acked, *_FINS]))
    assert acks_repeated(conn) == 0 and connection_outcome(conn) == "established"


def test_stored_data_connection_names_the_ack_and_the_resends() -> None:
    name = "data-ack-dropped-at-agent"
    analysis = _analyze(DIR / f"{name}.pcap", name)
    assert [f.code for f in analysis.findings if f.severity == "error"] == [
        "handshake_incomplete"]
    [finding] = [f for f in analysis.findings if f.code == "handshake_incomplete"]
    assert {24, 28, 30} <= set(finding.frames)  # the ACK, the resent SYN-ACKs
    assert "ACK completing it (frame 24)" in finding.message
    assert finding.fix.startswith(f"On {A} (its input chain)")
    steps = analysis.sessions[0].steps
    assert steps[3].status == "failed" and "resent its SYN-ACK 2 times" in steps[3].detail


@pytest.mark.parametrize("ranges", [True, False])
def test_the_listeners_rule_names_the_range_its_port_is_drawn_from(ranges: bool) -> None:
    """The accept on the listener names its data port as the rule on a responder does
    (allow_rules.own_target): the agent range it is drawn from anew for each connection,
    or with flowcheck's default range the port this job used "and the rest of the agent
    range", after the fix's lead asking for the ranges; not "port 6001" alone, which the
    next job's data port misses (review61b: with no range set it read "to 10.77.0.2 port
    6001", and no lead)."""
    name = "data-ack-dropped-at-agent"
    settings = load_file(DIR / f"{name}.toml")
    config = build_config(settings if ranges else {
        key: value for key, value in settings.items() if not key.endswith("_range")})
    analysis = analyze(read_traffic([str(DIR / f"{name}.pcap")], config), config)
    [finding] = [f for f in analysis.findings if f.code == "handshake_incomplete"]
    if ranges:
        assert finding.fix.startswith(f"On {A} (its input chain)")
        assert (f"to {A} ports 6001-6100 (the agent range: this connection's port 6001 is "
                "drawn from it anew each time), whatever its flags") in finding.fix
    else:
        assert finding.fix.startswith("First set --media-range and --agent-range")
        assert (f"Until then, for this job: on {A} (its input chain) and on any firewall "
                "between the hosts, accept the whole connection") in finding.fix
        assert (f"to {A} port 6001 (the agent port this job used) and the rest of the agent "
                "range it is drawn from, whatever its flags") in finding.fix
    assert f"to {A} port 6001 whatever" not in finding.fix


def test_stored_capture_without_the_resent_synacks_reads_as_before(tmp_path: Path) -> None:
    """Frames 28 and 30 (A's SYN-ACK resends) and M's ACKs of them taken out: nothing
    shows the ACK was lost, so the halt is the finding, step 4 ok."""
    name = "data-ack-dropped-at-agent"
    packets = list(read_packets(str(DIR / f"{name}.pcap")))
    kept = [p for i, p in enumerate(packets, 1) if i not in (28, 29, 30, 31)]
    assert all(not (TCP in p and p[TCP].flags == "SA" and p[TCP].sport == 6001)
               for p in kept[27:])
    path = tmp_path / "no-resend.pcap"
    write_packets(str(path), kept)
    analysis = _analyze(path, name)
    assert not any(f.code == "handshake_incomplete" for f in analysis.findings)
    assert analysis.sessions[0].steps[3].status == "ok"


@pytest.fixture(params=["as configured", "short pass"])
def either_pass(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The per-packet path (a few flows take it as configured) or the short-connection
    pass in every batch (flowcheck.connections.short_records keeps ack_frame too)."""
    if request.param == "short pass":
        monkeypatch.setattr(short_flows, "SHORT_STEP_FLOWS", 1)
        monkeypatch.setattr(short_flows, "SHORT_STEP_PACKETS", 0)
    return request.param


def test_synacks_resent_before_the_ack_are_no_evidence(tmp_path: Path,
                                                       either_pass: str) -> None:
    """The SYN-ACK lost towards the originator twice: resent before its ACK, which then
    completes the handshake; nothing after it."""
    syn, synack, ack = _handshake()
    resent = [(101.0, synack[1]), (103.0, synack[1])]
    conn = _connection(tmp_path, [syn, synack, *resent, (103.0001, ack[1])])
    assert conn.established
    assert ack_unheard(conn) == []
    assert connection_outcome(conn) != "handshake_incomplete"


def test_a_syn_retried_before_the_handshake_still_counts(tmp_path: Path,
                                                         either_pass: str) -> None:
    """One SYN lost: M sends it again, then A's SYN-ACK, M's ACK (frame 4), and A's
    SYN-ACK resent twice after it (frames 5, 7): the ACK never reached A."""
    first = [(99.0, tcp_packet(M, A, 5002, 6001, "S", ISN_M))]
    conn = _connection(tmp_path, [*first, *_handshake(), *_synack_again(101.0),
                                  *_synack_again(103.0)])
    assert conn.syn_retries == 1
    assert conn.ack_frame == 4
    assert ack_unheard(conn) == [5, 7]
    assert connection_outcome(conn) == "handshake_incomplete"


def _review(*names: str) -> Analysis:
    config = build_config(load_file(CONTROL_SIDECAR))
    return analyze(read_traffic([str(REVIEW / n) for n in names], config), config)


def test_review_synacks_before_the_ack_read_as_the_capture_ending() -> None:
    analysis = _review("a_before.pcap")
    assert not any(f.code == "handshake_incomplete" for f in analysis.findings)
    assert "capture_ended_early" in {f.code for f in analysis.findings}


@pytest.mark.parametrize("names", [("b_synretried.pcap",), ("d_twopoints.pcap",),
                                   ("d_M.pcap", "d_A.pcap")])
def test_review_retried_syn_and_two_capture_points_name_the_ack(
        names: tuple[str, ...]) -> None:
    analysis = _review(*names)
    [finding] = [f for f in analysis.findings if f.code == "handshake_incomplete"]
    assert "ACK completing it (frame " in finding.message
    assert analysis.verdict == "fail"


def test_words_say_the_path_towards_the_listener_drops_the_packets() -> None:
    analysis = _review("b_synretried.pcap")
    [finding] = [f for f in analysis.findings if f.code == "handshake_incomplete"]
    assert "return path" not in finding.message
    assert f"the path towards {A} drops {M}'s packets after its SYN" in finding.message
    assert "accept queue" in finding.message  # the other reading, no evidence for it
    assert finding.fix.startswith(f"On {A} (its input chain)")
    assert "on Linux (its default" in finding.message  # the queue's drop is Linux's
    assert "Windows Defender Firewall keeps the state" in finding.fix


def test_a_full_accept_queue_is_put_first_when_other_connections_show_it() -> None:
    """Other connections to the listener's port completed and got nothing from it: the
    accept queue reading, its checks first in the fix."""
    config = build_config(load_file(REVIEW / "backlog.toml"))
    analysis = analyze(read_traffic([str(REVIEW / "backlog.pcap")], config), config)
    [finding] = [f for f in analysis.findings if f.code == "handshake_incomplete"]
    assert "accept queue is full" in finding.message
    assert "7001, 7002, 7003" in finding.message
    assert finding.fix.startswith("On 10.99.0.2, check whether the NDMP service accepts")
    assert "TcpExtListenOverflows" in finding.fix and "ss -ltn" in finding.fix
    # Windows too (a Backup Exec agent mostly is): session 34's check of the lab captures
    # rewritten with Windows' headers found these fixes Linux-only.
    assert "netstat -ano -p tcp | findstr :" in finding.fix
    assert "Windows Defender Firewall keeps the state" in finding.fix


def test_stored_data_step_evidence_holds_the_ack() -> None:
    """Step 4's frames: the SYN, the SYN-ACKs, and the ACK the listener never got."""
    name = "data-ack-dropped-at-agent"
    analysis = _analyze(DIR / f"{name}.pcap", name)
    step = analysis.sessions[0].steps[3]
    assert step.status == "failed"
    assert {22, 23, 24, 28, 30} <= set(step.frames)


def test_one_syn_and_synacks_resent_for_long_is_the_path_towards_the_listener() -> None:
    """M would have resent its SYN within 3 s had no SYN-ACK reached it: its ACKs were
    lost before the capture point, not A's replies."""
    [finding] = [f for f in _review("f_noack.pcap").findings
                 if f.code == "handshake_incomplete"]
    assert "return traffic is blocked" not in finding.message
    assert f"the path towards {A} drops {M}'s packets after its SYN" in finding.message
    assert finding.fix.startswith(f"On {A} (its input chain)")


def test_a_capture_of_the_listeners_direction_names_both_directions() -> None:
    [finding] = [f for f in _review("e_listener_only.pcap").findings
                 if f.code == "handshake_incomplete"]
    assert f"either {M} never got the SYN-ACK" in finding.message
    assert f"{M}'s ACK was dropped on its way to {A}" in finding.message
    assert finding.fix.startswith(f"On {A} (its input chain)")
    assert f"on {M} (its input chain)" in finding.fix
