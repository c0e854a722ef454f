"""The data's sender closed, seen from the receiver's packets alone (a capture of one
direction: the media server's packets of a backup, `tcpdump -Q in` on the agent): the
receiver's FIN captured and its highest ACK one past its ACK level before (a FIN takes
one sequence number, RFC 9293 3.4) proves the sender's FIN the capture lacks
(connections.accounting.fin_proved_unseen: Connection.orig/resp_fin_unseen of a side
never captured). A last data segment of one byte looks the same, and step 5 says so.

captures/field48-matrix/two-tls-start-jobs-one-direction-in (lab matrix seed 107 run 54,
README.md there): two whole jobs in TLS from the first byte read capture_ended_early "data
was flowing at the capture's end ... no FIN from the data's sender" with the fix "capture
the whole job". Its rewrite with one more data segment after a step of one (so that step
was a byte, not a FIN) still reads the transfer open. Generated receiver-only captures
check each shape (the receiver closing last or first, its ACK of the FIN alone or with
its FIN) on every path of the tracker: the reference (fast=False), the bulk path and the
short-connection pass (forced as tests/test_connections_short.py does).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from scapy.all import TCP
from scapy_bytes import tcp_frame, write_frames
from scapy_files import read_packets, write_packets
from test_connections_util import read_batches

from flowcheck.config import build_config, load_file
from flowcheck.connections import ConnectionTracker, short_flows
from flowcheck.model import Connection
from flowcheck.pipeline import Analysis, analyze, read_traffic

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "captures" / "field48-matrix" / "two-tls-start-jobs-one-direction-in"
MEDIA = "fd77::1"
WORDS = ("closing, acknowledged one past the data it had acknowledged: the agent's FIN, "
         "which the capture lacks (a last segment of one byte would look the same)")
M, A = "10.77.0.1", "10.77.0.2"


def _analysis(capture: Path) -> Analysis:
    config = build_config(load_file(CASE.with_suffix(".toml")))
    return analyze(read_traffic([str(capture)], config), config)


def _data_conns(conns: list[Connection]) -> list[Connection]:
    """The case's data connections: the media server's (the receiver's) to 6001-6100."""
    return [c for c in conns if c.orig_h == MEDIA and 6001 <= c.resp_p <= 6100]


def _run(path: Path, chunk: int, fast: bool) -> list[Connection]:
    tracker = ConnectionTracker(fast=fast)
    for batch in read_batches(path, chunk=chunk):
        tracker.feed(batch)
    return tracker.finish()


@pytest.fixture
def short_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """The short-connection pass in every batch with a flow for it."""
    monkeypatch.setattr(short_flows, "SHORT_STEP_FLOWS", 1)
    monkeypatch.setattr(short_flows, "SHORT_STEP_PACKETS", 0)


def test_the_receivers_ack_of_the_senders_fin_ends_the_transfer(
        tmp_path: Path, short_everywhere: None) -> None:
    """Every data connection: the agent (the sender, resp) sent nothing the capture
    holds; the media server's FIN came with ACK 200002, one past its ACK 200001 of the
    data: the agent's FIN proved, on every path, not counted as a byte missed."""
    plain = tmp_path / "case.pcap"
    plain.write_bytes(gzip.decompress(CASE.with_suffix(".pcap.gz").read_bytes()))
    reference = _run(plain, 100_000, fast=False)
    data = _data_conns(reference)
    assert len(data) == 10
    for conn in data:
        assert (conn.resp_pkts, conn.resp_acked_unseen, conn.history) == (0, 200_001, "SAF")
        assert (conn.resp_fin_unseen, conn.orig_fin_unseen) == (True, False), conn.uid
        assert (conn.fins_unseen, conn.missed_bytes) == (0, 0)
    for chunk in (7, 40, 100_000):  # short pass, parked between batches; one batch
        assert _run(plain, chunk, fast=True) == reference, chunk
    analysis = _analysis(CASE.with_suffix(".pcap.gz"))
    assert not [f.message for f in analysis.findings if f.code == "capture_ended_early"]
    for session in analysis.sessions:
        step = session.steps[-1]
        assert step.status == "ok" and "data was flowing" not in step.detail, step.detail
        assert f"on each data connection the media server, {WORDS}" in step.detail


def _rewritten(tmp_path: Path) -> Path:
    """The case with its data connection [fd77::1]:5002 -> [fd77:1::2]:6001's last two
    ACKs before the FIN rewritten (by scapy, the frames otherwise as captured): the one
    of all 200,000 B becomes one past the ACK before it (a segment of one byte), and
    the FIN's ACK stays one past the data: 535 bytes more came after the step of one."""
    plain = tmp_path / "case.pcap"
    plain.write_bytes(gzip.decompress(CASE.with_suffix(".pcap.gz").read_bytes()))
    packets = read_packets(str(plain))
    mine = [p for p in packets if TCP in p and p[TCP].sport == 5002 and p[TCP].dport == 6001]
    *_, before, last_data, fin = mine
    assert fin[TCP].flags.F and fin[TCP].ack == last_data[TCP].ack + 1
    last_data[TCP].ack = before[TCP].ack + 1
    assert fin[TCP].ack - last_data[TCP].ack > 1
    del last_data[TCP].chksum
    path = tmp_path / "one-byte.pcap"
    write_packets(str(path), packets)
    return path


def test_a_step_of_one_with_data_after_it_was_a_byte_not_a_fin(tmp_path: Path) -> None:
    """The rewrite: the receiver ACKed more data after its step of one, so that step was
    a last byte then, not the sender's FIN, and the FIN's ACK jumped by more than one
    (the sender's FIN with data, or no FIN of it): that connection's transfer reads open
    at the capture's end, the case's others closed."""
    analysis = _analysis(_rewritten(tmp_path))
    [conn] = [c for c in analysis.traffic.connections if c.orig_p == 5002]
    assert not conn.resp_fin_unseen and conn.history == "SAF"
    [early] = [f for f in analysis.findings if f.code == "capture_ended_early"]
    assert "data was flowing at the capture's end" in early.message
    assert "[fd77::1]:5002" in early.message and "no FIN from the data's sender" in early.message
    s1 = next(s for s in analysis.sessions if s.remote_agent == "fd77:1::2")
    assert s1.steps[-1].status == "unknown"
    s2 = next(s for s in analysis.sessions if s.remote_agent == "fd77:1::3")
    assert s2.steps[-1].status == "ok"


# -- generated receiver-only captures, each shape on every path -------------------------

ISN, FIRST = 1_000, 0xFFFF_F000  # M's sequence numbers, A's (the sender's) ACKed from
SEGMENT, COUNT = 1448, 300  # the sender's segments the receiver ACKs, one ACK each

SHAPES = {
    # The receiver's FIN carries the ACK of the sender's FIN (closing last, delayed ACK).
    "fin acks the fin": (["fin+1"], True),
    # A pure ACK of the sender's FIN first, then the receiver's FIN.
    "ack then fin": (["ack+1", "fin"], True),
    # The receiver closes first, goes on ACKing the data, then the sender's FIN.
    "closed first": (["fin@100", "ack+1"], True),
    # A step of one, then more data ACKed: a byte, not a FIN.
    "one byte then data": (["ack+1", "ack+1000", "fin"], False),
    # Closed first, a step of one, then more data (a batch may end after the step: the
    # short pass's record then says proved, and takes it back with the next batch).
    "closed first, one byte then data": (["fin@100", "ack+1", "ack+1000"], False),
    # A step of one, no FIN of the receiver's: it did not close.
    "one byte, no fin": (["ack+1"], False),
    # The sender's FIN with its last data: the ACK jumps by more than one.
    "fin with data": (["fin+1001"], False),
}


def receiver_only(path: Path, steps: list[str]) -> Path:
    """M:5002 -> A:6001, only M's packets: its SYN and handshake ACK, an ACK of each of
    COUNT segments of A's (raw ACK numbers wrapping past 2**32), then `steps`: "ack+N"
    an ACK N past the last, "fin+N" its FIN|ACK N past, "fin" its FIN|ACK at the last,
    "fin@K" its FIN|ACK after the K-th data ACK."""
    seq, ack = ISN + 1, FIRST
    packets = [tcp_frame(M, A, 5002, 6001, "S", ISN, 0)]

    def send(flags: str) -> None:
        nonlocal seq
        packets.append(tcp_frame(M, A, 5002, 6001, flags, seq, ack & 0xFFFFFFFF))
        seq += "F" in flags

    send("A")
    early = [int(s[4:]) for s in steps if s.startswith("fin@")]
    for k in range(COUNT):
        ack += SEGMENT
        send("A")
        if k in early:
            send("FA")
    for step in (s for s in steps if not s.startswith("fin@")):
        flags, _, more = step.partition("+")
        ack += int(more or 0)
        send("FA" if flags == "fin" else "A")
    return write_frames(path, packets, [1_700_000_000 + k * 0.001
                                        for k in range(len(packets))])


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_on_every_path(tmp_path: Path, shape: str, short_everywhere: None) -> None:
    steps, proved = SHAPES[shape]
    path = receiver_only(tmp_path / "receiver.pcap", steps)
    reference = _run(path, 100_000, fast=False)
    [conn] = reference
    assert (conn.resp_pkts, conn.orig_pkts > COUNT) == (0, True)
    assert (conn.resp_fin_unseen, conn.orig_fin_unseen) == (proved, False)
    assert (conn.fins_unseen, conn.missed_bytes) == (0, 0)
    # Short pass (at most its MAX_PACKETS per flow a batch, parked between; 19: a batch
    # ends after packet 304, "closed first"'s step of one), bulk runs.
    for chunk in (19, 20, 97, 700, 100_000):
        assert _run(path, chunk, fast=True) == reference, chunk
