"""Field check 37: real lab jobs through a router that loses packets at random
(captures/trial37-impairments).

Random loss took a callback's SYN-ACKs (the agent resent its SYN after them, then reset
the one that got through after its connect had timed out): it read as a stateless reject
rule on the agent. It took the ACK completing a data connection's handshake and both its
repeats (the agent resent its SYN-ACK, gave the half-open connection up, and reset the
media server's FIN 30 s later): it read `data_aborted`, "the handshake completed ... the
service dropped the connection". The whole results are regress expectations; here the
readings' words, and the rules' limits on scapy-built connections.
"""

from __future__ import annotations

from pathlib import Path

from capture_factory import tcp_packet, write_pcap
from stored import errors, folder_analysis

from flowcheck.config import build_config, load_file
from flowcheck.connections import track_connections
from flowcheck.model import Connection
from flowcheck.pipeline import Analysis, analyze, read_traffic
from flowcheck.sessions.classify import connection_outcome
from flowcheck.sessions.unheard_ack import ack_unheard, acks_unseen
from flowcheck.verify.synack_reset import synacks_unreceived

FOLDER = Path(__file__).resolve().parents[1] / "captures" / "trial37-impairments"
M, A = "10.77.0.1", "10.77.1.2"
ISN_M, ISN_A = 1000, 5000


def _analysis(name: str) -> Analysis:
    return folder_analysis(FOLDER, name)


def _errors(result: Analysis) -> list:
    return errors(result)


def test_synacks_lost_on_the_way_back_are_no_reject_rule() -> None:
    for name in ("callback-synacks-lost-media.pcap", "callback-synacks-lost-both.pcap"):
        result = _analysis(name)
        [error] = _errors(result)
        assert error.code == "handshake_incomplete", name
        assert "sent its SYN again 3 times after it" in error.message, name
        assert "lost on the way back" in error.message, name
        assert "rejects it with a reset" not in error.message, name
        assert error.fix.startswith(f"Find what drops packets from {M} to {A}"), name
    # The media server's own capture: the TTLs place the point, the loss after it.
    [error] = _errors(_analysis("callback-synacks-lost-media.pcap"))
    assert f"after they left {M} (the capture was taken on {M}" in error.message
    # Both hosts' captures merged: each SYN at both points, the SYN-ACKs not.
    [error] = _errors(_analysis("callback-synacks-lost-both.pcap"))
    assert "between the capture points" in error.message
    assert f"never reached the one nearer {A}" in error.message


def test_the_agents_capture_of_it_reads_a_late_answer() -> None:
    [error] = _errors(_analysis("callback-synacks-lost-agent.pcap"))
    assert error.code == "handshake_incomplete"
    assert "its answer came late" in error.message


def test_acks_lost_under_random_loss_are_a_handshake_that_never_completed() -> None:
    for name in ("data-acks-lost-media.pcap", "data-acks-lost-agent.pcap"):
        result = _analysis(name)
        [error] = _errors(result)
        assert error.code == "handshake_incomplete", name
        assert f"never opened on {A}'s side" in error.message, name
        # The FIN got through, so no SYN-only rule: the path loses packets.
        assert f"yet {M}'s FIN reached {A}" in error.message, name
        assert "resent 9 segments (C1)" in error.message or \
            "resent 11 segments (C1)" in error.message, name
        assert error.fix.startswith(f"Find where the path from {M} to {A} loses packets")
        [session] = result.sessions
        [step] = [s for s in session.steps if s.step == 4]
        assert step.status == "failed", name
        assert "handshake incomplete" in step.detail, name


def _connection(tmp_path: Path, packets: list[tuple[float, bytes]]) -> Connection:
    path = tmp_path / "c.pcap"
    write_pcap(path, packets)
    [conn] = track_connections([str(path)]).connections
    return conn


def _syn(t: float, src: str = A, dst: str = M) -> tuple[float, bytes]:
    return t, tcp_packet(src, dst, 6047, 5001, "S", ISN_A)


def _synack(t: float) -> tuple[float, bytes]:
    return t, tcp_packet(M, A, 5001, 6047, "SA", ISN_M, ISN_A + 1)


def _reset(t: float) -> tuple[float, bytes]:
    return t, tcp_packet(A, M, 6047, 5001, "R", ISN_A + 1)


