"""icmp_cut's per-batch work (issue 7): the openings of the last second are carried as
numpy columns, and their flow keys are looked up, Opening objects made and connections
asked for only when a cut quote came (flowcheck.connections.icmp_cut.CutTies).

The stored captures are fed batch by batch (a few records each, so openings are carried
across batches) to CutTies as the tracker feeds it, with each batch's flow keys in a list
that counts its reads: a capture without a cut quote (whether it holds ICMP errors with
whole quotes or none) must read none, as no time is measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from capture_factory import tcp_packet, write_pcap
from test_connections_util import read_batches

from flowcheck.connections import track_connections
from flowcheck.connections.conn import SYN
from flowcheck.connections.flows import BatchFlows, FlowKey, group_flows
from flowcheck.connections.icmp_cut import CutTies
from flowcheck.connections.tunnel_halves import TunnelHalves
from flowcheck.decode import decode_batch
from flowcheck.model import Connection

FIELD46 = Path(__file__).resolve().parent.parent / "captures" / "field46-matrix"
SNAP96 = FIELD46 / "callback-icmpv6-reject-snap96-sll2.pcap"  # two cut ICMPv6 rejects
NO_ICMP = FIELD46 / "callback-reset-dual-stack-one-direction-two-jobs.pcap"
WHOLE_ICMP = FIELD46 / "data-router-net-unreachable-dual-stack.pcap"  # whole quotes only


class CountedKeys(list):
    """A batch's flow keys (BatchFlows.keys) counting the reads by index into `reads`."""

    def __init__(self, keys: list[FlowKey], reads: list[int]) -> None:
        super().__init__(keys)
        self.reads = reads

    def __getitem__(self, index: Any) -> Any:  # list's, counted
        self.reads[0] += 1
        return super().__getitem__(index)


@dataclass
class Fed:
    ties: CutTies
    batches: int = 0
    syns: int = 0  # SYNs and SYN-ACKs fed
    cut: int = 0  # cut quotes fed
    whole: int = 0  # whole quotes fed
    key_reads: list[int] = field(default_factory=lambda: [0])
    asked: list[tuple[FlowKey, int]] = field(default_factory=list)  # record_at's calls


def _fed(path: Path, chunk: int) -> Fed:
    """CutTies fed the capture's batches of `chunk` records, as ConnectionTracker.feed
    does (its flows after TunnelHalves.join), asking no tracker for connections."""
    fed = Fed(CutTies())
    halves = TunnelHalves()

    def record_at(key: FlowKey, frame: int) -> Connection | None:
        fed.asked.append((key, frame))
        return None

    for batch in read_batches(path, chunk=chunk):
        decoded = decode_batch(batch)
        flows = halves.join(decoded, group_flows(decoded))
        counted = BatchFlows(keys=CountedKeys(flows.keys, fed.key_reads), flow=flows.flow,
                             from_lower=flows.from_lower, order=flows.order,
                             bounds=flows.bounds)
        fed.ties.feed(decoded, counted, record_at, halves.other_half)
        fed.batches += 1
        fed.syns += int(((decoded.tcp_flags & SYN) != 0).sum())
        fed.cut += len(decoded.cut_quotes)
        fed.whole += len(decoded.icmp_quotes)
    return fed


@pytest.mark.parametrize("path", [NO_ICMP, WHOLE_ICMP], ids=["no-icmp", "whole-quotes"])
def test_no_cut_quote_no_python_work_per_opening(path: Path) -> None:
    fed = _fed(path, chunk=8)
    assert fed.batches > 10 and fed.syns > 4 and fed.cut == 0  # openings carried over
    assert fed.key_reads[0] == 0  # no flow key looked up
    assert fed.ties.built == 0 and fed.asked == []


def test_a_cut_quote_looks_its_openings_up() -> None:
    fed = _fed(SNAP96, chunk=8)
    assert fed.batches > 2 and fed.cut == 2
    assert fed.key_reads[0] > 0 and fed.ties.built > 0
    # Each reject asks for the one callback attempt it fits (its flow key, its SYN's frame).
    assert len(fed.asked) == 2 and fed.asked[0][0] == fed.asked[1][0]
    assert [frame for _, frame in fed.asked] == [20, 25]


def test_one_opening_stamped_ahead_keeps_no_later_batch_keys(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A SYN stamped a day ahead (a broken clock, a fuzzed stamp) stays among the recent
    openings; the flow keys kept are those of the batches the openings are of, not of
    every batch after its own (a second read: 28 of 28 kept)."""
    t0 = 1_700_000_000.0
    packets = []
    for n in range(400):
        packets += [(t0 + n * 0.05, tcp_packet("10.0.0.1", "10.0.0.2", 20000 + n, 80, "S")),
                    (t0 + n * 0.05 + 0.001,
                     tcp_packet("10.0.0.2", "10.0.0.1", 80, 20000 + n, "SA"))]
        if n == 5:
            packets.append((t0 + 86_400, tcp_packet("10.0.0.9", "10.0.0.8", 1234, 80, "S")))
    path = write_pcap(tmp_path / "ahead.pcap", packets)
    kept: list[int] = []
    feed = CutTies.feed

    def counted(self: CutTies, *args: Any, **kwargs: Any) -> Any:
        result = feed(self, *args, **kwargs)
        kept.append(len(self._keys))
        return result

    monkeypatch.setattr(CutTies, "feed", counted)
    track_connections([str(path)], chunk_size=2048)
    assert len(kept) > 20 and max(kept) <= 4, kept


def test_an_answer_in_a_batch_without_a_syn_answers_its_opening(tmp_path: Path) -> None:
    """A refusal's RST read in a batch of its own (no SYN, no cut quote: CutTies._carry,
    not feed's whole pass) answers the recent opening it answers, as the whole pass
    does: a cut quote after it then fits no answered attempt (Openings.fitting)."""
    t0 = 1_700_000_000.0
    path = write_pcap(tmp_path / "refused.pcap", [
        (t0, tcp_packet("10.0.0.1", "10.0.0.2", 40000, 5000, "S", seq=7)),
        (t0 + 0.001, tcp_packet("10.0.0.3", "10.0.0.1", 22, 40001, "A")),  # another port
        (t0 + 0.002, tcp_packet("10.0.0.2", "10.0.0.1", 5000, 40000, "RA", ack=8)),
        (t0 + 0.003, tcp_packet("10.0.0.1", "10.0.0.3", 40001, 22, "A"))])
    fed = _fed(path, chunk=1)
    assert fed.batches == 4 and fed.syns == 1 and fed.cut == 0
    recent = fed.ties._recent
    assert recent is not None and recent.ts.tolist() == [t0]
    assert recent.answered.tolist() == [t0 + 0.002]
