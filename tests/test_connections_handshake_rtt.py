"""The handshake's round trip comes from the ACK that completes it, nothing later.

Trial 13 (D6): a capture filter that keeps only SYN, FIN and RST packets (tcpdump
'tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0') leaves out the ACK that completed the
handshake; the originator's next captured packet was its FIN 3.1 s later, and the step
said "handshake 3.12e+03 ms" (tshark's tcp.analysis.initial_rtt says the same). The
connection opened (established), but its round trip is not in the capture: rtt None.
Both paths (one packet at a time, and the short-connection pass in every batch) agree.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_connections_short import short_pass_everywhere  # noqa: F401 (a fixture)
from test_connections_states import handshake, pkt, run
from test_connections_util import ACK, FIN, PSH

from flowcheck.model import Connection


def _one(tmp_path: Path, packets: list[bytes]) -> Connection:
    [conn] = run(tmp_path, packets)
    assert run(tmp_path, packets, chunk=1, fast=False) == [conn]
    return conn


def _close(seq: int) -> list[bytes]:
    return [pkt(True, FIN | ACK, seq, 951), pkt(False, FIN | ACK, 951, seq + 1),
            pkt(True, ACK, seq + 1, 952)]


@pytest.mark.usefixtures("short_pass_everywhere")
def test_the_completing_ack_gives_the_round_trip(tmp_path: Path) -> None:
    conn = _one(tmp_path, handshake() + [pkt(True, PSH | ACK, 101, 901, data=50),
                                         pkt(False, PSH | ACK, 901, 151, data=50)]
                + _close(151))
    assert conn.established and conn.rtt is not None and conn.rtt >= 0


@pytest.mark.usefixtures("short_pass_everywhere")
@pytest.mark.parametrize("third", ["fin after data", "data", "fin at once"])
def test_no_round_trip_without_the_completing_ack(tmp_path: Path, third: str) -> None:
    """The ACK left out: the originator's first captured packet after the SYN-ACK is
    its FIN past bytes it sent, its data, or a FIN (a handshake's third packet may carry
    either, RFC 9293 3.5, but Linux and Windows send the ACK alone first)."""
    syn, synack, _ = handshake()
    after = {"fin after data": _close(151),
             "data": [pkt(True, PSH | ACK, 101, 901, data=50),
                      pkt(False, PSH | ACK, 901, 151, data=50), *_close(151)],
             "fin at once": _close(101)}[third]
    conn = _one(tmp_path, [syn, synack, *after])
    assert conn.established and conn.rtt is None
