"""A 4-tuple reused in a capture of one direction (per_packet.synack_reuses,
refusal_reuses).

Captured on the responder's way only (`tcpdump -Q out` on the agent, a one-way SPAN
port), the second use's SYN is missing and its SYN-ACK carries a new ISN: kept as one
connection, the second use's ACK numbers were read against the first use's ISN (the
originator's bytes ACKed 1,000,006,241 where it sent 14,480 and 7,240, and a gap of
83,000 B of the responder's). tshark 4.0 keeps it in one tcp.stream too, flagging the
SYN-ACK "A new tcp session is started with the same ports as an earlier session". Split
once the capture shows the first use over (the SYN-ACK answers another SYN, or the
responder's FIN or RST), on the reference, short-connection and bulk paths alike; a new
ISN answering the same SYN, its end not captured, stays one connection however long the
responder was silent before it (a SYN proxy's SYN-ACK and the responder's:
flowcheck.sessions.syn_proxy; a request expired and answered again:
tests/test_one_way_reanswered), its ACK numbers in one space. A
refusal's RST (seq 0, RST|ACK) answering another SYN after the first use is that new
attempt's, not the first use reset: it read "RSTRH" and 999,999,000 B ACKed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from scapy_bytes import tcp_frame, write_frames
from test_connections_acked_unseen import run, short_everywhere  # noqa: F401 (fixture)

M, A = "10.77.0.1", "10.77.0.2"
T = 1_700_000_000
FIRST_ISN, SECOND_ISN = 1_000, 1_000_000_000  # the originator's (M's), never captured


def one_way(path: Path, end: str, gap: float, both: bool = False,
            answered: int = SECOND_ISN) -> Path:
    """A's packets on A:6001 <-> M:5002 (M's too with `both`, but for the second use's
    SYN): the first use's SYN-ACK, its ACKs of M's 14,480 B and M's FIN, then (end
    "fin") A's FIN|ACK, ("rst") A's RST, or ("none") nothing; `gap` seconds after A's
    last packet the second use's SYN-ACK with a new ISN answering M's SYN of ISN
    `answered`, and ACKs of M's 7,240 B from there."""
    def a(flags: str, seq: int, ack: int) -> bytes:
        return tcp_frame(A, M, 6001, 5002, flags, seq, ack)

    def m(flags: str, seq: int, ack: int) -> bytes:
        return tcp_frame(M, A, 5002, 6001, flags, seq, ack)

    first = [a("SA", 7_000, FIRST_ISN + 1)]
    first += [a("A", 7_001, FIRST_ISN + 1 + 1_448 * k) for k in range(1, 11)]
    first.append(a("A", 7_001, FIRST_ISN + 1 + 14_480 + 1))
    if both:
        first.insert(0, m("S", FIRST_ISN, 0))
        first.insert(2, m("A", FIRST_ISN + 1, 7_001))
    if end == "fin":
        first.append(a("FA", 7_001, FIRST_ISN + 14_482))
    elif end == "rst":
        first.append(a("R", 7_001, 0))
    times = [T + k * 0.001 for k in range(len(first))]
    second = [a("SA", 90_000, answered + 1)]
    second += [a("A", 90_001, answered + 1 + 1_448 * k) for k in range(1, 6)]
    start = times[-1] + gap
    times += [start + k * 0.001 for k in range(len(second))]
    return write_frames(path, first + second, times)


def tshark_streams(path: Path) -> list[str]:
    """tshark's tcp.stream of each frame, and whether it flags a new session there."""
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "tcp.stream",
                          "-e", "_ws.expert.message"], check=True, capture_output=True,
                         text=True).stdout
    return out.splitlines()


@pytest.mark.parametrize(("end", "gap", "answered"), [
    ("none", 0.05, SECOND_ISN),  # another SYN answered
    ("fin", 0.05, FIRST_ISN),  # the first use's end captured
    ("rst", 0.05, FIRST_ISN),
    ("none", 5.0, SECOND_ISN),  # another SYN answered after 5 s of A's silence
])
def test_a_new_isn_after_the_first_use_ended_is_a_new_connection(
        tmp_path: Path, short_everywhere: None, end: str, gap: float,  # noqa: F811
        answered: int) -> None:
    path = one_way(tmp_path / "reuse.pcap", end, gap, answered=answered)
    lines = tshark_streams(path)
    # tshark: one stream, the second SYN-ACK flagged as a new session on the same ports.
    assert {line.split("\t")[0] for line in lines} == {"0"}
    flagged = [n for n, line in enumerate(lines, 1) if "A new tcp session" in line]
    assert len(flagged) == 1
    (reference_first, reference_second), _ = run(path, 100_000, fast=False)
    for c in (reference_first, reference_second):
        assert (c.orig_h, c.orig_p, c.orig_pkts, c.resp_h) == (M, 5002, 0, A)
        assert (c.missed_bytes, c.gaps) == (0, 0)
    # M's bytes and its FIN, as A's ACKs acknowledge them in each use.
    assert reference_first.orig_acked_unseen == 14_481
    assert reference_second.orig_acked_unseen == 7_240
    assert reference_second.first_frame == flagged[0]
    for chunk in (1, 5, 20, 100_000):
        connections, _ = run(path, chunk, fast=True)
        assert connections == [reference_first, reference_second], chunk


