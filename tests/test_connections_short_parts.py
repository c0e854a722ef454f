"""A read chunk tracked in parts (flowcheck.connections._parts) gives the records of
the chunk tracked whole: the short connections open across a part's end are taken up
again by the next part's short-connection pass (connections.short_resume) and their
records brought up to date only where its packets change them
(short_records.update_records). Shapes that change the rarer fields cross the parts'
ends: retransmissions, SYN retries, resets, FINs left unacknowledged, ACKs beyond the
bytes captured, data both ways.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from test_connections_states import pkt
from test_connections_util import ACK, FIN, PSH, RST, SYN
from test_connections_util import write_pcap as write

import flowcheck.connections as connections
from flowcheck.connections import short, track_connections
from flowcheck.connections.short_resume import resume


def _shape(n: int, port: int) -> list[bytes]:
    """Connection n's packets (one of six shapes)."""
    syn = [pkt(True, SYN, 100, mport=port)]
    if n % 6 == 1:  # a SYN retry (ECE set: not a byte-identical capture copy)
        syn.append(pkt(True, SYN | 0x40, 100, mport=port))
    opened = [*syn, pkt(False, SYN | ACK, 900, 101, mport=port),
              pkt(True, ACK, 101, 901, mport=port),
              pkt(True, PSH | ACK, 101, 901, data=100, mport=port)]
    if n % 6 == 2:  # the data resent (without PSH: not a capture copy)
        opened.append(pkt(True, ACK, 101, 901, data=100, mport=port))
    if n % 6 == 3:  # reset by the responder
        return [*opened, pkt(False, RST | ACK, 901, 201, mport=port)]
    if n % 6 == 4:  # the responder ACKs beyond the bytes captured, then both close
        opened.append(pkt(False, ACK, 901, 301, mport=port))
    if n % 6 == 5:  # data back, then a FIN never acknowledged
        return [*opened, pkt(False, PSH | ACK, 901, 201, data=50, mport=port),
                pkt(True, FIN | ACK, 201, 951, mport=port)]
    return [*opened, pkt(True, FIN | ACK, 201, 901, mport=port),
            pkt(False, FIN | ACK, 901, 202, mport=port),
            pkt(True, ACK, 202, 902, mport=port)]


def _capture(path: Path, count: int) -> Path:
    """count connections, one opened every 3 records, so about a dozen are open at once."""
    timed = []
    for n in range(count):
        for k, packet in enumerate(_shape(n, 1024 + n)):
            timed.append((3 * n + 3 * k, len(timed), packet))
    timed.sort()
    return write(path, 1, [p for _, _, p in timed], times=[t * 1e-4 for t, _, _ in timed])


@pytest.mark.parametrize("part", [300, 1000])
def test_a_chunk_tracked_in_parts_gives_the_records_of_the_chunk_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, part: int) -> None:
    path = _capture(tmp_path / "short.pcap", 600)
    whole = [dataclasses.asdict(c) for c in track_connections([str(path)]).connections]
    monkeypatch.setattr(connections, "BATCH_RECORDS", part)
    resumed: list[int] = []

    def counted(going: np.ndarray, *args: object, **kwargs: object) -> object:
        resumed.append(going.shape[0])
        return resume(going, *args, **kwargs)

    monkeypatch.setattr(short, "resume", counted)
    parts = [dataclasses.asdict(c) for c in track_connections([str(path)]).connections]
    assert len(whole) == 600
    assert sum(c["retransmits"] for c in whole) == sum(c["syn_retries"] for c in whole) == 100
    assert {c["history"] for c in whole} >= {"ShADFf", "ShADTFf", "ShADr", "ShADaFf",
                                             "ShADdF"}
    assert sum(resumed) > 20  # connections taken up again by a later part's pass
    assert parts == whole


def _reused_capture(path: Path, count: int) -> Path:
    """count connections on count ports, then each port again: a new connection (a SYN
    with another ISN) on even ports, the first SYN again (a retry of the closed
    connection, not a new one) on odd ones; one opened every 3 records."""
    timed = []
    for n in range(count):
        for k, packet in enumerate(_shape(6 * n, 1024 + n)):  # opened and closed
            timed.append((3 * n + 3 * k, len(timed), packet))
    later = 3 * count + 30
    for n in range(count):
        port = 1024 + n
        again = ([pkt(True, SYN, 5000, mport=port),
                  pkt(False, SYN | ACK, 7000, 5001, mport=port),
                  pkt(True, ACK, 5001, 7001, mport=port)] if n % 2 == 0
                 else [pkt(True, SYN, 100, mport=port)])
        for k, packet in enumerate(again):
            timed.append((later + 3 * n + 3 * k, len(timed), packet))
    timed.sort()
    return write(path, 1, [p for _, _, p in timed], times=[t * 1e-4 for t, _, _ in timed])


def test_a_4_tuple_parked_by_an_earlier_part_is_checked_for_reuse_column_wise(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flowcheck.connections import short_flows

    path = _reused_capture(tmp_path / "reused.pcap", 200)
    whole = [dataclasses.asdict(c) for c in track_connections([str(path)]).connections]
    monkeypatch.setattr(connections, "BATCH_RECORDS", 300)
    checked: list[int] = []
    column_wise = short_flows.parked_bases

    def compared(entries: list, from_lower: np.ndarray) -> np.ndarray:
        bases = column_wise(entries, from_lower)
        one_by_one = [block.side_base(i, bool(low)) for (block, i), low
                      in zip(entries, from_lower.tolist(), strict=True)]
        assert [None if b == short.NONE else b for b in bases.tolist()] == one_by_one
        checked.append(len(entries))
        return bases

    monkeypatch.setattr(short_flows, "parked_bases", compared)
    parts = [dataclasses.asdict(c) for c in track_connections([str(path)]).connections]
    assert len(whole) == 300  # 200, and a new one on each of the 100 even ports
    assert sum(c["syn_retries"] for c in whole) == 100
    assert sum(checked) >= 200  # every port's second SYN checked against its parked base
    # Whole, the chunk's reused 4-tuples go one packet at a time, which also fills the
    # per-side last times and the rare fields; the pass leaves those (as for any flow).
    path_only = {"orig_last_ts", "resp_last_ts", "rare"}
    assert ([{k: v for k, v in c.items() if k not in path_only} for c in parts]
            == [{k: v for k, v in c.items() if k not in path_only} for c in whole])
