"""Finishing a connection builds per-side evidence only for the sides that have some.

Nothing is timed: `accounting.side_evidence` (a SideEvidence of 30 fields, compared with
NO_EVIDENCE) is swapped for one that counts its calls. On a capture of clean
connections it must not run at all, and on a side with evidence (trailing resends) it
must still run and give the same record as without the shortcut (bench/README.md,
2026-12-03 branch dmix: it ran for every side of every connection the per-packet and
bulk paths tracked, 94,000 instructions per connection of (d) mixed-sizes).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_connections_states import handshake, pkt, run
from test_connections_util import ACK, FIN, PSH

import flowcheck.connections.accounting as accounting
from flowcheck.model import SideEvidence

CLEAN = 12


def clean(mport: int) -> list[bytes]:
    """A connection with data both ways and a FIN of each side, all ACKed: no evidence."""
    packets = handshake(mport)
    seq_m, seq_a = 101, 901
    for _ in range(20):  # enough packets for the bulk path (runs.SMALL_FLOW)
        packets.append(pkt(True, PSH | ACK, seq_m, seq_a, data=100, mport=mport))
        seq_m += 100
        packets.append(pkt(False, PSH | ACK, seq_a, seq_m, data=10, mport=mport))
        seq_a += 10
    packets += [pkt(True, FIN | ACK, seq_m, seq_a, mport=mport),
                pkt(False, FIN | ACK, seq_a, seq_m + 1, mport=mport),
                pkt(True, ACK, seq_m + 1, seq_a + 1, mport=mport)]
    return packets


def resending(mport: int) -> list[bytes]:
    """A connection whose originator's last segment is sent three times, never ACKed."""
    packets = handshake(mport)
    packets.append(pkt(True, PSH | ACK, 101, 901, data=100, mport=mport))
    packets.append(pkt(False, ACK, 901, 201, mport=mport))
    packets += [pkt(True, PSH | ACK, 201, 901, data=100, mport=mport)] * 3
    return packets


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = accounting.side_evidence

    def counting(*args: object, **kwargs: object) -> SideEvidence:
        calls[0] += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(accounting, "side_evidence", counting)
    return calls


@pytest.mark.parametrize("fast", [True, False])
def test_clean_connections_build_no_evidence(tmp_path: Path, counted: list[int],
                                             fast: bool) -> None:
    packets = [p for k in range(CLEAN) for p in clean(5001 + k)]
    connections = run(tmp_path, packets, fast=fast)
    assert len(connections) == CLEAN
    assert all(c.orig_evidence is None and c.resp_evidence is None for c in connections)
    assert counted[0] == 0


def test_a_side_with_evidence_still_gets_it(tmp_path: Path, counted: list[int]) -> None:
    packets = [p for k in range(CLEAN) for p in clean(5001 + k)] + resending(6001)
    connections = run(tmp_path, packets)
    with_evidence = [c for c in connections if c.orig_evidence is not None]
    assert [c.orig_p for c in with_evidence] == [6001]
    assert with_evidence[0].orig_evidence.resends == 2
    assert all(c.resp_evidence is None for c in connections)
    assert counted[0] <= 2  # the resending connection's sides only