@pytest.mark.parametrize(("both", "gap"), [(False, 0.05), (False, 5.0), (True, 0.05)])
def test_a_new_isn_without_the_first_use_over_stays_one_connection(
        tmp_path: Path, short_everywhere: None, both: bool, gap: float) -> None:  # noqa: F811
    """A new ISN answering the same SYN within a round trip of A's last packet or 5 s
    after it, no close of A's captured (a SYN proxy's SYN-ACK and the responder's look
    so; a request expired and answered again, tests/test_one_way_reanswered): one
    connection, M's bytes ACKed in one space (14,480 B and its FIN, nothing inflated). Both
    directions captured (M's SYN decides, as tshark's tcp.stream: a SYN-ACK alone never
    splits), another SYN answered after A's FIN: one connection too."""
    path = (one_way(tmp_path / "kept.pcap", "fin", 0.05, both=True) if both else
            one_way(tmp_path / "kept.pcap", "none", gap, answered=FIRST_ISN))
    for chunk, fast in ((100_000, False), (5, True), (100_000, True)):
        connections, _ = run(path, chunk, fast=fast)
        assert len(connections) == 1, (chunk, fast)
        if not both:
            assert connections[0].orig_acked_unseen == 14_481, (chunk, fast)


@pytest.mark.parametrize("another", [True, False])
def test_a_refusal_answering_another_syn_is_a_new_attempt(
        tmp_path: Path, short_everywhere: None, another: bool) -> None:  # noqa: F811
    """A's first use (SYN-ACK, ACKs of M's 14,480 B and FIN, its own FIN), then 2 s later
    A's RST|ACK seq 0 acknowledging M's SYN of ISN 1,000,000,000 (a port closed since):
    a refused connection of its own (refusal_first, the RST its only packet), the first
    use closed as captured, M's bytes ACKed 14,481. The same RST acknowledging the first
    use's SYN again (another=False) is the first use's."""
    def a(flags: str, seq: int, ack: int) -> bytes:
        return tcp_frame(A, M, 6001, 5002, flags, seq, ack)

    packets = [a("SA", 7_000, FIRST_ISN + 1)]
    packets += [a("A", 7_001, FIRST_ISN + 1 + 1_448 * k) for k in range(1, 11)]
    packets += [a("A", 7_001, FIRST_ISN + 14_482), a("FA", 7_001, FIRST_ISN + 14_482)]
    times = [T + k * 0.001 for k in range(len(packets))]
    packets.append(a("RA", 0, (SECOND_ISN if another else FIRST_ISN) + 1))
    times.append(T + 2)
    path = write_frames(tmp_path / "refused.pcap", packets, times)
    lines = tshark_streams(path)
    assert {line.split("\t")[0] for line in lines} == {"0"}  # tshark: one stream
    reference, _ = run(path, 100_000, fast=False)
    if not another:
        [c] = reference
        assert (c.rst_frames, c.orig_acked_unseen) == ([14], 14_481)
        return
    first, refused = reference
    assert (first.orig_acked_unseen, first.rst_frames, first.refusal_first) == (14_481, [], False)
    assert (refused.orig_h, refused.orig_p, refused.resp_h) == (M, 5002, A)
    assert (refused.history, refused.resp_pkts, refused.refusal_first) == ("^r", 1, True)
    assert (refused.rst_frames, refused.orig_acked_unseen) == ([14], 0)
    for chunk in (1, 5, 20, 100_000):
        connections, _ = run(path, chunk, fast=True)
        assert connections == reference, chunk


def test_two_jobs_on_one_data_4_tuple_captured_on_the_agents_way_out(tmp_path: Path) -> None:
    """captures/lab/port-reused-within-hold (two backups 1.2 s apart, the second binding
    the same data 4-tuple 10.77.0.1:5002 -> 10.77.0.2:6001) with the agent's packets
    only (tshark -Y ip.src==10.77.0.2, as `tcpdump -Q out` on it): the second data
    connection's SYN-ACK (a new ISN, answering another SYN) opens its own connection,
    and the capture reads as both directions do: PASS, each job its data connection of
    200,000 B, no gap. It read INCONCLUSIVE: one data connection of 400,000 B for both
    jobs with a 65,539 B gap (capture_loss), the second job none."""
    from flowcheck.config import build_config, load_file
    from flowcheck.pipeline import analyze, read_traffic

    lab = Path(__file__).resolve().parents[1] / "captures" / "lab"
    out = tmp_path / "agent-out.pcap"
    subprocess.run(["tshark", "-r", str(lab / "port-reused-within-hold.pcap"), "-Y",
                    "ip.src==10.77.0.2", "-w", str(out)], check=True, capture_output=True)
    config = build_config(load_file(lab / "port-reused-within-hold.toml"))
    analysis = analyze(read_traffic([str(out)], config), config)
    assert analysis.verdict == "pass"
    data = [c for c in analysis.traffic.connections if c.role == "data"]
    assert [(c.orig_p, c.resp_p, c.resp_bytes, c.missed_bytes, c.gaps) for c in data] == [
        (5002, 6001, 200_000, 0, 0)] * 2
    assert [len(s.data_connections) for s in analysis.sessions] == [1, 1]
    assert "capture_loss" not in {f.code for f in analysis.findings}
    reused = sorted(f.message.split(" (")[0] for f in analysis.findings
                    if f.code == "port_reused_within_hold")
    assert reused == ["Port 10.77.0.1:5001", "Port 10.77.0.1:5002", "Port 10.77.0.2:6001"]