def test_a_syn_resent_after_a_synack_shows_it_never_arrived(tmp_path: Path) -> None:
    lost = _connection(tmp_path, [_syn(1.0), _synack(1.00002), _syn(2.0), _synack(2.00002),
                                  _synack(5.0), _reset(5.0001)])
    assert len(synacks_unreceived(lost)) == 1
    # A reject rule answers the prompt SYN-ACK with a reset and the connect resends its
    # SYN after it: that reading (rejected_words) stays.
    rejected = _connection(tmp_path, [_syn(1.0), _synack(1.00002), _reset(1.0001),
                                      _syn(2.0), _synack(2.00002), _reset(2.0001)])
    assert synacks_unreceived(rejected) == []
    # No SYN resent: the prompt reading stays too.
    prompt = _connection(tmp_path, [_syn(1.0), _synack(1.00002), _reset(1.0001)])
    assert synacks_unreceived(prompt) == []


def _data_handshake(ack: bool) -> list[tuple[float, bytes]]:
    """M's SYN to A's port 6001, A's SYN-ACK, M's ACK (when `ack`), A's SYN-ACK resent
    at 1 s and 3 s with M's ACK answering each (when `ack`)."""
    packets = [(100.0, tcp_packet(M, A, 5002, 6001, "S", ISN_M)),
               (100.0001, tcp_packet(A, M, 6001, 5002, "SA", ISN_A, ISN_M + 1))]
    if ack:
        packets.append((100.0002, tcp_packet(M, A, 5002, 6001, "A", ISN_M + 1, ISN_A + 1)))
    for t in (101.0, 103.0):
        packets.append((t, tcp_packet(A, M, 6001, 5002, "SA", ISN_A, ISN_M + 1)))
        if ack:
            packets.append((t + 0.0001, tcp_packet(M, A, 5002, 6001, "A", ISN_M + 1,
                                                   ISN_A + 1)))
    return packets


def _fin_then_reset(t: float) -> list[tuple[float, bytes]]:
    return [(t, tcp_packet(M, A, 5002, 6001, "FA", ISN_M + 1, ISN_A + 1)),
            (t + 0.0001, tcp_packet(A, M, 6001, 5002, "R", ISN_A + 1))]


def test_a_listener_reset_of_the_later_fin_keeps_the_handshake_unheard(
        tmp_path: Path) -> None:
    for ack in (True, False):
        conn = _connection(tmp_path, _data_handshake(ack) + _fin_then_reset(130.0))
        assert connection_outcome(conn) == "handshake_incomplete", ack
        assert (ack_unheard(conn) if ack else acks_unseen(conn)), ack
    # A RST of the listener's own, no FIN of the originator's before it: not this reading
    # (the close's checks read it).
    alone = _data_handshake(True) + [(130.0, tcp_packet(A, M, 6001, 5002, "R", ISN_A + 1))]
    assert ack_unheard(_connection(tmp_path, alone)) == []
    # Data from the originator before its FIN (the ACK unseen): it went on, not this.
    went_on = _data_handshake(False) + [
        (110.0, tcp_packet(M, A, 5002, 6001, "PA", ISN_M + 1, ISN_A + 1, b"x" * 100))
    ] + [(130.0, tcp_packet(M, A, 5002, 6001, "FA", ISN_M + 101, ISN_A + 1)),
         (130.0001, tcp_packet(A, M, 6001, 5002, "R", ISN_A + 1))]
    assert acks_unseen(_connection(tmp_path, went_on)) == []
    # One SYN-ACK resent only (random loss of one ACK): not enough.
    once = _data_handshake(False)[:3] + _fin_then_reset(130.0)
    assert acks_unseen(_connection(tmp_path, once)) == []


def test_a_few_copies_are_the_networks_not_the_capture_points() -> None:
    result = _analysis("network-duplicates-media.pcap.gz")
    assert result.verdict == "pass"
    [copies] = [f for f in result.findings if f.code == "capture_duplicates"]
    assert "these few the network delivered twice" in copies.message
    assert "editcap -D" not in copies.fix
    assert copies.fix.startswith("nothing breaks the job")


def test_every_packet_twice_stays_a_capture_points_reading() -> None:
    # A bridge captured with -i any: every packet twice (half the payload bytes copies).
    bridge = Path(__file__).resolve().parents[1] / "captures" / "trial35-bridge"
    config = build_config(load_file(bridge / "data-unanswered-bridge-any.toml"))
    result = analyze(read_traffic([str(bridge / "data-unanswered-bridge-any.pcap")], config),
                     config)
    [copies] = [f for f in result.findings if f.code == "capture_duplicates"]
    assert "the network delivered twice" not in copies.message
